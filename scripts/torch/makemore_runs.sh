#!/bin/sh
# makemore.py's own runs that the README's table and fixtures/makemore-py/ compare with:
# each --type at makemore.py's defaults (seed 3407, batch 32, AdamW 5e-4) for 5,000 steps (--max-steps 5001 so that its evaluation at step 5000 runs), on one
# thread (OMP_NUM_THREADS=1, --num-workers 0: the sampler draws the same batches in the main
# process), tensorboard stubbed. Logs keep the start-up lines, every 500th step line and every
# evaluation line (the full log prints a step line every 10 steps).
#
#   sh scripts/torch/makemore_runs.sh [makemore.py] [types...]
set -e
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mm=${1:-/work/shared/references/makemore.py}
[ $# -gt 0 ] && shift
types=${*:-"bigram mlp rnn gru bow transformer"}
mkdir -p "$root/fixtures/makemore-py"
for t in $types; do
  out=$(mktemp -d)
  start=$(date +%s)
  PYTHONPATH="$here/tbstub" OMP_NUM_THREADS=1 /usr/bin/python3 "$mm" -i "$root/data/names.txt" -o "$out" \
    --type "$t" --max-steps 5001 --num-workers 0 > "$out/log.txt" 2>&1
  end=$(date +%s)
  grep -v -E '^step [0-9]+ \| loss' "$out/log.txt" | grep -E -v '^(-+|[0-9]+ samples that are .*|[a-z]+|)$' > "$out/keep.txt" || true
  {
    echo "# makemore.py --type $t --max-steps 5001 --num-workers 0 (OMP_NUM_THREADS=1), wall ${start}..${end} ($((end - start)) s)"
    grep -E '^step [0-9]*(000|500) \| loss' "$out/log.txt"
    cat "$out/keep.txt"
  } > "$root/fixtures/makemore-py/$t.txt"
  rm -rf "$out"
  echo "$t done in $((end - start)) s"
done
