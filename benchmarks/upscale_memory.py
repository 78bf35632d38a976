"""Peak memory and time of ``rlfn upscale`` on a large image (the issue's 2000×1500 ×4 → 8000×6000 case).

Makes a 2000×1500 RGB PNG (Set14's baboon resized when ../shared is present, else a synthetic pattern),
runs ``rlfn upscale`` on it in a child process under ``/usr/bin/time -v`` (falling back to the child's
``ru_maxrss``), and prints one table: wall time, CPU time, peak resident memory against the 1.5 GB bound.

    python benchmarks/upscale_memory.py [--weights PATH] [--size 2000x1500] [--tile N] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
LIMIT_MB = 1500


def make_image(path: Path, width: int, height: int) -> str:
    src = SHARED / "data" / "benchmarks" / "Set14" / "baboon.png"
    if src.exists():
        Image.open(src).convert("RGB").resize((width, height), Image.Resampling.BICUBIC).save(path)
        return f"Set14 baboon resized to {width}×{height}"
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    arr = np.stack([np.sin(x / 7) * np.cos(y / 11), np.sin((x + y) / 13), np.cos(x * y / 5e4)], axis=2)
    Image.fromarray(((arr + 1) * 127.5).astype(np.uint8)).save(path)
    return f"synthetic pattern {width}×{height}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="checkpoint (default: official rlfn_s_x4 from ../shared, "
                                                  "else the bundled default)")
    ap.add_argument("--size", default="2000x1500")
    ap.add_argument("--tile", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    width, height = map(int, args.size.lower().split("x"))
    weights = args.weights
    official = SHARED / "weights" / "official" / "rlfn_s_x4.pth"
    if weights is None and official.exists():
        weights = str(official)
    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "big.png"
        what = make_image(img, width, height)
        cmd = [sys.executable, "-m", "rlfn", "upscale", str(img), "-o", str(Path(tmp) / "out"), "-q",
               "--tile", args.tile]
        if weights:
            cmd += ["--weights", weights]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
        if timer:
            cmd = [timer, "-v"] + cmd
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
            return 1
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        peak_mb = int(m.group(1)) / 1024 if m else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = next((Path(tmp) / "out").iterdir())
        with Image.open(out) as im:
            out_size = im.size
    print(f"input: {what}; output {out_size[0]}×{out_size[1]}; weights: {weights or 'bundled default'}")
    print(f"{'wall s':>8} {'user s':>8} {'sys s':>8} {'peak RSS MB':>12} {'bound MB':>9}  result")
    ok = peak_mb < LIMIT_MB
    print(f"{wall:8.1f} {usage.ru_utime:8.1f} {usage.ru_stime:8.1f} {peak_mb:12.0f} {LIMIT_MB:9d}  "
          f"{'under the bound' if ok else 'OVER the bound'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
