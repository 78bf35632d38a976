"""Images/s of ``rlfn upscale --ray`` (1 and 2 CPU actors, and one actor of 2 CPUs) against ``rlfn upscale`` of
the same folder, on one machine (issue 26); and, inside one process, same-size images run one by one against
grouped into one model call (``Upscaler.upscale_batch``), which is how the actors could batch.

``rlfn upscale`` runs as a child process; its rate comes from its own summary line (images over the batch's
seconds: model loading and process start left out). The Ray jobs run in this process on one local Ray
(its start-up printed apart); their time is ``upscale_dataset``'s, from planning to the last row, so the
start of the actors and their model loading are in it, as a user waits for them. Rounds are interleaved
(upscale, 1 actor, 2 actors, 1 actor of 2 CPUs, then the next round) so that a change in the machine's load
hits all alike; medians are printed, with the ratio to ``rlfn upscale``.

    python benchmarks/ray_speed.py                                  # 24 images of 192x144, rlfn_s x4, 3 rounds
    python benchmarks/ray_speed.py --images ../shared/data/benchmarks/Set14 --rounds 2
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def processor() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        name = "unknown processor"
    return f"{name}, {os.cpu_count()} CPUs"


def make_images(folder: Path, count: int, size: tuple[int, int]) -> None:
    """Seeded smooth noise, saved as PNG: closer to photographs than pure noise, the same on every run."""
    import numpy as np
    import torch
    from PIL import Image

    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(count):
        x = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size[1], size[0]),
                                            mode="bicubic", align_corners=False).clamp(0, 1)
        arr = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:03d}.png")


def time_upscale(folder: Path, out: Path, model: list[str]) -> tuple[int, float]:
    """(images, seconds) from ``rlfn upscale``'s own summary line."""
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([sys.executable, "-m", "rlfn", "upscale", str(folder), "-o", str(out), *model],
                       capture_output=True, text=True)
    m = re.search(r"(\d+) upscaled, (\d+) failed.* in ([\d.]+) s", p.stderr)
    if p.returncode != 0 or m is None or m.group(2) != "0":
        sys.exit(f"rlfn upscale failed:\n{p.stderr}")
    return int(m.group(1)), float(m.group(3))


def time_ray(folder: Path, out: Path, model: dict, actors: int, cpus: float) -> tuple[int, float]:
    from rlfn.ray import upscale_dataset

    shutil.rmtree(out, ignore_errors=True)
    res = upscale_dataset([str(folder)], out, concurrency=actors, num_cpus=cpus, batch_size=1, **model)
    if res.summary.failed:
        sys.exit(f"the Ray job failed: {res.summary.failed[0].error}")
    return res.summary.done, res.summary.seconds


def grouped_vs_single(folder: Path, model: dict, group: int, repeat: int) -> tuple[float, float, int]:
    """Median seconds per image, one by one (upscale_array) and ``group`` at a time (upscale_batch), and the
    largest difference between the two outputs, in 8-bit levels."""
    import numpy as np

    from rlfn.inference.upscaler import Upscaler
    from rlfn.io.images import load_picture

    up = Upscaler(model.get("model"), model.get("scale"), weights=model.get("weights"), tile=None)
    pics = [load_picture(p).pixels[:, :, :3] for p in sorted(folder.glob("*.png"))]
    shape = pics[0].shape
    pics = [p for p in pics if p.shape == shape][: group * max(1, len(pics) // group)]
    single, grouped = [], []
    diff = max(int(np.abs(up.upscale_batch(np.stack(pics[i:i + group])).astype(int)
                          - np.stack([up.upscale_array(p) for p in pics[i:i + group]]).astype(int)).max())
               for i in range(0, len(pics), group))
    for _ in range(repeat):
        t = time.perf_counter()
        for p in pics:
            up.upscale_array(p)
        single.append((time.perf_counter() - t) / len(pics))
        t = time.perf_counter()
        for i in range(0, len(pics), group):
            up.upscale_batch(np.stack(pics[i:i + group]))
        grouped.append((time.perf_counter() - t) / len(pics))
    return statistics.median(single), statistics.median(grouped), diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=None, help="a folder of images (default: made, see --count)")
    ap.add_argument("--count", type=int, default=24, help="images to make when --images is not given")
    ap.add_argument("--size", default="192x144", help="their size, WxH")
    ap.add_argument("--model", default="rlfn_s", help="model name (default: %(default)s, our bundled weights)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--group", type=int, default=4, help="images per model call in the grouped measurement")
    args = ap.parse_args()

    # Ray starts its workers at nice 15, which on a shared machine measures the neighbours, not Ray.
    os.environ.setdefault("RAY_worker_niceness", "0")
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="rlfn-ray-speed-"))
    try:
        folder = args.images
        if folder is None:
            folder = tmp / "in"
            make_images(folder, args.count, tuple(int(v) for v in args.size.split("x")))
        print(f"processor: {processor()}; load average at start: {os.getloadavg()[0]:.2f}")
        model_cli = ["--model", args.model, "--scale", str(args.scale)]
        model_py = dict(model=args.model, scale=args.scale)
        t = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=200 * 1024**2,
                 log_to_driver=False)
        print(f"ray.init: {time.perf_counter() - t:.1f} s (not in the figures below)")
        routes = {
            "rlfn upscale (one process)": lambda: time_upscale(folder, tmp / "o", model_cli),
            "--ray, 1 actor x 1 CPU": lambda: time_ray(folder, tmp / "o", model_py, 1, 1),
            "--ray, 2 actors x 1 CPU": lambda: time_ray(folder, tmp / "o", model_py, 2, 1),
            "--ray, 1 actor x 2 CPUs": lambda: time_ray(folder, tmp / "o", model_py, 1, 2),
        }
        times: dict[str, list[float]] = {k: [] for k in routes}
        count = 0
        for r in range(args.rounds):
            for name, fn in routes.items():
                count, secs = fn()
                times[name].append(secs)
                print(f"  round {r + 1}: {name}: {count} images in {secs:.2f} s", flush=True)
        ray.shutdown()
        base = count / statistics.median(times["rlfn upscale (one process)"])
        print(f"\n{count} images, {args.model} x{args.scale}, median of {args.rounds} rounds; load average at end: "
              f"{os.getloadavg()[0]:.2f}\n")
        print("| route | seconds | images/s | vs rlfn upscale |\n| --- | --- | --- | --- |")
        for name, ts in times.items():
            rate = count / statistics.median(ts)
            print(f"| {name} | {statistics.median(ts):.2f} | {rate:.2f} | {rate / base:.2f}x |")
        single, grouped, diff = grouped_vs_single(folder, model_py, args.group, args.rounds)
        print(f"\none process, same-size images: one by one {single * 1000:.0f} ms/image, {args.group} per model "
              f"call {grouped * 1000:.0f} ms/image ({single / grouped:.2f}x); outputs differ by up to {diff} "
              "levels of 255")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
