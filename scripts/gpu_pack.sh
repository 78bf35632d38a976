#!/usr/bin/env bash
# Pack what scripts/gpu_campaign.sh needs on a lent GPU machine into gpu_pack/ (git-ignored; the device tool
# carries at most 64 MiB with the working tree): the CPU campaign's latest state as init.pt, photos of
# data/photos_train up to PHOTO_MB (default 15, smallest first, in name order among equals),
# Sun-Hays 80 and Set5 (the working tree, about 26 MiB, travels too). Then: run(command="bash scripts/gpu_campaign.sh SECONDS", carry=["gpu_pack"]).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-photos_x4_from_x4} PHOTO_MB=${PHOTO_MB:-15}
rm -rf gpu_pack && mkdir -p gpu_pack/photos
state=runs/$RUN/checkpoints/last.pt; [[ -f $state ]] || state=training/$RUN/last.pt
cp "$state" gpu_pack/init.pt
budget=$(( PHOTO_MB * 1024 * 1024 )); used=0
while read -r size path; do
  (( used + size > budget )) && continue
  cp -L "$path" gpu_pack/photos/; used=$(( used + size ))
done < <(for f in data/photos_train/*; do echo "$(stat -L -c %s "$f") $f"; done | sort -n -k1,1 -s)
cp -r ../shared/data/train/sun-hays-80 ../shared/data/benchmarks/Set5 gpu_pack/
echo "gpu_pack: $(ls gpu_pack/photos | wc -l) training photos, $(du -sh gpu_pack | cut -f1) in all (from $state)"
