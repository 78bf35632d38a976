"""Batches of files: inputs paired with outputs, the overwrite rules, the read-ahead/write-behind pipeline and
the summary, for ``rlfn upscale`` and any program that upscales many files.

>>> opts = BatchOptions(output="out/")
>>> jobs = collect_jobs(["photos/", "*.jpg"], opts, up.scale)
>>> summary = run_batch(up, jobs, opts)          # one bad file is reported and skipped
>>> print(summary.line())

Outputs are written atomically and never replace a file unless ``overwrite``. Videos go to
:mod:`rlfn.inference.video`, GIF/APNG/WebP animations to :mod:`rlfn.inference.animation`; both are imported
only when such a file comes up.
"""
from __future__ import annotations

import contextlib
import glob
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ImageError, RLFNError, WriteError
from ..io.images import FORMATS, PNG_COMPRESSION, SUFFIX_FOR
from ..io.media import ANIMATION_SUFFIXES, VIDEO_SUFFIXES, is_video, list_media
from .pipeline import Writer, prefetched
from .resize import OutputSize


@dataclass(frozen=True)
class BatchOptions:
    """How inputs become outputs: where (``output``: a folder, or a file name for one input; None: beside
    each input), under which name (``suffix``, ``{scale}`` filled in; ``ext``: png, jpg... or None for the
    input's), how (``size``, ``quality``, ``png_compression``; videos: ``codec``, ``crf``, ``batch``), and
    what to do with existing outputs (``overwrite``, ``skip_existing``)."""

    output: str | Path | None = None
    recursive: bool = False
    ext: str | None = None
    suffix: str = "_x{scale}"
    quality: int = 95
    png_compression: int = PNG_COMPRESSION
    overwrite: bool = False
    skip_existing: bool = False
    size: OutputSize = field(default_factory=OutputSize)
    max_pixels: int | None = None
    codec: str | None = None
    crf: int | None = None
    batch: int = 4
    quiet: bool = False

    def name_suffix(self, scale: int) -> str:
        """``suffix`` with ``{scale}`` filled in: what output names end with before their extension."""
        return self.suffix.replace("{scale}", self.size.label(scale))


@dataclass
class Job:
    src: Path
    dst: Path | None  # None: the input itself is missing or unusable
    error: str | None = None
    megapixels: float = 0.0  # the input's, once read


# ---- pairing inputs with outputs --------------------------------------------------------------------------------


def output_name(src: Path, suffix: str, fmt: str | None) -> str:
    ext = SUFFIX_FOR[FORMATS[fmt]] if fmt and not is_video(src) else src.suffix
    return f"{src.stem}{suffix}{ext}"


def _is_own_output(path: Path, suffix: str) -> bool:
    """``a_x4.png`` beside ``a.png``: an earlier run's output, not a new input."""
    if not suffix or not path.stem.endswith(suffix):
        return False
    stem = path.stem[: -len(suffix)]
    return any(path.with_name(stem + ext).exists() for ext in {path.suffix, *SUFFIX_FOR.values(), ".jpeg", ".tiff"})


def find_inputs(inputs: list[str], recursive: bool, out: Path | None, suffix: str) -> tuple[list, list[Job]]:
    """(file, folder it came from) for every input file (files, folders, globs); a Job with its error for every
    unusable input. Without ``out``, an earlier run's outputs beside their inputs are left out."""
    found: list[tuple[Path, Path | None]] = []
    errors: list[Job] = []
    for spec in inputs:
        p = Path(spec)
        if p.is_dir():
            try:
                files = list_media(p, recursive=recursive)
            except ImageError as e:
                errors.append(Job(p, None, str(e)))
                continue
            found += [(f, p) for f in files if not (out is None and _is_own_output(f, suffix))]
        elif p.exists():
            found.append((p, None))
        elif any(ch in spec for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not matches:
                errors.append(Job(p, None, f"{spec}: no file matches this pattern"))
            found += [(m, None) for m in matches]
        else:
            errors.append(Job(p, None, f"{spec}: no such file or folder"))
    return found, errors


def collect_jobs(inputs: list[str], opts: BatchOptions, scale: int) -> list[Job]:
    """Every input file (files, folders, globs) paired with its output path; inputs that cannot be used, and
    outputs that would replace an input or another job's output, are jobs with an error."""
    suffix = opts.name_suffix(scale)
    out = Path(opts.output) if opts.output else None
    if out is not None and out.exists() and not out.is_dir() and len(inputs) > 1:
        raise RLFNError(f"-o {out}: is a file; several inputs need an output folder")
    found, jobs = find_inputs(inputs, opts.recursive, out, suffix)
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
            dst = out / rel / output_name(f, suffix, opts.ext)
        else:
            dst = f.parent / output_name(f, suffix, opts.ext)
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


# ---- messages ---------------------------------------------------------------------------------------------------


class Console:
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


# ---- the work ---------------------------------------------------------------------------------------------------


def _read(job: Job, opts: BatchOptions):
    """On the reader thread: what the job is, and for a still image its decoded picture (videos and
    animations stream their own frames)."""
    from ..io.animation import is_animation
    from ..io.images import load_picture

    assert job.dst is not None
    if job.dst.exists() and not opts.overwrite:
        return "exists", None  # reported (or skipped) by the caller; not worth decoding
    if is_video(job.src):
        return "video", None
    if job.dst.suffix.lower() in ANIMATION_SUFFIXES or is_animation(job.src):
        return "animation", None
    return "image", load_picture(job.src, max_pixels=opts.max_pixels)


def _upscale_stream(up, job: Job, kind: str, opts: BatchOptions, console: Console) -> float:
    """A video or an animation, start to end on this thread; returns its input megapixels."""
    assert job.dst is not None
    if not opts.size.native:
        raise RLFNError(f"{job.src}: --outscale, --width and --height apply to still images; videos and "
                        f"animations come out at the model's scale (x{up.scale})")
    if kind == "video":
        from .video import upscale_video

        return upscale_video(up, job.src, job.dst, codec=opts.codec, crf=opts.crf, batch=opts.batch,
                             overwrite=opts.overwrite, quiet=opts.quiet, warn=console.say).megapixels
    from .animation import upscale_animation

    return upscale_animation(up, job.src, job.dst, opts.ext, quality=opts.quality, overwrite=opts.overwrite,
                             max_pixels=opts.max_pixels, quiet=opts.quiet, warn=console.say)


def upscale_still(up, src, dst, pic, opts: BatchOptions, on_tile=None):
    """Upscale a decoded still image ``pic`` (read from ``src``, to be written to ``dst``: paths or URIs) as
    ``opts`` asks; returns the picture to write. Errors a user can cause are RLFNError naming ``src``."""
    from ..io.images import check_output_size, format_for

    out_size = opts.size.for_input(*pic.size, up.scale)
    check_output_size(dst, format_for(dst, opts.ext), *out_size)  # before the work
    try:
        return up.upscale_picture(pic, on_tile, opts.size)
    except RLFNError as e:
        raise RLFNError(f"{src}: {e}") from None


def _upscale_image(up, job: Job, pic, opts: BatchOptions, console: Console):
    """Upscale a decoded still image; returns the picture to write. Errors a user can cause are RLFNError."""
    assert job.dst is not None
    tile_bar = console.tile_bar(up.tiles_for(pic.size[0], pic.size[1], pic.has_alpha), job.src.name)
    try:
        return upscale_still(up, job.src, job.dst, pic, opts, tile_bar.update if tile_bar is not None else None)
    finally:
        if tile_bar is not None:
            tile_bar.close()


def _writer(job: Job, big, opts: BatchOptions):
    from ..io.images import save_picture

    # console.say is only called on the main thread: warnings are collected and said when the write is done
    def write() -> list[str]:
        notes: list[str] = []
        save_picture(big, job.dst, opts.ext, quality=opts.quality, overwrite=opts.overwrite, warn=notes.append,
                     png_compression=opts.png_compression)
        return notes

    return write


@dataclass
class Summary:
    """What a batch did."""

    done: int = 0
    failed: list[Job] = field(default_factory=list)
    skipped: int = 0
    seconds: float = 0.0
    megapixels: float = 0.0  # of the inputs upscaled

    def line(self) -> str:
        extra = f", {self.skipped} skipped" if self.skipped else ""
        rate = f", {self.megapixels / self.seconds:.3g} input MP/s" if self.done and self.seconds > 0 else ""
        return f"{self.done} upscaled, {len(self.failed)} failed{extra} in {self.seconds:.1f} s{rate}"


def run_batch(up, jobs: list[Job], opts: BatchOptions, console: Console | None = None,
              error_prefix: str = "rlfn upscale: error: ") -> Summary:
    """Upscale every job with ``up`` (an :class:`rlfn.Upscaler`); jobs without an output are counted as failed.
    The next image is decoded while this one is computed, and finished ones are encoded and written while the
    next is computed (:mod:`rlfn.inference.pipeline`); messages and the bar stay on this thread."""
    todo = [j for j in jobs if j.dst is not None]
    summary = Summary(failed=[j for j in jobs if j.dst is None])
    console = console or Console(len(todo), opts.quiet)
    index = {id(j): i for i, j in enumerate(todo, 1)}
    started: dict[int, float] = {}
    start = time.perf_counter()

    def finished(job: Job, error: BaseException | None, mp: float = 0.0) -> None:
        if error is None:
            summary.done += 1
            summary.megapixels += mp
            if not opts.quiet and console.bar is None:
                secs = time.perf_counter() - started[id(job)]
                console.say(f"[{index[id(job)]}/{len(todo)}] {job.src} -> {job.dst} ({secs:.1f} s)")
        else:
            if isinstance(error, MemoryError):
                job.error = f"{job.src}: out of memory (try a smaller --tile)"
            elif isinstance(error, RLFNError):
                job.error = str(error)
            else:
                raise error  # a bug, not a bad file: the traceback is wanted
            summary.failed.append(job)
            console.say(f"{error_prefix}{job.error}")
        console.tick()

    def written(outcomes) -> None:
        for o in outcomes:
            for note in o.value or []:
                console.say(note)
            finished(o.item, o.error, o.item.megapixels)

    with contextlib.closing(prefetched(todo, lambda j: _read(j, opts), depth=1)) as reads, \
            Writer(depth=2) as writer:
        for outcome in reads:
            job = outcome.item
            assert job.dst is not None
            started[id(job)] = time.perf_counter()
            if job.dst.exists() and not opts.overwrite:
                if opts.skip_existing:
                    summary.skipped += 1
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
                    finished(job, None, _upscale_stream(up, job, kind, opts, console))
                    continue
                big = _upscale_image(up, job, pic, opts, console)
            except (RLFNError, MemoryError) as e:
                finished(job, e)
                continue
            job.megapixels = pic.size[0] * pic.size[1] / 1e6
            del pic
            written(writer.submit(job, _writer(job, big, opts)))
            del big
        written(writer.drain())
    summary.seconds = time.perf_counter() - start
    return summary
