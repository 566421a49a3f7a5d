// Every header under engine/detail/ includes this first. They are the engine's internals: only
// circuit_engine compiles with CIRCUIT_ENGINE_INTERNALS (a PRIVATE definition in its CMake), and
// white-box tests and benchmarks get it by linking circuit_engine_internals. Anything else that
// includes a detail header fails to compile here, with the header to use instead.
#pragma once
#ifndef CIRCUIT_ENGINE_INTERNALS
#error "engine/detail/ is private to circuit_engine: include the public engine/*.h headers (or engine/torch/router.h to implement a router); white-box tests link circuit_engine_internals"
#endif
