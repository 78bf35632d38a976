"""Draw the synthetic graphics training set (text, flat shapes, stripes, checks): rlfn.train.synthetic.

    python scripts/synth_graphics.py data/synthetic_graphics --count 160

Image i depends only on (--seed, i) and the installed fonts; existing images are kept, so a run completes or
extends a set. The folder is not in git (data/synthetic_graphics is ignored): scripts/campaign.sh draws it
when a config names it and it is missing.
"""
from __future__ import annotations

import argparse

from rlfn.errors import RLFNError
from rlfn.train.synthetic import find_fonts, write_graphics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--count", type=int, default=160, help="images (default 160: about a tenth of the campaign's "
                    "training pixels)")
    ap.add_argument("--size", type=int, default=512, help="side in pixels (default 512)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        fonts = find_fonts()
        print(f"{len(fonts)} fonts" + ("" if fonts else " (none installed: Pillow's default font only)"))
        write_graphics(args.out_dir, args.count, args.size, args.seed, fonts, quiet=False)
    except (RLFNError, OSError) as e:
        raise SystemExit(f"synth_graphics: {e}") from None


if __name__ == "__main__":
    main()
