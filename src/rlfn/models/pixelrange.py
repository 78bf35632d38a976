"""Which pixel range a set of RLFN weights expects when nothing says so.

A state dict does not record it: the official weights work on [0, 255], this project's on [0, 1] (our
safetensors files say so in their metadata, which a loader that reads only the tensors, like spandrel's,
never sees). A super-resolution network maps a flat grey image to the same grey; under the wrong range it
does not. Measured with :func:`grey_error`: the five official checkpoints are within 0.0004 of the grey
under [0, 255] and 0.015 or more off under [0, 1]; the project's weights within 0.0021 under [0, 1] and
0.032 or more off under [0, 255] (16 to 167 times further off under the wrong range).
"""
from __future__ import annotations

import torch
from torch import nn

from . import esa
from .descriptor import in_unit_range

CANDIDATES = (255.0, 1.0)  # the official convention first: it wins a tie
_GREYS = (0.2, 0.5, 0.8)
_SIZE = max(24, esa.MIN_SIZE)


def grey_error(module: nn.Module, pixel_range: float) -> float:
    """How far ``module`` run in ``pixel_range`` strays from flat grey images (worst mean absolute error)."""
    p = next(module.parameters())
    worst = 0.0
    with torch.inference_mode():
        for g in _GREYS:
            x = torch.full((1, 3, _SIZE, _SIZE), g, device=p.device, dtype=p.dtype)
            err = (in_unit_range(module, x, pixel_range).float() - g).abs().mean().item()
            worst = max(worst, err if err == err else float("inf"))  # NaN: as bad as it gets
    return worst


def probe_pixel_range(module: nn.Module) -> float:
    """The pixel range, of :data:`CANDIDATES`, under which ``module`` keeps flat grey images grey."""
    return min(CANDIDATES, key=lambda r: grey_error(module, r))
