"""Enhanced Spatial Attention (ESA), the one part of RLFN that is not local, all in one place.

- its geometry: ``conv2`` (3×3, stride 2, no padding) then a 7×7 max-pool with stride 3, so pooled cells
  sit every :data:`GRID` = 6 input pixels and the smallest input is :data:`MIN_SIZE` = 15 pixels;
- :class:`ESA`, the module (parameter names as in the official code);
- its tile-exact behaviour: the pooled map is resized back with a ratio that depends on the *whole*
  image's size, so a tile run naively sees a shifted, differently stretched attention map (about 35 dB from
  the whole-image output, whatever the padding). Inside :func:`image_window` the resize samples the pooled
  map at the positions the whole-image run would use (tile windows must start on the :data:`GRID`);
- :class:`FusedESA`, its fused form for the fast path (:mod:`rlfn.inference.fastpath`).

The window is a :class:`contextvars.ContextVar` read only by :func:`upsample`, which only the ESA calls:
other threads, other models and every other ``F.interpolate`` call are untouched.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .layers import FusedConv, conv

CONV2_KERNEL, CONV2_STRIDE = 3, 2  # the strided, unpadded convolution
POOL_KERNEL, POOL_STRIDE = 7, 3  # the max-pool after it
GRID = CONV2_STRIDE * POOL_STRIDE  # 6: pooled cells sit every GRID input pixels
MIN_SIZE = CONV2_KERNEL + CONV2_STRIDE * (POOL_KERNEL - 1)  # 15: the smallest input giving one pooled cell


def pooled_len(n: int) -> int:
    """Length of the ESA's pooled map for an input of length ``n``."""
    return ((n - CONV2_KERNEL) // CONV2_STRIDE + 1 - POOL_KERNEL) // POOL_STRIDE + 1


def pool(c: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(c, kernel_size=POOL_KERNEL, stride=POOL_STRIDE)


# ---- the position of the current input in the whole image --------------------------------------------------


class Placement(Protocol):
    """Where an input sits in the whole image (input pixels), e.g. :class:`rlfn.inference.tiling.Window`."""

    y0: int
    x0: int
    height: int  # of the whole image
    width: int


_window: contextvars.ContextVar[Placement | None] = contextvars.ContextVar("rlfn_esa_window", default=None)


@contextlib.contextmanager
def image_window(win: Placement | None) -> Iterator[None]:
    """Run the ESAs in this thread as for the part ``win`` of a larger image (``None``: the whole image).

    ``win.y0`` and ``win.x0`` must be multiples of :data:`GRID`.
    """
    if win is not None and (win.y0 % GRID or win.x0 % GRID):
        raise ValueError(f"an ESA window must start on the {GRID}-pixel grid, got ({win.y0}, {win.x0})")
    token = _window.set(win)
    try:
        yield
    finally:
        _window.reset(token)


def _resample_axis(c: torch.Tensor, dim: int, out_len: int, offset: int, full_len: int) -> torch.Tensor:
    """Bilinear resize along ``dim`` (half-pixel centres, like F.interpolate with align_corners=False), but
    sampling at the positions a whole-image run of length ``full_len`` would use for rows offset..offset+out_len.
    """
    full_pooled = pooled_len(full_len)
    scale = torch.tensor(full_pooled / full_len, dtype=torch.float32)  # PyTorch computes in float32 too
    dst = torch.arange(offset, offset + out_len, dtype=torch.float32)
    src = (scale * (dst + 0.5) - 0.5).clamp_(min=0)
    i0 = src.floor().long()
    lam = (src - i0).clamp_(0, 1)
    i1 = torch.where(i0 < full_pooled - 1, i0 + 1, i0)
    first, n = offset // GRID, c.shape[dim]
    # Positions whose cells lie outside this tile are in the discarded margin: clamp them anywhere valid.
    l0 = (i0 - first).clamp_(0, n - 1).to(c.device)
    l1 = (i1 - first).clamp_(0, n - 1).to(c.device)
    shape = [1] * c.dim()
    shape[dim] = out_len
    lam = lam.to(device=c.device, dtype=c.dtype).view(shape)
    return c.index_select(dim, l0) * (1 - lam) + c.index_select(dim, l1) * lam


def upsample(c: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The ESA's bilinear resize of the pooled map back to the feature size (height × width), at the
    whole image's sampling positions inside :func:`image_window`."""
    win = _window.get()
    if win is None:
        return F.interpolate(c, size=(height, width), mode="bilinear", align_corners=False)
    c = _resample_axis(c, 2, height, win.y0, win.height)
    return _resample_axis(c, 3, width, win.x0, win.width)


# ---- the module and its fused form --------------------------------------------------------------------------


class ESA(nn.Module):
    """Enhanced Spatial Attention: a cheap, large-receptive-field sigmoid mask over the features."""

    def __init__(self, esa_channels: int, n_feats: int):
        super().__init__()
        f = esa_channels
        self.conv1 = conv(n_feats, f, 1)
        self.conv_f = conv(f, f, 1)
        self.conv2 = conv(f, f, CONV2_KERNEL, stride=CONV2_STRIDE, padding=0)
        self.conv3 = conv(f, f, 3)
        self.conv4 = conv(f, n_feats, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v_max = pool(c1)
        c3 = self.conv3(v_max)
        c3 = upsample(c3, x.shape[2], x.shape[3])
        cf = self.conv_f(c1_)
        c4 = self.conv4(c3 + cf)
        return x * torch.sigmoid(c4)


class FusedESA(nn.Module):
    """:class:`ESA`'s operations with the addition fused into ``conv_f`` and the sigmoid into ``conv4``;
    the final product runs in place when autograd does not record."""

    def __init__(self, esa: ESA, onednn: bool = True, dtype: torch.dtype | None = None):
        super().__init__()
        self.conv1, self.conv2, self.conv3, self.conv_f, self.conv4 = (
            FusedConv(c, onednn=onednn, dtype=dtype) for c in (esa.conv1, esa.conv2, esa.conv3, esa.conv_f, esa.conv4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c3 = self.conv3(pool(self.conv2(c1_)))
        if c3.dtype != torch.float32:
            # The resize in float32, rounded once: the tiled resize (index_select and a blend) and the whole-image
            # F.interpolate then agree as they do in float32, instead of each rounding its own steps in bfloat16.
            c3 = upsample(c3.float(), x.shape[2], x.shape[3]).to(c3.dtype)
        else:
            c3 = upsample(c3, x.shape[2], x.shape[3])
        gate = self.conv4(self.conv_f.add(c1_, c3), "sigmoid")
        return gate.mul_(x) if not torch.is_grad_enabled() else gate * x
