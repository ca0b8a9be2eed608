#!/usr/bin/env bash
# The planner against xDiT's published PixArt-α latencies (20 steps, seconds,
# 4×A100 PCIe, from xDiT's README/docs): for each method on 4 GPUs, the
# published figure beside `xdit plan`'s prediction for the same mesh, at
# 1024 and 2048 px, and the two rankings.
#
#   scripts/compare-xdit-published.sh [--build DIR] [--tflops T]
#       [--interconnect pcie | --bandwidth GB/s --latency us]
#
# The model is the config-only PixArt-XL-2-1024-MS folder in docs/examples.
# The rate is a stated assumption (--tflops, default 150: about half of an
# A100's 312 dense fp16 TFLOP/s); a second column fits it to the published
# one-GPU figure at each size instead, as `xdit plan --calibrate` would fit
# it to a real step. Predictions are 20 × seconds per step of the
# transformer; xDiT's figures also hold the text encoder and the VAE.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=$repo/build
tflops=150
link=(--interconnect pcie)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --tflops) tflops=$2; shift 2 ;;
    --interconnect) link=(--interconnect "$2"); shift 2 ;;
    --bandwidth) link=(--bandwidth "$2" --latency "${4:?--bandwidth needs --latency after it}"); shift 4 ;;
    *) echo "usage: $0 [--build DIR] [--tflops T] [--interconnect pcie|nvlink|ethernet | --bandwidth GB/s --latency us]" >&2; exit 2 ;;
  esac
done
xdit=$build/app/xdit
[[ -x $xdit ]] || { echo "error: $xdit not built" >&2; exit 1; }
model=$repo/docs/examples/pixart-xl-2-1024-ms
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name | flags as the planner writes them (PipeFusion: its best patch count) | published 1024 | 2048
methods=(
  "1 GPU|serial|2.085|16.22"
  "tensor parallel 4|--nproc 4 --tensor_parallel_degree 4|4.915|19.45"
  "PipeFusion 4|pipefusion|0.866|5.37"
  "DistriFusion 4|--nproc 4 --distrifusion_degree 4 --warmup_steps 1|2.331|9.622"
  "Ulysses 4|--nproc 4 --ulysses_degree 4|1.741|7.932"
  "Ring 4|--nproc 4 --ring_degree 4|2.633|11.05"
)

plan() {  # plan SIZE DEVICES TFLOPS OUT
  "$xdit" plan --model "$model" --height "$1" --width "$1" --devices "$2" --dtype float16 \
    "${link[@]}" --flops "$3" --json "$4" >/dev/null
}

# Seconds for 20 steps of one method from a plan file.
seconds() {  # seconds PLAN4 PLAN1 FLAGS
  case $3 in
    serial) jq '.configs[0].seconds_per_step * 20' "$2" ;;
    pipefusion) jq '[.configs[] | select(.flags | test("pipefusion_parallel_degree 4")) | .seconds_per_step] | min * 20' "$1" ;;
    *) jq --arg f "$3" '[.configs[] | select(.flags == $f) | .seconds_per_step][0] * 20' "$1" ;;
  esac
}

for size in 1024 2048; do
  plan "$size" 4 "$tflops" "$work/p4-$size.json"
  plan "$size" 1 "$tflops" "$work/p1-$size.json"
  # The rate at which one GPU's 20 steps take the published time.
  published_serial=$(awk -F'|' -v s="$size" 'NR == 1 {print (s == 1024 ? $3 : $4)}' <(printf '%s\n' "${methods[@]}"))
  predicted_serial=$(seconds "$work/p4-$size.json" "$work/p1-$size.json" serial)
  fitted=$(awk -v t="$tflops" -v p="$predicted_serial" -v m="$published_serial" 'BEGIN {print t * p / m}')
  plan "$size" 4 "$fitted" "$work/f4-$size.json"
  plan "$size" 1 "$fitted" "$work/f1-$size.json"
  echo "PixArt-α ${size}px, 20 steps, 4×A100 PCIe; planner: ${link[*]}, ${tflops} TFLOP/s (fitted: $(printf %.0f "$fitted") TFLOP/s)"
  printf '%-20s %10s %12s %8s %14s %8s\n' method published predicted error "predicted(fit)" error
  : >"$work/published.txt"; : >"$work/predicted.txt"
  for entry in "${methods[@]}"; do
    IFS='|' read -r name flags p1024 p2048 <<<"$entry"
    published=$([[ $size == 1024 ]] && echo "$p1024" || echo "$p2048")
    predicted=$(seconds "$work/p4-$size.json" "$work/p1-$size.json" "$flags")
    fit=$(seconds "$work/f4-$size.json" "$work/f1-$size.json" "$flags")
    printf '%-20s %10.3f %12.3f %7.0f%% %14.3f %7.0f%%\n' "$name" "$published" "$predicted" \
      "$(awk -v a="$predicted" -v b="$published" 'BEGIN {print (a - b) / b * 100}')" "$fit" \
      "$(awk -v a="$fit" -v b="$published" 'BEGIN {print (a - b) / b * 100}')"
    echo "$published $name" >>"$work/published.txt"
    echo "$predicted $name" >>"$work/predicted.txt"
  done
  echo "published ranking: $(sort -g "$work/published.txt" | cut -d' ' -f2- | paste -sd'>' | sed 's/>/ > /g')"
  echo "planner ranking:   $(sort -g "$work/predicted.txt" | cut -d' ' -f2- | paste -sd'>' | sed 's/>/ > /g')"
  echo
done
