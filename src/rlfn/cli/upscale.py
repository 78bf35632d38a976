"""``rlfn upscale``: files, folders and globs in; upscaled images, animations and videos out. The options are
parsed here; the batch itself (pairing, overwrite rules, pipeline, summary) is :mod:`rlfn.inference.batch`.
One bad file is reported and skipped; the exit status is 1 when any failed."""
from __future__ import annotations

import argparse
import sys

from ..errors import RLFNError
from ..inference.batch import BatchOptions, Console, collect_jobs, run_batch
from ..io.images import FORMATS, PNG_COMPRESSION
from ..io.media import is_video
from . import upscale_ray
from .common import (add_device_argument, add_model_arguments, add_overwrite_argument, add_quiet_argument,
                     add_threads_argument, float_in, int_in, load_from_args, suffix_type, tile_type)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image or video files, folders or glob patterns")
    p.add_argument("-i", "--input", dest="more_inputs", action="append", default=[], metavar="INPUT",
                   help="an input, as a positional INPUT (repeatable; Real-ESRGAN's spelling)")
    p.add_argument("-o", "--output", metavar="OUT", default=None,
                   help="output folder (created if needed), or a file name when there is one input "
                        "(default: beside each input)")
    p.add_argument("-r", "--recursive", action="store_true", help="look into sub-folders of folder inputs")
    p.add_argument("--ext", choices=("auto", *sorted(set(FORMATS))), default="auto",
                   help="output format of images (default: auto, the input's; videos keep their container)")
    p.add_argument("--suffix", default="_x{scale}", type=suffix_type,
                   help="added to output names; {scale} becomes the output scale (default: %(default)s → "
                        "name_x4.png)")
    p.add_argument("--quality", type=int_in(1, 100), default=95, help="JPEG/WebP quality 1-100 (default: %(default)s)")
    p.add_argument("--png-compression", type=int_in(0, 9), default=PNG_COMPRESSION, metavar="0-9",
                   help="zlib level for PNG output: 0 stores, 9 is smallest and slowest; the default writes "
                        "about 4x faster than level 6 for files about a fifth larger (default: %(default)s)")
    add_overwrite_argument(p)
    p.add_argument("--skip-existing", action="store_true",
                   help="skip inputs whose output exists (to resume a batch) instead of reporting them")
    g = p.add_argument_group("output size (the model runs at its scale, then an antialiased resize)")
    g.add_argument("--outscale", type=float_in(0.01, 64), default=None, metavar="F",
                   help="final size F × the input's, e.g. 3 or 1.5 (default: the model's scale)")
    g.add_argument("--width", type=int_in(1, 1 << 20), default=None, metavar="W",
                      help="final width in pixels, keeping the aspect ratio (with --height: fit inside W×H)")
    g.add_argument("--height", type=int_in(1, 1 << 20), default=None, metavar="H",
                   help="final height in pixels, keeping the aspect ratio")
    add_model_arguments(p)
    v = p.add_argument_group("video (.mp4 .m4v .mkv .mov .webm .avi; needs rlfn[video])")
    v.add_argument("--codec", default=None, metavar="NAME",
                   help="FFmpeg video encoder, e.g. libx264, libx265, libvpx-vp9, libsvtav1 (default: libx264; "
                        "libvpx-vp9 for .webm, mpeg4 for .avi; with alpha, one that keeps it)")
    v.add_argument("--crf", type=int_in(0, 63), default=None, metavar="N",
                   help="constant quality, lower is better (default: visually lossless, 17 for x264, 20 for "
                        "x265 and VP9, 22 for SVT-AV1: the encoders' own defaults smooth away the detail the "
                        "upscale adds); for mpeg4, the .avi default, the quantiser, 1 to 31 (default 2)")
    v.add_argument("--batch", type=int_in(1, 256), default=4, metavar="N",
                   help="frames run through the network together (default: %(default)s); frames larger than a "
                        "tile are tiled one by one")
    g = p.add_argument_group("performance")
    add_device_argument(g)
    g.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                   help="arithmetic; auto = fp16 on CUDA (float32 again if the output is not finite), bf16 on a "
                        "CPU that computes it natively (AMX, AVX512-BF16; RLFN_CPU_BF16=0/1 overrides the "
                        "detection), fp32 elsewhere (default: %(default)s)")
    g.add_argument("--fp32", dest="precision", action="store_const", const="fp32",
                   help="same as --precision fp32 (Real-ESRGAN's spelling)")
    g.add_argument("-t", "--tile", default="auto", metavar="N", type=tile_type,
                   help="tile size in input pixels for large images; 0 = never tile (default: auto, 512 on "
                        "the CPU)")
    g.add_argument("--tile-pad", "--tile_pad", type=int_in(0, 1024), default=32, metavar="N",
                   help="context pixels around each tile (default: %(default)s)")
    add_threads_argument(g)
    g.add_argument("--backend", choices=("torch", "onnxruntime", "ncnn"), default="torch",
                   help="inference engine; ncnn (rlfn[ncnn]) also runs a NAME.param file given as the model "
                        "(default: %(default)s)")
    g.add_argument("--no-fast", dest="fast", action="store_false",
                   help="run the plain model instead of the optimised CPU/GPU path")
    p.add_argument("--alpha", choices=("model", "bicubic"), default="model",
                   help="how to upscale an alpha channel (default: %(default)s)")
    p.add_argument("--max-pixels", type=int_in(1, 10**12), default=None, metavar="N",
                   help="refuse inputs larger than N pixels, a guard against decompression bombs "
                        "(default: Pillow's, about 89 million)")
    add_quiet_argument(p, "only errors")
    upscale_ray.add_arguments(p)


def _fmt(args: argparse.Namespace) -> str | None:
    return None if args.ext == "auto" else args.ext


def output_size(args: argparse.Namespace):
    from ..inference.resize import OutputSize

    return OutputSize(args.outscale, args.width, args.height)  # a bad combination: one ConfigError


def _load(args: argparse.Namespace):
    from ..inference.devices import resolve_device
    from ..inference.upscaler import Upscaler

    tile = args.tile  # checked by argparse, as every number here
    warn = (lambda msg: print(f"rlfn upscale: warning: {msg}", file=sys.stderr))
    if args.backend == "ncnn":
        if args.device not in ("auto", "cpu"):
            raise RLFNError(f"--backend ncnn runs on the CPU here; drop --device {args.device}")
        return Upscaler(_ncnn_runner(args), tile=tile, tile_pad=args.tile_pad, blend=min(8, args.tile_pad),
                        alpha=args.alpha, threads=args.threads, warn=warn)
    if args.backend == "onnxruntime":
        if args.device not in ("auto", "cpu"):
            raise RLFNError(f"--backend onnxruntime runs on the CPU here; drop --device {args.device}")
        model = load_from_args(args, "cpu")
        from ..perf.export import onnx_model_for

        runner = onnx_model_for(model)  # without the onnx extra: one RLFNError naming it
        return Upscaler(runner, tile=tile, tile_pad=args.tile_pad, alpha=args.alpha, threads=args.threads, warn=warn)
    device = resolve_device(args.device)
    model = load_from_args(args, device)
    return Upscaler(model, device=device, precision=args.precision, tile=tile, tile_pad=args.tile_pad,
                    blend=min(8, args.tile_pad), alpha=args.alpha, fast=args.fast, threads=args.threads, warn=warn)


def _ncnn_runner(args: argparse.Namespace):
    """An ncnn file named as the model (NAME.param, NAME.bin beside it), or the model exported on the fly."""
    from ..inference.ncnn_backend import load_ncnn

    given = args.model or args.weights
    if given is not None and str(given).lower().endswith(".param"):
        runner = load_ncnn(given, threads=args.threads)
        if args.scale is not None and args.scale != runner.scale:
            raise RLFNError(f"{given} is x{runner.scale}, but --scale {args.scale} was asked")
        return runner
    from ..perf.ncnn_export import ncnn_model_for

    return ncnn_model_for(load_from_args(args, "cpu"), threads=args.threads)  # without pnnx: one line naming it


def _options(args: argparse.Namespace) -> BatchOptions:
    return BatchOptions(output=args.output, recursive=args.recursive, ext=_fmt(args), suffix=args.suffix,
                        quality=args.quality, png_compression=args.png_compression, overwrite=args.overwrite,
                        skip_existing=args.skip_existing, size=output_size(args), max_pixels=args.max_pixels,
                        codec=args.codec, crf=args.crf, batch=args.batch, quiet=args.quiet)


def run(args: argparse.Namespace) -> int:
    args.inputs = [*args.inputs, *args.more_inputs]
    if not args.inputs:
        raise RLFNError("no input given: name image files, folders or glob patterns (or -i INPUT)")
    opts = _options(args)  # a bad combination of sizes is refused before the model is loaded
    if args.ray is not None:  # the same batch on a Ray cluster's actors
        return upscale_ray.run(args, opts)
    up = _load(args)
    jobs = collect_jobs(args.inputs, opts, up.scale)
    todo = [j for j in jobs if j.dst is not None]
    console = Console(len(todo), args.quiet)
    for j in jobs:
        if j.dst is None:
            console.say(f"rlfn upscale: error: {j.error}")
    if not args.quiet:
        console.say(up.describe())
    if (args.codec is not None or args.crf is not None) and any(is_video(j.src) for j in todo):
        from ..io.video import check_codec

        check_codec(args.codec, args.crf)  # a wrong --codec or --crf stops before any work
    summary = run_batch(up, jobs, opts, console)
    console.close()
    if not args.quiet or summary.failed:
        console.say(summary.line())
    return 1 if summary.failed else 0
