#!/usr/bin/env bash
# One entry point for a fresh Debian bookworm machine: installs what is
# missing (apt), configures, builds, then runs the requested job.
#
#   scripts/dev.sh demo   generate an image with the built-in model
#   scripts/dev.sh test   run the whole test suite (what CI runs)
#   scripts/dev.sh build  only install and build
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${XDIT_BUILD_DIR:-$repo/build}"

# Debian packages, each for one reason (README.md explains the choices).
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libgloo-dev      # LibTorch 1.13 and c10d's Gloo backend headers
  libopenblas0-pthread          # optimised BLAS: ~15x the reference BLAS for GEMM
  nlohmann-json3-dev libcli11-dev libspdlog-dev libsentencepiece-dev libpng-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  qt6-base-dev libqcustomplot-dev
  clang-14 libclang-rt-14-dev   # libFuzzer for the safetensors header fuzzer
)

install_missing_packages() {
  local missing=()
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ((${#missing[@]})); then
    echo "Installing missing packages: ${missing[*]}"
    local sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build_tree() {
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build "$build" -j "$(nproc)"
}

case "${1:-}" in
  demo)
    install_missing_packages
    build_tree
    mkdir -p "$repo/out"
    time "$build/app/xdit" generate --model builtin:tiny-pixart \
      --prompt "a lighthouse on a cliff at sunset, oil painting" \
      --num_inference_steps 20 --seed 42 --output "$repo/out/demo.png"
    ;;
  test)
    install_missing_packages
    build_tree
    (cd "$build" && ctest --output-on-failure --timeout 900 -j 1)
    "$repo/scripts/run-fuzzer.sh" 45 safetensors_header_fuzzer
    "$repo/scripts/run-fuzzer.sh" 30 config_json_fuzzer
    ;;
  build)
    install_missing_packages
    build_tree
    ;;
  *)
    echo "usage: $0 demo|test|build" >&2
    exit 2
    ;;
esac
