"""Run a Ray job: connect, plan the tasks, skip what is done, shard the rest over an actor pool with Ray Data,
collect one manifest row per input and write the manifest."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import RLFNError
from ..inference.batch import BatchOptions, Summary
from .manifest import NAME as MANIFEST_NAME
from .manifest import row, summary
from .manifest import write as write_manifest
from .storage import existing, join
from .plan import plan
from .worker import UpscaleWorker

INSTALL = 'pip install "rlfn[ray]"'


def require_ray():
    """The ``ray`` module, or one RLFNError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the data extra: pyarrow, pandas)
    except ImportError:
        raise RLFNError(f"--ray needs Ray Data: {INSTALL}") from None
    return ray


def connect(address: str = "auto", **init_kwargs) -> bool:
    """Join a Ray cluster: ``auto`` (the one ``RAY_ADDRESS`` or ``ray start`` on this machine names, else a new
    local one), ``local`` (always a new local one) or an address (``HOST:6379``, ``ray://HOST:10001``).
    Returns whether this call connected (False: the process was connected already, and stays so)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=None if address == "auto" else address, **init_kwargs)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise RLFNError(f"--ray {address}: cannot connect to Ray ({str(e).splitlines()[0] if str(e) else e})") from None
    return True


@dataclass
class Result:
    """What a job did: its rows (one per input), the summary ``rlfn upscale`` would print, the manifest."""

    rows: list[dict]
    summary: Summary
    manifest: str
    actors: int = 0  # the pool's size (0: nothing was left to do)


def _model(model, scale, weights, pretrained):
    """The SRModel, loaded on the driver: its scale names the outputs, and the actors get the very weights
    (a --weights file need not exist on the other nodes)."""
    from ..models.descriptor import SRModel
    from ..models.loader import DEFAULT_MODEL, load_model

    if isinstance(model, SRModel):
        return model
    if model is None and weights is not None:
        return load_model(weights, scale)
    return load_model(model or DEFAULT_MODEL, scale, weights=weights, pretrained=pretrained)


def _input_list(inputs) -> tuple[list[str], bool]:
    """(paths or URIs, whether they are all files) from a list, one folder or path, or a Ray Dataset of file
    paths (its only column, or ``path``)."""
    if isinstance(inputs, (str, Path)):
        return [str(inputs)], False
    if hasattr(inputs, "iter_rows") and hasattr(inputs, "columns"):
        cols = inputs.columns()
        col = "path" if "path" in cols else cols[0] if len(cols) == 1 else None
        if col is None:
            raise RLFNError(f"a dataset of inputs needs a 'path' column or a single column; it has {cols}")
        return [str(r[col]) for r in inputs.iter_rows()], True
    return [str(i) for i in inputs], False


def upscale_dataset(
    inputs,
    output: str | Path,
    *,
    model=None,
    scale: int | None = None,
    weights: str | Path | None = None,
    pretrained: str = "auto",
    options: BatchOptions | None = None,
    batch_size: int = 4,
    concurrency: int | tuple[int, int] | None = None,
    num_cpus: float = 1,
    num_gpus: float = 0,
    device: str = "auto",
    precision: str = "auto",
    tile: int | str | None = "auto",
    tile_pad: int = 32,
    alpha: str = "model",
    fast: bool = True,
    manifest_path: str | Path | None = None,
    on_row: Callable[[dict, int], None] | None = None,
    worker: type = UpscaleWorker,
) -> Result:
    """Upscale every image of ``inputs`` (paths, URIs, folders, globs, or a ``ray.data.Dataset`` of paths) into
    ``output`` (a folder or its URI) on the Ray cluster this process is connected to (or a new local one).

    Outputs are named as ``rlfn upscale -o output`` names them (``options``: suffix, ext, size, quality,
    overwrite...); outputs that exist are skipped unless ``options.overwrite``, so a re-run resumes. Each actor
    takes ``num_cpus`` CPUs (and PyTorch as many threads) and ``num_gpus`` GPUs; ``concurrency`` is the number of
    actors (an int, or (min, max) to autoscale; default: as many as the cluster holds), ``batch_size`` the
    images per task. ``device``, ``precision``, ``tile``, ``tile_pad``, ``alpha``, ``fast`` are
    :class:`rlfn.Upscaler`'s, chosen by each actor for its own device. ``on_row(row, total)`` is called on this
    process with each manifest row as it arrives (progress; ``total``: the number of inputs). The manifest goes
    to ``manifest_path`` (default: ``output/rlfn-manifest.jsonl``), also when the job is interrupted. ``worker`` is the callable class each
    actor runs (a subclass of :class:`~rlfn.ray.worker.UpscaleWorker` may add a step to each image)."""
    ray = require_ray()
    opts = options or BatchOptions()
    output = str(output)
    loaded = _model(model, scale, weights, pretrained)
    paths, files = _input_list(inputs)
    tasks = plan(paths, output, opts, loaded.scale, files)
    mpath = str(manifest_path) if manifest_path is not None else join(output, MANIFEST_NAME)
    start = time.perf_counter()
    done_before = set() if opts.overwrite else existing([t.output for t in tasks if t.output])
    rows = [row(t.input, t.output, "skipped" if t.output in done_before else "failed", t.error)
            for t in tasks if t.error or t.output in done_before]
    todo = [{"input": t.input, "output": t.output} for t in tasks if t.output and t.output not in done_before]
    report = (lambda r: on_row(r, len(tasks))) if on_row is not None else (lambda r: None)
    for r in rows:
        report(r)
    result = Result(rows, Summary(), mpath)
    try:
        if todo:
            connect()
            result.actors = _run(ray, worker, todo, loaded, opts, rows, report, batch_size=batch_size,
                                 concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus,
                                 settings=dict(device=device, precision=precision, tile=tile, tile_pad=tile_pad,
                                               blend=min(8, tile_pad), alpha=alpha, fast=fast,
                                               threads=max(1, int(num_cpus))))
    finally:  # an interrupted job's manifest says what it did; its outputs alone are enough to resume
        if rows:
            write_manifest(mpath, rows)
    result.summary = summary(rows, time.perf_counter() - start)
    return result


def _pool_size(ray, concurrency, num_cpus: float, num_gpus: float, tasks: int):
    """Actors: as many as the cluster's CPUs (or GPUs) hold, at most ``concurrency`` and the tasks. Ray Data
    would wait for ever for actors a fixed cluster cannot place: refused here, in one line."""
    res = ray.cluster_resources()
    cpus, gpus = res.get("CPU", 0), res.get("GPU", 0)
    if num_gpus > gpus or num_cpus > cpus:
        raise RLFNError(f"one actor asks for {num_cpus:g} CPUs and {num_gpus:g} GPUs; the Ray cluster has {cpus:g} "
                        f"and {gpus:g}: ask for less per actor, or join a cluster that has them")
    if isinstance(concurrency, tuple):  # (min, max), as Ray Data takes it
        return concurrency
    fits = int(gpus // num_gpus) if num_gpus else int(cpus // max(num_cpus, 1e-9))
    if concurrency is not None and concurrency > fits:
        return (1, concurrency)  # an upper bound: as many as can be placed, more if the cluster grows
    return max(1, min(concurrency or fits, tasks))


def _run(ray, worker: type, todo: list[dict], model, opts: BatchOptions, rows: list[dict], report, *, batch_size: int,
         concurrency, num_cpus: float, num_gpus: float, settings: dict) -> int:
    from ray.data import ActorPoolStrategy

    tasks = -(-len(todo) // batch_size)
    size = _pool_size(ray, concurrency, num_cpus, num_gpus, tasks)
    pool = ActorPoolStrategy(min_size=size[0], max_size=size[1]) if isinstance(size, tuple) else \
        ActorPoolStrategy(size=size)
    # One block per task's worth of images: the pool can balance them from the start.
    ds = ray.data.from_items(todo, override_num_blocks=tasks)
    ds = ds.map_batches(worker, fn_constructor_kwargs=dict(model=model, settings=settings, opts=opts),
                        batch_size=batch_size, batch_format="pyarrow", compute=pool,
                        num_cpus=num_cpus, num_gpus=num_gpus)
    batches = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow"))
    try:
        for batch in batches:
            for r in batch.to_pylist():
                rows.append(r)
                report(r)
    finally:  # interrupted: stop the actors now, not when the garbage collector finds the iterator
        close = getattr(batches, "close", None)
        if close is not None:
            close()
    return size if isinstance(size, int) else size[1]
