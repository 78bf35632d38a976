#!/usr/bin/env bash
# The real-world RLFN-S x4 fine-tune (issue 15, configs/realworld_rlfn_s_x4.yaml) sized to a time budget on a
# GPU machine: the degradation pipeline runs in one loader worker per spare core, the network on the GPU.
#
#   scripts/gpu_realworld.sh DATA_DIR RUN_DIR SECONDS [DEVICE]
#
# DATA_DIR holds div2k-0901-1000-lr-x4/, sun-hays-80/ and Set5/ (copies of ../shared's, for a machine that
# has no ../shared). A short probe run measures the steps/s that data and network reach together on this
# machine; the real run then gets as many steps as fit in SECONDS, so that its cosine schedule ends. Env:
# WORKERS (default: cores - 2), BATCH (default 32), PROBE (probe steps, default 300), STEPS (skip the probe),
# CONFIG (default configs/realworld_rlfn_s_x4.yaml), EXTRA (more --set options), PYTHON (default python3).
# The run is stopped cleanly (last.pt written) if it overruns by more than a minute.
set -u
DATA=$1 RUN=$2 SECS=$3 DEV=${4:-cuda}
WORKERS=${WORKERS:-$(( $(nproc) > 3 ? $(nproc) - 2 : 1 ))} BATCH=${BATCH:-32} PROBE=${PROBE:-300}
PY=${PYTHON:-python3}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
common=(${CONFIG:-configs/realworld_rlfn_s_x4.yaml} ${EXTRA:-}
        --set "data.hr_dirs=[$DATA/div2k-0901-1000-lr-x4,$DATA/sun-hays-80]" --set "val.hr_dirs=[$DATA/Set5]"
        --set data.workers=$WORKERS --set data.batch_size=$BATCH --set train.device=$DEV --set train.threads=0
        --set train.tensorboard=false --set train.log_every=50 --set val.images=0)

probe=$RUN.probe
rm -rf "$probe"
if [ -n "${STEPS:-}" ]; then
  steps=$STEPS
else
  echo "== probe: $PROBE steps, batch $BATCH, $WORKERS workers, device $DEV"
  timeout -s TERM 240 "$PY" -m rlfn train "${common[@]}" --set out_dir="$probe" --set train.steps=$PROBE \
      --set optim.warmup_steps=5 --set val.every=100000 --set train.checkpoint_every=100000 --quiet || exit 1
  # the last window's rate: past the workers' start and the first validation
  rate=$(grep -o '[0-9.]* it/s' "$probe/train.log" | tail -1 | cut -d' ' -f1)
  steps=$("$PY" -c "print(max(200, int($rate * $SECS) // 100 * 100))")
  echo "== probe rate $rate steps/s ($("$PY" -c "print(round($rate * $BATCH))") patches/s): $steps steps in ${SECS}s"
fi
every=$(( steps / 8 > 100 ? steps / 8 : 100 ))

echo "== run: $RUN"
timeout -s TERM $(( SECS + 60 )) "$PY" -m rlfn train "${common[@]}" --set out_dir="$RUN" --set train.steps=$steps \
    --set val.every=$every --set train.checkpoint_every=500 --quiet
echo "== train exit $?"
