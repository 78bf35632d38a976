#!/usr/bin/env bash
# Pack what scripts/gpu_campaign.sh needs on a lent GPU machine into gpu_pack/ (git-ignored; the device tool
# carries at most 64 MiB with the working tree): the starting weights as init.pt, photos of data/photos_train
# up to PHOTO_MB (default 15, smallest first, in name order among equals), Sun-Hays 80 and Set5 (the working
# tree, about 26 MiB, travels too). Then: run(command="bash scripts/gpu_campaign.sh SECONDS", carry=["gpu_pack"]).
# The start: the CPU campaign RUN's latest state (default photos_x4_from_x4: runs/RUN/checkpoints/last.pt, else
# training/RUN/last.pt, else training/RUN/weights.safetensors), or the file INIT. For x2:
#   RUN=photos_x2_from_x2 scripts/gpu_pack.sh   (before that run has a state: INIT=training/campaign_rlfn_s_x2/weights.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-photos_x4_from_x4} PHOTO_MB=${PHOTO_MB:-15}
state=${INIT:-}
for f in runs/$RUN/checkpoints/last.pt training/$RUN/last.pt training/$RUN/weights.safetensors; do
  [[ -z $state && -f $f ]] && state=$f
done
[[ -n $state && -f $state ]] || { echo "gpu_pack: no state of $RUN and no INIT file" >&2; exit 2; }
rm -rf gpu_pack && mkdir -p gpu_pack/photos
cp "$state" gpu_pack/init.pt  # the loader tells safetensors from a PyTorch file by its bytes, not its name
budget=$(( PHOTO_MB * 1024 * 1024 )); used=0
while read -r size path; do
  (( used + size > budget )) && continue
  cp -L "$path" gpu_pack/photos/; used=$(( used + size ))
done < <(for f in data/photos_train/*; do echo "$(stat -L -c %s "$f") $f"; done | sort -n -k1,1 -s)
cp -r ../shared/data/train/sun-hays-80 ../shared/data/benchmarks/Set5 gpu_pack/
echo "gpu_pack: $(ls gpu_pack/photos | wc -l) training photos, $(du -sh gpu_pack | cut -f1) in all (from $state)"
