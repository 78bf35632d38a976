"""Average trainings of one network parameter by parameter (a uniform "weight soup", Wortsman et al. 2022).

Why: runs fine-tuned from the same weights with the same recipe end in one basin of the loss, and their mean
often scores above each of them. Issue 24's x4 twins (configs/photos_x4_hrscales_*.yaml) all start from the end
of photos_x4_stage3; the mean of the finished runs is a candidate like any other, picked on data/photos_val only
(Set5 and Set14 choose nothing):

    python scripts/weight_soup.py training/photos_x4_stage3/weights.safetensors \\
        training/photos_x4_hrscales_ms/weights.safetensors training/photos_x4_hrscales_control/weights.safetensors \\
        --run photos_x4_soup -o training/photos_x4_soup/weights.safetensors
    rlfn eval --weights training/photos_x4_soup/weights.safetensors --scale 4 data/photos_val
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rlfn.errors import RLFNError
from rlfn.models.checkpoint import save_safetensors
from rlfn.models.interpolate import combine
from rlfn.models.loader import load_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", nargs="+", help="two or more weights files of one network")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--run", help="a name for the soup, written into the file's metadata as its run (as the "
                    "trainer writes its run's name): the folder training/<run>/ that MANIFEST.yaml points to")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    if len(args.weights) < 2:
        raise SystemExit("weight_soup: give two or more weights files")
    try:
        models = [load_file(p) for p in args.weights]
        soup = combine(models, [1.0 / len(models)] * len(models))
        meta = {"variant": soup.variant, "scale": soup.scale, "pixel_range": soup.pixel_range,
                "made_by": "scripts/weight_soup.py", "mean_of": ",".join(Path(p).as_posix() for p in args.weights)}
        if args.run:
            meta["run"] = args.run
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(soup.module, args.output, meta, overwrite=args.overwrite)
    except RLFNError as e:  # a missing file, another network, an existing output: one line, not a traceback
        raise SystemExit(f"weight_soup: {e}") from None
    print(f"wrote {args.output}: the mean of {len(models)} weights files")


if __name__ == "__main__":
    main()
