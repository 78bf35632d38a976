"""``rlfn upscale``: files, folders and globs in; upscaled images, animations and videos out, written
atomically, never overwritten unless asked. One bad file is reported and skipped; the exit status is 1 when
any failed. Videos go to :mod:`rlfn.inference.video`, GIF/APNG/WebP animations to
:mod:`rlfn.inference.animation`; both are imported only when such a file comes up."""
from __future__ import annotations

import argparse
import contextlib
import glob
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError, RLFNError, WriteError
from ..inference.pipeline import Writer, prefetched
from ..io.images import FORMATS, PNG_COMPRESSION, SUFFIX_FOR
from ..io.media import ANIMATION_SUFFIXES, VIDEO_SUFFIXES, is_video, list_media
from .common import (add_device_argument, add_model_arguments, add_overwrite_argument, add_quiet_argument,
                     add_threads_argument, float_in, int_in, load_from_args)


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
    p.add_argument("--suffix", default="_x{scale}", type=_suffix,
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
                   help="FFmpeg video encoder, e.g. libx264, libx265, libvpx-vp9, libsvtav1 (default: libx264, "
                        "libvpx-vp9 for .webm)")
    v.add_argument("--crf", type=int_in(0, 63), default=None, metavar="N",
                   help="constant quality, lower is better (default: visually lossless, 17 for x264, 20 for "
                        "x265 and VP9, 22 for SVT-AV1: the encoders' own defaults smooth away the detail the "
                        "upscale adds)")
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
    g.add_argument("-t", "--tile", default="auto", metavar="N", type=_parse_tile,
                   help="tile size in input pixels for large images; 0 = never tile (default: auto, 512 on "
                        "the CPU)")
    g.add_argument("--tile-pad", "--tile_pad", type=int_in(0, 1024), default=32, metavar="N",
                   help="context pixels around each tile (default: %(default)s)")
    add_threads_argument(g)
    g.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                   help="inference engine (default: %(default)s)")
    g.add_argument("--no-fast", dest="fast", action="store_false",
                   help="run the plain model instead of the optimised CPU/GPU path")
    p.add_argument("--alpha", choices=("model", "bicubic"), default="model",
                   help="how to upscale an alpha channel (default: %(default)s)")
    p.add_argument("--max-pixels", type=int_in(1, 10**12), default=None, metavar="N",
                   help="refuse inputs larger than N pixels, a guard against decompression bombs "
                        "(default: Pillow's, about 89 million)")
    add_quiet_argument(p, "only errors")


@dataclass
class Job:
    src: Path
    dst: Path | None  # None: the input itself is missing or unusable
    error: str | None = None
    megapixels: float = 0.0  # the input's, once read


def _parse_tile(value: str) -> int | str | None:
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


def _suffix(value: str) -> str:
    """Output names stay in the output folder: a suffix is part of a file name, never a path."""
    bad = [c for c in ("/", "\\", "\0") if c in value]
    if bad:
        raise argparse.ArgumentTypeError(f"{value!r} contains {bad[0]!r}; a suffix is part of a file name, not a path "
                                         "(use -o to choose the folder)")
    return value


def _output_name(src: Path, suffix: str, fmt: str | None) -> str:
    ext = SUFFIX_FOR[FORMATS[fmt]] if fmt and not is_video(src) else src.suffix
    return f"{src.stem}{suffix}{ext}"


def _is_own_output(path: Path, suffix: str) -> bool:
    """``a_x4.png`` beside ``a.png``: an earlier run's output, not a new input."""
    if not suffix or not path.stem.endswith(suffix):
        return False
    stem = path.stem[: -len(suffix)]
    return any(path.with_name(stem + ext).exists() for ext in {path.suffix, *SUFFIX_FOR.values(), ".jpeg", ".tiff"})


def _fmt(args: argparse.Namespace) -> str | None:
    return None if args.ext == "auto" else args.ext


def output_size(args: argparse.Namespace):
    from ..inference.resize import OutputSize

    return OutputSize(args.outscale, args.width, args.height)


def collect_jobs(args: argparse.Namespace, scale: int) -> list[Job]:
    suffix = args.suffix.replace("{scale}", output_size(args).label(scale))
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir() and len(args.inputs) > 1:
        raise RLFNError(f"-o {out}: is a file; several inputs need an output folder")
    found: list[tuple[Path, Path | None]] = []  # (file, folder it came from)
    jobs: list[Job] = []
    for spec in args.inputs:
        p = Path(spec)
        if p.is_dir():
            try:
                files = list_media(p, recursive=args.recursive)
            except ImageError as e:
                jobs.append(Job(p, None, str(e)))
                continue
            found += [(f, p) for f in files if not (out is None and _is_own_output(f, suffix))]
        elif p.exists():
            found.append((p, None))
        elif any(ch in spec for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not matches:
                jobs.append(Job(p, None, f"{spec}: no file matches this pattern"))
            found += [(m, None) for m in matches]
        else:
            jobs.append(Job(p, None, f"{spec}: no such file or folder"))
    single_file_out = (
        out is not None and len(found) == 1 and not out.is_dir()
        and (out.suffix.lower().lstrip(".") in FORMATS or out.suffix.lower() in (*VIDEO_SUFFIXES, *ANIMATION_SUFFIXES))
    )
    if out is not None and out.exists() and not out.is_dir() and not single_file_out:
        raise RLFNError(f"-o {out}: is a file; {len(found)} inputs need an output folder")
    seen: dict[Path, Path] = {}
    for f, base in found:
        if single_file_out:
            dst = out
        elif out is not None:
            rel = f.relative_to(base).parent if base is not None else Path()
            dst = out / rel / _output_name(f, suffix, _fmt(args))
        else:
            dst = f.parent / _output_name(f, suffix, _fmt(args))
        key = dst.resolve()
        if key == f.resolve():
            jobs.append(Job(f, None, f"{f}: the output would replace the input; give a --suffix or -o"))
            continue
        if key in seen:
            jobs.append(Job(f, None, f"{f}: its output {dst} is also the output of {seen[key]}; skipped"))
            continue
        seen[key] = f
        jobs.append(Job(f, dst))
    return jobs


def _load(args: argparse.Namespace):
    from ..inference.devices import resolve_device
    from ..inference.upscaler import Upscaler

    tile = args.tile  # checked by argparse, as every number here
    warn = (lambda msg: print(f"rlfn upscale: warning: {msg}", file=sys.stderr))
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


class _Console:
    """Messages on stderr, through the images bar when there is one (a terminal and several images)."""

    def __init__(self, total: int, quiet: bool):
        self.tty = sys.stderr.isatty() and not quiet
        self.bar = None
        if self.tty and total > 1:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="images", unit="img", dynamic_ncols=True, leave=False)

    def say(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def tile_bar(self, ntiles: int, label: str):
        if not self.tty or ntiles <= 1:
            return None
        from tqdm import tqdm

        return tqdm(total=ntiles, desc=label, unit="tile", leave=False, dynamic_ncols=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _read(job: Job, args: argparse.Namespace):
    """On the reader thread: what the job is, and for a still image its decoded picture (videos and
    animations stream their own frames)."""
    from ..io.animation import is_animation
    from ..io.images import load_picture

    assert job.dst is not None
    if job.dst.exists() and not args.overwrite:
        return "exists", None  # reported (or skipped) by the caller; not worth decoding
    if is_video(job.src):
        return "video", None
    if job.dst.suffix.lower() in ANIMATION_SUFFIXES or is_animation(job.src):
        return "animation", None
    return "image", load_picture(job.src, max_pixels=args.max_pixels)


def _upscale_stream(up, job: Job, kind: str, args: argparse.Namespace, console: _Console) -> float:
    """A video or an animation, start to end on this thread; returns its input megapixels."""
    assert job.dst is not None
    if not output_size(args).native:
        raise RLFNError(f"{job.src}: --outscale, --width and --height apply to still images; videos and "
                        f"animations come out at the model's scale (x{up.scale})")
    if kind == "video":
        from ..inference.video import upscale_video

        return upscale_video(up, job.src, job.dst, codec=args.codec, crf=args.crf, batch=args.batch,
                             overwrite=args.overwrite, quiet=args.quiet, warn=console.say).megapixels
    from ..inference.animation import upscale_animation

    return upscale_animation(up, job.src, job.dst, _fmt(args), quality=args.quality, overwrite=args.overwrite,
                             max_pixels=args.max_pixels, quiet=args.quiet, warn=console.say)


def _upscale_image(up, job: Job, pic, args: argparse.Namespace, console: _Console):
    """Upscale a decoded still image; returns the picture to write. Errors a user can cause are RLFNError."""
    from ..io.images import check_output_size, format_for

    assert job.dst is not None
    size = output_size(args)
    check_output_size(job.dst, format_for(job.dst, _fmt(args)), *size.for_input(*pic.size, up.scale))  # before the work
    tile_bar = console.tile_bar(up.tiles_for(pic.size[0], pic.size[1], pic.has_alpha), job.src.name)
    try:
        return up.upscale_picture(pic, tile_bar.update if tile_bar is not None else None, size)
    except RLFNError as e:
        raise RLFNError(f"{job.src}: {e}") from None
    finally:
        if tile_bar is not None:
            tile_bar.close()


def _writer(job: Job, big, args: argparse.Namespace):
    from ..io.images import save_picture

    # console.say is only called on the main thread: warnings are collected and said when the write is done
    def write() -> list[str]:
        notes: list[str] = []
        save_picture(big, job.dst, _fmt(args), quality=args.quality, overwrite=args.overwrite, warn=notes.append,
                     png_compression=args.png_compression)
        return notes

    return write


def _describe(up) -> str:
    model = getattr(up.model, "describe", lambda: type(up.model).__name__)()
    return f"model: {model}; device {up.device}, {up.precision_note}, tile {up.tile or 'off'}"


def run(args: argparse.Namespace) -> int:
    args.inputs = [*args.inputs, *args.more_inputs]
    if not args.inputs:
        raise RLFNError("no input given: name image files, folders or glob patterns (or -i INPUT)")
    output_size(args)  # a bad combination is refused before the model is loaded
    up = _load(args)
    jobs = collect_jobs(args, up.scale)
    todo = [j for j in jobs if j.dst is not None]
    failed = [j for j in jobs if j.dst is None]
    console = _Console(len(todo), args.quiet)
    for j in failed:
        console.say(f"rlfn upscale: error: {j.error}")
    if not args.quiet:
        console.say(_describe(up))
    if (args.codec is not None or args.crf is not None) and any(is_video(j.src) for j in todo):
        from ..io.video import check_codec

        check_codec(args.codec, args.crf)  # a wrong --codec or --crf stops before any work
    start = time.perf_counter()
    done = skipped = 0
    megapixels = 0.0
    index = {id(j): i for i, j in enumerate(todo, 1)}
    started: dict[int, float] = {}

    def finished(job: Job, error: BaseException | None, mp: float = 0.0) -> None:
        nonlocal done, megapixels
        if error is None:
            done += 1
            megapixels += mp
            if not args.quiet and console.bar is None:
                secs = time.perf_counter() - started[id(job)]
                console.say(f"[{index[id(job)]}/{len(todo)}] {job.src} -> {job.dst} ({secs:.1f} s)")
        else:
            if isinstance(error, MemoryError):
                job.error = f"{job.src}: out of memory (try a smaller --tile)"
            elif isinstance(error, RLFNError):
                job.error = str(error)
            else:
                raise error  # a bug, not a bad file: the traceback is wanted
            failed.append(job)
            console.say(f"rlfn upscale: error: {job.error}")
        console.tick()

    def written(outcomes) -> None:
        for o in outcomes:
            for note in o.value or []:
                console.say(note)
            finished(o.item, o.error, o.item.megapixels)

    # The next image is decoded while this one is computed, and finished ones are encoded and written while
    # the next is computed (rlfn.inference.pipeline); messages and the bar stay on this thread.
    with contextlib.closing(prefetched(todo, lambda j: _read(j, args), depth=1)) as reads, \
            Writer(depth=2) as writer:
        for outcome in reads:
            job = outcome.item
            assert job.dst is not None
            started[id(job)] = time.perf_counter()
            if job.dst.exists() and not args.overwrite:
                if args.skip_existing:
                    skipped += 1
                    console.tick()
                    continue
                finished(job, WriteError(f"{job.dst}: exists (pass --overwrite to replace it, or --skip-existing)"))
                continue
            if outcome.error is not None:
                finished(job, outcome.error)
                continue
            kind, pic = outcome.value
            try:
                if kind != "image":
                    finished(job, None, _upscale_stream(up, job, kind, args, console))
                    continue
                big = _upscale_image(up, job, pic, args, console)
            except (RLFNError, MemoryError) as e:
                finished(job, e)
                continue
            job.megapixels = pic.size[0] * pic.size[1] / 1e6
            del pic
            written(writer.submit(job, _writer(job, big, args)))
            del big
        written(writer.drain())
    console.close()
    secs = time.perf_counter() - start
    if not args.quiet or failed:
        extra = f", {skipped} skipped" if skipped else ""
        rate = f", {megapixels / secs:.3g} input MP/s" if done and secs > 0 else ""
        console.say(f"{done} upscaled, {len(failed)} failed{extra} in {secs:.1f} s{rate}")
    return 1 if failed else 0
