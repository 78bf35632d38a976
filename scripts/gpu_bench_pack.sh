#!/usr/bin/env bash
# Pack what scripts/gpu_bench.sh needs on a lent GPU machine into gpu_bench_pack/ (git-ignored; the device tool
# carries at most 64 MiB with the working tree, about 26 MiB): the official weights (as the weights cache,
# RLFN_CACHE) and the DIV2K LR ×4 validation images up to PACK_MB (default 18: about 60 of the 100, what fits beside the working tree). Then:
#   run(command="bash scripts/gpu_bench.sh", carry=["gpu_bench_pack"], timeout_s=...)
set -euo pipefail
cd "$(dirname "$0")/.."
PACK_MB=${PACK_MB:-18}
rm -rf gpu_bench_pack && mkdir -p gpu_bench_pack/weights gpu_bench_pack/div2k_lr
cp ../shared/weights/official/*.pth gpu_bench_pack/weights/
budget=$(( PACK_MB * 1024 * 1024 )); used=0
for f in ../shared/data/train/div2k-0901-1000-lr-x4/*.png; do
  size=$(stat -L -c %s "$f"); (( used + size > budget )) && break
  cp -L "$f" gpu_bench_pack/div2k_lr/; used=$(( used + size ))
done
echo "gpu_bench_pack: $(ls gpu_bench_pack/div2k_lr | wc -l) DIV2K LR images, $(du -sh gpu_bench_pack | cut -f1) in all"
