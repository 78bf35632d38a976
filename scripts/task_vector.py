"""Carry a fine-tune over to another base (task arithmetic): BASE + (TUNED - PARENT), parameter by parameter.

Why: the real-world x4 weights were fine-tuned from the first campaign's default; `--denoise` mixes default and
real-world weights parameter by parameter, which works only while the two stay close. The photos campaign's x4
started from that same first default and moved on. Adding the real-world fine-tune's change to the new
default gives a start for the real-world retrain (issue 24, item 5) that is close to the new default, so
`--denoise` keeps working. Measured on the 2-core Zen 4 (Set5 / Set14 dB; photos campaign at step 21,000):
as it is, before any retraining, it gains +0.54 / +0.37 over the new default under JPEG 50 and +0.87 / +0.63
under noise 10 + JPEG 70, and its 50 % mix with the new default lies between the two on clean and degraded LR;
the old real-world weights mixed with the new default fall below both on clean LR (Set5 29.68 dB).

    python scripts/task_vector.py --base training/photos_x4_from_x4/weights.safetensors \
        --parent training/campaign_rlfn_s_x4_l2/weights.safetensors \
        --tuned training/realworld_stage_d_rlfn_s_x4/weights.safetensors -o training/photos_realworld_x4/init.safetensors
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
    ap.add_argument("--base", required=True, help="the weights to move the fine-tune onto")
    ap.add_argument("--parent", required=True, help="the weights the fine-tune started from")
    ap.add_argument("--tuned", required=True, help="the fine-tuned weights")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    try:
        base, parent, tuned = (load_file(p) for p in (args.base, args.parent, args.tuned))
        moved = combine([base, tuned, parent], [1.0, 1.0, -1.0])
        meta = {"variant": base.variant, "scale": base.scale, "pixel_range": base.pixel_range,
                "made_by": "scripts/task_vector.py", "base": Path(args.base).as_posix(),
                "parent": Path(args.parent).as_posix(), "tuned": Path(args.tuned).as_posix()}
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(moved.module, args.output, meta, overwrite=args.overwrite)
    except RLFNError as e:  # a missing file, another network, an existing output: one line, not a traceback
        raise SystemExit(f"task_vector: {e}") from None
    print(f"wrote {args.output}: {args.base} + ({args.tuned} - {args.parent})")


if __name__ == "__main__":
    main()
