// Must not compile: a translation unit outside the engine reaching into its internals
// (tests/engine/CMakeLists.txt, engine.detail_is_private).
#include "engine/detail/moe.h"

int main() { return 0; }
