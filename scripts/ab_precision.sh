#!/usr/bin/env bash
# Issue 23's A/B: configs/ab_precision_x2.yaml (RLFN-S x2 from random weights, 2,000 steps) in float32 and in
# bf16 autocast, one after the other, then their validation lines side by side. Arms (arguments; default
# fp32 bf16): fp32; bf16 (the default for a run from random weights: its first train.fp32_steps = 1000 steps
# in float32); bf16-from-0 (bf16 from the first step, train.fp32_steps=0). Logs and metrics are copied to
# training/ab_precision_x2_<arm>; results in docs/training.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
for arm in ${@:-fp32 bf16}; do
  case "$arm" in
    fp32) sets=(--set train.precision=fp32) ;;
    bf16) sets=(--set train.precision=bf16) ;;
    bf16-from-0) sets=(--set train.precision=bf16 --set train.fp32_steps=0) ;;
    *) echo "scripts/ab_precision.sh: unknown arm $arm (fp32, bf16, bf16-from-0)" >&2; exit 2 ;;
  esac
  name=ab_precision_x2_${arm//-/_}
  rm -rf "runs/$name"
  python -m rlfn train configs/ab_precision_x2.yaml -q "${sets[@]}" --set "out_dir=runs/$name" --set "name=$name"
  mkdir -p "training/$name"
  cp "runs/$name/train.log" "runs/$name/metrics.jsonl" "training/$name/"
done
for arm in ${@:-fp32 bf16}; do
  echo "== $arm"; grep -h "val \|step 2000/" "training/ab_precision_x2_${arm//-/_}/train.log"
done
