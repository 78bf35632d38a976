"""Arguments shared by several subcommands: choosing a model, and checked numbers.

Every numeric option is checked when the command line is parsed (``type=`` functions below), so a value out
of range is answered at once, with the valid range, before a model is loaded or a file is read.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import RLFNError
from ..models.registry import DEFAULT_MODEL  # torch-free: --help does not import torch

if TYPE_CHECKING:
    import torch

    from ..models.descriptor import SRModel

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


# ---- the shared vocabulary: one flag, one meaning, one help text in every subcommand ------------------------

DEVICE_HELP = "where to compute: auto (a CUDA GPU, else Apple MPS, else the CPU), cpu, cuda, cuda:N or mps"


def add_device_argument(p: argparse.ArgumentParser, default: str | None = "auto",
                        default_text: str = "%(default)s") -> None:
    p.add_argument("--device", default=default, help=f"{DEVICE_HELP} (default: {default_text})")


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=threads_type, default=None, metavar="N",
                   help="CPU threads for PyTorch (default: PyTorch's choice, one per core)")


def add_json_argument(p: argparse.ArgumentParser, what: str, optional_file: bool = False) -> None:
    """``--json FILE`` (``-``: standard output). A file is never replaced without ``--overwrite``.

    ``optional_file`` lets a bare ``--json`` mean standard output; only for subcommands without positional
    arguments, where the next word cannot be mistaken for the file."""
    extra = dict(nargs="?", const="-") if optional_file else {}
    p.add_argument("--json", metavar="FILE", default=None, **extra,
                   help=f"write {what} as JSON to FILE, or to standard output with '-'"
                        + (" or a bare --json" if optional_file else ""))


def add_overwrite_argument(p: argparse.ArgumentParser, what: str = "existing output files") -> None:
    p.add_argument("--overwrite", action="store_true", help=f"replace {what} (without it, nothing is replaced)")


def add_quiet_argument(p: argparse.ArgumentParser, what: str = "no progress output; only results and errors") -> None:
    p.add_argument("--quiet", "-q", action="store_true", help=what)


def write_json(path: str, payload: object, overwrite: bool) -> str | None:
    """Write ``payload`` as indented JSON to ``path`` (atomically), or to standard output for ``-``.
    Returns the file written, None for standard output."""
    import json
    import sys

    text = json.dumps(payload, indent=2) + "\n"
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return None
    from ..io.atomic import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text), overwrite=overwrite)
    return path


def refuse_json_file(path: str | None, overwrite: bool) -> None:
    """Before the work, not after it: an empty name, a folder, or an existing --json file without --overwrite is
    refused at once."""
    if path is not None and not path.strip():
        raise RLFNError("--json: give a file name, or - for standard output")
    if path and path != "-" and Path(path).is_dir():
        raise RLFNError(f"--json {path}: is a folder; give a file name")
    if path and path != "-":
        from ..io.atomic import refuse_existing

        refuse_existing(path, overwrite, "--json")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", default=None,
                   help="model name (rlfn, rlfn_s, rlfn_ntire; 'rlfn_s_x4' also works) or a checkpoint path "
                        f"(default: {DEFAULT_MODEL}, or whatever --weights holds)")
    g.add_argument("--scale", "-s", type=scale_type, default=None,
                   help=f"upscaling factor, 1 to {MAX_SCALE} (default: 4, or the checkpoint's)")
    g.add_argument("--weights", "-w", default=None,
                   help="checkpoint file (.pth or .safetensors); variant and scale are read from it")
    g.add_argument("--pretrained", default="auto", choices=("auto", "ours", "official", "real"),
                   help="published weights to use without --weights: 'ours' (shipped in the package), "
                        "'official' (bytedance/RLFN, downloaded once and cached), 'real' (ours, trained to clean "
                        "JPEG, noise and blur while upscaling photos as they come), or 'auto': ours where we ship "
                        "them (rlfn_s x2, x4), else the official ones (default: %(default)s)")
    g.add_argument("--denoise", type=float_in(0, 1), default=None, metavar="S",
                   help="mix our bicubic-trained (0) and real-world (1) weights: higher cleans more JPEG blocks and "
                        "noise, lower keeps more fine detail (default: off, the weights --pretrained names)")


def load_from_args(args: argparse.Namespace, device: torch.device | str = "cpu") -> SRModel:
    from ..models.loader import load_model

    if args.weights is not None and args.model is None:
        # A checkpoint alone: take whatever it holds (a --scale, if given, must agree).
        return load_model(args.weights, scale=args.scale, device=device, denoise=getattr(args, "denoise", None))
    return load_model(args.model or DEFAULT_MODEL, args.scale, weights=args.weights, pretrained=args.pretrained,
                      device=device, denoise=getattr(args, "denoise", None))


def tile_type(value: str) -> int | str | None:
    """--tile: auto, 0 (no tiling) or 32 to 65536 input pixels."""
    if value == "auto":
        return "auto"
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give a number of pixels (32 or more), 0 (no tiling) or auto") from None
    if n < 0 or 0 < n < 32 or n > 65536:
        raise argparse.ArgumentTypeError(f"{n} is out of range: give 0 (no tiling) or 32 to 65536 (smaller tiles are "
                                         "all seams)")
    return n or None


def suffix_type(value: str) -> str:
    """Output names stay in the output folder: a suffix is part of a file name, never a path."""
    bad = [c for c in ("/", "\\", "\0") if c in value]
    if bad:
        raise argparse.ArgumentTypeError(f"{value!r} contains {bad[0]!r}; a suffix is part of a file name, not a path "
                                         "(use -o to choose the folder)")
    return value
