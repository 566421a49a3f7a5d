// Small socket helpers shared by the tools that start servers on this machine (the --nproc
// launcher's rendezvous, the tests' PostgreSQL servers).
#pragma once

namespace base {

/// A TCP port on the loopback that the kernel says is free now, or 0. Another program may take
/// it before the caller listens on it; the caller's bind error then names the port.
int free_tcp_port();

}  // namespace base
