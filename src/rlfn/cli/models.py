"""``rlfn models``: the named variants and the weights published for them."""
from __future__ import annotations

import argparse

from ..models.registry import VARIANTS
from ..models.weights import available_weights


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("variants:")
    for v in VARIANTS.values():
        print(f"  {v.name:<12} {v.description}")
    print("weights (use --pretrained ours|official):")
    for w in available_weights():
        where = "shipped in the package" if w.tag == "ours" else "downloaded on first use"
        name = f"{w.variant}_x{w.scale}"
        print(f"  {name:<15} {w.tag:<9} input [0, {w.pixel_range:g}]  {where}")
    return 0
