# Every dependency of every layer is found here, once, from Debian 12 packages, so a layer that
# starts using one never has to fight the build. A missing package fails configuration with the
# Debian package name to install (scripts/setup.sh installs them all).

function(circuit_require found pkg)
  if(NOT ${found})
    message(FATAL_ERROR "Missing dependency: install the Debian package '${pkg}' (or run scripts/setup.sh)")
  endif()
endfunction()

find_package(PkgConfig REQUIRED)

# The studio's libraries: not needed (not even looked for) by a headless build (-DCIRCUIT_GUI=OFF)
# for GPU servers and clusters.
if(CIRCUIT_GUI)
  find_package(Qt6 COMPONENTS Core Gui Widgets Test QUIET)
  circuit_require(Qt6_FOUND qt6-base-dev)

  find_package(Vulkan QUIET)
  circuit_require(Vulkan_FOUND libvulkan-dev)
  find_program(GLSLC_EXECUTABLE glslc)
  circuit_require(GLSLC_EXECUTABLE glslc)

  # The static libimgui.a already contains the Vulkan backend, so it needs Vulkan at link time and
  # stb through pkg-config (measured; see shared/DESIGN.md).
  pkg_check_modules(IMGUI QUIET IMPORTED_TARGET imgui)
  circuit_require(IMGUI_FOUND libimgui-dev)
  set_property(TARGET PkgConfig::IMGUI APPEND PROPERTY INTERFACE_LINK_LIBRARIES Vulkan::Vulkan)
  # CMake lists libvulkan.so once, at its first use; when that is before libimgui.a (the canvas links
  # Vulkan too), --as-needed drops it before ImGui's references are seen. Keep it unconditionally.
  set_property(TARGET PkgConfig::IMGUI APPEND PROPERTY INTERFACE_LINK_OPTIONS "LINKER:--push-state,--no-as-needed,-lvulkan,--pop-state")
endif()

pkg_check_modules(LUA QUIET IMPORTED_TARGET lua5.4)
circuit_require(LUA_FOUND liblua5.4-dev)

pkg_check_modules(CAIRO QUIET IMPORTED_TARGET cairo)
circuit_require(CAIRO_FOUND libcairo2-dev)

find_package(Torch QUIET)
circuit_require(Torch_FOUND libtorch-dev)
# LibTorch's flags (its libstdc++ ABI: _GLIBCXX_USE_CXX11_ABI) for every target, not only those
# that link it: strings and paths cross from torch-free libraries into the engine, and two ABIs
# in one program crash instead of failing to link. Debian's and recent wheels' are both ABI 1;
# an older wheel's 0 would otherwise split the build.
if(TORCH_CXX_FLAGS)
  separate_arguments(circuit_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  add_compile_options(${circuit_torch_flags})
endif()

find_package(SQLite3 QUIET)
circuit_require(SQLite3_FOUND libsqlite3-dev)

# PostgreSQL's client library: a store many machines share (the server is only needed by tests).
pkg_check_modules(LIBPQ QUIET IMPORTED_TARGET libpq)
circuit_require(LIBPQ_FOUND libpq-dev)

find_package(ZLIB QUIET)
circuit_require(ZLIB_FOUND zlib1g-dev)

find_package(GTest QUIET)
circuit_require(GTest_FOUND libgtest-dev)

find_package(benchmark QUIET)
circuit_require(benchmark_FOUND libbenchmark-dev)
