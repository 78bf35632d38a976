"""The RLFN architecture, with parameter names equal to the official code's (bytedance/RLFN `model/`).

Official checkpoints therefore load with ``strict=True``. The blocks are attributes ``block_1 … block_N``
(not a ModuleList) for that reason. The ESA, the one non-local part, is in :mod:`rlfn.models.esa`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .esa import ESA
from .layers import NEG_SLOPE, autocast_on, conv, float32_region



class RLFB(nn.Module):
    """Residual Local Feature Block: three 3×3 convs with a local residual, a 1×1 conv, then ESA."""

    def __init__(self, in_channels: int, mid_channels: int | None = None, esa_channels: int = 16):
        super().__init__()
        mid = mid_channels or in_channels
        self.c1_r = conv(in_channels, mid, 3)
        self.c2_r = conv(mid, mid, 3)
        self.c3_r = conv(mid, in_channels, 3)
        self.c5 = conv(in_channels, in_channels, 1)
        self.esa = ESA(esa_channels, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.c1_r(x), NEG_SLOPE)
        out = F.leaky_relu(self.c2_r(out), NEG_SLOPE)
        out = F.leaky_relu(self.c3_r(out), NEG_SLOPE)
        return self.esa(self.c5(out + x))


class RLFN(nn.Module):
    """Residual Local Feature Network.

    ``channels`` is the trunk width C, ``mid_channels`` the width M inside each block (defaults to C),
    ``blocks`` the number of RLFBs. Works in whatever pixel range it was trained for (the official
    weights: [0, 255]); :class:`rlfn.models.descriptor.SRModel` hides that from callers.
    """

    def __init__(
        self,
        scale: int = 4,
        channels: int = 52,
        mid_channels: int | None = None,
        blocks: int = 6,
        esa_channels: int = 16,
        in_channels: int = 3,
        out_channels: int = 3,
    ):
        super().__init__()
        if scale < 1 or blocks < 1 or channels < 1:
            raise ValueError("scale, blocks and channels must be positive")
        self.scale = scale
        self.channels = channels
        self.mid_channels = mid_channels or channels
        self.num_blocks = blocks
        self.conv_1 = conv(in_channels, channels, 3)
        for i in range(1, blocks + 1):
            self.add_module(f"block_{i}", RLFB(channels, self.mid_channels, esa_channels))
        self.conv_2 = conv(channels, channels, 3)
        self.upsampler = nn.Sequential(conv(channels, out_channels * scale**2, 3), nn.PixelShuffle(scale))

    @property
    def blocks(self) -> list[RLFB]:
        return [getattr(self, f"block_{i}") for i in range(1, self.num_blocks + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Under bf16/fp16 autocast (training), the first and last convolutions stay in float32: a bf16 output
        # steps by 1/256 to 1/128 in [0.5, 1], as coarse as the errors an L1 loss must still tell apart late
        # in training (docs/training.md, the bf16 A/B).
        mixed = autocast_on(x)
        with float32_region(x, mixed):
            feat = self.conv_1(x.float() if mixed else x)
        out = feat
        for block in self.blocks:
            out = block(out)
        out = self.conv_2(out) + feat
        with float32_region(x, mixed):
            return self.upsampler(out.float() if mixed else out)

