# The Debian package: `cpack -G DEB` in a build folder (packaging/build-deb.sh
# does every step) makes xdit_<version>_<arch>.deb with xdit, xdit-worker,
# xdit-studio (when built), the SentencePiece bridge, the desktop entry and
# the icon, under /usr.
#
# Dependencies: dpkg-shlibdeps reads the libraries the installed binaries
# link (LibTorch's libtorch1.13, Qt 6, QCustomPlot, SentencePiece, OpenMP,
# ...) and names their Debian packages. What is loaded without being linked
# is added by hand: Qt's platform plugins (xcb for a desktop, offscreen).

set(CPACK_PACKAGE_NAME xdit)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "xdit-cpp")
set(CPACK_PACKAGE_CONTACT "xdit-cpp developers <xdit-cpp@users.noreply.localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Hybrid-parallel Diffusion Transformer inference (CLI and xDiT Studio)")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "xdit runs text-to-image Diffusion Transformers (PixArt-alpha/Sigma) in C++ on\n\
LibTorch, on one process or on a group of worker processes that split the work\n\
with xDiT's parallel methods (CFG, data, Ulysses, Ring, USP, tensor, PipeFusion).\n\
It contains the xdit command line tool, the xdit-worker rank process and\n\
xDiT Studio (xdit-studio), a desktop app to configure, run and compare\n\
generations with live previews, memory and latency charts.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION graphics)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
# The sweep reports inline Debian's Chart.js rather than carry a copy of it;
# Chromium only prints them to PDF, so it is a suggestion.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libjs-chart.js")
if(XDIT_BUILD_STUDIO)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", qt6-qpa-plugins")
endif()
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "chromium")
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")

include(CPack)
