"""rlfn: the Residual Local Feature Network for fast single-image super-resolution.

The public names below are imported on first use (PEP 562), so that ``import rlfn`` and the command line's
start do not pay for PyTorch until something needs it (``rlfn --help``, ``rlfn models``).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name → the module that defines it
_EXPORTS = {
    "RLFNError": "rlfn.errors", "UnknownModelError": "rlfn.errors", "CheckpointMismatchError": "rlfn.errors",
    "OutputSize": "rlfn.inference.resize",
    "Upscaler": "rlfn.inference.upscaler", "upscale": "rlfn.inference.upscaler",
    "SRModel": "rlfn.models.descriptor",
    "load_file": "rlfn.models.loader", "load_model": "rlfn.models.loader",
    "register_spandrel": "rlfn.models.spandrel_bridge",
    "VARIANTS": "rlfn.models.registry", "create_model": "rlfn.models.registry", "list_models": "rlfn.models.registry",
    "RLFN": "rlfn.models.rlfn",
    "imresize": "rlfn.quality.imresize",
    "psnr": "rlfn.quality.metrics", "psnr_rgb": "rlfn.quality.metrics", "psnr_y": "rlfn.quality.metrics",
    "ssim": "rlfn.quality.metrics", "ssim_y": "rlfn.quality.metrics",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rlfn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from .errors import CheckpointMismatchError, RLFNError, UnknownModelError
    from .inference.resize import OutputSize
    from .inference.upscaler import Upscaler, upscale
    from .models.descriptor import SRModel
    from .models.loader import load_file, load_model
    from .models.spandrel_bridge import register_spandrel
    from .models.registry import VARIANTS, create_model, list_models
    from .models.rlfn import RLFN
    from .quality.imresize import imresize
    from .quality.metrics import psnr, psnr_rgb, psnr_y, ssim, ssim_y
