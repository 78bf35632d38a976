"""The fast inference path that ``rlfn upscale`` uses by default.

``optimize(model)`` returns an :class:`SRModel` computing the same function as ``model`` (max difference
≤ 1e-4 in [0, 1] units), arranged for speed on its device. First version: channels-last memory format on
the CPU, which oneDNN's convolutions prefer.
"""
from __future__ import annotations

import copy

import torch

from .descriptor import SRModel


def optimize(model: SRModel) -> SRModel:
    fast = copy.copy(model)
    fast.module = copy.deepcopy(model.module).eval()
    if model.device.type == "cpu":
        fast.module = fast.module.to(memory_format=torch.channels_last)
    return fast
