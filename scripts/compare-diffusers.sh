#!/usr/bin/env bash
# The serial engine against diffusers on the same LibTorch, in one run:
# Debian's python3-torch is the same LibTorch 1.13 the engine links, and
# diffusers v0.30.3 with its pure-Python dependencies comes from PyPI into a
# virtual environment (under ~/.cache/xdit) that sees the system's packages.
# Both run the PixArt-XL shapes of `xdit bench` on the same thread count,
# one after the other; the table gives each one's s/step, its rate against
# the GEMM rate measured in the same run, and diffusers' time over ours.
#
#   scripts/compare-diffusers.sh [THREADS]      (default 1)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${XDIT_BUILD_DIR:-$repo/build}"
threads="${1:-1}"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/xdit/diffusers-venv"
cases=pixart_xl_256px,pixart_xl_1024px_4_layers

sudo=""
[[ "$(id -u)" == 0 ]] || sudo="sudo"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null || ! /usr/bin/python3 -m venv -h >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    python3-torch python3-venv python3-pip
fi
if [[ ! -x "$venv/bin/python" ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/pip" install -q diffusers==0.30.3 huggingface_hub==0.25.2
[[ -x "$build/app/xdit" ]] || "$repo/scripts/dev.sh" build

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"
"$build/app/xdit" bench --threads "$threads" --cases "gemm,$cases" --json "$out/xdit.json"
"$venv/bin/python" "$repo/scripts/diffusers_pixart_step.py" "$out/diffusers.json" \
  --threads "$threads" --cases "$cases"

"$venv/bin/python" - "$out/xdit.json" "$out/diffusers.json" <<'PY'
import json, sys
xdit = {r["name"]: r["figures"] for r in json.load(open(sys.argv[1]))["records"]}
peer = json.load(open(sys.argv[2]))
gemm = xdit["gemm"]["gflops"]["value"]
print(f"\nSame machine, same LibTorch (torch {peer['torch']}, diffusers {peer['diffusers']}), "
      f"{peer['threads']} thread(s); GEMM {gemm:.0f} GFLOP/s")
print(f"{'case':28} {'xdit s/step':>12} {'of GEMM':>8} {'diffusers':>10} {'of GEMM':>8} "
      f"{'diffusers/xdit':>15}")
for name, theirs in peer["cases"].items():
    ours = xdit[name]
    flop = ours["gflop_per_step"]["value"]
    t_ours, t_theirs = ours["seconds_per_step"]["value"], theirs["seconds_per_step"]
    print(f"{name:28} {t_ours:12.2f} {flop / t_ours / gemm:8.2f} {t_theirs:10.2f} "
          f"{flop / t_theirs / gemm:8.2f} {t_theirs / t_ours:15.2f}")
PY
