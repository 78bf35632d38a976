"""CPU speed of the default inference path against the plain official-style forward, in one run.

For RLFN, RLFN-S and RLFN-ntire ×4 it times, image by image and interleaved (so a change in the machine's
speed hits every path alike):

- plain: the official-style forward, an NCHW float32 module call on [0, 255] input under ``no_grad``;
- fast: ``rlfn.inference.fastpath.optimize(model)``, the path ``rlfn upscale`` uses by default;
- onnxruntime: the ONNX export run by onnxruntime on the CPU (same thread count);
- fast-bf16 (where the CPU computes bfloat16 natively, or with ``--bf16``): the fast path's bfloat16 form,
  what ``rlfn upscale --precision auto`` runs there; its row gives the speed-up over ``fast`` (float32) with
  issue 23's target, and its PSNR against plain float32;
- plain-bf16 (with ``--bf16``): the official-style forward cast to bfloat16, channels-last;
- with ``--options``: the fast path without some of its steps, and with zero-padding to 56/64 channels;
- with ``--compile``: the fast path under ``torch.compile`` (inductor; compiled before timing).

Each path runs in a worker process of its own, as it would for a user: allocator state, thread pools and
oneDNN's kernel cache are not shared between paths. One path runs at a time; the parent walks the images
and, for each, asks every worker in turn. Every path runs once on the first image before timing.

It prints median times per image, the speed-up over plain with the issue's target, the achieved GFLOP/s
(real FLOPs = 2 × multiply-adds, counted by PyTorch) next to the machine's float32 matmul peak measured in
the same run (a 2048² ``torch.mm`` timed between the images: the path's median against the matmul's median,
and its fastest image against the fastest matmul), the page faults per image, the largest output difference
against plain, and the load average before and after.

    python benchmarks/cpu_speed.py                 # 3 images of ../shared/data/train/div2k-0901-1000-lr-x4
    python benchmarks/cpu_speed.py --count 5 --repeat 3 --options --json speed.json
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RLFN_SHARED", REPO.parent / "shared"))
TARGETS = {"rlfn": 1.8, "rlfn_s": 1.5, "rlfn_ntire": 1.5}  # issue 6
BF16_TARGETS = {"rlfn": 2.5, "rlfn_s": 2.5, "rlfn_ntire": 2.2}  # issue 23: fast-bf16 over fast (float32)


def load_model(name: str, weights_dir: Path):
    import rlfn
    from rlfn.perf.bench import resolve_model

    path = weights_dir / f"{name}_x4.pth"
    if path.exists():
        return rlfn.load_file(path)
    return resolve_model(f"{name}_x4")  # random weights: the timing does not depend on them


def build_path(name: str, path: str, weights_dir: Path):
    """The callable for one path: [0, 1] 1×3×H×W in, [0, 1] out."""
    import torch

    from rlfn.inference.fastpath import optimize

    model = load_model(name, weights_dir)
    if path == "plain":  # what the official test script does
        module, r = model.module.eval(), model.pixel_range

        def plain(x):
            with torch.no_grad():
                return module(x * r) / r

        return plain
    if path == "plain-bf16":  # the official forward in bfloat16: [0, 255] input is exact there (8-bit integers)
        module = copy.deepcopy(model.module).eval().to(dtype=torch.bfloat16, memory_format=torch.channels_last)
        r = model.pixel_range

        def plain_bf16(x):
            with torch.no_grad():
                xb = (x * r).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
                return module(xb).float() / r

        return plain_bf16
    if path == "onnxruntime":
        from rlfn.perf.export import onnx_model_for

        return onnx_model_for(model)
    options = {
        "fast": {},
        "fast-bf16": {"dtype": torch.bfloat16},
        "fast+compile": {"compile": True},
        "fast-heap": {"retain_heap": False},  # without rlfn.heap
        "aten+inplace": {"fuse": False},  # aten's convolutions, element-wise steps in place
        "channels-last": {"fuse": False, "inplace": False, "retain_heap": False},  # only the memory format
        "fast+pad": {"pad": "auto"},
        "fast+pad64": {"pad": 64},
    }[path]
    return optimize(model, **options)


def _psnr(a, b) -> float:
    mse = float(((a.astype("float64") - b.astype("float64")) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def matmul_seconds(n: int = 2048, tries: int = 3) -> tuple[float, float]:
    """Best wall and CPU time of an n² float32 GEMM (the practical ceiling for convolution arithmetic)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(tries):
        t, c = time.perf_counter(), time.process_time()
        torch.mm(a, b)
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return best, best_cpu


def worker(conn, name: str, path: str, files: list[str], weights_dir: Path, threads: int | None) -> None:
    import torch

    from rlfn.io.images import read_rgb

    if threads:
        torch.set_num_threads(threads)
    try:
        if path == "matmul":
            f, images = None, []
            matmul_seconds(tries=1)
        else:
            f = build_path(name, path, weights_dir)
            images = [(read_rgb(p) / 255).unsqueeze(0) for p in files]
            f(images[0])  # warm-up: kernel creation, compilation, first-touch of the heap
        conn.send(("ready", None))
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                break
            if cmd == "output":
                conn.send(("output", f(images[arg]).clamp(0, 1).numpy()))
                continue
            if f is None:
                conn.send(("time", matmul_seconds()))
                continue
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t, c = time.perf_counter(), time.process_time()
            f(images[arg])
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            conn.send(("time", (wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)))
    except Exception as exc:  # reported by the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


class Worker:
    def __init__(self, ctx, *args):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker, args=(child, *args), daemon=True)
        self.proc.start()
        self.label = f"{args[0]}/{args[1]}"

    def ask(self, cmd: str, arg=None):
        if cmd != "ready":
            self.conn.send((cmd, arg))
        kind, value = self.conn.recv()
        if kind == "error":
            raise SystemExit(f"{self.label}: {value}")
        return value

    def close(self) -> None:
        self.conn.send(("stop", None))
        self.proc.join(timeout=30)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=SHARED / "data" / "train" / "div2k-0901-1000-lr-x4")
    p.add_argument("--count", type=int, default=3, help="images to time (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=2, help="passes over the images (default: %(default)s)")
    p.add_argument("--models", nargs="+", default=["rlfn", "rlfn_s", "rlfn_ntire"])
    p.add_argument("--weights-dir", type=Path, default=SHARED / "weights" / "official")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    p.add_argument("--options", action="store_true", help="also time the fast path with and without its steps")
    p.add_argument("--compile", action="store_true", help="also time the fast path under torch.compile")
    p.add_argument("--bf16", action="store_true",
                   help="time fast-bf16 and plain-bf16 even where the CPU has no native bfloat16 (emulated)")
    p.add_argument("--paths", nargs="+", default=None, help="exactly these paths (plain is always added)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import torch

    from rlfn.perf.flops import count
    from rlfn.io.images import list_images, read_rgb

    if not args.images.is_dir():
        print(f"{args.images}: no such folder (pass --images DIR)", file=sys.stderr)
        return 2
    files = [str(f) for f in list_images(args.images)[: args.count]]
    shapes = [tuple(read_rgb(f).shape[-2:]) for f in files]
    from rlfn.inference.devices import cpu_bf16

    bf16 = cpu_bf16()
    paths = args.paths or ["fast"] + (["onnxruntime"] if not args.no_onnx else [])
    if not args.paths and (bf16.native or args.bf16):
        paths += ["fast-bf16"] + (["plain-bf16"] if args.bf16 else [])
    if args.options:
        paths += ["fast-heap", "aten+inplace", "channels-last", "fast+pad", "fast+pad64"]
    if args.compile:
        paths.append("fast+compile")
    paths = ["plain"] + [q for q in dict.fromkeys(paths) if q != "plain"]
    threads = args.threads or torch.get_num_threads()
    load_before = os.getloadavg()
    print(f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} CPUs, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}; {len(files)} images "
          f"{shapes[0][1]}×{shapes[0][0]} from {args.images}; load average {load_before[0]:.2f}; "
          f"bf16: {'native' if bf16.native else 'not native'} ({bf16.reason})", flush=True)

    ctx = mp.get_context("spawn")
    peak_worker = Worker(ctx, "-", "matmul", [], args.weights_dir, args.threads)
    peak_worker.ask("ready")
    peaks: list[tuple[float, float]] = []
    rows = []
    for name in args.models:
        if not (args.weights_dir / f"{name}_x4.pth").exists():
            print(f"  ({args.weights_dir}/{name}_x4.pth absent: random weights; timings do not depend on them)")
        workers = {q: Worker(ctx, name, q, files, args.weights_dir, args.threads) for q in paths}
        for w in workers.values():
            w.ask("ready")
        ref = workers["plain"].ask("output", 0)
        outs = {q: w.ask("output", 0) for q, w in workers.items()}
        diffs = {q: float(abs(o - ref).max()) for q, o in outs.items()}
        psnrs = {q: _psnr(o, ref) for q, o in outs.items()}
        runs: dict[str, list[tuple[float, float, int]]] = {q: [] for q in paths}
        for _ in range(args.repeat):
            for i in range(len(files)):
                peaks.append(peak_worker.ask("time"))
                for q, w in workers.items():  # interleaved: every path sees the same machine
                    runs[q].append(w.ask("time", i))
        for w in workers.values():
            w.close()
        module = load_model(name, args.weights_dir).module
        gflop = statistics.fmean(2 * count(module, s).flops for s in shapes) / 1e9
        med = {q: statistics.median(r[0] for r in v) for q, v in runs.items()}
        for q, v in runs.items():
            cpu = statistics.median(r[1] for r in v)
            rows.append({"model": name, "path": q, "median_s": med[q], "min_s": min(r[0] for r in v),
                         "max_s": max(r[0] for r in v), "cpu_s": cpu, "speedup": med["plain"] / med[q],
                         "over_fast": med["fast"] / med[q] if "fast" in med else None,
                         "gflops": gflop / med[q],
                         "page_faults": statistics.median(r[2] for r in v), "max_diff": diffs[q],
                         "psnr_vs_plain": psnrs[q],
                         "target": TARGETS.get(name) if q == "fast" else None,
                         "bf16_target": BF16_TARGETS.get(name) if q == "fast-bf16" else None,
                         "times_s": [r[0] for r in v]})
        print(f"  measured {name}: {', '.join(f'{q} {v:.2f} s' for q, v in med.items())}", flush=True)
    peak_worker.close()

    peak = 2 * 2048**3 / min(t for t, _ in peaks) / 1e9
    peak_med = 2 * 2048**3 / statistics.median(t for t, _ in peaks) / 1e9
    load_after = os.getloadavg()
    head = f"{'model':<11} {'path':<14} {'median s':>9} {'min–max s':>12} {'× plain':>8} {'target':>7} " \
           f"{'× fast':>7} {'target':>7} {'GFLOP/s':>8} {'% peak':>7} {'best %':>7} {'CPU s':>6} {'faults':>8} " \
           f"{'max diff':>9} {'dB':>6}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        tgt = "" if r["target"] is None else f"{r['target']:.1f}{'✓' if r['speedup'] >= r['target'] else '✗'}"
        over = "" if r["over_fast"] is None else f"{r['over_fast']:.2f}"
        btgt = "" if r["bf16_target"] is None else \
            f"{r['bf16_target']:.1f}{'✓' if r['over_fast'] >= r['bf16_target'] else '✗'}"
        db = "" if math.isinf(r["psnr_vs_plain"]) else f"{r['psnr_vs_plain']:.1f}"
        spread = f"{r['min_s']:.2f}–{r['max_s']:.2f}"
        r["pct_peak"] = 100 * r["gflops"] / peak_med
        r["pct_peak_best"] = 100 * r["gflops"] * r["median_s"] / r["min_s"] / peak
        print(f"{r['model']:<11} {r['path']:<14} {r['median_s']:9.2f} {spread:>12} {r['speedup']:8.2f} {tgt:>7} "
              f"{over:>7} {btgt:>7} {r['gflops']:8.1f} {r['pct_peak']:6.0f}% {r['pct_peak_best']:6.0f}% {r['cpu_s']:6.2f} "
              f"{r['page_faults']:8.0f} {r['max_diff']:9.1e} {db:>6}")
    print(f"float32 matmul (2048², {len(peaks)} measurements between the images): median {peak_med:.1f} GFLOP/s, "
          f"best {peak:.1f} GFLOP/s. % peak = median GFLOP/s of the path over the median matmul rate; "
          "best % = the path's fastest image over the fastest matmul")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (2.0 = both cores busy); "
          "CPU s = process CPU time per image (all threads); faults = minor page faults per image (median); "
          "× fast = speed-up over the float32 fast path; dB = PSNR of the output against plain float32 "
          "(first image)")
    if args.json:
        for r in rows:  # JSON has no infinity
            r["psnr_vs_plain"] = None if math.isinf(r["psnr_vs_plain"]) else r["psnr_vs_plain"]
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "matmul_peak_gflops": peak, "matmul_peak_median_gflops": peak_med,
                                         "matmul_s": peaks,
                                         "load_before": load_before, "load_after": load_after, "threads": threads,
                                         "torch": torch.__version__, "images": files}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
