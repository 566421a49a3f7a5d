# `cmake --install build --prefix P` lays out P/bin (circuit, circuit-studio) and
# P/share/circuit-studio (examples, search spaces, Lua plugins and scripts), plus a desktop entry and
# an icon. The binaries find the data relative to themselves (core/base/paths.h).
# `cpack -G DEB` (run in build/) packs the same tree into a Debian package.
include(GNUInstallDirs)

install(TARGETS circuit RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET circuit-studio)
  install(TARGETS circuit-studio RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES resources/desktop/circuit-studio.desktop DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
  install(FILES resources/desktop/circuit-studio.svg DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
endif()
set(share ${CMAKE_INSTALL_DATADIR}/circuit-studio)
install(DIRECTORY resources/examples/ DESTINATION ${share}/examples FILES_MATCHING PATTERN "*.circuit.json")
install(DIRECTORY resources/search/ DESTINATION ${share}/search FILES_MATCHING PATTERN "*.search.json")
install(DIRECTORY plugins/ DESTINATION ${share}/plugins FILES_MATCHING PATTERN "*.lua")
install(DIRECTORY scripts/ DESTINATION ${share}/scripts FILES_MATCHING PATTERN "*.lua")

set(CPACK_PACKAGE_NAME circuit-studio)
set(CPACK_PACKAGE_VENDOR "Circuit Studio")
set(CPACK_PACKAGE_CONTACT "Circuit Studio developers <circuit-studio@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Design, train and search neural networks as neural circuit diagrams")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # circuit-studio_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# The packages of the libraries the binaries link are computed by dpkg-shlibdeps from the release
# the package is built on (libtorch1.13 on Debian 12, libtorch2.6 on 13), so a package installs on
# the release that built it. What no ELF NEEDED entry names is listed here: the font every renderer
# draws with, and OpenBLAS, which makes LibTorch's CPU matmuls fast (50x the reference BLAS, which
# LibTorch's libblas.so.3 would otherwise resolve to); lavapipe gives the canvas a Vulkan device on
# machines without a GPU driver.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fonts-dejavu-core, libopenblas0-openmp | libblas3")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0-openmp, dataset-fashion-mnist")
if(CIRCUIT_GUI)
  string(PREPEND CPACK_DEBIAN_PACKAGE_RECOMMENDS "mesa-vulkan-drivers, ")
endif()
# Debug information stays in the build tree: stripped, the package is a fraction of the size.
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
include(CPack)
