"""Choosing the device to compute on, and a tile size that fits it."""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass

import torch

from ..errors import DeviceError


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → CUDA, then MPS, then CPU; an explicit device that is absent is a one-line DeviceError."""
    name = str(name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA GPU is available to this PyTorch (use --device cpu or auto)")
    if name == "mps" and not _mps_available():
        raise DeviceError("--device mps: Apple's Metal backend is not available here (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps") from None


def default_tile(device: torch.device) -> int:
    """Tile size (input pixels) that keeps activation memory to a few hundred MB for RLFN-sized networks."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return 1024 if free > 6 * 2**30 else 512
    return 512


# ---- does this CPU compute bfloat16 natively? ---------------------------------------------------------------

# /proc/cpuinfo flags of the x86 extensions with bfloat16 arithmetic, best first. oneDNN runs bf16 on any
# AVX-512 CPU (torch.ops.mkldnn._is_mkldnn_bf16_supported() says True there too), but without these it
# emulates it, slower than float32: the CPU's own features decide, not what PyTorch will merely run.
NATIVE_BF16_FLAGS = {"amx_bf16": "AMX", "avx512_bf16": "AVX512-BF16"}
BF16_ENV = "RLFN_CPU_BF16"  # "1"/"0": say yes/no whatever the CPU (tests take either branch anywhere)


@dataclass(frozen=True)
class CPUBF16:
    """Whether the CPU computes bfloat16 natively, and why we think so (``"AMX"``, ``"no native bf16"``...)."""

    native: bool
    reason: str


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_from_flags(flags: set[str] | frozenset[str]) -> CPUBF16:
    """The answer for an x86 CPU with these ``/proc/cpuinfo`` flags."""
    for flag, name in NATIVE_BF16_FLAGS.items():
        if flag in flags:
            return CPUBF16(True, name)
    return CPUBF16(False, "no native bf16")


@functools.lru_cache(maxsize=None)
def _detect_cpu_bf16() -> CPUBF16:
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return CPUBF16(False, f"no native bf16 known on {platform.machine() or 'this CPU'}")
    return bf16_from_flags(_cpu_flags())


def cpu_bf16() -> CPUBF16:
    """Native bfloat16 on this CPU (AMX-BF16 or AVX512-BF16 in its flags); ``RLFN_CPU_BF16=1`` or ``0``
    overrides the answer, so either branch can be taken (and tested) on any machine."""
    forced = os.environ.get(BF16_ENV, "").strip()
    if forced in ("1", "0"):
        return CPUBF16(forced == "1", f"{BF16_ENV}={forced}")
    return _detect_cpu_bf16()


def auto_precision(device: torch.device) -> tuple[str, str]:
    """(precision, why) for ``train.precision: auto``: bf16 autocast on a CPU that computes it natively and
    on a GPU that supports it, float32 elsewhere (fp16, with its loss scaling, only when asked)."""
    if device.type == "cpu":
        info = cpu_bf16()
        return ("bf16", info.reason) if info.native else ("fp32", info.reason)
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ("bf16", "GPU supports it") if ok else ("fp32", "GPU lacks bf16")
    return "fp32", f"{device.type}"
