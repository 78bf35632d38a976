from __future__ import annotations

import math

import pytest
import torch

from rlfn.quality.imresize import imresize
from rlfn.quality.metrics import psnr


def smooth_image(h: int, w: int, dtype=torch.float64) -> torch.Tensor:
    y = torch.linspace(0, 1, h, dtype=dtype)[:, None]
    x = torch.linspace(0, 1, w, dtype=dtype)[None, :]
    return torch.stack([
        0.5 + 0.4 * torch.sin(2 * math.pi * x) * torch.cos(math.pi * y),
        0.5 + 0.3 * torch.cos(3 * x + 2 * y),
        x * y,
    ]) * 255


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 1 / 2, 2, 3, 4, 0.7])
def test_constant_image_stays_constant(scale):
    img = torch.full((3, 37, 29), 123.0, dtype=torch.float64)
    out = imresize(img, scale=scale)
    assert torch.allclose(out, img[:, :1, :1].expand_as(out), atol=1e-9)


@pytest.mark.parametrize(("size", "scale", "expected"), [
    ((100, 80), 1 / 4, (25, 20)), ((101, 77), 1 / 4, (26, 20)), ((30, 45), 1 / 3, (10, 15)),
    ((31, 46), 1 / 3, (11, 16)), ((25, 20), 4, (100, 80)), ((17, 9), 3, (51, 27)),
])
def test_output_sizes_are_matlab_ceil(size, scale, expected):
    assert imresize(torch.zeros(3, *size), scale=scale).shape[-2:] == expected


def test_explicit_size_and_argument_errors():
    assert imresize(torch.zeros(1, 40, 30), size=(13, 50)).shape == (1, 13, 50)
    with pytest.raises(ValueError):
        imresize(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError):
        imresize(torch.zeros(3, 4, 4), scale=2, size=(8, 8))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_down_up_round_trip_on_smooth_image(scale):
    hr = smooth_image(96, 120)
    back = imresize(imresize(hr, scale=1 / scale), scale=scale)
    border = 2 * scale
    assert psnr(back[:, border:-border, border:-border], hr[:, border:-border, border:-border]) > 40


def test_batch_and_single_agree():
    torch.manual_seed(0)
    batch = torch.rand(4, 3, 33, 47, dtype=torch.float64)
    out = imresize(batch, scale=1 / 3)
    for i in range(4):
        assert torch.allclose(out[i], imresize(batch[i], scale=1 / 3), atol=1e-12)


def test_float32_and_float64_agree():
    torch.manual_seed(0)
    img = torch.rand(3, 64, 48, dtype=torch.float64) * 255
    for scale in (1 / 4, 4):
        a = imresize(img, scale=scale)
        b = imresize(img.float(), scale=scale)
        assert b.dtype == torch.float32
        assert torch.allclose(a.float(), b, rtol=1e-5, atol=255 * 2e-6)


def test_antialiasing_and_symmetric_border():
    """Shrinking a 1-pixel checkerboard averages it away (antialiasing); no border darkening."""
    board = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 255.0
    small = imresize(board.double(), scale=1 / 4)
    assert torch.allclose(small[1:-1, 1:-1], torch.full_like(small[1:-1, 1:-1], 127.5), atol=0.5)
    assert torch.allclose(small, torch.full_like(small, 127.5), atol=3.0)  # mirrored, not zero-padded


def test_pixel_centres_follow_matlab_convention():
    """Keys' cubic reproduces linear functions, so away from the borders a ramp samples exactly at
    MATLAB's output pixel centres u = x/s + (1 - 1/s)/2 (1-based), shrinking and enlarging alike."""
    ramp = torch.arange(1, 33, dtype=torch.float64)[None, :]
    for scale in (0.5, 0.25, 2.0, 3.0):
        out = imresize(ramp, size=(1, round(32 * scale)))[0]
        x = torch.arange(1, out.numel() + 1, dtype=torch.float64)
        u = x / scale + 0.5 * (1 - 1 / scale)
        inner = (u - 2 / min(scale, 1) > 1) & (u + 2 / min(scale, 1) < 32)
        assert inner.sum() > 3
        assert torch.allclose(out[inner], u[inner], atol=1e-9)


def test_gpu_if_available():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    img = torch.rand(2, 3, 40, 40)
    assert torch.allclose(imresize(img.cuda(), scale=0.5).cpu(), imresize(img, scale=0.5), atol=1e-5)
