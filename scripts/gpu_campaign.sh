#!/usr/bin/env bash
# Issue 24's campaign on a lent GPU, sized to SECONDS of training (run on the device machine, from the
# repository root, with gpu_pack/ carried; see scripts/gpu_pack.sh):
#   bash scripts/gpu_campaign.sh SECONDS                                   # x4: configs/photos_x4_gpu.yaml
#   CFG=configs/photos_x2_gpu.yaml bash scripts/gpu_campaign.sh SECONDS    # x2
# A probe of PROBE steps (default 200) measures steps/s; the run (CFG) then gets the
# steps that fit in SECONDS, so that its cosine ends, validates at its end and exports its EMA weights. It is
# stopped cleanly (last.pt written) if it overruns by more than GRACE seconds (default 60). What comes back under $OUT
# (default gpu_pack_out/): weights.safetensors, train.log, metrics.jsonl, config.resolved.yaml, last.pt.
# Back here: copy them to training/<run>/, and go on on the CPU from training/<run>/weights.safetensors.
set -u
SECS=${1:?usage: scripts/gpu_campaign.sh SECONDS} PROBE=${PROBE:-200} OUT=${OUT:-gpu_pack_out} MIN_STEPS=${MIN_STEPS:-500} GRACE=${GRACE:-60}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
cfg=${CFG:-configs/photos_x4_gpu.yaml}
name=$(grep -m1 '^name:' "$cfg" | awk '{print $2}') || exit 2
probe=runs/$name.probe
rm -rf "$probe"
echo "== probe: $PROBE steps"
timeout -s TERM 300 "$PY" -m rlfn train $cfg --quiet --set out_dir=$probe \
    --set stages.0.steps=$PROBE --set optim.warmup_steps=$(( PROBE > 10 ? 5 : 0 )) --set val.every=100000 \
    --set train.checkpoint_every=100000 --set train.log_every=$(( PROBE < 50 ? PROBE : 50 )) || exit 1
rate=$(grep -o '[0-9.]* it/s' $probe/train.log | tail -1 | cut -d' ' -f1)
steps=$("$PY" -c "print(max($MIN_STEPS, int($rate * $SECS) // 100 * 100))")
echo "== probe rate $rate steps/s ($("$PY" -c "print(round($rate * 64))") patches/s): $steps steps in ${SECS}s"
every=$(( steps / 4 > 500 ? steps / 4 : 500 ))
timeout -s TERM $(( SECS + GRACE )) "$PY" -m rlfn train $cfg --quiet --set stages.0.steps=$steps \
    --set val.every=$every --set optim.warmup_steps=$(( steps / 10 < 200 ? steps / 10 : 200 ))
echo "== train exit $?"
run=runs/$name
cp "$run"/train.log "$run"/metrics.jsonl "$OUT"/ 2>/dev/null
cp "$run"/config.yaml "$OUT"/config.resolved.yaml 2>/dev/null
cp "$run"/checkpoints/last.pt "$OUT"/ 2>/dev/null
for w in "$run"/rlfn*_x?.safetensors; do [[ -f $w ]] && cp "$w" "$OUT"/weights.safetensors; done
grep "val \|done" "$run"/train.log | tail -8
ls -la "$OUT"
