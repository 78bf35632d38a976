"""``rlfn models``: the named variants and the weights published for them."""
from __future__ import annotations

import argparse

from ..models.registry import VARIANTS
from ..models.weights import available_weights
from .common import add_json_argument, add_overwrite_argument, refuse_json_file, write_json


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_json_argument(p, "the list (for programs)", optional_file=True)
    add_overwrite_argument(p, "an existing --json file")


def as_dict() -> dict:
    """The variants and the weights, as plain data."""
    return {
        "variants": [{"name": v.name, "channels": v.channels, "mid_channels": v.mid_channels, "blocks": v.blocks,
                      "scales": list(v.scales), "description": v.description} for v in VARIANTS.values()],
        "weights": [{"name": f"{w.variant}_x{w.scale}", "variant": w.variant, "scale": w.scale, "pretrained": w.tag,
                     "pixel_range": w.pixel_range, "bundled": w.path is not None, "url": w.url}
                    for w in available_weights()],
    }


def run(args: argparse.Namespace) -> int:
    refuse_json_file(args.json, args.overwrite)
    if args.json is not None:
        write_json(args.json, as_dict(), args.overwrite)
        return 0
    print("variants:")
    for v in VARIANTS.values():
        print(f"  {v.name:<12} {v.description}")
    print("weights (use --pretrained ours|official):")
    for w in available_weights():
        where = "shipped in the package" if w.tag == "ours" else "downloaded on first use"
        name = f"{w.variant}_x{w.scale}"
        print(f"  {name:<15} {w.tag:<9} input [0, {w.pixel_range:g}]  {where}")
    return 0
