#!/usr/bin/env bash
# One entry point for a fresh Debian bookworm machine: installs what is
# missing (apt; pip for the GPU build), configures, builds, then runs the
# requested job. Two LibTorch lines: Debian's 1.13 (CPU; the default, in
# build/) and a CUDA-enabled 2.x (the GPU build, in build-cuda/).
#
#   scripts/dev.sh demo        build only what `xdit generate` needs, then
#                              generate an image with the built-in model
#   scripts/dev.sh test        build both lines and run the whole test suite on
#                              each (what CI runs; GPU tests skip without a GPU)
#   scripts/dev.sh build       only install and build everything (Debian's LibTorch)
#   scripts/dev.sh build-cuda  the GPU build, against PyPI's torch wheel (pinned
#                              below, installed into a virtual environment in
#                              ~/.cache/xdit) or the LibTorch in $XDIT_LIBTORCH
#                              (e.g. an unpacked official libtorch/ archive)
#   scripts/dev.sh test-cuda   the GPU build and its whole test suite
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${XDIT_BUILD_DIR:-$repo/build}"
cuda_build="${XDIT_CUDA_BUILD_DIR:-$repo/build-cuda}"
# The GPU build's LibTorch: the version the project's GPU machine runs, whose
# wheel carries CUDA 13.0 (the toolkit these machines have) and NCCL.
torch_pin="torch==2.11.0"
torch_venv="${XDG_CACHE_HOME:-$HOME/.cache}/xdit/${torch_pin/==/-}-venv"

# Debian packages, each for one reason (README.md explains the choices).
packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libgloo-dev      # LibTorch 1.13 and c10d's Gloo backend headers
  libopenblas0-pthread          # optimised BLAS: ~15x the reference BLAS for GEMM
  nlohmann-json3-dev libcli11-dev libspdlog-dev libsentencepiece-dev libpng-dev
  libicu-dev                    # Unicode properties, NFC and case mapping (CLIP tokenizer)
  libgtest-dev libgmock-dev libbenchmark-dev
  qt6-base-dev libqcustomplot-dev
  clang-14 libclang-rt-14-dev   # libFuzzer for the safetensors header fuzzer
  python3-venv                  # the GPU build's torch wheel lives in a virtual environment
  libjs-chart.js                # Chart.js, inlined into the sweep reports (xdit report)
  chromium                      # prints the reports to PDF; the test draws their charts
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

# What `xdit generate` runs: the CLI, the worker it starts for --nproc, and
# the SentencePiece bridge it loads at run time. The whole tree (tests,
# benchmarks, the Studio) takes several times longer on a small machine.
demo_targets=(xdit xdit-worker xdit_sentencepiece_bridge)

# Builds the given targets, or everything without arguments.
build_tree() {
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  local targets=()
  (($#)) && targets=(--target "$@")
  cmake --build "$build" -j "$(nproc)" "${targets[@]}"
}

# The LibTorch of the GPU build: $XDIT_LIBTORCH, else the pinned wheel's
# torch/ folder (installed on first use, with the CUDA libraries it needs).
cuda_libtorch() {
  if [[ -n "${XDIT_LIBTORCH:-}" ]]; then
    echo "$XDIT_LIBTORCH"
    return
  fi
  if ! "$torch_venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "Installing $torch_pin into $torch_venv (about 4 GB with its CUDA libraries)" >&2
    /usr/bin/python3 -m venv "$torch_venv"
    "$torch_venv/bin/pip" install --quiet --disable-pip-version-check "$torch_pin" >&2
  fi
  # torch.utils.cmake_prefix_path is <torch>/share/cmake.
  "$torch_venv/bin/python" -c \
    'import os, torch.utils; print(os.path.dirname(os.path.dirname(torch.utils.cmake_prefix_path)))' \
    2>/dev/null
}

build_cuda_tree() {
  local libtorch
  libtorch="$(cuda_libtorch)"
  cmake -S "$repo" -B "$cuda_build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXDIT_WITH_CUDA=ON \
    -DXDIT_LIBTORCH="$libtorch"
  cmake --build "$cuda_build" -j "$(nproc)"
}

run_suite() {
  (cd "$1" && ctest --output-on-failure --timeout 900 -j 1)
}

# Where the demo image is and what it shows.
describe_image() {
  local png=$1 prompt=$2 width height
  # A PNG's width and height: big-endian 32-bit integers at bytes 16-23 (IHDR).
  read -r width height < <(od -An -tu4 --endian=big -j16 -N8 "$png")
  echo "Wrote $png: ${width}x${height} px, prompt \"$prompt\"."
  echo "builtin:scenes was trained here (xdit train-builtin) to draw one or two shapes of" \
    "named colours on a plain or two-tone background; give --model a downloaded PixArt" \
    "folder for anything else (README: Using it)."
}

case "${1:-}" in
  demo)
    install_missing_packages
    build_tree "${demo_targets[@]}"
    mkdir -p "$repo/out"
    prompt="a yellow star on a purple background"
    time "$build/app/xdit" generate --model builtin:scenes --prompt "$prompt" \
      --num_inference_steps 20 --seed 42 --output "$repo/out/demo.png"
    describe_image "$repo/out/demo.png" "$prompt"
    # The scene checker's verdict: whether the image shows what was asked.
    "$build/app/xdit" check-scene "$repo/out/demo.png" || true
    ;;
  test)
    install_missing_packages
    build_tree
    run_suite "$build"
    "$repo/scripts/run-fuzzer.sh" 45 safetensors_header_fuzzer
    "$repo/scripts/run-fuzzer.sh" 30 config_json_fuzzer
    build_cuda_tree
    run_suite "$cuda_build"
    ;;
  build)
    install_missing_packages
    build_tree
    ;;
  build-cuda)
    install_missing_packages
    build_cuda_tree
    ;;
  test-cuda)
    install_missing_packages
    build_cuda_tree
    run_suite "$cuda_build"
    ;;
  *)
    echo "usage: $0 demo|test|build|build-cuda|test-cuda" >&2
    exit 2
    ;;
esac
