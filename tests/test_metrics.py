from __future__ import annotations

import math

import pytest
import torch

from rlfn.quality.metrics import psnr, psnr_rgb, psnr_y, rgb_to_y, ssim, ssim_y, to_255


def test_identical_images():
    img = torch.rand(3, 40, 50, dtype=torch.float64) * 255
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert psnr_y(img, img, 4) == math.inf and ssim_y(img, img, 4) == pytest.approx(1.0)


def test_known_psnr_of_known_error():
    a = torch.zeros(30, 30, dtype=torch.float64)
    b = a + 5  # MSE 25 → PSNR = 10·log10(255² / 25)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    assert psnr(a / 255, b / 255, data_range=1.0) == pytest.approx(psnr(a, b))


def test_ssim_symmetric_and_at_most_one():
    torch.manual_seed(0)
    a = torch.rand(64, 64, dtype=torch.float64) * 255
    b = (a + torch.randn_like(a) * 20).clamp(0, 255)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert ssim(a, b) < 1
    assert ssim(a, 255 - a) < 0.1


def test_ssim_matches_direct_2d_window():
    """The separable implementation equals the textbook 11×11 Gaussian-window definition."""
    import torch.nn.functional as F

    torch.manual_seed(1)
    a = torch.rand(40, 33, dtype=torch.float64) * 255
    b = (a + torch.randn_like(a) * 15).clamp(0, 255)
    x = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    w = torch.outer(g, g)[None, None] / g.sum() ** 2
    A, B = a[None, None], b[None, None]
    mu1, mu2 = F.conv2d(A, w), F.conv2d(B, w)
    s11, s22 = F.conv2d(A * A, w) - mu1**2, F.conv2d(B * B, w) - mu2**2
    s12 = F.conv2d(A * B, w) - mu1 * mu2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ref = (((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))).mean()
    assert ssim(a, b) == pytest.approx(ref.item(), abs=1e-12)


def test_y_channel_bt601():
    white = torch.full((3, 2, 2), 255.0)
    black = torch.zeros(3, 2, 2)
    assert torch.allclose(rgb_to_y(white), torch.full((2, 2), 235.0, dtype=torch.float64))
    assert torch.allclose(rgb_to_y(black), torch.full((2, 2), 16.0, dtype=torch.float64))


def test_border_crop_and_rounding():
    a = torch.zeros(3, 20, 20, dtype=torch.float64)
    b = a.clone()
    b[:, :4, :] = 255  # differences only inside the 4-pixel border
    assert psnr_rgb(a, b, 4) == math.inf
    assert psnr_y(a, b, 4) == math.inf and psnr_y(a, b, 3) < math.inf
    assert torch.equal(to_255(torch.tensor([0.0, 0.5, 1.0, 1.2])), torch.tensor([0.0, 128.0, 255.0, 255.0], dtype=torch.float64))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        psnr(torch.zeros(3, 4, 4), torch.zeros(3, 4, 5))
