"""Whole-process speed of ``rlfn upscale`` (issue 13), every table in one run.

Sections (``--sections``, all by default):

- whole: ``rlfn upscale DIR`` against the official-style plain script (``benchmarks/official_style.py``) on
  the same LR images with the official ×4 weights of RLFN, RLFN-S and RLFN-ntire; each a fresh process timed
  from outside (wall clock, Python and torch start-up included), the two routes interleaved;
- folder: a folder of ``--folder-count`` images, ``rlfn upscale`` images/s (with and without the process
  start, the latter from the CLI's own closing line) against the network alone (``rlfn bench --images``);
- png: ``rlfn.io.images.save_picture`` of one ×4 output at every PNG compression level, OpenCV's default
  ``cv2.imwrite`` beside them;
- startup: ``python -m rlfn --help``, ``python -m rlfn models``, ``import rlfn.cli.upscale`` and the
  heaviest imports of ``rlfn upscale --help`` (``-X importtime``);
- video: ``rlfn upscale clip.mp4`` against the usual route (extract PNGs, upscale the folder, encode them
  back with x264 at the same CRF), and the peak memory of ``rlfn upscale`` on a short and a 4× longer clip.
  Skipped with a note when PyAV is missing or ``rlfn upscale`` does not take videos.

Every timed command is a child process started by this one: ``os.wait4`` gives its wall time, exit status
and peak RSS. Repeats are interleaved (route A, route B, route B, route A, ...) so that a change in the
machine's speed hits both alike; medians are printed. Intermediate files live in a temporary folder that is
removed at the end. Children inherit the environment (OMP_NUM_THREADS included).

    python benchmarks/pipeline_speed.py                      # everything, full settings
    python benchmarks/pipeline_speed.py --quick --models rlfn_s   # smoke test
    python benchmarks/pipeline_speed.py --sections whole,folder --repeat 5 --json pipeline.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
OFFICIAL_SCRIPT = Path(__file__).resolve().parent / "official_style.py"
SECTIONS = ("whole", "folder", "png", "startup", "video")
LABELS = {"rlfn": "RLFN", "rlfn_s": "RLFN-S", "rlfn_ntire": "RLFN-ntire"}
# Issue 13's targets.
WHOLE_TARGETS = {"rlfn": 2.0, "rlfn_s": 1.6, "rlfn_ntire": 1.4}  # official-style s / rlfn upscale s
FOLDER_TARGET = 0.85  # whole-process images/s over network-only images/s
VIDEO_TARGET = 1.5  # rlfn upscale clip.mp4 fps over the extract/upscale/encode route
MEMORY_GROWTH_LIMIT = 0.10  # peak RSS, 4× longer clip against the short one
VIDEO_RATE = Fraction(24000, 1001)
VIDEO_CRF = 17  # rlfn's x264 default; passed explicitly so both routes encode alike
SUMMARY_RE = re.compile(r"(\d+) upscaled, (\d+) failed.*? in ([\d.]+) s")


# --------------------------------------------------------------------------------------------------
# Child processes


@dataclass
class Run:
    wall_s: float
    cpu_s: float  # user + system, all its threads (and the children it waited for)
    rc: int
    max_rss_mb: float
    stdout: str
    stderr: str


def run(cmd: list[str], check: bool = True) -> Run:
    """Run ``cmd`` to completion; wall time measured around the whole process, peak RSS from ``wait4``."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files: no pipe can fill up
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        r = Run(wall, usage.ru_utime + usage.ru_stime, proc.returncode, usage.ru_maxrss / 1024,
                out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if check and r.rc != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"failed (exit status {r.rc}): {' '.join(map(str, cmd))}\n{tail}")
    return r


def rlfn(*args) -> list[str]:
    return [sys.executable, "-m", "rlfn", *map(str, args)]


def helper(*args) -> list[str]:
    """This script as a child process running one of its helpers (see HELPERS): no torch imported there."""
    return [sys.executable, str(Path(__file__).resolve()), *map(str, args)]


def interleaved(repeat: int, routes: dict) -> dict[str, list]:
    """Call each route ``repeat`` times, alternating the order every round (A B, B A, ...)."""
    names = list(routes)
    results: dict[str, list] = {n: [] for n in names}
    for i in range(repeat):
        for n in (names if i % 2 == 0 else names[::-1]):
            results[n].append(routes[n]())
    return results


def med(values) -> float:
    return statistics.median(values)


def mark(ok: bool) -> str:
    return "yes" if ok else "no"


def table(head: list[str], rows: list[list], widths: list[int]) -> str:
    """Right-aligned columns, except the first."""
    def line(cells):
        return " ".join(f"{str(c):<{w}}" if i == 0 else f"{str(c):>{w}}" for i, (c, w) in enumerate(zip(cells, widths)))

    top = line(head)
    return "\n".join([top, "-" * len(top), *map(line, rows)])


def print_section(title: str) -> None:
    print(f"\n== {title} (load average {os.getloadavg()[0]:.2f}) ==", flush=True)


# --------------------------------------------------------------------------------------------------
# Inputs


def lr_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not files:
        raise SystemExit(f"{folder}: no images (pass --images DIR)")
    return files


def stage(files: list[Path], folder: Path, count: int, crop: int | None) -> Path:
    """``count`` images in a folder of their own (the list repeated if it is shorter), cropped in quick mode."""
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        src = files[i % len(files)]
        dst = folder / f"{i:03d}_{src.stem}.png"
        if crop:
            Image.open(src).convert("RGB").crop((0, 0, crop, crop)).save(dst, compress_level=1)
        else:
            shutil.copyfile(src, dst)
    return folder


def weights_for(name: str, weights_dir: Path) -> Path | None:
    path = weights_dir / f"{name}_x4.pth"
    if not path.exists():
        print(f"  {path}: missing, {LABELS.get(name, name)} skipped (the official weights are needed)")
        return None
    return path


def max_png_diff(a: Path, b: Path) -> int | None:
    """Largest pixel difference between same-named PNGs of two folders (the two routes' outputs)."""
    import numpy as np
    from PIL import Image

    worst = None
    for pa in sorted(a.glob("*.png")):
        pb = b / pa.name
        if pb.exists():
            d = int(np.abs(np.asarray(Image.open(pa).convert("RGB"), dtype=np.int16)
                           - np.asarray(Image.open(pb).convert("RGB"), dtype=np.int16)).max())
            worst = d if worst is None else max(worst, d)
    return worst


# --------------------------------------------------------------------------------------------------
# Sections


def section_whole(cfg, tmp: Path, images: Path, n: int) -> list[dict]:
    print_section(f"whole process: official-style script vs rlfn upscale, {n} images, median of {cfg.repeat}")
    rows, out = [], []
    warmed = cfg.quick  # one untimed run of each route first, so no timed run reads torch's files from disk
    for name in cfg.models:
        w = weights_for(name, cfg.weights_dir)
        if w is None:
            continue
        official_out, rlfn_out = tmp / f"official-{name}", tmp / f"rlfn-{name}"
        routes = {
            "official": lambda: run([sys.executable, str(OFFICIAL_SCRIPT), images, official_out, "--model", name,
                                     "--weights", w]).wall_s,
            "rlfn": lambda: run(rlfn("upscale", images, "-o", rlfn_out, "--weights", w, "--overwrite", "-q")).wall_s,
        }
        if not warmed:
            for f in routes.values():
                f()
            warmed = True
        times = interleaved(cfg.repeat, routes)
        o, r = med(times["official"]), med(times["rlfn"])
        ratio, target = o / r, WHOLE_TARGETS.get(name)
        diff = max_png_diff(official_out, rlfn_out)
        out.append({"model": name, "official_s": o, "rlfn_s": r, "ratio": ratio, "target": target,
                    "met": target is not None and ratio >= target, "max_diff": diff, "times_s": times})
        rows.append([LABELS.get(name, name), f"{o:.2f}", f"{r:.2f}", f"{ratio:.2f}×",
                     f"{target:.1f}×" if target else "-", mark(bool(target) and ratio >= target),
                     "-" if diff is None else diff])
        print(f"  measured {name}: official {o:.2f} s, rlfn {r:.2f} s", flush=True)
    print(table(["model", "official s", "rlfn s", "ratio", "target", "met", "max diff"], rows,
                [11, 10, 8, 7, 7, 4, 8]))
    print("ratio = official-style seconds / rlfn upscale seconds, whole processes timed from outside; "
          "max diff = largest 8-bit difference between the two routes' PNGs")
    return out


def section_folder(cfg, tmp: Path, folder: Path, n: int) -> list[dict]:
    print_section(f"folder of {n} images: rlfn upscale against the network alone (rlfn bench), median of "
                  f"{cfg.repeat}")
    rows, out = [], []
    for name in [m for m in cfg.models if m in ("rlfn_s", "rlfn_ntire")]:
        w = weights_for(name, cfg.weights_dir)
        if w is None:
            continue
        dst = tmp / f"folder-{name}"

        def bench():
            doc = json.loads(run(rlfn("bench", w, "--images", folder, "--warmup", 1, "--json", "-", "-q")).stdout)
            return 1000 / doc["results"][0]["runtime_ms"]["median_ms"]

        def upscale():  # not -q: the closing line times the loop over the images, without the start-up
            r = run(rlfn("upscale", folder, "-o", dst, "--weights", w, "--overwrite"))
            m = SUMMARY_RE.search(r.stderr)
            if m is None or int(m.group(1)) != n:
                raise SystemExit(f"rlfn upscale: no closing line for {n} images in its output:\n{r.stderr[-500:]}")
            return r.wall_s, float(m.group(3))

        runs = interleaved(cfg.repeat, {"bench": bench, "upscale": upscale})
        net = med(runs["bench"])
        wall, loop = med(r[0] for r in runs["upscale"]), med(r[1] for r in runs["upscale"])
        start = med(r[0] - r[1] for r in runs["upscale"])
        with_start, without = n / wall, n / loop if loop > 0 else float("inf")
        out.append({"model": name, "network_ips": net, "whole_ips": with_start, "whole_ips_no_start": without,
                    "ratio": with_start / net, "ratio_no_start": without / net, "startup_s": start,
                    "target": FOLDER_TARGET, "bench_ips": runs["bench"], "upscale_wall_loop_s": runs["upscale"]})
        rows.append([LABELS[name], f"{net:.3f}", f"{with_start:.3f}", f"{100 * with_start / net:.0f}%",
                     mark(with_start / net >= FOLDER_TARGET), f"{without:.3f}", f"{100 * without / net:.0f}%",
                     mark(without / net >= FOLDER_TARGET), f"{start:.2f}"])
        print(f"  measured {name}: network {net:.3f} img/s, upscale {wall:.2f} s ({loop:.1f} s in the loop)",
              flush=True)
    print(table(["model", "network", "whole", "ratio", "met", "no start", "ratio", "met", "start s"], rows,
                [11, 8, 8, 6, 4, 9, 6, 4, 8]))
    print(f"images/s: network = 1 / median per-image time of rlfn bench --images (fast path, after warm-up); "
          f"whole = {n} / wall time of rlfn upscale; no start = {n} / the seconds on its closing line (the loop "
          f"over the images); start s = wall - loop (interpreter, imports, model). Target ≥ "
          f"{100 * FOLDER_TARGET:.0f}% of network")
    return out


def section_png(cfg, tmp: Path, source: Path | None, lr: Path) -> list[dict]:
    import cv2
    import numpy as np
    from PIL import Image

    from rlfn.io.images import PNG_COMPRESSION, Picture, load_picture, save_picture

    if source is not None:
        pic, what = load_picture(source), f"rlfn upscale output {source.name}"
    else:  # no model output at hand: the LR image upscaled ×4 by bicubic, the same size
        im = Image.open(lr).convert("RGB")
        if cfg.crop:
            im = im.crop((0, 0, cfg.crop, cfg.crop))
        pic = Picture(np.asarray(im.resize((im.width * 4, im.height * 4), Image.BICUBIC)))
        what = f"{lr.name} ×4 by bicubic"
    reps = 1 if cfg.quick else max(3, cfg.repeat)
    print_section(f"PNG compression: one {pic.size[0]}×{pic.size[1]} RGB output ({what}), median of {reps}")
    dst = tmp / "png-level.png"

    def timed(write) -> float:
        t = time.perf_counter()
        write()
        return time.perf_counter() - t

    results = []
    for level in range(10):
        times = [timed(lambda: save_picture(pic, dst, png_compression=level, overwrite=True)) for _ in range(reps)]
        results.append({"writer": f"save_picture level {level}", "level": level, "ms": 1000 * med(times),
                        "mb": dst.stat().st_size / 1e6, "times_s": times})
    bgr = np.ascontiguousarray(pic.pixels[:, :, ::-1])
    cv_dst = tmp / "png-cv2.png"
    times = [timed(lambda: cv2.imwrite(str(cv_dst), bgr)) for _ in range(reps)]
    results.append({"writer": "cv2.imwrite default", "level": None, "ms": 1000 * med(times),
                    "mb": cv_dst.stat().st_size / 1e6, "times_s": times})
    ref = results[6]  # Pillow's default level
    notes = {PNG_COMPRESSION: "rlfn default", 6: "Pillow default"}
    rows = [[r["writer"], f"{r['ms']:.0f}", f"{r['mb']:.2f}", f"{ref['ms'] / r['ms']:.2f}×",
             f"{r['mb'] / ref['mb']:.2f}", notes.get(r["level"], "official script" if r["level"] is None else "")]
            for r in results]
    print(table(["writer", "ms", "MB", "speed vs 6", "size vs 6", ""], rows, [24, 7, 7, 10, 9, 15]))
    print("save_picture writes atomically (temporary file, then rename), as rlfn upscale does; "
          "cv2.imwrite writes in place")
    return results


def section_startup(cfg) -> dict:
    reps = 1 if cfg.quick else max(5, cfg.repeat)
    print_section(f"start-up: whole processes, median of {reps}")
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import torch'": [py, "-c", "import torch"],
        "python -c 'import rlfn.cli.upscale'": [py, "-c", "import rlfn.cli.upscale"],
        "python -m rlfn --help": rlfn("--help"),
        "python -m rlfn models": rlfn("models"),
        "python -m rlfn upscale --help": rlfn("upscale", "--help"),
    }
    if not cfg.quick:
        for cmd in commands.values():  # untimed: every file in the page cache
            run(cmd)
    times = {k: [] for k in commands}
    for i in range(reps):
        for k in (list(commands) if i % 2 == 0 else list(commands)[::-1]):
            times[k].append(run(commands[k]).wall_s)
    medians = {k: med(v) for k, v in times.items()}
    print(table(["command", "s"], [[k, f"{v:.2f}"] for k, v in medians.items()], [36, 6]))

    imports = []
    for line in run([py, "-X", "importtime", "-m", "rlfn", "upscale", "--help"]).stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            imports.append({"module": m.group(4), "self_ms": int(m.group(1)) / 1000,
                            "cumulative_ms": int(m.group(2)) / 1000, "depth": len(m.group(3)) // 2})
    top = sorted(imports, key=lambda r: -r["cumulative_ms"])[:10]
    print(f"\nheaviest imports of rlfn upscale --help (-X importtime, {len(imports)} modules; one run, "
          f"nested modules count in their importer's cumulative time)")
    print(table(["module", "cumulative ms", "self ms", "depth"],
                [[r["module"], f"{r['cumulative_ms']:.0f}", f"{r['self_ms']:.0f}", r["depth"]] for r in top],
                [40, 13, 8, 5]))
    return {"median_s": medians, "times_s": times, "imports_top": top}


# --------------------------------------------------------------------------------------------------
# Video


def make_clip(path: Path, width: int, height: int, frames: int, source: Path) -> None:
    """An H.264 clip panning across a real photo (x264's speed depends on the content)."""
    import av
    import numpy as np
    from PIL import Image

    im = Image.open(source).convert("RGB")
    k = max(1.4 * width / im.width, 1.1 * height / im.height)
    base = np.asarray(im.resize((max(width + 1, round(im.width * k)), max(height, round(im.height * k))),
                                Image.BICUBIC))
    span_x, span_y = base.shape[1] - width, base.shape[0] - height
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=VIDEO_RATE)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "18"}
        for i in range(frames):
            t = (i % (2 * span_x)) if span_x else 0  # back and forth
            x = t if t <= span_x else 2 * span_x - t
            y = round(span_y * i / max(1, frames - 1))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[y:y + height, x:x + width]), format="rgb24")
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)


def extract_pngs(clip: str, folder: str) -> None:
    """The usual first step: every frame as a PNG (FFmpeg's PNG encoder, as ``ffmpeg -i clip %06d.png``)."""
    import av

    Path(folder).mkdir(parents=True, exist_ok=True)
    with av.open(clip) as inp, av.open(str(Path(folder) / "%06d.png"), "w", format="image2") as out:
        s = out.add_stream("png")
        src = inp.streams.video[0]
        s.width, s.height, s.pix_fmt = src.codec_context.width, src.codec_context.height, "rgb24"
        for frame in inp.decode(src):
            for packet in s.encode(frame.reformat(format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)


def encode_pngs(folder: str, clip: str, crf: str) -> None:
    """The usual last step: the upscaled PNGs back to H.264 (as ``ffmpeg -framerate R -i %06d_x4.png -crf N``)."""
    import av
    import numpy as np
    from PIL import Image

    files = sorted(Path(folder).glob("*.png"))
    with av.open(clip, "w") as out:
        s = None
        for f in files:
            rgb = np.asarray(Image.open(f).convert("RGB"))
            if s is None:
                s = out.add_stream("libx264", rate=VIDEO_RATE)
                s.width, s.height, s.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
                s.options = {"crf": crf}
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)


def count_frames(clip: Path) -> int:
    import av

    with av.open(str(clip)) as inp:
        return sum(1 for _ in inp.decode(video=0))


HELPERS = {"_extract": extract_pngs, "_encode": encode_pngs}


def section_video(cfg, tmp: Path, lr: Path) -> dict:
    print_section(f"video: {cfg.video_size[0]}×{cfg.video_size[1]}, {cfg.video_frames} frames at ×4, "
                  f"x264 CRF {VIDEO_CRF}, median of {cfg.repeat}")
    try:
        import av  # noqa: F401
    except ImportError:
        print("  skipped: PyAV (av) is not installed")
        return {"skipped": "no av"}
    models = [m for m in cfg.models if m in ("rlfn_s", "rlfn_ntire")]
    weights = {m: w for m in models if (w := weights_for(m, cfg.weights_dir)) is not None}
    if not weights:
        return {"skipped": "no weights"}
    vdir = tmp / "video"
    vdir.mkdir()

    # Does this rlfn upscale take videos at all? A tiny clip says so, in seconds.
    probe = vdir / "probe.mp4"
    make_clip(probe, 64, 36, 4, lr)
    w0 = next(iter(weights.values()))
    r = run(rlfn("upscale", probe, "-o", vdir / "probe-out", "--weights", w0, "--crf", VIDEO_CRF, "--overwrite",
                 "-q"), check=False)
    made = list((vdir / "probe-out").glob("probe*.mp4")) if (vdir / "probe-out").is_dir() else []
    if r.rc != 0 or not made:
        why = (r.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  skipped: rlfn upscale does not take videos here (exit status {r.rc}: {why})")
        return {"skipped": f"rlfn upscale clip.mp4 failed: {why}"}

    frames = cfg.video_frames
    clip = vdir / "clip.mp4"
    make_clip(clip, *cfg.video_size, frames, lr)
    out: dict = {"fps": [], "memory": None}
    rows = []
    for name, w in weights.items():
        direct_out, pngs, big, back = vdir / f"direct-{name}", vdir / f"pngs-{name}", vdir / f"big-{name}", \
            vdir / f"usual-{name}.mp4"

        def direct():
            return run(rlfn("upscale", clip, "-o", direct_out, "--weights", w, "--crf", VIDEO_CRF, "--overwrite",
                            "-q")).wall_s

        def usual():
            for d in (pngs, big):
                shutil.rmtree(d, ignore_errors=True)
            if shutil.which("ffmpeg"):
                pngs.mkdir()
                steps = [[shutil.which("ffmpeg"), "-v", "error", "-i", clip, str(pngs / "%06d.png")]]
            else:
                steps = [helper("_extract", clip, pngs)]
            steps += [rlfn("upscale", pngs, "-o", big, "--weights", w, "--overwrite", "-q"),
                      helper("_encode", big, back, VIDEO_CRF)]
            return [run(list(map(str, s))).wall_s for s in steps]

        runs = interleaved(cfg.repeat, {"direct": direct, "usual": usual})
        d = med(runs["direct"])
        u = med(sum(s) for s in runs["usual"])
        parts = [med(s[i] for s in runs["usual"]) for i in range(3)]
        got = count_frames(next(direct_out.glob("*.mp4")))
        if got != frames or count_frames(back) != frames:
            print(f"  warning: {name}: expected {frames} frames, rlfn upscale wrote {got}, the usual route "
                  f"{count_frames(back)}")
        ratio = (frames / d) / (frames / u)
        out["fps"].append({"model": name, "direct_fps": frames / d, "usual_fps": frames / u, "ratio": ratio,
                           "usual_parts_s": parts, "target": VIDEO_TARGET, "times_s": runs})
        rows.append([LABELS[name], f"{frames / d:.2f}", f"{frames / u:.2f}", f"{ratio:.2f}×", f"{VIDEO_TARGET}×",
                     mark(ratio >= VIDEO_TARGET), " + ".join(f"{p:.1f}" for p in parts)])
        print(f"  measured {name}: rlfn upscale clip {d:.1f} s, usual route {u:.1f} s", flush=True)
    print(table(["model", "rlfn fps", "usual fps", "ratio", "target", "met", "usual s: extract + upscale + encode"],
                rows, [11, 9, 9, 7, 7, 4, 36]))
    print("fps = frames / wall time of the whole route (every process, start-up included)")

    # Peak memory must not grow with the length of the video (frames are streamed).
    short, long_ = cfg.memory_frames, 4 * cfg.memory_frames
    name, w = next(iter(weights.items()))
    rss = {}
    for n in (short, long_):
        c = vdir / f"mem-{n}.mp4"
        make_clip(c, *cfg.memory_size, n, lr)
        rss[n] = run(rlfn("upscale", c, "-o", vdir / f"mem-out-{n}", "--weights", w, "--crf", VIDEO_CRF,
                          "--overwrite", "-q")).max_rss_mb
    growth = rss[long_] / rss[short] - 1
    out["memory"] = {"model": name, "size": cfg.memory_size, "frames": [short, long_], "max_rss_mb": [rss[short], rss[long_]],
                     "growth": growth, "limit": MEMORY_GROWTH_LIMIT}
    print(f"\npeak memory (max RSS of the process) of rlfn upscale, {LABELS[name]}, "
          f"{cfg.memory_size[0]}×{cfg.memory_size[1]} clip: {short} frames {rss[short]:.0f} MB, {long_} frames "
          f"{rss[long_]:.0f} MB, growth {100 * growth:+.1f}% "
          f"({'more' if growth > MEMORY_GROWTH_LIMIT else 'not more'} than {100 * MEMORY_GROWTH_LIMIT:.0f}%)")
    return out


# --------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=Path, default=SHARED / "data" / "train" / "div2k-0901-1000-lr-x4",
                   help="LR images (default: %(default)s)")
    p.add_argument("--weights-dir", type=Path, default=SHARED / "weights" / "official",
                   help="where {rlfn,rlfn_s,rlfn_ntire}_x4.pth are (default: %(default)s)")
    p.add_argument("--models", default="rlfn,rlfn_s,rlfn_ntire",
                   help="comma-separated; folder and video use RLFN-S and RLFN-ntire of these (default: %(default)s)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, of %(default)s")
    p.add_argument("--count", type=int, default=None, help="images for the whole-process table (default: 3)")
    p.add_argument("--repeat", type=int, default=None, help="runs of each route, medians printed (default: 3)")
    p.add_argument("--folder-count", type=int, default=None, help="images in the folder table (default: 20)")
    p.add_argument("--video-frames", type=int, default=None, help="frames of the 640×360 clip (default: 48)")
    p.add_argument("--memory-frames", type=int, default=None,
                   help="frames of the short memory clip; the long one has 4× (default: 100)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 repeat, 32×32 crops of 1 image (2 in the folder), a 4-frame 64×36 clip")
    p.add_argument("--tmp", type=Path, default=None, help="folder for the temporary files (default: the system's)")
    p.add_argument("--json", type=Path, default=None, help="also write every measurement to this file")
    args = p.parse_args()
    q = args.quick
    defaults = {"count": (1, 3), "repeat": (1, 3), "folder_count": (2, 20), "video_frames": (4, 48),
                "memory_frames": (4, 100)}
    for k, (quick, full) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    args.crop = 32 if q else None
    args.video_size = (64, 36) if q else (640, 360)
    args.memory_size = (64, 36) if q else (160, 90)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in args.sections if s not in SECTIONS]
    if bad:
        p.error(f"--sections: unknown {', '.join(bad)}; choose from {', '.join(SECTIONS)}")
    return args


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in HELPERS:
        HELPERS[sys.argv[1]](*sys.argv[2:])
        return 0
    cfg = parse_args()
    files = lr_files(cfg.images)
    load_before = os.getloadavg()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, ffmpeg binary {'found' if shutil.which('ffmpeg') else 'absent'}; "
          f"images from {cfg.images}; sections {', '.join(cfg.sections)}{' (quick)' if cfg.quick else ''}; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    report: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
                    "load_before": load_before}
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="rlfn-pipeline-", dir=cfg.tmp))
    try:
        sample = None  # an rlfn upscale output, for the PNG table
        if "whole" in cfg.sections:
            images = stage(files, tmp / "lr", cfg.count, cfg.crop)
            report["whole"] = section_whole(cfg, tmp, images, cfg.count)
            sample = next(iter(sorted(tmp.glob("rlfn-*/*.png"))), None)
        if "folder" in cfg.sections:
            folder = stage(files, tmp / "folder", cfg.folder_count, cfg.crop)
            report["folder"] = section_folder(cfg, tmp, folder, cfg.folder_count)
        if "png" in cfg.sections:
            report["png"] = section_png(cfg, tmp, sample, files[0])
        if "startup" in cfg.sections:
            report["startup"] = section_startup(cfg)
        if "video" in cfg.sections:
            report["video"] = section_video(cfg, tmp, files[0])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    report["load_after"] = load_after
    took, children = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    report["wall_s"], report["children_cpu_s"] = took, children.ru_utime + children.ru_stime
    print(f"\nthe run took {took / 60:.1f} min; its child processes used {report['children_cpu_s'] / 60:.1f} min "
          "of CPU time")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (on {os.cpu_count()} CPUs; "
          f"above 0.5 or so something else ran beside the benchmark)")
    if cfg.json:
        cfg.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {cfg.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
