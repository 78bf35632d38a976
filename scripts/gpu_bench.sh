#!/usr/bin/env bash
# Issue 23, item 6, on a lent GPU (run on the device machine from the repository root, gpu_bench_pack/ carried;
# see scripts/gpu_bench_pack.sh). In one go, results under $OUT (default gpu_bench_out/):
#   1. rlfn bench of RLFN, RLFN-S and RLFN-ntire ×4 (official weights) in fp32, bf16 and fp16 on the packed
#      DIV2K LR images, our fast path and the official forward (--path plain: the bare module call, as the
#      official test script makes it) in the same run: bench_div2k_{fast,plain}.json;
#   2. the NTIRE protocol at 256×256 (parameters, FLOPs, activations, memory, runtime): bench_ntire256.json;
#   3. the fp16 fallback: a model whose activations overflow half precision, upscaled with --precision fp16
#      on CUDA, must warn, fall back to fp32 and match the fp32 output: fallback.txt.
set -u
OUT=${OUT:-gpu_bench_out} PY=${PYTHON:-python3}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 RLFN_CACHE=$PWD/gpu_bench_pack/weights
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT"/gpu.txt
models="rlfn_x4 rlfn_s_x4 rlfn_ntire_x4"
imgs=gpu_bench_pack/div2k_lr
for path in fast plain; do
  echo "== DIV2K LR ($(ls $imgs | wc -l) images), path $path"
  timeout 240 "$PY" -m rlfn bench $models --pretrained official --device cuda --images $imgs --path $path \
      --precision all --warmup 5 --json "$OUT"/bench_div2k_$path.json --overwrite 2>&1 | tee "$OUT"/bench_div2k_$path.txt
done
echo "== NTIRE protocol, 256x256"
timeout 120 "$PY" -m rlfn bench $models --pretrained official --device cuda --size 256x256 --count 50 \
    --precision all --json "$OUT"/bench_ntire256.json --overwrite 2>&1 | tee "$OUT"/bench_ntire256.txt
echo "== fp16 fallback"
timeout 120 "$PY" - <<'PYEOF' 2>&1 | tee "$OUT"/fallback.txt
import numpy as np, torch, rlfn
from rlfn.models.registry import create_model
torch.manual_seed(0)
m = create_model("rlfn_s", 4)
with torch.no_grad():  # activations past fp16's 65504 after the first conv: the "black frame" case
    m.conv_1.weight.mul_(1e5)
    m.upsampler[0].weight.div_(1e5)
img = (np.random.default_rng(0).random((64, 80, 3)) * 255).astype(np.uint8)
notes = []
half = rlfn.Upscaler(m, device="cuda", precision="fp16", warn=notes.append)
y16 = half.upscale_array(img)
y32 = rlfn.Upscaler(m, device="cuda", precision="fp32").upscale_array(img)
print("warnings:", notes)
print("fell back:", half.stats.fell_back, "precision now:", half.precision)
print("max |fp16-path - fp32| =", int(np.abs(y16.astype(int) - y32.astype(int)).max()))
print("FALLBACK", "OK" if half.stats.fell_back and np.array_equal(y16, y32) else "FAILED")
PYEOF
ls -la "$OUT"
