"""Training throughput: `rlfn train`'s loop (data loading included) against a bare PyTorch loop.

Both sides train RLFN-S x4 (default) on batches of 16 LR patches of 48x48 with L1 and Adam, in the same
process, alternating rounds so that a busy machine slows both alike. The bare loop feeds pre-made random
tensors (no data at all); the trainer reads real images (cached MATLAB-bicubic LR, random crops, flips,
rotations), runs its scheduler, logging and (optionally) EMA and gradient clipping. With ``--degradation
realworld`` the trainer's LR comes from the real-world pipeline instead (give ``--workers 1`` or more: the
question is whether the loader workers keep up with the network, i.e. whether the trainer stays near the
bare loop).

    python benchmarks/train_throughput.py [--data DIR ...] [--steps 8] [--rounds 2] [--threads 1]
        [--degradation realworld --workers 1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = [REPO.parent / "shared" / "data" / "train" / "div2k-0901-1000-lr-x4",
                REPO.parent / "shared" / "data" / "train" / "sun-hays-80"]


def bare_loop(variant: str, scale: int, batch: int, patch: int, steps: int, warmup: int, channels_last: bool,
              precision: str = "fp32") -> float:
    import rlfn

    torch.manual_seed(0)
    model = rlfn.create_model(variant, scale)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99))
    lr = torch.rand(batch, 3, patch, patch)
    if channels_last:
        lr = lr.contiguous(memory_format=torch.channels_last)
    hr = torch.rand(batch, 3, patch * scale, patch * scale)
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            sr = model(lr)
        loss = torch.nn.functional.l1_loss(sr.float(), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - t0)


def trainer_loop(variant: str, scale: int, batch: int, patch: int, steps: int, warmup: int, data: list[str],
                 workers: int, ema: float, clip: float, channels_last: bool, threads: int,
                 degradation: str = "bicubic", precision: str = "fp32") -> float:
    from rlfn.train.config import build_config
    from rlfn.train.trainer import Trainer

    marks: list[float] = []

    class Timed(Trainer):
        def _log_train(self, *a, **k):  # called at step `warmup` and at the last step
            super()._log_train(*a, **k)
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config({
            "name": "bench", "out_dir": str(Path(tmp) / "run"),
            "model": {"variant": variant, "scale": scale},
            "data": {"hr_dirs": data, "patch_size": patch, "batch_size": batch, "workers": workers,
                     "degradation": degradation},
            "loss": {"l1": 1.0}, "optim": {"lr": 1e-4, "grad_clip": clip},
            "train": {"steps": warmup + steps, "log_every": warmup, "checkpoint_every": 10**9, "ema": ema,
                      "tensorboard": False, "threads": threads, "channels_last": channels_last,
                      "precision": precision, "fp32_steps": 0},  # time bf16 steps, not the float32 start
        })
        Timed(cfg, quiet=True).fit()
    return steps / (marks[-1] - marks[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=[str(p) for p in DEFAULT_DATA])
    ap.add_argument("--variant", default="rlfn_s")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--degradation", choices=("bicubic", "realworld"), default="bicubic",
                    help="how the trainer makes its LR (default: %(default)s)")
    ap.add_argument("--no-ema-row", action="store_true", help="skip the EMA + grad clip row (faster)")
    ap.add_argument("--precision", nargs="+", choices=("fp32", "bf16"), default=["fp32"],
                    help="rows for each: fp32, and bf16 autocast (native on AMX / AVX512-BF16 CPUs, emulated "
                         "elsewhere) (default: %(default)s)")
    args = ap.parse_args()
    for d in args.data:
        if not Path(d).is_dir():
            print(f"train_throughput: {d}: no such folder (give --data)", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    cl = not args.no_channels_last
    common = (args.variant, args.scale, args.batch, args.patch, args.steps, args.warmup)
    rows: dict[str, list[float]] = {}
    for prec in args.precision:
        rows[f"bare loop (random tensors), {prec}"] = []
        rows[f"rlfn train (data, sched, logs), {prec}"] = []
        if not args.no_ema_row:
            rows[f"rlfn train + EMA + grad clip, {prec}"] = []
    for r in range(args.rounds):
        for prec in args.precision:
            rows[f"bare loop (random tensors), {prec}"].append(bare_loop(*common, cl, prec))
            rows[f"rlfn train (data, sched, logs), {prec}"].append(
                trainer_loop(*common, args.data, args.workers, 0.0, 0.0, cl, args.threads, args.degradation, prec))
            if not args.no_ema_row:
                rows[f"rlfn train + EMA + grad clip, {prec}"].append(
                    trainer_loop(*common, args.data, args.workers, 0.999, 1.0, cl, args.threads, args.degradation,
                                 prec))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{v[-1]:.3f}" for v in rows.values() if v) + " it/s", file=sys.stderr)
    print(f"{args.variant} x{args.scale}, batch {args.batch}, LR patch {args.patch}x{args.patch}, {args.threads} thread(s), "
          f"channels_last={cl}, loader workers {args.workers}, {args.degradation} LR; "
          f"median of {args.rounds} rounds x {args.steps} steps; load average {os.getloadavg()[0]:.2f}")
    first = args.precision[0]
    print(f"| {'loop':<38} | {'it/s':>7} | {'patches/s':>9} | {'vs bare':>8} | {f'vs {first}':>8} |")
    print(f"| {'-' * 38} | {'-' * 7} | {'-' * 9} | {'-' * 8} | {'-' * 8} |")
    for name, v in rows.items():
        prec = name.rsplit(", ", 1)[1]
        base = statistics.median(rows[f"bare loop (random tensors), {prec}"])
        same = statistics.median(rows[name.rsplit(", ", 1)[0] + f", {first}"])
        m = statistics.median(v)
        print(f"| {name:<38} | {m:7.3f} | {m * args.batch:9.1f} | {m / base:7.1%} | {m / same:7.2f}x |")
    for prec in args.precision:
        slow = 1 - statistics.median(rows[f"rlfn train (data, sched, logs), {prec}"]) / \
            statistics.median(rows[f"bare loop (random tensors), {prec}"])
        print(f"{prec}: the trainer is {slow:.1%} slower than the bare loop (target: <= 15%; the data loading "
              "is part of it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
