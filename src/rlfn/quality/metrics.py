"""Image-quality metrics as small pure functions, computed in float64.

Every function takes tensors shaped ``3×H×W`` (RGB) or ``H×W`` (one channel) with values in [0, 255]
(data range 255), as the SR papers measure them. Use
:func:`to_255` to convert a [0, 1] image (it rounds to uint8 levels, as the papers' protocol does).
"""
from __future__ import annotations

import math

import torch


def to_255(img: torch.Tensor) -> torch.Tensor:
    """[0, 1] float image → float64 in [0, 255], rounded to integer levels (the uint8 the papers save)."""
    return (img.detach().to(torch.float64) * 255.0).round().clamp(0, 255)


def rgb_to_y(img: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of an RGB image (3×H×W, values in [0, 255]) → H×W in [16, 235]; not rounded."""
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"expected a 3×H×W RGB image, got shape {tuple(img.shape)}")
    img = img.to(torch.float64)
    return 16.0 + (65.481 * img[0] + 128.553 * img[1] + 24.966 * img[2]) / 255.0


def crop_border(img: torch.Tensor, border: int) -> torch.Tensor:
    return img[..., border:-border, border:-border] if border > 0 else img


def psnr(img1: torch.Tensor, img2: torch.Tensor, data_range: float = 255.0) -> float:
    """PSNR in dB between two same-shaped images with values in [0, data_range]; inf if identical."""
    if img1.shape != img2.shape:
        raise ValueError(f"shapes differ: {tuple(img1.shape)} vs {tuple(img2.shape)}")
    mse = torch.mean((img1.to(torch.float64) - img2.to(torch.float64)) ** 2).item()
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


SSIM_WINDOW = 11


def _gaussian_1d(size: int = SSIM_WINDOW, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _band(n: int, g: torch.Tensor) -> torch.Tensor:
    """(n - k + 1) × n matrix whose rows are the 1-D window at each 'valid' position."""
    k = g.numel()
    m = torch.zeros(n - k + 1, n, dtype=g.dtype, device=g.device)
    for i in range(k):
        m.diagonal(i).fill_(g[i].item())
    return m


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'valid' 2-D Gaussian filtering of …×H×W as two 1-D passes, each a matrix product: the window is
    separable, and BLAS is far faster than float64 convolution."""
    return _band(x.shape[-2], g) @ x @ _band(x.shape[-1], g).T


def ssim(img1: torch.Tensor, img2: torch.Tensor, data_range: float = 255.0) -> float:
    """SSIM of Wang et al. (2004), as their MATLAB code: 11×11 Gaussian window, σ = 1.5, K1 = 0.01,
    K2 = 0.03, 'valid' filtering. Images are H×W (one channel) or C×H×W (mean over channels)."""
    if img1.shape != img2.shape:
        raise ValueError(f"shapes differ: {tuple(img1.shape)} vs {tuple(img2.shape)}")
    if min(img1.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {tuple(img1.shape[-2:])}")
    a = img1.to(torch.float64)
    b = img2.to(torch.float64)
    if a.dim() == 2:
        a, b = a[None], b[None]
    c = a.shape[0]
    # All five local statistics in one batched filtering call.
    stack = torch.cat([a, b, a * a, b * b, a * b])
    mu1, mu2, e11, e22, e12 = _filter_valid(stack, _gaussian_1d().to(a.device)).split(c)
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    s11, s22, s12 = e11 - mu1**2, e22 - mu2**2, e12 - mu1 * mu2
    smap = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
    return smap.mean().item()


def psnr_y(sr: torch.Tensor, hr: torch.Tensor, border: int) -> float:
    """The SR papers' PSNR: BT.601 Y channel, ``border`` pixels cropped (the scale). RGB 3×H×W in [0, 255]."""
    return psnr(crop_border(rgb_to_y(sr), border), crop_border(rgb_to_y(hr), border))


def ssim_y(sr: torch.Tensor, hr: torch.Tensor, border: int) -> float:
    """The SR papers' SSIM: BT.601 Y channel, ``border`` pixels cropped. RGB 3×H×W in [0, 255]."""
    return ssim(crop_border(rgb_to_y(sr), border), crop_border(rgb_to_y(hr), border))


def psnr_rgb(sr: torch.Tensor, hr: torch.Tensor, border: int = 4) -> float:
    """The NTIRE challenge's PSNR: all RGB channels, a 4-pixel border cropped. RGB 3×H×W in [0, 255]."""
    return psnr(crop_border(sr, border), crop_border(hr, border))
