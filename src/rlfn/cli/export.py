"""``rlfn export``: a model to ONNX (dynamic height and width, checked with onnxruntime) or TorchScript."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, RLFNError
from ..io.atomic import refuse_existing
from .common import add_model_arguments, add_overwrite_argument, add_quiet_argument, float_in, int_in, load_from_args

if TYPE_CHECKING:
    import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_pos", nargs="?", metavar="MODEL", default=None,
                   help="model name or checkpoint path (same as --model)")
    add_model_arguments(p)
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="where to write the model: .onnx for ONNX, .pt or .ts for TorchScript")
    p.add_argument("--format", choices=("onnx", "torchscript"), default=None,
                   help="file format (default: from the output's suffix; ONNX when unknown)")
    p.add_argument("--opset", type=int_in(17, 99), default=17, help="ONNX opset, 17 or newer (default: %(default)s)")
    # One image per --check (repeat it for more): a list option would swallow the model name that follows
    # ("rlfn export --check a.png rlfn_x2 -o m.onnx").
    p.add_argument("--check", metavar="IMAGE", action="append", default=None,
                   help="an LR image to compare the exported file with PyTorch on; repeatable (default: a smooth "
                        "random 127×93 image)")
    p.add_argument("--no-check", action="store_true", help="skip the comparison")
    p.add_argument("--tolerance", type=float_in(0, 1), default=1e-4,
                   help="largest allowed difference in [0, 1] units (default: %(default)g)")
    add_overwrite_argument(p, "an existing output file")
    add_quiet_argument(p, "print nothing but errors")


def _format(args: argparse.Namespace, out: Path) -> str:
    if args.format:
        return args.format
    return "torchscript" if out.suffix.lower() in (".pt", ".ts", ".torchscript") else "onnx"


def run(args: argparse.Namespace) -> int:
    from ..inference.backends import load_onnx, load_torchscript
    from ..perf.export import export_onnx, export_torchscript

    if args.model_pos is not None:
        if args.model is not None and args.model != args.model_pos:
            raise ConfigError(f"two models given: {args.model_pos!r} and --model {args.model!r}")
        args.model = args.model_pos
    out = Path(args.output)
    refuse_existing(out, args.overwrite)
    fmt = _format(args, out)
    # Every input is read before anything is written: a bad --check image leaves no file behind.
    inputs = None if args.no_check else _check_inputs(args.check)
    model = load_from_args(args, "cpu")
    if not model.is_rlfn:  # the graph goes through spandrel's Python-side call; not traced or checked here
        raise RLFNError(f"rlfn export handles RLFN models only; this is a {model.architecture} model (through spandrel)")
    if fmt == "onnx":
        export_onnx(model, out, opset=args.opset, overwrite=args.overwrite)
        what, runtime = f"opset {args.opset}", "onnxruntime"
    else:
        export_torchscript(model, out, overwrite=args.overwrite)
        what, runtime = "TorchScript", "TorchScript"
    say = (lambda *_: None) if args.quiet else print
    say(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {what}, dynamic height and width): {model.describe()}")
    if args.no_check:
        return 0
    try:
        exported = load_onnx(out) if fmt == "onnx" else load_torchscript(out)
        worst = 0.0
        for label, x in inputs or []:
            diff = (exported(x) - model(x)).abs().max().item()
            worst = max(worst, diff)
            say(f"  {runtime} vs PyTorch on {label} ({x.shape[-1]}×{x.shape[-2]}): max difference {diff:.2e}")
    except RLFNError as e:
        raise RLFNError(f"{e}; {out} was written but could not be checked (kept)") from None
    if worst > args.tolerance:
        raise RLFNError(f"{runtime} differs from PyTorch by {worst:.2e} > {args.tolerance:g}; {out} was kept")
    return 0


def _check_inputs(paths: list[str] | None) -> list[tuple[str, torch.Tensor]]:
    """The --check images in [0, 1], or a smooth random picture when none are given."""
    import torch

    if paths:
        from ..io.images import read_rgb

        return [(str(p), read_rgb(p) / 255.0) for p in paths]
    # A smooth random picture (bicubic-enlarged noise): pure noise is harsher than any photograph.
    noise = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    smooth = torch.nn.functional.interpolate(noise, size=(93, 127), mode="bicubic", align_corners=False)
    return [("a smooth random image", smooth.clamp(0, 1)[0])]
