"""``rlfn models``: the named variants and the weights published for them."""
from __future__ import annotations

import argparse
import json

from ..models.registry import VARIANTS
from ..models.weights import available_weights


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the list as JSON (for programs)")


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
    if args.json:
        print(json.dumps(as_dict(), indent=2))
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
