"""CPU speed of the default inference path against the plain official-style forward, in one process.

For RLFN, RLFN-S and RLFN-ntire ×4 it times, image by image and interleaved (so a change in the machine's
load hits every path alike):

- plain: the official-style forward, an NCHW float32 module call on [0, 255] input under ``no_grad``;
- fast: ``rlfn.fastpath.optimize(model)``, the path ``rlfn upscale`` uses by default;
- onnxruntime: the ONNX export run by onnxruntime on the CPU (same thread count);
- with ``--options``: the fast path's optional steps (zero-padding to 56/64 channels, oneDNN fusion).

It prints median times per image, the speed-up over plain with the issue's target, the achieved GFLOP/s
(real FLOPs = 2 × multiply-adds, counted by PyTorch) next to the machine's float32 matmul peak measured in
the same run, the largest output difference, and the load average before and after.

    python benchmarks/cpu_speed.py                 # 3 images of ../shared/data/train/div2k-0901-1000-lr-x4
    python benchmarks/cpu_speed.py --count 5 --options --json speed.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

import rlfn
from rlfn.bench import resolve_model
from rlfn.fastpath import optimize
from rlfn.flops import count
from rlfn.imageio import list_images, read_rgb

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
TARGETS = {"rlfn": 1.8, "rlfn_s": 1.5, "rlfn_ntire": 1.5}  # issue 6 / issue 3


def matmul_peak_gflops(n: int = 2048, tries: int = 5) -> tuple[float, float]:
    """Best float32 GEMM rate: the practical ceiling for convolution arithmetic on this CPU, per second of
    wall time and per second of process CPU time (the latter does not count time lost to other jobs)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(tries):
        t, c = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return 2 * n**3 / best / 1e9, 2 * n**3 / best_cpu / 1e9


def load_model(name: str, weights_dir: Path) -> rlfn.SRModel:
    path = weights_dir / f"{name}_x4.pth"
    if path.exists():
        return rlfn.load_file(path)
    print(f"  ({path} absent: random weights for {name}; the timing does not depend on them)")
    return resolve_model(f"{name}_x4")


def runners(model: rlfn.SRModel, with_onnx: bool, options: bool) -> dict:
    module = model.module.eval()
    r = model.pixel_range

    def plain(x: torch.Tensor) -> torch.Tensor:  # what the official test script does
        with torch.no_grad():
            return module(x * r) / r

    out = {"plain": plain, "fast": optimize(model)}
    if options:
        out["channels-last"] = optimize(model, inplace=False, fuse=False)  # only the memory format
        out["aten+inplace"] = optimize(model, fuse=False)
        out["fast+pad"] = optimize(model, pad="auto")
    if with_onnx:
        from rlfn.export import onnx_model_for

        out["onnxruntime"] = onnx_model_for(model)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=SHARED / "data" / "train" / "div2k-0901-1000-lr-x4")
    p.add_argument("--count", type=int, default=3, help="images to time (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1, help="passes over the images (default: %(default)s)")
    p.add_argument("--models", nargs="+", default=["rlfn", "rlfn_s", "rlfn_ntire"])
    p.add_argument("--weights-dir", type=Path, default=SHARED / "weights" / "official")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    p.add_argument("--options", action="store_true", help="also time the fast path's optional steps")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.images.is_dir():
        print(f"{args.images}: no such folder (pass --images DIR)", file=sys.stderr)
        return 2
    images = [(read_rgb(f) / 255).unsqueeze(0) for f in list_images(args.images)[: args.count]]
    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; {len(images)} images "
          f"{images[0].shape[-1]}×{images[0].shape[-2]} from {args.images}; load average {load_before[0]:.2f}")
    peaks = [matmul_peak_gflops()]
    rows = []
    for name in args.models:
        model = load_model(name, args.weights_dir)
        paths = runners(model, not args.no_onnx, args.options)
        flops = [2 * count(model.module, tuple(x.shape[-2:])).flops for x in images]
        ref = [paths["plain"](x).clamp(0, 1) for x in images[:1]]
        diffs = {k: max((f(x).clamp(0, 1) - r).abs().max().item() for x, r in zip(images[:1], ref)) for k, f in paths.items()}
        times: dict[str, list[float]] = {k: [] for k in paths}
        cpu: dict[str, list[float]] = {k: [] for k in paths}
        for _ in range(args.repeat):
            for x in images:
                for k, f in paths.items():  # interleaved: every path sees the same load
                    t, c = time.perf_counter(), time.process_time()
                    f(x)
                    times[k].append(time.perf_counter() - t)
                    cpu[k].append(time.process_time() - c)
        peaks.append(matmul_peak_gflops())
        med = {k: statistics.median(v) for k, v in times.items()}
        gflop = statistics.fmean(flops) / 1e9
        for k in paths:
            rows.append({"model": name, "path": k, "median_s": med[k], "cpu_s": statistics.median(cpu[k]),
                         "gflops_per_cpu_s": gflop / statistics.median(cpu[k]),
                         "min_s": min(times[k]),
                         "max_s": max(times[k]), "speedup": med["plain"] / med[k], "gflops": gflop / med[k],
                         "max_diff": diffs[k], "target": TARGETS.get(name) if k == "fast" else None})
        print(f"  measured {name}: {', '.join(f'{k} {v:.2f} s' for k, v in med.items())}", flush=True)
    peak = max(p[0] for p in peaks)
    peak_cpu = max(p[1] for p in peaks)
    load_after = os.getloadavg()
    head = f"{'model':<11} {'path':<14} {'median s':>9} {'min–max s':>12} {'× plain':>8} {'target':>7} " \
           f"{'GFLOP/s':>8} {'% peak':>7} {'CPU s':>6} {'GFLOP/CPU s':>11} {'% peak':>7} {'max diff':>9}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        tgt = "" if r["target"] is None else f"{r['target']:.1f}{'✓' if r['speedup'] >= r['target'] else '✗'}"
        spread = f"{r['min_s']:.2f}–{r['max_s']:.2f}"
        print(f"{r['model']:<11} {r['path']:<14} {r['median_s']:9.2f} {spread:>12} {r['speedup']:8.2f} {tgt:>7} "
              f"{r['gflops']:8.1f} {100 * r['gflops'] / peak:6.0f}% {r['cpu_s']:6.1f} {r['gflops_per_cpu_s']:11.1f} "
              f"{100 * r['gflops_per_cpu_s'] / peak_cpu:6.0f}% {r['max_diff']:9.1e}")
    print(f"float32 matmul peak (best of {len(peaks)} measurements in this run): {peak:.1f} GFLOP/s wall "
          f"(each: {', '.join(f'{p[0]:.0f}' for p in peaks)}), {peak_cpu:.1f} GFLOP per CPU second")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2.0 = both cores busy); "
          "CPU s = process CPU time per image (all threads, spin-waiting included)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "matmul_peak_gflops": peak,
                                         "matmul_peak_gflops_per_cpu_s": peak_cpu, "peaks": peaks,
                                         "load_before": load_before, "load_after": load_after,
                                         "threads": torch.get_num_threads()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
