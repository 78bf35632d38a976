"""``rlfn upscale INPUT... -o OUT --ray [auto|local|ADDRESS]``: the same batch, sharded over a Ray cluster's
actors by :mod:`rlfn.ray` (``pip install "rlfn[ray]"``). The options are ``rlfn upscale``'s own; this module
adds the cluster's and prints what ``rlfn upscale`` prints (one line per image, errors, the summary line),
then where the manifest is."""
from __future__ import annotations

import argparse
import sys

from ..errors import RLFNError
from ..inference.batch import BatchOptions, Console
from .common import float_in, int_in, load_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster (--ray; needs rlfn[ray]: Ray Data)")
    g.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|local|ADDRESS",
                   help="shard the inputs over the actors of a Ray cluster: auto (the cluster RAY_ADDRESS or "
                        "'ray start' on this machine names, else a new local one), local (a new local one) or "
                        "an address (HOST:6379, ray://HOST:10001). -o may be a URI (s3://, gs://, file://), inputs "
                        "too; outputs already there are skipped, so a re-run resumes (default: off)")
    g.add_argument("--actors", type=int_in(1, 100000), default=None, metavar="N",
                   help="actors, each loading the model once (default: as many as the cluster's CPUs, or GPUs, hold)")
    g.add_argument("--cpus-per-actor", type=float_in(0.01, 1024), default=1, metavar="C",
                   help="CPUs each actor takes, and its PyTorch threads (default: %(default)s)")
    g.add_argument("--gpus-per-actor", type=float_in(0, 64), default=0, metavar="G",
                   help="GPUs each actor takes; a fraction shares one GPU between actors (default: %(default)s)")
    g.add_argument("--images-per-task", type=int_in(1, 100000), default=4, metavar="N",
                   help="images an actor is handed at once; a task whose actor dies is run again, its images "
                        "already written skipped (default: %(default)s)")
    g.add_argument("--manifest", default=None, metavar="FILE",
                   help="the JSONL manifest, one row per input (default: OUT/rlfn-manifest.jsonl)")


def _quiet_ray_data() -> None:
    """Our own progress lines replace Ray Data's bars and its periodic INFO log of them."""
    import logging

    import ray.data

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def run(args: argparse.Namespace, opts: BatchOptions) -> int:
    from ..ray.job import connect, require_ray, upscale_dataset

    ray = require_ray()  # without Ray: one line naming the extra, before any model is loaded
    if not args.output:
        raise RLFNError("--ray needs -o OUT: a folder, or a URI such as s3://bucket/out/")
    if args.backend != "torch":
        raise RLFNError(f"--ray runs the torch backend; drop --backend {args.backend}")
    model = load_from_args(args, "cpu")  # on this process: each actor gets these very weights
    connected = connect(args.ray)
    try:
        _quiet_ray_data()
        console: Console | None = None
        count = 0

        def on_row(row: dict, total: int) -> None:
            nonlocal console, count
            if console is None:  # the first row comes once the inputs are known
                console = Console(total, args.quiet)
            count += 1
            if row["status"] == "failed":
                console.say(f"rlfn upscale: error: {row['error']}")
            elif row["status"] == "done" and not args.quiet and console.bar is None:
                console.say(f"[{count}/{total}] {row['input']} -> {row['output']} ({row['seconds']:.1f} s)")
            console.tick()

        if not args.quiet:
            res = ray.cluster_resources()
            print(f"model: {model.describe()}; ray: {res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs; "
                  f"{args.cpus_per_actor:g} CPUs and {args.gpus_per_actor:g} GPUs per actor; the precision is "
                  "chosen by each actor for its device", file=sys.stderr, flush=True)
        if str(args.device).startswith("cuda") and not args.gpus_per_actor:
            raise RLFNError(f"--device {args.device} with --ray needs GPUs for the actors: --gpus-per-actor 1 (or a "
                            "fraction)")
        result = _in_one_line(ray, lambda: upscale_dataset(
            args.inputs, args.output, model=model, options=opts, batch_size=args.images_per_task,
            concurrency=args.actors, num_cpus=args.cpus_per_actor, num_gpus=args.gpus_per_actor,
            device=args.device, precision=args.precision, tile=args.tile, tile_pad=args.tile_pad, alpha=args.alpha,
            fast=args.fast, manifest_path=args.manifest, on_row=on_row))
    finally:
        if connected:
            ray.shutdown()
    summary = result.summary
    if console is not None:
        console.close()
    if not args.quiet or summary.failed:
        print(summary.line(), file=sys.stderr)
        print(f"manifest: {result.manifest}", file=sys.stderr, flush=True)
    return 1 if summary.failed else 0


def _in_one_line(ray, job):
    """``job()``, with an error raised inside Ray (an actor that cannot start, a worker without the extras) as
    one line: Ray's own message carries the remote traceback."""
    try:
        return job()
    except ray.exceptions.RayError as e:
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        cause = next((ln for ln in reversed(lines) if not ln.startswith((" ", "Traceback"))), type(e).__name__)
        raise RLFNError(f"--ray: the job failed in Ray ({type(e).__name__}: {cause.strip()[:300]})") from None
