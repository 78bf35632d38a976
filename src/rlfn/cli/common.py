"""Arguments shared by several subcommands: choosing a model, and checked numbers.

Every numeric option is checked when the command line is parsed (``type=`` functions below), so a value out
of range is answered at once, with the valid range, before a model is loaded or a file is read.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

import torch

from ..models.descriptor import SRModel
from ..models.loader import DEFAULT_MODEL

MAX_SCALE = 8  # what create_model accepts; published weights exist for 2, 3 and 4


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"between {lo:g} and {hi:g}"
    return f"of at least {lo:g}" if lo is not None else f"of at most {hi:g}"


def int_in(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in [lo, hi] (either end open when None)."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one {_range_text(lo, hi)}") from None
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise argparse.ArgumentTypeError(f"{n} is out of range; give a whole number {_range_text(lo, hi)}")
        return n

    parse.__name__ = "whole number"
    return parse


def float_in(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in [lo, hi]."""

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give one {_range_text(lo, hi)}") from None
        if not math.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a number {_range_text(lo, hi)}")
        return x

    parse.__name__ = "number"
    return parse


scale_type = int_in(1, MAX_SCALE)
threads_type = int_in(1, 1024)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", default=None,
                   help="model name (rlfn, rlfn_s, rlfn_ntire; 'rlfn_s_x4' also works) or a checkpoint path "
                        f"(default: {DEFAULT_MODEL}, or whatever --weights holds)")
    g.add_argument("--scale", "-s", type=scale_type, default=None,
                   help=f"upscaling factor, 1 to {MAX_SCALE} (default: 4, or the checkpoint's)")
    g.add_argument("--weights", "-w", default=None,
                   help="checkpoint file (.pth or .safetensors); variant and scale are read from it")
    g.add_argument("--pretrained", default="ours", choices=("ours", "official"),
                   help="published weights to use without --weights: 'ours' (shipped in the package) or "
                        "'official' (bytedance/RLFN, downloaded once and cached) (default: %(default)s)")


def load_from_args(args: argparse.Namespace, device: torch.device | str = "cpu") -> SRModel:
    from ..models.loader import load_model

    if args.weights is not None and args.model is None:
        # A checkpoint alone: take whatever it holds (a --scale, if given, must agree).
        return load_model(args.weights, scale=args.scale, device=device)
    return load_model(args.model or DEFAULT_MODEL, args.scale, weights=args.weights, pretrained=args.pretrained,
                      device=device)
