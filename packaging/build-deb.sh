#!/usr/bin/env bash
# Builds xdit_<version>_<arch>.deb: xdit, xdit-worker, xdit-studio, the
# SentencePiece bridge, the desktop entry and the icon, under /usr, with the
# Debian packages they need as dependencies (dpkg-shlibdeps). Then shows what
# it holds. Needs the build dependencies of scripts/dev.sh plus dpkg-dev.
#
#   packaging/build-deb.sh [build-folder]        # default: build-deb
#   sudo apt-get install ./build-deb/xdit_*.deb  # installs it and its dependencies
#   xdit generate --prompt "a red house" -o house.png && xdit-studio
#   sudo apt-get remove xdit
#
# Checked on Debian bookworm: the package depends on libtorch1.13, Qt 6,
# libqcustomplot2.1-qt6, libsentencepiece0, libspdlog1.10-fmt9, libgomp1, ...
# and qt6-qpa-plugins; /usr/bin/xdit finds /usr/bin/xdit-worker beside itself
# (`xdit generate --nproc 2`), and xdit-studio starts (QT_QPA_PLATFORM=offscreen
# without a display).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-deb}"

# CPack's DEB generator works out the dependencies with dpkg-shlibdeps.
if ! command -v dpkg-shlibdeps >/dev/null; then
  echo "installing dpkg-dev (for dpkg-shlibdeps)"
  $([[ $(id -u) -eq 0 ]] || echo sudo) apt-get install -y --no-install-recommends dpkg-dev
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DXDIT_BUILD_TESTS=OFF -DXDIT_BUILD_BENCHMARKS=OFF -DXDIT_BUILD_FUZZERS=OFF
# Without tests, `all` is what the package installs.
cmake --build "$build" -j"${JOBS:-2}"
(cd "$build" && cpack -G DEB)

deb="$(ls -t "$build"/xdit_*.deb | head -n 1)"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
echo "built $deb"
