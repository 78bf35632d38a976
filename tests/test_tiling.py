"""Tiled inference: the blend is a partition of unity, the ESA is tile-exact, seams are invisible."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rlfn
from rlfn.inference.tiling import Window, plan_tiles, split
from rlfn.inference.upscaler import Upscaler
from rlfn.io.images import load_picture
from rlfn.models import esa
from rlfn.models.descriptor import SRModel
from rlfn.models.esa import ESA


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
    block = ESA(16, 48).eval()
    x = torch.randn(1, 48, h, w)
    with torch.no_grad():
        want = block(x)
        other = torch.rand(1, 2, 5, 5)
        other_want = F.interpolate(other, size=(9, 9), mode="bilinear", align_corners=False)
        with esa.image_window(None):
            assert torch.equal(block(x), want)  # no window: the original forward
        with esa.image_window(Window(0, 0, h, w)):  # our resize with whole-image positions = F.interpolate's
            got = block(x)
            # Other resizes pass through untouched.
            assert torch.equal(F.interpolate(other, size=(9, 9), mode="bilinear", align_corners=False), other_want)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_no_function_of_torch_is_replaced():
    before = F.interpolate
    with esa.image_window(Window(0, 0, 30, 30)):
        assert F.interpolate is before
    assert F.interpolate is before


def test_esa_window_must_start_on_the_grid():
    with pytest.raises(ValueError, match="grid"):
        with esa.image_window(Window(esa.GRID + 1, 0, 60, 60)):
            pass


def test_esa_geometry():
    assert (esa.GRID, esa.MIN_SIZE) == (6, 15)
    assert esa.pooled_len(esa.MIN_SIZE) == 1 and esa.pooled_len(esa.MIN_SIZE - 1) == 0
    torch.manual_seed(0)
    block = ESA(4, 8).eval()
    with torch.no_grad():
        block(torch.rand(1, 8, esa.MIN_SIZE, esa.MIN_SIZE))  # the smallest input runs
        with pytest.raises(RuntimeError):
            block(torch.rand(1, 8, esa.MIN_SIZE - 1, esa.MIN_SIZE - 1))


class Bilinear(torch.nn.Module):
    """A model that upsamples with bilinear F.interpolate (what a process-wide patch would corrupt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        small = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        return F.interpolate(small, size=(x.shape[2] * 2, x.shape[3] * 2), mode="bilinear", align_corners=False)


def test_tiling_in_one_thread_leaves_interpolate_alone_in_another():
    """One thread upscales an RLFN tile by tile while another runs a bilinear model: both stay correct."""
    torch.manual_seed(2)
    sr = SRModel(rlfn.create_model("rlfn_s", 2).eval(), "rlfn_s", 2, pixel_range=1.0)
    img = (np.random.default_rng(2).random((60, 66, 3)) * 255).astype(np.uint8)
    up = Upscaler(sr, tile=24, device="cpu", fast=False)
    want_tiled = up.upscale(img)
    assert up.stats.tiles > 1
    bilinear = Bilinear().eval()
    xs = [torch.rand(1, 3, 28 + 6 * i, 34, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    with torch.no_grad():
        want_bilinear = [bilinear(x) for x in xs]
    stop = threading.Event()
    errors: list[str] = []

    def run_bilinear() -> None:
        n = 0
        while not stop.is_set() or n < 20:
            i = n % len(xs)
            with torch.no_grad():
                if not torch.equal(bilinear(xs[i]), want_bilinear[i]):
                    errors.append(f"bilinear result {n} changed")
            n += 1

    other = threading.Thread(target=run_bilinear)
    other.start()
    try:
        got = [up.upscale(img) for _ in range(3)]
    finally:
        stop.set()
        other.join()
    assert not errors
    for g in got:
        np.testing.assert_array_equal(g, want_tiled)


def test_tiles_match_whole_image_random_weights():
    torch.manual_seed(1)
    model = rlfn.create_model("rlfn_s", 2)
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


@pytest.mark.slow
def test_tiles_match_whole_image_on_all_of_set14(official_dir, benchmarks_dir):
    """The figure of docs/upscale.md: ≥ 61 dB between tiled (32-pixel tiles, default pad and blend) and
    untiled output, official RLFN-S ×4, every Set14 image shrunk ×4 (MATLAB bicubic) as the input."""
    from rlfn.quality.degradation import read_pair

    model = rlfn.load_file(official_dir / "rlfn_s_x4.pth")
    whole_up = Upscaler(model, tile=None, device="cpu")
    tiled_up = Upscaler(model, tile=32, device="cpu")
    for path in sorted((benchmarks_dir / "Set14").glob("*.png")):
        _, lr = read_pair(path, None, 4)
        img = lr.permute(1, 2, 0).to(torch.uint8).numpy()
        assert psnr8(tiled_up.upscale(img), whole_up.upscale(img)) >= 61, path.name
