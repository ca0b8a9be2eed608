#!/usr/bin/env bash
# The check on a machine with a GPU: builds the engine with XDIT_WITH_CUDA
# against a CUDA LibTorch (default: the one inside this machine's python3
# torch), runs the `gpu`-labelled tests (models and kernels against the CPU,
# every parallel method on the GPU) and the engine's CPU suite on that
# LibTorch, the GPU bench cases and, when given, the eager-PyTorch baseline
# of the same shapes; prints one table. Meant to fit in 8 minutes on a
# 16-core machine with one GPU, build included.
#
#   scripts/gpu-check.sh [--torch CMAKE_PREFIX] [--debs DIR] [--baseline SCRIPT] [--out DIR]
#
# --debs: a folder of Debian packages (../shared/device/fetch-debs.sh) for a
# machine without a package registry; they are unpacked into a prefix under
# /tmp, never into /.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
torch_prefix="" debs="" baseline="" out="${OUT:-$repo/out/gpu-check}"
while (($#)); do
  case "$1" in
    --torch) torch_prefix="$2"; shift 2 ;;
    --debs) debs="$2"; shift 2 ;;
    --baseline) baseline="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: $0 [--torch CMAKE_PREFIX] [--debs DIR] [--baseline SCRIPT] [--out DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
build="${XDIT_GPU_BUILD_DIR:-/tmp/xdit-gpu-build}"
jobs="$(nproc)"
[[ -n "$torch_prefix" ]] || torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')"

prefixes="$torch_prefix"
if [[ -n "$debs" ]]; then
  deps=/tmp/xdit-deps
  mkdir -p "$deps"
  for f in "$debs"/*.deb; do dpkg -x "$f" "$deps"; done
  export PATH="$deps/usr/bin:$PATH"
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PKG_CONFIG_PATH="$deps/usr/lib/x86_64-linux-gnu/pkgconfig:$deps/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$deps"  # the .pc files say prefix=/usr
  prefixes="$torch_prefix;$deps/usr"
fi

start=$SECONDS
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DXDIT_WITH_CUDA=ON \
  -DXDIT_BUILD_STUDIO=OFF -DXDIT_BUILD_BENCHMARKS=OFF -DCMAKE_PREFIX_PATH="$prefixes" \
  >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target xdit xdit-worker xdit_engine_tests xdit_parallel_tests \
  >"$out/build.log" 2>&1 || { grep -E "error|Error" -A3 "$out/build.log" | head -60; exit 1; }
build_seconds=$((SECONDS - start))
ldd "$build/app/xdit-worker" | grep -E "torch_cuda|nccl" >"$out/ldd.txt" || true

set +e
(cd "$build" && ctest -L gpu --output-on-failure --timeout 300) >"$out/gpu-tests.log" 2>&1
gpu_rc=$?
"$build/tests/xdit_engine_tests" --gtest_filter='-GpuBackend.*' >"$out/cpu-tests.log" 2>&1
cpu_rc=$?
"$build/app/xdit" bench --device cuda --json "$out/bench.json" >"$out/bench.log" 2>&1
bench_rc=$?
baseline_rc=0
if [[ -n "$baseline" ]]; then
  python3 "$baseline" "$out/baseline.json" >"$out/baseline.log" 2>&1
  baseline_rc=$?
fi
set -e

python3 - "$out" "$build_seconds" "$gpu_rc" "$cpu_rc" "$bench_rc" "$baseline_rc" <<'PY'
import json, os, re, sys
out, build_s, gpu_rc, cpu_rc, bench_rc, base_rc = sys.argv[1], *map(int, sys.argv[2:])
def read(log):
    path = os.path.join(out, log)
    return open(path, errors="replace").read() if os.path.exists(path) else ""
def ctest_summary(log):
    text = read(log)
    m = re.search(r"(\d+)% tests passed, (\d+) tests failed out of (\d+)", text)
    skipped = len(re.findall(r"\*\*\*Skipped", text))
    return f"{m.group(3)} run, {m.group(2)} failed, {skipped} skipped" if m else "no result"
def gtest_summary(log):
    text = read(log)
    ran = re.search(r"\[==========\] (\d+) tests? from", text.split("Global test environment tear-down")[-1])
    passed = re.search(r"\[  PASSED  \] (\d+)", text)
    failed = re.findall(r"\[  FAILED  \] (\S+)", text)
    return f"{passed.group(1) if passed else 0} passed, {len(set(failed))} failed" + (
        f" ({', '.join(sorted(set(failed))[:5])})" if failed else "")
print(f"\nbuild (xdit, xdit-worker, engine tests): {build_s} s")
print("ldd xdit-worker:", " ".join(l.split()[0] for l in open(os.path.join(out, "ldd.txt"))) or "no torch_cuda/nccl")
print(f"gpu tests (ctest -L gpu):  {ctest_summary('gpu-tests.log')}  rc={gpu_rc}")
print(f"engine CPU suite on this LibTorch: {gtest_summary('cpu-tests.log')}  rc={cpu_rc}")
bench = {}
if os.path.exists(os.path.join(out, "bench.json")):
    bench = {r["name"]: r["figures"] for r in json.load(open(os.path.join(out, "bench.json")))["records"]}
base = {}
if os.path.exists(os.path.join(out, "baseline.json")):
    b = json.load(open(os.path.join(out, "baseline.json")))
    base = {r["case"]: r for r in b["rows"]}
    base["gemm"] = b["gemm_tflops"]
g = bench.get("gpu_gemm", {}).get("tflops", {}).get("value")
print(f"\nbf16 GEMM 8192^3: xdit {g or float('nan'):.0f} TFLOP/s, eager {base.get('gemm', float('nan')):.0f} TFLOP/s")
print(f"{'case':22} {'xdit ms':>9} {'TFLOP/s':>8} {'of GEMM':>8} {'peak GiB':>9} {'eager ms':>9} {'eager/xdit':>11}")
for case, eager in (("pixart_xl_1024px_gpu", "pixart-xl 1024px cfg2"),
                    ("pixart_xl_2048px_gpu", "pixart-xl 2048px cfg2"),
                    ("flux_dev_1024px_gpu", "flux-dev 1024px")):
    f = bench.get(case)
    if not f:
        print(f"{case}: no result (bench rc={bench_rc})"); continue
    ms = f["seconds_per_step"]["value"] * 1e3
    e = base.get(eager, {}).get("ms_median", float("nan"))
    print(f"{case[:-4] + '_bf16':22} {ms:9.1f} {f['tflops']['value']:8.0f} {f['ratio_to_gemm']['value']:8.2f} "
          f"{f['peak_allocated_mib']['value'] / 1024:9.1f} {e:9.1f} {e / ms:11.2f}")
PY
