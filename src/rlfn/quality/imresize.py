"""MATLAB-compatible bicubic ``imresize`` in PyTorch (CPU and GPU, batches, any scale).

Follows MATLAB's algorithm: cubic kernel with a = -0.5, the kernel widened by 1/scale when shrinking
(antialiasing), symmetric border handling, output size ceil(size·scale), the dimension with the larger
reduction resized first (height first when equal). Each 1-D pass is one matrix product with a weight
matrix built once per (length, scale), so it vectorises over batch and channels.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@lru_cache(maxsize=64)
def _weights(in_len: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    """out_len × in_len float64 matrix of one 1-D MATLAB bicubic resize (on the CPU; cached)."""
    width = 4.0
    shrink = scale < 1 and antialias
    if shrink:
        width /= scale
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # 1-based input indices
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if shrink else _cubic(dist)
    w = w / w.sum(dim=1, keepdim=True)
    # Symmetric padding: index i outside [1, n] reflects, with the edge pixel repeated.
    i0 = idx.long() - 1
    period = 2 * in_len
    i0 = torch.remainder(i0, period)
    i0 = torch.where(i0 >= in_len, period - 1 - i0, i0)
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, i0, w)
    return mat


def output_size(in_len: int, scale: float) -> int:
    return math.ceil(in_len * scale - 1e-9)  # MATLAB: ceil(size*scale); guard against 0.3333*3 rounding up


def imresize(
    img: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize ``img`` (…×H×W, any float dtype, any device) like MATLAB's ``imresize(img, scale, 'bicubic')``.

    Give either ``scale`` (e.g. 1/4 or 4) or ``size`` = (H, W). Values are not clamped or rounded: to get
    MATLAB's uint8 result, round and clamp the output. Integer tensors are computed in float32 and returned
    as float32.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale and size")
    if img.dim() < 2:
        raise ValueError(f"expected at least a 2-D image, got shape {tuple(img.shape)}")
    if not img.is_floating_point():
        img = img.float()
    h, w = img.shape[-2:]
    if size is not None:
        oh, ow = int(size[0]), int(size[1])
        sh, sw = oh / h, ow / w
    else:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        sh = sw = float(scale)
        oh, ow = output_size(h, sh), output_size(w, sw)
    if oh < 1 or ow < 1:
        raise ValueError(f"output size {oh}×{ow} is empty")
    out = img
    # MATLAB resizes the dimension with the smallest scale first (height first on a tie).
    order = ("h", "w") if sh <= sw else ("w", "h")
    for dim in order:
        if dim == "h" and (oh != h or sh != 1):
            m = _weights(h, oh, sh, antialias).to(device=img.device, dtype=img.dtype)
            out = torch.matmul(m, out)
        elif dim == "w" and (ow != w or sw != 1):
            m = _weights(w, ow, sw, antialias).to(device=img.device, dtype=img.dtype)
            out = torch.matmul(out, m.T)
    return out

