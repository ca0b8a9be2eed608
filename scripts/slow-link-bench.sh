#!/usr/bin/env bash
# The parallel methods on two ranks joined by a slow link: rank 0 in this
# network namespace, rank 1 in its own, the two joined by a veth pair whose
# bandwidth `tc` limits (a stand-in for PCIe or Ethernet between devices).
# Each method runs once at full veth speed and once per limited rate, and the
# methods are ranked by seconds per step at each. Needs root (ip netns, tc).
#
#   scripts/slow-link-bench.sh [--build DIR] [--steps N] [--rates "1gbit 200mbit"]
#
# Workers are started the way torchrun starts them (RANK, WORLD_SIZE,
# MASTER_ADDR, ...), one core and one compute thread each; Gloo talks over the
# veth (GLOO_SOCKET_IFNAME), so every byte of the method crosses the limit.
#
# Beside each measurement: what `xdit plan` predicts for that mesh on that
# link (the calibration's rate and latency, `xdit plan --calibrate`, with the
# limit's bandwidth; at full speed the calibration's link), its error, and
# at the end of each link the predicted ranking beside the measured one.
set -euo pipefail

build=build
steps=6
rates="1gbit 200mbit"
model=builtin:bench-pixart
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--steps N] [--rates \"1gbit 200mbit\"] [--model M]" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "error: needs root for ip netns and tc" >&2; exit 1; }
worker=$(realpath "$build/app/xdit-worker")
[[ -x $worker ]] || { echo "error: $worker not built (cmake --build $build --target xdit-worker)" >&2; exit 1; }
xdit=$(realpath "$build/app/xdit")
[[ -x $xdit ]] || { echo "error: $xdit not built (cmake --build $build --target xdit)" >&2; exit 1; }

ns=xdit-slow
near=xdit-near   # this namespace's end, 10.77.0.1
far=xdit-far     # rank 1's end, 10.77.0.2
work=
cleanup() {
  ip link del "$near" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  [[ -z $work ]] || rm -rf "$work"
}
trap cleanup EXIT
cleanup
work=$(mktemp -d)
ip netns add "$ns"
ip link add "$near" type veth peer name "$far"
ip link set "$far" netns "$ns"
ip addr add 10.77.0.1/24 dev "$near"
ip link set "$near" up
ip netns exec "$ns" ip addr add 10.77.0.2/24 dev "$far"
ip netns exec "$ns" ip link set "$far" up
ip netns exec "$ns" ip link set lo up

# Both directions: a token bucket at `rate` on each end's egress.
limit() {
  local rate=$1
  tc qdisc del dev "$near" root 2>/dev/null || true
  ip netns exec "$ns" tc qdisc del dev "$far" root 2>/dev/null || true
  [[ $rate == full ]] && return
  tc qdisc add dev "$near" root tbf rate "$rate" burst 1mb latency 100ms
  ip netns exec "$ns" tc qdisc add dev "$far" root tbf rate "$rate" burst 1mb latency 100ms
}

# The median seconds of the steps after the first, from rank 0's log.
median_step() {
  grep -o 'step [0-9]*/[0-9]* ([0-9.]* s)' "$1" | tail -n +2 | sed 's/.*(\([0-9.]*\) s)/\1/' |
    sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "failed"; else print v[int((NR + 1) / 2)]}'
}

port=29600
# run NAME FLAGS...: one generation on two ranks across the link.
run() {
  local name=$1; shift
  port=$((port + 1))
  local common=(--model "$model" --prompt "a lighthouse on a cliff at dusk" --seed 1
                --num_inference_steps "$steps" --output_type latent -o "$work/$name.safetensors" "$@")
  env RANK=1 LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 MASTER_ADDR=10.77.0.1 MASTER_PORT=$port \
    XDIT_COMPUTE_THREADS=1 GLOO_SOCKET_IFNAME=$far \
    ip netns exec "$ns" taskset -c 1 "$worker" "${common[@]}" >"$work/$name.rank1.log" 2>&1 &
  local far_pid=$!
  env RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 LOCAL_WORLD_SIZE=1 MASTER_ADDR=10.77.0.1 MASTER_PORT=$port \
    XDIT_COMPUTE_THREADS=1 GLOO_SOCKET_IFNAME=$near \
    taskset -c 0 "$worker" "${common[@]}" >"$work/$name.rank0.log" 2>&1 || true
  wait "$far_pid" || true
  median_step "$work/$name.rank0.log"
}

serial() {
  env RANK=0 LOCAL_RANK=0 WORLD_SIZE=1 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29599 \
    XDIT_COMPUTE_THREADS=1 taskset -c 0 "$worker" --model "$model" --seed 1 \
    --prompt "a lighthouse on a cliff at dusk" --num_inference_steps "$steps" \
    --output_type latent -o "$work/serial.safetensors" >"$work/serial.log" 2>&1 || true
  median_step "$work/serial.log"
}

methods=(
  "cfg|--use_cfg_parallel"
  "ulysses|--ulysses_degree 2"
  "ring|--ring_degree 2"
  "tensor|--tensor_parallel_degree 2"
  "distrifusion|--distrifusion_degree 2 --warmup_steps 1"
  "pipefusion|--pipefusion_parallel_degree 2 --num_pipeline_patch 4 --warmup_steps 1"
)

# The planner's seconds per step of every 2-rank mesh on the link of `rate`.
predict() {
  local rate=$1 link=(--interconnect measured)
  if [[ $rate != full ]]; then
    local bits=${rate%bit}
    local scale=1
    case $bits in
      *g) scale=1000000000; bits=${bits%g} ;;
      *m) scale=1000000; bits=${bits%m} ;;
      *k) scale=1000; bits=${bits%k} ;;
    esac
    local latency
    latency=$(jq '.latency_seconds * 1e6' "$calibration")
    link=(--bandwidth "$(awk -v b="$bits" -v s="$scale" 'BEGIN {print b * s / 8 / 1e9}')" --latency "$latency")
  fi
  "$xdit" plan --model "$model" --devices 2 --dtype float32 --calibration "$calibration" \
    "${link[@]}" --json "$work/plan-$rate.json" >/dev/null
}

calibration=$work/calibration.json
"$xdit" plan --calibrate --calibration "$calibration" >/dev/null
echo "calibration: $(jq -r '"\(.flops_per_second / 1e9 | floor) GFLOP/s per rank, \(.bandwidth_bytes_per_second / 1e9 * 100 | floor / 100) GB/s, \(.latency_seconds * 1e6 | floor) us"' "$calibration")"
base=$(serial)
echo "serial on one core: $base s/step ($model, $steps steps)"
for rate in full $rates; do
  limit "$rate"
  predict "$rate"
  echo
  echo "link: $rate"
  printf '%-14s %10s %9s %10s %8s\n' method s/step speedup predicted error
  : >"$work/rank.txt"
  : >"$work/predicted-rank.txt"
  for entry in "${methods[@]}"; do
    name=${entry%%|*}
    flags="--nproc 2 ${entry#*|}"
    # shellcheck disable=SC2086
    seconds=$(run "$name-$rate" ${entry#*|})
    speedup=$(awk -v b="$base" -v s="$seconds" 'BEGIN {if (s + 0 > 0) printf "%.2f", b / s; else print "-"}')
    predicted=$(jq --arg f "$flags" '[.configs[] | select(.flags == $f) | .seconds_per_step][0] // empty' \
      "$work/plan-$rate.json")
    error=$(awk -v p="$predicted" -v s="$seconds" 'BEGIN {if (s + 0 > 0 && p != "") printf "%+.0f%%", (p - s) / s * 100; else print "-"}')
    printf '%-14s %10s %9s %10.4f %8s\n' "$name" "$seconds" "$speedup" "${predicted:-0}" "$error"
    [[ $seconds != failed ]] && echo "$seconds $name" >>"$work/rank.txt"
    [[ -n $predicted ]] && echo "$predicted $name" >>"$work/predicted-rank.txt"
  done
  echo "ranking at $rate: $(sort -n "$work/rank.txt" | awk '{printf "%s%s", (NR > 1 ? " > " : ""), $2}')"
  echo "predicted:  $(sort -n "$work/predicted-rank.txt" | awk '{printf "%s%s", (NR > 1 ? " > " : ""), $2}')"
done
