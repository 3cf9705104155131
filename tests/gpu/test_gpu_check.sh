#!/usr/bin/env bash
# scripts/gpu-check without a GPU: argument handling, the no-GPU exit (3 with
# a clear message), and nvidia-smi's answers parsed (fake nvidia-smi through
# PERCEPTRA_NVIDIA_SMI), up to the point where it would build.
set -uo pipefail
ROOT="$1"
CHECK="$ROOT/scripts/gpu-check"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0
expect() {  # expect NAME CODE PATTERN -- command...
  local name="$1" code="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [ "$rc" != "$code" ] || ! grep -zqE -e "$pattern" <<<"$out"; then
    echo "FAIL $name: exit $rc (want $code), output:"; echo "$out" | head -20
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}
fake() {  # fake nvidia-smi printing $2 with exit status $1
  printf '#!/bin/sh\ncat <<"X"\n%s\nX\nexit %s\n' "$2" "$1" >"$tmp/smi"; chmod +x "$tmp/smi"
}
export CUDACXX=/bin/true  # "nvcc" found; the build is never reached below

expect help 0 "compute capability" -- "$CHECK" --help
expect unknown 2 "unknown argument '--frobnicate'" -- "$CHECK" --frobnicate
expect steps-zero 2 "--steps needs a positive integer, got '0'" -- "$CHECK" --steps 0
expect steps-text 2 "--steps needs a positive integer, got 'many'" -- "$CHECK" --steps many
expect steps-missing 2 "--steps needs a value" -- "$CHECK" --steps
expect jobs-bad 2 "--jobs needs a positive integer" -- "$CHECK" --jobs -1
expect no-driver 3 "no NVIDIA GPU here: nvidia-smi not found" -- \
  env PERCEPTRA_NVIDIA_SMI="$tmp/not-installed" "$CHECK"
fake 6 "No devices were found"
expect no-device 3 "no usable NVIDIA GPU: nvidia-smi says: No devices were found" -- \
  env PERCEPTRA_NVIDIA_SMI="$tmp/smi" "$CHECK"
fake 0 "NVIDIA A100-SXM4-40GB, [N/A], 535.104.05"
expect bad-cc 3 "cannot read the compute capability" -- env PERCEPTRA_NVIDIA_SMI="$tmp/smi" "$CHECK"
fake 0 "NVIDIA GeForce RTX 3090, 8.6, 550.54.14
NVIDIA GeForce RTX 3090, 8.6, 550.54.14"
expect gpu-found 1 "RTX 3090, compute capability 8.6 \(sm_86\), driver 550.54.14.*bench_train missing" -- \
  env PERCEPTRA_NVIDIA_SMI="$tmp/smi" "$CHECK" --skip-build --build-dir "$tmp/none"
exit $((fails > 0))
