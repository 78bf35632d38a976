from __future__ import annotations

import pytest
import torch
from conftest import SHARED, need
from reference import parameter_counts

import rlfn
from rlfn.errors import UnknownModelError
from rlfn.models.registry import VARIANTS, parse_name


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_backward_every_variant(variant, scale):
    torch.manual_seed(0)
    model = rlfn.create_model(variant, scale)
    x = torch.rand(2, 3, 17, 23, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 3, 17 * scale, 23 * scale)
    assert torch.isfinite(y).all()
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_parameter_counts_equal_reference_table():
    counts = parameter_counts(need(SHARED / "reference.md"))
    assert len(counts) == 7
    for (variant, scale), n in counts.items():
        assert sum(p.numel() for p in rlfn.create_model(variant, scale).parameters()) == n


def test_names_and_scales():
    assert parse_name("rlfn_s_x4")[0].name == "rlfn_s"
    assert parse_name("RLFN-S", 2) == (VARIANTS["rlfn_s"], 2)
    assert rlfn.create_model("rlfn_ntire_x2").scale == 2
    with pytest.raises(UnknownModelError, match="known models: rlfn, rlfn_ntire, rlfn_s"):
        rlfn.create_model("edsr")
    with pytest.raises(UnknownModelError, match="x4"):
        parse_name("rlfn_x4", 2)


def test_custom_width_and_depth():
    model = rlfn.RLFN(scale=3, channels=24, mid_channels=32, blocks=2)
    assert len(model.blocks) == 2
    assert model(torch.rand(1, 3, 20, 20)).shape == (1, 3, 60, 60)


def test_descriptor_handles_range_layout_and_tiny_inputs():
    torch.manual_seed(0)
    module = rlfn.create_model("rlfn_s", 2).eval()
    sr = rlfn.SRModel(module, "rlfn_s", 2, pixel_range=255.0)
    x = torch.rand(3, 20, 30)
    y = sr(x)
    with torch.no_grad():
        expected = (module(x[None] * 255) / 255).clamp(0, 1)[0]
    assert y.shape == (3, 40, 60)
    assert torch.allclose(y, expected, atol=1e-6)
    tiny = sr(torch.rand(1, 3, 5, 9))  # below the ESA's 15-pixel minimum: padded, then cropped
    assert tiny.shape == (1, 3, 10, 18)
    assert 0 <= tiny.min() and tiny.max() <= 1
