"""The test that matters most: the official checkpoints, evaluated by `rlfn eval`, reproduce the
published numbers of ../shared/reference.md (within 0.01 dB PSNR and 0.0005 SSIM)."""
from __future__ import annotations

import json

import pytest
from conftest import BENCHMARKS, OFFICIAL, SHARED, need
from reference import official_scores, parameter_counts

from rlfn.cli import main

CHECKPOINTS = ["rlfn_x4", "rlfn_s_x4", "rlfn_x2", "rlfn_s_x2", "rlfn_ntire_x4"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_official_checkpoint_reproduces_reference(name, tmp_path, capsys):
    ckpt = need(OFFICIAL / f"{name}.pth")
    expected = official_scores(need(SHARED / "reference.md"))
    out = tmp_path / "result.json"
    rc = main(["eval", str(need(BENCHMARKS / "Set5")), str(BENCHMARKS / "Set14"),
               "--weights", str(ckpt), "--json", str(out), "--quiet"])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["protocol"] == "y"
    assert f"{result['model']}_x{result['scale']}" == name
    for r in result["results"]:
        psnr, ssim = expected[(name, r["dataset"])]
        assert r["images"] == {"Set5": 5, "Set14": 14}[r["dataset"]]
        assert abs(r["psnr"] - psnr) <= 0.01, (r["dataset"], r["psnr"], psnr)
        assert abs(r["ssim"] - ssim) <= 0.0005, (r["dataset"], r["ssim"], ssim)
    table = capsys.readouterr().out
    assert "bicubic" in table and "Set14" in table


def test_bicubic_baseline_matches_usual_figures(benchmarks_dir):
    """The bicubic row: ×4 Set5 ≈ 28.42 dB and ×2 Set5 ≈ 33.66 dB on Y (published with MATLAB)."""
    import torch

    from rlfn.quality.degradation import bicubic_upscale, make_lr, modcrop
    from rlfn.io.images import list_images, read_rgb
    from rlfn.quality.metrics import psnr_y

    for scale, usual in ((4, 28.42), (2, 33.66)):
        scores = []
        for path in list_images(benchmarks_dir / "Set5"):
            hr = modcrop(read_rgb(path), scale).to(torch.float64)
            scores.append(psnr_y(bicubic_upscale(make_lr(hr, scale), scale), hr, scale))
        assert abs(sum(scores) / len(scores) - usual) < 0.05


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_official_checkpoint_loads_strictly_with_published_parameter_count(name):
    from rlfn.models.checkpoint import read_checkpoint
    from rlfn.models.registry import create_model

    counts = parameter_counts(need(SHARED / "reference.md"))
    state, _ = read_checkpoint(need(OFFICIAL / f"{name}.pth"))
    variant, scale = name.rsplit("_x", 1)
    model = create_model(variant, int(scale))
    model.load_state_dict(state, strict=True)  # parameter names equal the official ones
    assert sum(p.numel() for p in model.parameters()) == counts[(variant, int(scale))]
