"""Test inputs shared by several test files."""
from __future__ import annotations

import torch
from torch import nn


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """1×3×h×w in [0, 1]: bicubic-enlarged 8×8 noise, closer to a photograph than pure noise."""
    g = torch.Generator().manual_seed(seed)
    x = nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(h, w), mode="bicubic", align_corners=False)
    return x.clamp(0, 1)


def random_weights(folder, variant: str = "rlfn_s", scale: int = 2):
    """A safetensors file of seeded random weights with its metadata: a model the CLI loads by path."""
    import rlfn
    from rlfn.models.checkpoint import save_safetensors

    torch.manual_seed(0)
    path = folder / f"{variant}_x{scale}.safetensors"
    save_safetensors(rlfn.create_model(variant, scale), path, {"variant": variant, "scale": scale, "pixel_range": 1.0})
    return path
