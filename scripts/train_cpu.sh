#!/usr/bin/env bash
# Train the shipped CPU models in order, one process at a time: RLFN-S x2, then RLFN-S x4 started from the
# x2 body. Resumable: rerun the script and each run continues from its last checkpoint (or is skipped
# when its final export exists). Usage: scripts/train_cpu.sh [RUNS_DIR]   (default: /work/runs)
# Run from the repository root (the configs' data paths are relative to it).
set -euo pipefail
RUNS=${1:-/work/runs}
mkdir -p "$RUNS"

train() {  # train NAME SCALE CONFIG [--set ...]
    local name=$1 scale=$2 config=$3; shift 3
    local out="$RUNS/$name"
    if [[ -f "$out/rlfn_s_x$scale.safetensors" ]]; then echo "$name: done already"; return; fi
    local resume=()
    [[ -f "$out/checkpoints/last.pt" ]] && resume=(--resume)
    echo "$(date -u +%FT%TZ) $name: rlfn train $config --set out_dir=$out $* ${resume[*]}"
    python -m rlfn train "$config" --set "out_dir=$out" "$@" "${resume[@]}"
}

train cpu_rlfn_s_x2 2 configs/history/replaced_weights/cpu_rlfn_s_x2.yaml
train cpu_rlfn_s_x4 4 configs/history/replaced_weights/cpu_rlfn_s_x4.yaml --set "model.init_from=$RUNS/cpu_rlfn_s_x2/rlfn_s_x2.safetensors"
# then the time left: two more warm-started x4 stages from the x4 result
train cpu_rlfn_s_x4_continue 4 configs/history/replaced_weights/cpu_rlfn_s_x4_continue.yaml --set "model.init_from=$RUNS/cpu_rlfn_s_x4/rlfn_s_x4.safetensors"
