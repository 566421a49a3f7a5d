// Every header under engine/detail/ includes this first. They are the engine's internals: only
// circuit_engine compiles with CIRCUIT_ENGINE_INTERNALS (a PRIVATE definition in its CMake); the
// Lua tensor binding (it implements Router), white-box tests and benchmarks get it by linking
// circuit_engine_internals. Anything else that includes a detail header fails to compile here,
// saying what to include instead.
#pragma once
#ifndef CIRCUIT_ENGINE_INTERNALS
#error "engine/detail/ is private to circuit_engine: include the public engine/*.h headers; the Lua tensor binding and white-box tests link circuit_engine_internals"
#endif
