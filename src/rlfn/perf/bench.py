"""Efficiency measurements with the NTIRE efficient-SR challenge's protocol.

For one model: parameters, FLOPs, activations and convolutions (:mod:`rlfn.flops`, on a 256×256 LR
input), peak memory (CUDA ``max_memory_allocated`` on a GPU, peak resident set size on a CPU) and the
runtime per full image over a set of LR images, after warm-up: CUDA events on a GPU, wall-clock time on a
CPU, reported as median and spread. Throughput is in output (SR) megapixels per second.

A model is named by a variant name (``rlfn_s_x4``: random weights, which do not change the counts or the
runtime), a checkpoint path, or ``package.module:callable`` returning an ``nn.Module`` (or an
:class:`SRModel`), so any other SR network can be compared on the same footing.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from ..errors import ConfigError, RLFNError, UnknownModelError
from ..inference import heap
from ..models.descriptor import SRModel
from .flops import CHALLENGE_INPUT, count

Runner = Callable[[torch.Tensor], torch.Tensor]
BACKENDS = ("torch", "onnxruntime", "ncnn")
PATHS = ("fast", "plain")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def precisions_for(asked: str, device: torch.device) -> list[str]:
    """The precisions ``rlfn bench --precision`` times: ``auto`` is float32 plus what ``rlfn upscale`` would
    choose there (bf16 on a CPU that computes it natively, fp16 on CUDA), so both show in one run; ``all``
    adds bf16 on a GPU and bf16 on any CPU (emulated where it is not native)."""
    from ..inference.devices import cpu_bf16

    if asked in DTYPES:
        return [asked]
    if device.type == "cpu":
        return ["fp32", "bf16"] if asked == "all" or cpu_bf16().native else ["fp32"]
    if device.type == "cuda":
        return ["fp32", "fp16", "bf16"] if asked == "all" else ["fp32", "fp16"]
    return ["fp32"]


# --------------------------------------------------------------------------------------------------
# Models


def wrap_module(module: nn.Module, name: str, device: torch.device | str = "cpu") -> SRModel:
    """An :class:`SRModel` around any SR ``nn.Module`` taking and returning [0, 1] images; the scale is
    read from one small forward pass."""
    module = module.to(device).eval()
    try:
        with torch.inference_mode():
            y = module(torch.rand(1, 3, 32, 32, device=device))
    except Exception as e:  # a user's module: any failure is theirs, report it in one line
        raise ConfigError(f"{name}: the module fails on a 1×3×32×32 input ({type(e).__name__}: {e})") from None
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[-1] % 32 or y.shape[-2] % 32:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ConfigError(f"{name}: expected an N×3×sH×sW output for a 1×3×32×32 input, got {shape}")
    return SRModel(module=module, variant=name, scale=y.shape[-1] // 32, pixel_range=1.0, source=name)


def _from_callable(spec: str, device: torch.device | str) -> SRModel:
    mod_name, _, attr = spec.partition(":")
    sys.path.insert(0, os.getcwd())  # so that a module in the current folder can be named
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise UnknownModelError(f"{spec}: cannot import {mod_name!r} ({e})") from None
    finally:
        sys.path.pop(0)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UnknownModelError(f"{spec}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    try:
        made = obj() if callable(obj) and not isinstance(obj, nn.Module) else obj
    except Exception as e:  # the user's code: report its failure in one line
        raise ConfigError(f"{spec}: calling it failed ({type(e).__name__}: {e})") from None
    if isinstance(made, SRModel):
        return made.to(device).eval()
    if not isinstance(made, nn.Module):
        raise UnknownModelError(f"{spec}: returned a {type(made).__name__}, not an nn.Module")
    return wrap_module(made, spec, device)


def resolve_model(spec: str, scale: int | None = None, device: torch.device | str = "cpu",
                  pretrained: str = "auto") -> SRModel:
    """A model for benchmarking from a variant name, a checkpoint path or ``module:callable``.

    A name gets the weights every other subcommand gives it (``pretrained``: auto, ours or official). Where
    none are published or they cannot be fetched (offline), or with ``pretrained="none"``, the network gets
    random weights: its cost does not depend on them, and ``source`` says so."""
    from ..errors import DownloadError, UnknownModelError
    from ..models.loader import load_file, load_model, looks_like_path
    from ..models.registry import create_model, parse_name

    if ":" in spec and not Path(spec).exists() and not (len(spec) > 1 and spec[1] == ":"):
        return _from_callable(spec, device)
    if looks_like_path(spec):
        return load_file(spec).to(device).eval()
    variant, named_scale = parse_name(spec, scale)
    s = named_scale or 4
    source = "random weights"
    if pretrained != "none":
        try:
            return load_model(variant.name, s, pretrained=pretrained, device=device)
        except UnknownModelError:
            source = f"random weights (no published weights for {variant.name} x{s})"
        except DownloadError:
            source = f"random weights (the weights for {variant.name} x{s} could not be fetched)"
    module = create_model(variant.name, s).eval()
    return SRModel(module=module, variant=variant.name, scale=s, pixel_range=1.0, channels=module.channels,
                   mid_channels=module.mid_channels, blocks=module.num_blocks, source=source).to(device)


def make_runner(model: SRModel, backend: str = "torch", path: str = "fast", precision: str = "fp32") -> Runner:
    """What gets timed: the default fast path, the plain module call, the ONNX Runtime session or the ncnn net, in
    ``precision`` (the fast path's own bfloat16 form on the CPU; the module cast elsewhere)."""
    if backend == "onnxruntime":
        if precision != "fp32":
            raise ConfigError("--backend onnxruntime times the float32 export; use --precision fp32")
        from .export import onnx_model_for

        return onnx_model_for(model)
    if backend == "ncnn":
        if precision != "fp32":
            raise ConfigError("--backend ncnn times the float32 export; use --precision fp32")
        from .ncnn_export import ncnn_model_for

        return ncnn_model_for(model)
    if backend != "torch":
        raise ConfigError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)}")
    if precision not in DTYPES:
        raise ConfigError(f"unknown precision {precision!r}; choose {', '.join(DTYPES)}")
    dtype = DTYPES[precision]
    if path == "fast":
        from ..inference.fastpath import optimize

        return optimize(model, dtype=dtype)
    if path == "plain":
        if dtype == model.dtype:
            return model
        import copy

        cast = copy.copy(model)
        cast.module = copy.deepcopy(model.module).to(dtype=dtype)
        return cast
    raise ConfigError(f"unknown path {path!r}; choose {', '.join(PATHS)}")


# --------------------------------------------------------------------------------------------------
# Images


def load_images(folder: str | Path | None = None, limit: int | None = None,
                size: tuple[int, int] = CHALLENGE_INPUT, count_: int = 10, seed: int = 0) -> list[torch.Tensor]:
    """LR images as 1×3×H×W tensors in [0, 1]: the files in ``folder`` (sorted, at most ``limit``), or,
    without a folder, ``count_`` random images of ``size``."""
    if folder is None:
        g = torch.Generator().manual_seed(seed)
        return [torch.rand(1, 3, *size, generator=g) for _ in range(count_)]
    from ..io.images import list_images, read_rgb

    files = list_images(folder)[: limit or None]
    return [(read_rgb(f) / 255.0).unsqueeze(0) for f in files]


# --------------------------------------------------------------------------------------------------
# Timing and memory


@dataclass
class Runtime:
    median_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p25_ms: float
    p75_ms: float
    samples: int


def _stats(times_s: Sequence[float]) -> Runtime:
    ms = sorted(t * 1000 for t in times_s)
    q = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 else [ms[0]] * 3
    return Runtime(statistics.median(ms), statistics.fmean(ms), statistics.pstdev(ms), ms[0], ms[-1], q[0], q[2],
                   len(ms))


def _reset_peak_rss() -> bool:
    """Linux lets a process reset its own peak RSS (VmHWM) by writing 5 to /proc/self/clear_refs."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_mb(field_name: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _peak_rss_fallback_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if platform.system() == "Darwin" else peak / 1024  # bytes on macOS, kB elsewhere


def time_runner(run: Runner, images: Sequence[torch.Tensor], device: torch.device, warmup: int = 3,
                repeat: int = 1) -> tuple[list[float], float, float | None, str]:
    """Seconds per image (every image, ``repeat`` passes, after ``warmup`` runs on the first image),
    peak memory in MB, the RSS growth in MB (CPU only) and what the memory figure is."""
    cuda = device.type == "cuda"
    if not cuda:
        heap.release()  # memory a previous model's fast path kept would count in this one's peak
    for _ in range(warmup):
        run(images[0])
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = None
    else:
        before = _rss_mb("VmRSS") if _reset_peak_rss() else None
    times: list[float] = []
    for _ in range(repeat):
        for img in images:
            if cuda:
                img = img.to(device)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                run(img)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1000)
            else:
                t0 = time.perf_counter()
                run(img)
                times.append(time.perf_counter() - t0)
    if cuda:
        return times, torch.cuda.max_memory_allocated(device) / 2**20, None, "cuda_max_memory_allocated"
    peak = _rss_mb("VmHWM") if before is not None else None
    if peak is None:
        return times, _peak_rss_fallback_mb(), None, "cpu_peak_rss_process_lifetime"
    return times, peak, peak - before, "cpu_peak_rss"


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class BenchResult:
    name: str
    scale: int
    backend: str
    path: str
    device: str
    params: int
    flops: int
    activations: int
    convs: int
    count_input: list[int]
    peak_memory_mb: float
    peak_memory_kind: str
    memory_growth_mb: float | None
    runtime: Runtime
    images: int
    warmup: int
    megapixels_per_s: float  # output (SR) megapixels per second, from the median per-image time
    psnr: float | None = None
    source: str = ""
    precision: str = "fp32"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["runtime_ms"] = d.pop("runtime")
        return d


FIELDS = [f.name for f in BenchResult.__dataclass_fields__.values() if f.name != "runtime"] + ["runtime_ms"]


def bench_model(model: SRModel, images: Sequence[torch.Tensor], *, name: str | None = None, backend: str = "torch",
                path: str = "fast", warmup: int = 3, repeat: int = 1, psnr: float | None = None,
                count_input: tuple[int, int] = CHALLENGE_INPUT, precision: str = "fp32") -> BenchResult:
    if not images:
        raise ConfigError("no images to time")
    counts = count(model.module, count_input)
    run = make_runner(model, backend, path, precision)
    device = torch.device("cpu") if backend != "torch" else model.device
    times, peak, growth, kind = time_runner(run, images, device, warmup, repeat)
    rt = _stats(times)
    out_px = sum(img.shape[-1] * img.shape[-2] for img in images) / len(images) * model.scale**2
    return BenchResult(
        name=name or model.name, scale=model.scale, backend=backend, path=path if backend == "torch" else "-",
        device=str(device), params=counts.params, flops=counts.flops, activations=counts.activations,
        convs=counts.convs, count_input=list(count_input), peak_memory_mb=peak, peak_memory_kind=kind,
        memory_growth_mb=growth, runtime=rt, images=len(images), warmup=warmup,
        megapixels_per_s=out_px / 1e6 / (rt.median_ms / 1000), psnr=psnr, source=model.source, precision=precision,
    )


def environment() -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    return info


def format_table(results: Sequence[BenchResult]) -> str:
    head = (f"{'model':<22} {'backend':<12} {'prec':<4} {'params M':>8} {'FLOPs G':>8} {'acts M':>8} {'convs':>5} "
            f"{'mem MB':>8} {'median ms':>10} {'± std':>8} {'min–max ms':>15} {'MP/s':>7} {'PSNR':>6}")
    lines = [head, "-" * len(head)]
    for r in results:
        rt = r.runtime
        be = r.backend if r.backend != "torch" else f"torch/{r.path}"
        psnr = f"{r.psnr:6.2f}" if r.psnr is not None else f"{'':>6}"
        lines.append(
            f"{r.name[:22]:<22} {be:<12} {r.precision:<4} {r.params / 1e6:8.3f} {r.flops / 1e9:8.2f} {r.activations / 1e6:8.2f} "
            f"{r.convs:5d} {r.peak_memory_mb:8.1f} {rt.median_ms:10.1f} {rt.std_ms:8.1f} "
            f"{f'{rt.min_ms:.0f}–{rt.max_ms:.0f}':>15} {r.megapixels_per_s:7.2f} {psnr}"
        )
    if results:
        r = results[0]
        h, w = r.count_input
        lines.append(f"FLOPs = multiply-adds, activations = conv output elements, both on a {h}×{w} LR input; "
                     f"runtime per image over {r.images} image(s) after {r.warmup} warm-up run(s); memory = "
                     f"{r.peak_memory_kind.replace('_', ' ')}; MP/s = output megapixels per second")
    return "\n".join(lines)


def document(results: Sequence[BenchResult], extra: dict | None = None) -> dict:
    """Every measurement and the environment, as plain data for JSON (a NaN, a measure that does not
    apply, becomes null)."""
    doc = {"environment": environment(), **(extra or {}), "results": [r.as_dict() for r in results]}

    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, float) and math.isnan(o):
            return None
        return o if o is None or isinstance(o, (str, int, float, bool)) else str(o)

    return clean(doc)


def require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RLFNError("--plot needs matplotlib: pip install 'rlfn[plot]' (or pip install matplotlib)") from None
    return plt


def plot(results: Sequence[BenchResult], path: str | Path, overwrite: bool = False) -> Path:
    """Runtime against PSNR (the paper's first figure) when PSNR figures are known, else against
    parameters; marker area follows the parameter count."""
    from ..io.atomic import atomic_write

    plt = require_matplotlib()

    with_psnr = [r for r in results if r.psnr is not None]
    shown = with_psnr or list(results)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for r in shown:
        y = r.psnr if with_psnr else r.params / 1e6
        ax.scatter(r.runtime.median_ms, y, s=max(20.0, r.params / 1e6 * 400), alpha=0.6)
        ax.annotate(r.name, (r.runtime.median_ms, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel(f"runtime per image, ms (median, {shown[0].device})")
    ax.set_ylabel("PSNR (dB)" if with_psnr else "parameters (M)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".") or "png"
    try:
        out = atomic_write(path, lambda tmp: fig.savefig(tmp, format=suffix), overwrite=overwrite)
    except ValueError as e:  # an unknown image format
        raise ConfigError(f"--plot {path}: {e}") from None
    finally:
        plt.close(fig)
    return out
