"""Complexity counts against the NTIRE 2022 efficient-SR challenge's published figures (reference.md)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import rlfn
from rlfn.perf.flops import count

# NTIRE 2022 challenge report, RLFN-ntire x4 on a 256×256 LR input.
PUBLISHED = {"params": 0.317e6, "flops": 19.70e9, "activations": 80.05e6}


def test_rlfn_ntire_counts_match_the_challenge():
    c = count(rlfn.create_model("rlfn_ntire", 4))
    assert c.input_size == (256, 256)
    assert c.convs == 39
    for key, published in PUBLISHED.items():
        got = getattr(c, key)
        assert abs(got - published) / published < 0.01, f"{key}: {got:,} vs published {published:,.0f}"


def test_flops_are_multiply_adds_of_every_convolution():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    c = count(conv, (16, 20))
    assert c.flops == 3 * 8 * 9 * 16 * 20  # one multiply-add per weight per output pixel, not two FLOPs
    assert c.activations == 8 * 16 * 20 and c.convs == 1 and c.params == 3 * 8 * 9 + 8


def test_counts_scale_with_the_input_and_depend_on_the_variant():
    small, big = count(rlfn.create_model("rlfn_s", 4), (64, 64)), count(rlfn.create_model("rlfn_s", 4), (128, 128))
    # the ESA's strided and pooled branch is not exactly proportional to the input area
    assert abs(big.activations / small.activations - 4) < 0.01 and big.activations != 4 * small.activations
    assert abs(big.flops / small.flops - 4) < 0.01
    assert count(rlfn.create_model("rlfn", 4), (64, 64)).flops > small.flops


class _NoMeta(nn.Module):
    """A module whose forward leaves PyTorch (numpy), so the meta-device count cannot run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1)

    def forward(self, x):
        y = torch.from_numpy(self.conv(x).detach().cpu().numpy())
        return nn.functional.pixel_shuffle(y, 2)


def test_modules_without_meta_support_are_counted_on_real_tensors():
    m = _NoMeta()
    c = count(m, (10, 10))
    assert c.flops == 3 * 12 * 9 * 100 and c.convs == 1 and m.training  # training mode restored
