"""The fast inference path computes the same function as the plain model (within 1e-4 in [0, 1])."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import rlfn
from rlfn.models.descriptor import SRModel
from rlfn.inference.fastpath import FusedRLFN, optimize, pad_channels


def _model(variant: str, scale: int = 4, pixel_range: float = 255.0, seed: int = 0) -> SRModel:
    torch.manual_seed(seed)
    m = rlfn.create_model(variant, scale).eval()
    # Random init gives nearly constant outputs; larger biases make every layer matter.
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 1:
                p.uniform_(-0.1, 0.1)
    return SRModel(module=m, variant=variant, scale=scale, pixel_range=pixel_range,
                   channels=m.channels, mid_channels=m.mid_channels, blocks=m.num_blocks)


def _image(h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, max(2, h // 4), max(2, w // 4), generator=g)
    smooth = nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)
    return (smooth + 0.05 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("variant, channels", [("rlfn", 56), ("rlfn", 64), ("rlfn_ntire", 48), ("rlfn_s", 64)])
def test_padded_rlfn_equals_unpadded(variant, channels):
    base = _model(variant, pixel_range=1.0).module
    padded = pad_channels(base, channels)
    assert padded.channels == channels and padded.mid_channels % 8 == 0
    assert sum(p.numel() for p in padded.parameters()) > sum(p.numel() for p in base.parameters())
    x = _image(37, 29)
    with torch.inference_mode():
        a, b = base(x), padded(x)
        # the added channels really are zero all through the trunk
        assert padded.conv_1(x)[:, base.channels:].abs().max() == 0
    assert a.shape == b.shape
    assert (a - b).abs().max() <= 1e-5 * max(1.0, a.abs().max().item())


def test_padding_cannot_shrink():
    with pytest.raises(ValueError):
        pad_channels(_model("rlfn").module, 48)


@pytest.mark.parametrize("variant", ["rlfn", "rlfn_s", "rlfn_ntire"])
@pytest.mark.parametrize("options", [{}, {"inplace": False, "fuse": False}, {"pad": "auto"}, {"fuse": False},
                                     {"pad": "auto", "fuse": False}])
def test_fast_path_matches_plain(variant, options):
    model = _model(variant)
    fast = optimize(model, **options)
    x = _image(41, 35)
    ref = model(x)
    out = fast(x)
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() <= 1e-4
    if options.get("inplace", True) or options.get("fuse", True):
        assert isinstance(fast.module, FusedRLFN) and fast.pixel_range == 1.0
    else:
        assert fast.module.conv_1.weight.is_contiguous(memory_format=torch.channels_last)
    # the original is untouched
    assert model.module.conv_1.weight.is_contiguous() and model.pixel_range == 255.0


def test_fused_falls_back_to_plain_ops_with_autograd():
    model = _model("rlfn_ntire", pixel_range=1.0)
    fast = optimize(model, fuse=True)
    x = _image(20, 24)
    with torch.no_grad():
        ref = model.module(x)
    y = fast.module(x.requires_grad_())  # grad mode: F.conv2d, so gradients flow
    y.sum().backward()
    assert x.grad is not None and (y.detach() - ref).abs().max() <= 1e-4


def test_tiny_and_single_images():
    model = _model("rlfn_s", scale=2)
    fast = optimize(model)
    x = _image(9, 13)[0]  # under the ESA's 15-pixel minimum, 3×H×W
    assert fast(x).shape == (3, 18, 26)
    assert (fast(x) - model(x)).abs().max() <= 1e-4


def test_other_modules_get_eval_mode_channels_last_and_heap_reuse():
    from rlfn.inference.fastpath import HeapRetaining

    m = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2)).train()
    sr = SRModel(module=m, variant="other", scale=2, pixel_range=1.0)
    fast = optimize(sr)
    assert not fast.module.training and m.training
    assert isinstance(fast.module, HeapRetaining)
    assert fast.module.module[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not isinstance(optimize(sr, retain_heap=False).module, HeapRetaining)
    x = torch.rand(1, 3, 16, 16)
    assert (fast(x) - sr(x)).abs().max() <= 1e-5


def test_official_weights_on_a_real_image(official_dir, train_data_dir):
    from rlfn.io.images import read_rgb

    x = read_rgb(train_data_dir / "div2k-0901-1000-lr-x4" / "0901.png")[:, :120, :160] / 255
    for name in ("rlfn_x4", "rlfn_ntire_x4"):
        model = rlfn.load_file(official_dir / f"{name}.pth")
        ref = model(x)
        for options in ({}, {"inplace": False, "fuse": False}, {"pad": "auto", "fuse": False}):
            assert (optimize(model, **options)(x) - ref).abs().max() <= 1e-4, (name, options)


def test_compiled_fast_path_matches_and_keeps_heap_settings_out_of_the_graph(recwarn):
    pytest.importorskip("torch._inductor")
    import shutil

    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    model = _model("rlfn_ntire", scale=2)
    fast = optimize(model, compile=True)
    assert isinstance(fast.module, FusedRLFN)  # compiled inside: rlfn.heap's settings stay in eager Python
    x = _image(24, 20)
    assert (fast(x) - model(x)).abs().max().item() <= 1e-4
    assert not [w for w in recwarn if "heap.py" in str(w.message)]
