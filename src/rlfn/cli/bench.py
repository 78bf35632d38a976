"""``rlfn bench``: parameters, FLOPs, activations, convolutions, peak memory and runtime of SR models."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..errors import ConfigError
from ..io.atomic import refuse_existing
from .common import (add_device_argument, add_json_argument, add_overwrite_argument, add_quiet_argument,
                     add_threads_argument, int_in, refuse_json_file, scale_type, write_json)

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
                   help="model name (rlfn, rlfn_s_x4, rlfn_ntire_x4: the same weights as in every subcommand, "
                        "see --pretrained), checkpoint path, or package.module:callable returning an nn.Module "
                        "that maps [0,1] images to [0,1]")
    p.add_argument("--scale", "-s", type=scale_type, default=None, help="scale for model names without one (default 4)")
    p.add_argument("--pretrained", default="auto", choices=("auto", "ours", "official", "none"),
                   help="weights for model names, as in the other subcommands; 'none' (or a name whose weights "
                        "are not published or cannot be fetched) times random weights, which cost the same "
                        "(default: %(default)s)")
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
    add_device_argument(p)
    add_threads_argument(p)
    p.add_argument("--backend", choices=("torch", "onnxruntime", "ncnn"), default="torch",
                   help="torch, or an ONNX export run by onnxruntime, or an ncnn export run by ncnn (rlfn[ncnn]), "
                        "on the CPU (default: %(default)s)")
    p.add_argument("--path", choices=("fast", "plain"), default="fast",
                   help="fast: the optimised path rlfn upscale uses; plain: the bare module call (default: %(default)s)")
    p.add_argument("--precision", choices=("auto", "all", "fp32", "fp16", "bf16"), default="auto",
                   help="auto: float32 and what rlfn upscale chooses on the device (bf16 on a CPU that computes "
                        "it natively, fp16 on CUDA), each a row; all: fp32, bf16 and (on a GPU) fp16 "
                        "(default: %(default)s)")
    p.add_argument("--psnr", action="append", default=[], metavar="MODEL=DB",
                   help="a PSNR figure for a model, for the plot (repeatable), e.g. --psnr rlfn_s_x4=32.24")
    add_json_argument(p, "every measurement and the environment")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="plot runtime against PSNR (with --psnr) or against parameters (needs matplotlib)")
    add_overwrite_argument(p, "existing --json / --plot files")
    add_quiet_argument(p, "print the table only")


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
    import torch
    from ..inference.devices import resolve_device
    from ..perf.bench import (bench_model, document, format_table, load_images, plot, precisions_for,
                              require_matplotlib, resolve_model)

    refuse_json_file(args.json, args.overwrite)
    if args.plot:
        refuse_existing(args.plot, args.overwrite, "--plot")
    psnr = _parse_psnr(args.psnr, args.models)
    if args.plot:
        require_matplotlib()  # fail before the measurements, not after
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.backend != "torch" and device.type != "cpu":
        raise ConfigError(f"--backend {args.backend} runs on the CPU here; use --device cpu")
    images = load_images(args.images, args.max_images, args.size, args.count)
    precisions = ["fp32"] if args.backend != "torch" and args.precision in ("auto", "all") else \
        precisions_for(args.precision, device)
    results = []
    for spec in args.models:
        model = resolve_model(spec, args.scale, device, args.pretrained)
        if not args.quiet:
            print(f"{spec}: {model.describe() if hasattr(model, 'describe') else model.source}", file=sys.stderr)
        label = Path(spec).name if "/" in spec and ":" not in spec else spec  # a checkpoint: its file name
        for precision in precisions:
            results.append(bench_model(model, images, name=label, backend=args.backend, path=args.path,
                                       warmup=args.warmup, repeat=args.repeat, psnr=psnr.get(spec),
                                       count_input=args.count_size, precision=precision))
    # With --json -, standard output carries the JSON alone.
    out = sys.stderr if args.json == "-" else sys.stdout
    print(format_table(results), file=out)
    if args.json:
        written = write_json(args.json, document(results, {"images": args.images or f"random {args.size}"}),
                             args.overwrite)
        if written and not args.quiet:
            print(f"wrote {written}", file=out)
    if args.plot:
        print(f"wrote {plot(results, args.plot, args.overwrite)}", file=out)
    return 0
