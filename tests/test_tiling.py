"""Tiled inference: the blend is a partition of unity, the ESA is tile-exact, seams are invisible."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rlfn
from rlfn.io.images import load_picture
from rlfn.models.rlfn import ESA
from rlfn.inference.tiling import Window, esa_window, plan_tiles, split
from rlfn.inference.upscaler import Upscaler


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


class Nearest:
    """A model-like whose output depends on each pixel alone: tiling must reproduce it exactly."""

    def __init__(self, scale: int):
        self.scale = scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")


@pytest.mark.parametrize("n,tile", [(100, 32), (33, 32), (7, 32), (512, 512), (1000, 300)])
def test_split_covers_evenly(n, tile):
    b = split(n, tile)
    sizes = np.diff(b)
    assert b[0] == 0 and b[-1] == n and sizes.min() > 0
    assert sizes.max() <= tile and sizes.max() - sizes.min() <= 1


@pytest.mark.parametrize("tile,pad,blend", [(32, 8, 8), (40, 4, 2), (33, 0, 0), (64, 16, 16)])
def test_blend_weights_sum_to_one(tile, pad, blend):
    img = np.random.default_rng(0).random((97, 130, 3), dtype=np.float32)
    out = Upscaler(Nearest(2), tile=tile, tile_pad=pad, blend=blend).upscale(img)
    want = img.repeat(2, 0).repeat(2, 1)
    assert out.shape == want.shape
    np.testing.assert_allclose(out, want, atol=1e-6)


def test_tile_count_and_alignment():
    plan = plan_tiles(300, 200, 64, pad=32, blend=8, align=6)
    assert plan.count == 5 * 4
    assert plan_tiles(300, 200, None).count == 1


@pytest.mark.parametrize("h,w", [(40, 52), (63, 45)])
def test_tile_aware_esa_matches_original_on_the_whole_image(h, w):
    torch.manual_seed(0)
    esa = ESA(16, 48).eval()
    x = torch.randn(1, 48, h, w)
    with torch.no_grad():
        want = esa(x)
        other = torch.rand(1, 2, 5, 5)
        other_want = F.interpolate(other, size=(9, 9), mode="bilinear", align_corners=False)
        with esa_window(None):
            assert torch.equal(esa(x), want)  # no window: the original forward
        with esa_window(Window(0, 0, h, w)):  # our resize with whole-image positions = F.interpolate's
            got = esa(x)
            # Other resizes pass through untouched.
            assert torch.equal(F.interpolate(other, size=(9, 9), mode="bilinear", align_corners=False), other_want)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_esa_window_restores_interpolate():
    from rlfn.inference import tiling

    before = torch.nn.functional.interpolate
    with esa_window(Window(0, 0, 30, 30)):
        assert torch.nn.functional.interpolate is not before
    assert torch.nn.functional.interpolate is before is tiling._original_interpolate


def test_tiles_match_whole_image_random_weights():
    torch.manual_seed(1)
    model = rlfn.create_model("rlfn_s", 2)
    from rlfn.models.descriptor import SRModel

    sr = SRModel(model.eval(), "rlfn_s", 2, pixel_range=1.0)
    img = (np.random.default_rng(1).random((90, 110, 3)) * 255).astype(np.uint8)
    whole = Upscaler(sr, tile=None, device="cpu").upscale(img)
    tiled = Upscaler(sr, tile=40, device="cpu")
    out = tiled.upscale(img)
    assert tiled.stats.tiles > 1
    assert psnr8(out, whole) >= 45


def seam_jump(img: np.ndarray, rows: list[int]) -> float:
    """Mean absolute step across the given output rows."""
    f = img.astype(np.float64)
    return float(np.mean([np.abs(f[r] - f[r - 1]).mean() for r in rows]))


@pytest.mark.parametrize("name", ["baboon.png", "bridge.png", "comic.png"])
def test_seam_free_on_set14_with_official_weights(name, official_dir, benchmarks_dir):
    """The issue's bound: ≥ 45 dB between tiled and untiled output with small tiles, and no visible seam."""
    model = rlfn.load_file(official_dir / "rlfn_s_x4.pth")
    img = load_picture(benchmarks_dir / "Set14" / name).pixels[:96, :120]
    whole = Upscaler(model, tile=None, device="cpu").upscale(img)
    up = Upscaler(model, tile=48, device="cpu")  # default pad and blend
    tiled = up.upscale(img)
    assert up.stats.tiles == 2 * 3
    assert psnr8(tiled, whole) >= 45
    # A seam would show as a larger step across the tile boundaries than the untiled image has there.
    plan = plan_tiles(img.shape[0], img.shape[1], 48)
    rows = [b * 4 for b in plan.rows[1:-1]]
    assert abs(seam_jump(tiled, rows) - seam_jump(whole, rows)) < 0.25
    cols = [b * 4 for b in plan.cols[1:-1]]
    t_cols, w_cols = np.swapaxes(tiled, 0, 1), np.swapaxes(whole, 0, 1)
    assert abs(seam_jump(t_cols, cols) - seam_jump(w_cols, cols)) < 0.25
