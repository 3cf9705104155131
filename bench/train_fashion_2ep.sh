#!/usr/bin/env bash
# SimpleCNN on Fashion-MNIST for 2 epochs (batch 128, SGD momentum 0.9,
# lr 0.05), driven through `perceptra-cli train --json` exactly as a user
# would; prints the test accuracy (official test split) and training
# images/s. The PyTorch reference run of the same setup reaches 0.906
# (one seed, when this script was written; bench/README.md has medians over
# seeds). Not a test: timings are noisy on a shared machine.
#
#   bench/train_fashion_2ep.sh [path/to/perceptra-cli] [extra train flags...]
#   PERCEPTRA_CLI=... THREADS=2 SEED=1 bench/train_fashion_2ep.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLI="${1:-${PERCEPTRA_CLI:-$ROOT/build/app/perceptra-cli}}"
[ $# -gt 0 ] && shift
[ -x "$CLI" ] || { echo "perceptra-cli not found at $CLI (build it, or pass its path)" >&2; exit 2; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
THREADS="${THREADS:-$(nproc)}"

start=$(date +%s.%N)
"$CLI" train --data fashion-mnist --model simplecnn --epochs 2 --batch-size 128 \
  --optimizer sgd --momentum 0.9 --lr 0.05 --seed "${SEED:-0}" --threads "$THREADS" \
  --db "$WORK/bench.db" --out "$WORK/runs" --json --quiet "$@" > "$WORK/events.jsonl"
end=$(date +%s.%N)

/usr/bin/python3 - "$WORK/events.jsonl" "$start" "$end" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
epochs = [e for e in events if e["event"] == "epoch_end"]
end = [e for e in events if e["event"] == "train_end"][-1]
if end["reason"] != "done":
    sys.exit("training ended: %s %s" % (end["reason"], end["message"]))
ips = [e["images_per_s"] for e in epochs]
print("simplecnn fashion-mnist 2 epochs (batch 128, sgd momentum 0.9, lr 0.05)")
for e in epochs:
    print("  epoch %d: train_loss %.4f valid_loss %.4f test_accuracy %.4f  %.0f img/s  %.1f s"
          % (e["epoch"] + 1, e["train_loss"], e["valid_loss"], e["valid_accuracy"],
             e["images_per_s"], e["seconds"]))
print("test_accuracy %.4f (PyTorch reference 0.906)" % epochs[-1]["valid_accuracy"])
print("train_images_per_s %.0f (mean of epochs)" % (sum(ips) / len(ips)))
print("wall_seconds %.1f" % (float(sys.argv[3]) - float(sys.argv[2])))
PY
