"""The RLFN architecture, with parameter names equal to the official code's (bytedance/RLFN `model/`).

Official checkpoints therefore load with ``strict=True``. The blocks are attributes ``block_1 … block_N``
(not a ModuleList) for that reason.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEG_SLOPE = 0.05  # the released code uses LeakyReLU(0.05); the paper's figure draws ReLU


def _conv(cin: int, cout: int, k: int, stride: int = 1, padding: int | None = None) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2 if padding is None else padding)


class ESA(nn.Module):
    """Enhanced Spatial Attention: a cheap, large-receptive-field sigmoid mask over the features."""

    def __init__(self, esa_channels: int, n_feats: int):
        super().__init__()
        f = esa_channels
        self.conv1 = _conv(n_feats, f, 1)
        self.conv_f = _conv(f, f, 1)
        self.conv2 = _conv(f, f, 3, stride=2, padding=0)
        self.conv3 = _conv(f, f, 3)
        self.conv4 = _conv(f, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v_max = F.max_pool2d(c1, kernel_size=7, stride=3)
        c3 = self.conv3(v_max)
        c3 = F.interpolate(c3, size=(x.shape[2], x.shape[3]), mode="bilinear", align_corners=False)
        cf = self.conv_f(c1_)
        c4 = self.conv4(c3 + cf)
        return x * torch.sigmoid(c4)


class RLFB(nn.Module):
    """Residual Local Feature Block: three 3×3 convs with a local residual, a 1×1 conv, then ESA."""

    def __init__(self, in_channels: int, mid_channels: int | None = None, esa_channels: int = 16):
        super().__init__()
        mid = mid_channels or in_channels
        self.c1_r = _conv(in_channels, mid, 3)
        self.c2_r = _conv(mid, mid, 3)
        self.c3_r = _conv(mid, in_channels, 3)
        self.c5 = _conv(in_channels, in_channels, 1)
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
    weights: [0, 255]); :class:`rlfn.descriptor.SRModel` hides that from callers.
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
        self.conv_1 = _conv(in_channels, channels, 3)
        for i in range(1, blocks + 1):
            self.add_module(f"block_{i}", RLFB(channels, self.mid_channels, esa_channels))
        self.conv_2 = _conv(channels, channels, 3)
        self.upsampler = nn.Sequential(_conv(channels, out_channels * scale**2, 3), nn.PixelShuffle(scale))

    @property
    def blocks(self) -> list[RLFB]:
        return [getattr(self, f"block_{i}") for i in range(1, self.num_blocks + 1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_1(x)
        out = feat
        for block in self.blocks:
            out = block(out)
        return self.upsampler(self.conv_2(out) + feat)


# The smallest input the ESA accepts: conv2 (3×3, stride 2, no padding) then a 7×7 max-pool with stride 3.
MIN_INPUT_SIZE = 15
