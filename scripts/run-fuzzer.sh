#!/usr/bin/env bash
# Builds a libFuzzer target with clang in its own build folder and runs it for
# a bounded time, starting from the seed corpus in fuzz/corpus/<target>.
# Exits non-zero when the fuzzer finds a crash, a leak or a timeout; the input
# that caused it is kept in <build>/artifacts/.
#
#   scripts/run-fuzzer.sh [seconds=60] [target=safetensors_header_fuzzer]
#
# Environment: XDIT_FUZZ_BUILD_DIR (default build-fuzz), XDIT_FUZZ_CXX
# (default clang++-14, else clang++), XDIT_FUZZ_JOBS (build jobs, default 2).
set -euo pipefail

seconds="${1:-60}"
target="${2:-safetensors_header_fuzzer}"
if [[ ! "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [seconds] [target]   (seconds: a positive integer, got '$seconds')" >&2
  exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${XDIT_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cxx="${XDIT_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
if [[ -z "$cxx" ]]; then
  echo "$0: no clang++ found (install clang-14 and libclang-rt-14-dev)" >&2
  exit 2
fi

generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$root" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DXDIT_BUILD_FUZZERS=ON -DXDIT_BUILD_TESTS=OFF -DXDIT_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target "$target" -j "${XDIT_FUZZ_JOBS:-2}"

# New inputs go to the first corpus folder, which lives in the build folder;
# the seeds in the source tree are only read.
corpus="$build/corpus/$target"
seeds="$root/fuzz/corpus/$target"
mkdir -p "$corpus" "$build/artifacts"
options=(
  -max_total_time="$seconds"
  -timeout=10
  -rss_limit_mb=2048
  -print_final_stats=1
  -artifact_prefix="$build/artifacts/$target-"
)
if [[ -f "$root/fuzz/$target.dict" ]]; then options+=(-dict="$root/fuzz/$target.dict"); fi
folders=("$corpus")
if [[ -d "$seeds" ]]; then folders+=("$seeds"); fi

echo "Fuzzing $target for ${seconds}s" >&2
status=0
"$build/fuzz/$target" "${options[@]}" "${folders[@]}" || status=$?
if [[ $status -ne 0 ]]; then
  echo "$target failed (exit $status); reproduce with: $build/fuzz/$target <input>" >&2
  ls -1 "$build"/artifacts/"$target"-* 2>/dev/null >&2 || true
fi
exit "$status"
