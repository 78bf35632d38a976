"""``rlfn bench``: parameters, FLOPs, activations, convolutions, peak memory and runtime of SR models."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch

from ..errors import ConfigError
from ..inference.devices import resolve_device
from ..io.atomic import refuse_existing
from .common import int_in, scale_type, threads_type

MIN_SIZE = 16  # smallest random image side: below it timings measure overheads, not the network


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)(?:[x×](\d+))?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"expected HxW or N (pixels, {MIN_SIZE} to 8192), got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2) or h)
    if not (MIN_SIZE <= h <= 8192 and MIN_SIZE <= w <= 8192):
        raise argparse.ArgumentTypeError(f"{text!r} is out of range; each side must be between {MIN_SIZE} and 8192 pixels")
    return h, w


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="variant name (rlfn, rlfn_s_x4, rlfn_ntire_x4; random weights), checkpoint path, "
                        "or package.module:callable returning an nn.Module that maps [0,1] images to [0,1]")
    p.add_argument("--scale", "-s", type=scale_type, default=None, help="scale for variant names without one (default 4)")
    p.add_argument("--images", "-i", metavar="DIR", default=None,
                   help="folder of LR images to time on (default: random images of --size)")
    p.add_argument("--max-images", type=int_in(1, 10**6), default=None, metavar="N", help="use the first N images of --images")
    p.add_argument("--size", type=_size, default=(256, 256), metavar="HxW",
                   help="random image size when no --images is given (default: 256x256)")
    p.add_argument("--count", type=int_in(1, 10000), default=10, metavar="N", help="number of random images (default: 10)")
    p.add_argument("--count-size", type=_size, default=(256, 256), metavar="HxW",
                   help="LR input size for FLOPs and activations (default: 256x256, the challenge's)")
    p.add_argument("--warmup", type=int_in(0, 10000), default=3, help="warm-up runs before timing (default: %(default)s)")
    p.add_argument("--repeat", type=int_in(1, 10000), default=1, help="timed passes over the images (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    p.add_argument("--threads", type=threads_type, default=None, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help="torch, or an ONNX export run by onnxruntime on the CPU (default: %(default)s)")
    p.add_argument("--path", choices=("fast", "plain"), default="fast",
                   help="fast: the optimised path rlfn upscale uses; plain: the bare module call (default: %(default)s)")
    p.add_argument("--psnr", action="append", default=[], metavar="MODEL=DB",
                   help="a PSNR figure for a model, for the plot (repeatable), e.g. --psnr rlfn_s_x4=32.24")
    p.add_argument("--json", metavar="FILE", default=None, help="write every measurement as JSON")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="plot runtime against PSNR (with --psnr) or against parameters (needs matplotlib)")
    p.add_argument("--overwrite", action="store_true", help="replace existing --json / --plot files")


def _parse_psnr(items: list[str], models: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--psnr {item!r}: expected MODEL=DB, e.g. rlfn_s_x4=32.24") from None
        if not sep or name.strip() not in models:
            raise ConfigError(f"--psnr {item!r}: {name.strip()!r} is not one of the models given ({', '.join(models)})")
    return out


def run(args: argparse.Namespace) -> int:
    from ..perf.bench import bench_model, format_table, load_images, plot, require_matplotlib, resolve_model, write_json

    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        if path:
            refuse_existing(path, args.overwrite, flag)
    psnr = _parse_psnr(args.psnr, args.models)
    if args.plot:
        require_matplotlib()  # fail before the measurements, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.backend == "onnxruntime" and device.type != "cpu":
        raise ConfigError("--backend onnxruntime runs on the CPU here; use --device cpu")
    images = load_images(args.images, args.max_images, args.size, args.count)
    results = []
    for spec in args.models:
        model = resolve_model(spec, args.scale, device)
        label = Path(spec).name if "/" in spec and ":" not in spec else spec  # a checkpoint: its file name
        results.append(bench_model(model, images, name=label, backend=args.backend, path=args.path,
                                   warmup=args.warmup, repeat=args.repeat, psnr=psnr.get(spec),
                                   count_input=args.count_size))
    print(format_table(results))
    if args.json:
        print(f"wrote {write_json(results, args.json, {'images': args.images or f'random {args.size}'}, args.overwrite)}")
    if args.plot:
        print(f"wrote {plot(results, args.plot, args.overwrite)}")
    return 0
