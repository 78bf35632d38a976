"""Choosing the device to compute on, and a tile size that fits it."""
from __future__ import annotations

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
