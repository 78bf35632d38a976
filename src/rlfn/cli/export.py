"""``rlfn export``: a model to ONNX (dynamic height and width, checked with onnxruntime), TorchScript, ncnn
(checked with the ncnn Python binding) or its weights alone as safetensors (a training checkpoint's EMA, or a
pickled ``.pth`` made safe to share); ``--card`` writes an OpenModelDB card for a shipped model instead."""
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
                   help="where to write the model: .onnx for ONNX, .pt or .ts for TorchScript, NAME.param for ncnn "
                        "(NAME.bin beside it; docs/deploy.md), .safetensors for the weights alone (a training "
                        "checkpoint's EMA weights, with its run and step); with --card, a folder")
    p.add_argument("--format", choices=("onnx", "torchscript", "ncnn", "safetensors"), default=None,
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
    c = p.add_argument_group("OpenModelDB card (--card; the weights this project ships, in a checkout of it)")
    c.add_argument("--card", action="store_true",
                   help="write OUT/<id>.json, the model's OpenModelDB card, and a sample pair OUT/<id>_lr.png, "
                        "OUT/<id>_sr.png, instead of exporting")
    c.add_argument("--url", action="append", default=None, metavar="URL",
                   help="where the weights file can be downloaded (repeatable; OpenModelDB needs one)")
    c.add_argument("--author", default="rlfn-project", metavar="ID",
                   help="OpenModelDB user id of the author (default: %(default)s)")
    c.add_argument("--sample", metavar="IMAGE", default=None,
                   help="the LR image of the sample pair (default: examples/demo.png of the checkout)")
    c.add_argument("--training-dir", metavar="DIR", default=None,
                   help="the runs' folders (default: training/ of the checkout)")
    add_overwrite_argument(p, "existing output files")
    add_quiet_argument(p, "print nothing but errors")


def _format(args: argparse.Namespace, out: Path) -> str:
    if args.format:
        return args.format
    suffix = out.suffix.lower()
    if suffix == ".safetensors":
        return "safetensors"
    return "torchscript" if suffix in (".pt", ".ts", ".torchscript") else "ncnn" if suffix == ".param" else "onnx"


def run(args: argparse.Namespace) -> int:
    from ..perf.export import export_onnx, export_safetensors, export_torchscript

    if args.model_pos is not None:
        if args.model is not None and args.model != args.model_pos:
            raise ConfigError(f"two models given: {args.model_pos!r} and --model {args.model!r}")
        args.model = args.model_pos
    if args.card:
        return _card(args)
    out = Path(args.output)
    fmt = _format(args, out)
    if fmt == "ncnn":
        from ..perf.ncnn_export import bin_path_for, need_pnnx

        need_pnnx()  # before the model is loaded: a missing extra is one line, at once
        refuse_existing(bin_path_for(out), args.overwrite)
    refuse_existing(out, args.overwrite)
    # Every input is read before anything is written: a bad --check image leaves no file behind.
    inputs = None if args.no_check else _check_inputs(args.check)
    model = load_from_args(args, "cpu")
    if not model.is_rlfn:  # the graph goes through spandrel's Python-side call; not traced or checked here
        raise RLFNError(f"rlfn export handles RLFN models only; this is a {model.architecture} model (through spandrel)")
    say = (lambda *_: None) if args.quiet else print
    if fmt == "onnx":
        export_onnx(model, out, opset=args.opset, overwrite=args.overwrite)
        what, runtime = f"opset {args.opset}", "onnxruntime"
    elif fmt == "safetensors":
        export_safetensors(model, out, overwrite=args.overwrite)
        what, runtime = f"safetensors, float32 weights, input range [0, {model.pixel_range:g}]", "the reloaded file"
    elif fmt == "ncnn":
        from ..perf.ncnn_export import export_ncnn

        _, weights = export_ncnn(model, out, overwrite=args.overwrite)
        what, runtime = f"ncnn, + {weights.name}, float32 weights, blobs data → output", "ncnn"
        if not args.quiet:
            _note_upscayl_scale(out, model.scale)
    else:
        export_torchscript(model, out, overwrite=args.overwrite)
        what, runtime = "TorchScript", "TorchScript"
    size = out.stat().st_size + (weights.stat().st_size if fmt == "ncnn" else 0)
    shape = "" if fmt == "safetensors" else ", dynamic height and width"
    say(f"wrote {out} ({size / 1e6:.2f} MB, {what}{shape}): {model.describe()}")
    if args.no_check:
        return 0
    try:
        exported = _load_exported(out, fmt)
        worst = 0.0
        for label, x in inputs or []:
            a, b = exported(x), model(x)
            diff = (a - b).abs().max().item()
            worst = max(worst, diff)
            say(f"  {runtime} vs PyTorch on {label} ({x.shape[-1]}×{x.shape[-2]}): max difference {diff:.2e}, "
                f"PSNR {_psnr(a, b):.1f} dB")
    except RLFNError as e:
        raise RLFNError(f"{e}; {out} was written but could not be checked (kept)") from None
    if worst > args.tolerance:
        raise RLFNError(f"{runtime} differs from PyTorch by {worst:.2e} > {args.tolerance:g}; {out} was kept")
    return 0


def _load_exported(out: Path, fmt: str):
    if fmt == "ncnn":
        from ..inference.ncnn_backend import load_ncnn

        return load_ncnn(out)
    if fmt == "safetensors":
        from ..models.loader import load_file

        return load_file(out)
    from ..inference.backends import load_onnx, load_torchscript

    return load_onnx(out) if fmt == "onnx" else load_torchscript(out)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    import math

    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def upscayl_scale(name: str) -> int:
    """The scale Upscayl assumes for a model file named ``name`` (its common/check-model-scale.ts: x2 or 2x, then
    x3 or 3x, else 4)."""
    low = name.lower()
    return 2 if ("x2" in low or "2x" in low) else 3 if ("x3" in low or "3x" in low) else 4


def _note_upscayl_scale(out: Path, scale: int) -> None:
    import sys

    if upscayl_scale(out.stem) != scale:
        print(f"rlfn export: note: Upscayl takes the scale from the file name and would run {out.stem} as "
              f"x{upscayl_scale(out.stem)}; name it like {out.stem}-x{scale}.param for x{scale}", file=sys.stderr)


def _card(args: argparse.Namespace) -> int:
    """``--card``: the OpenModelDB card of a shipped model, and its sample pair, in the folder ``-o``."""
    from ..models.registry import DEFAULT_MODEL, DEFAULT_SCALE, parse_name
    from ..models.weights import find_weights
    from ..perf.card import SHIPPED_TAGS, build_card, card_id, write_sample

    checkout = Path(__file__).resolve().parents[3]  # src/rlfn/cli/export.py → the checkout's root
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise RLFNError(f"--card: {folder} is a file; -o names the folder for the card and its images")
    if not args.url:
        raise RLFNError("--card needs --url URL: where the weights file can be downloaded (OpenModelDB requires one)")
    sample = Path(args.sample) if args.sample else checkout / "examples" / "demo.png"
    if not sample.is_file():
        raise RLFNError(f"{sample}: no such image; give the sample's LR image with --sample IMAGE")
    training = Path(args.training_dir) if args.training_dir else checkout / "training"
    if args.weights is not None:
        raise RLFNError("--card is for the weights this project ships; name a model (and --pretrained), not --weights")
    # Which weights, before any are loaded: official ones may need a download, and are refused anyway.
    variant, scale = parse_name(args.model or DEFAULT_MODEL, args.scale)
    scale = DEFAULT_SCALE if scale is None else scale
    weights = find_weights(variant.name, scale, args.pretrained)
    if weights.tag not in SHIPPED_TAGS:
        raise RLFNError(f"--card is for the weights this project ships ({', '.join(SHIPPED_TAGS)}); "
                        f"{variant.name} x{scale} {weights.tag} are not")
    model = load_from_args(args, "cpu")
    name = card_id(model.variant, model.scale, weights.tag)
    json_path, lr, sr = folder / f"{name}.json", folder / f"{name}_lr.png", folder / f"{name}_sr.png"
    for f in (json_path, lr, sr):
        refuse_existing(f, args.overwrite)
    card = build_card(model, weights, training, urls=args.url, author=args.author, sample=(lr.name, sr.name))
    write_sample(model, sample, lr, sr, overwrite=args.overwrite)
    from ..io.atomic import atomic_write

    atomic_write(json_path, lambda t: Path(t).write_text(card.json, encoding="utf-8"), overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {json_path}, {lr.name} and {sr.name}: the OpenModelDB card of {model.describe()}")
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
