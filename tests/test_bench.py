"""``rlfn bench``: every JSON field present and sensible, model specs, plot, errors as one line."""
from __future__ import annotations

import json
import sys

import pytest

from rlfn.perf.bench import FIELDS, Runtime, _stats, resolve_model
from rlfn.cli import main

FAST = ["--size", "20x24", "--count", "2", "--warmup", "1"]


def test_json_has_every_field(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "rlfn_ntire_x4", "rlfn_s_x2", *FAST, "--json", str(out), "--psnr", "rlfn_s_x2=37.5"]) == 0
    table = capsys.readouterr().out
    assert "rlfn_ntire_x4" in table and "rlfn_s_x2" in table
    doc = json.loads(out.read_text())
    assert {"environment", "results", "images"} <= set(doc)
    ntire, small = doc["results"]
    for r in (ntire, small):
        assert set(FIELDS) <= set(r), set(FIELDS) - set(r)
        rt = r["runtime_ms"]
        assert set(Runtime.__dataclass_fields__) == set(rt)
        assert 0 < rt["min_ms"] <= rt["median_ms"] <= rt["max_ms"] and rt["samples"] == 2
        assert r["peak_memory_mb"] > 0 and r["megapixels_per_s"] > 0 and r["images"] == 2
    assert (ntire["params"], ntire["convs"], ntire["scale"], ntire["psnr"]) == (317218, 39, 4, None)
    assert (small["scale"], small["psnr"]) == (2, 37.5)
    # 20×24 input, ×2: the throughput is the output's pixels over the median time
    assert small["megapixels_per_s"] == pytest.approx(40 * 48 / 1e6 / (small["runtime_ms"]["median_ms"] / 1000))


def test_stats_median_and_spread():
    s = _stats([0.003, 0.001, 0.002, 0.010])
    assert (s.min_ms, s.max_ms, s.samples) == pytest.approx((1, 10, 4))
    assert s.median_ms == pytest.approx(2.5) and s.p25_ms <= s.median_ms <= s.p75_ms


def test_module_callable_spec(tmp_path, monkeypatch):
    (tmp_path / "othersr.py").write_text(
        "import torch.nn as nn\n"
        "def make():\n"
        "    return nn.Sequential(nn.Conv2d(3, 27, 3, padding=1), nn.PixelShuffle(3))\n"
    )
    monkeypatch.chdir(tmp_path)
    model = resolve_model("othersr:make")
    assert model.scale == 3 and model.num_parameters == 3 * 27 * 9 + 27
    assert main(["bench", "othersr:make", *FAST, "--json", "o.json"]) == 0
    r = json.loads((tmp_path / "o.json").read_text())["results"][0]
    assert (r["convs"], r["activations"], r["flops"]) == (1, 27 * 256 * 256, 3 * 27 * 9 * 256 * 256)
    sys.modules.pop("othersr", None)


@pytest.mark.parametrize("spec, message", [
    ("nosuchpkg_xyz:make", "cannot import"),
    ("json:nosuchattr", "no attribute"),
    ("json:dumps", "calling it failed"),
    ("json:JSONDecoder", "not an nn.Module"),
    ("rlfn_huge", "unknown model"),
    ("missing/ckpt.pth", "no such file"),
])
def test_bad_models_are_one_line_errors(spec, message, capsys):
    assert main(["bench", spec, *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_existing_json_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "b.json"
    out.write_text("keep")
    assert main(["bench", "rlfn_ntire", *FAST, "--json", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep"


def test_plot_runtime_against_psnr(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fig.png"
    assert main(["bench", "rlfn_ntire_x4", *FAST, "--plot", str(out), "--psnr", "rlfn_ntire_x4=29.0"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main(["bench", "rlfn_ntire_x4", *FAST, "--plot", str(tmp_path / "f.png")]) == 2
    assert "pip install" in capsys.readouterr().err and not (tmp_path / "f.png").exists()


def test_psnr_for_an_unknown_model_is_refused(capsys):
    assert main(["bench", "rlfn_ntire_x4", *FAST, "--psnr", "rlfn=32"]) == 2
    assert "not one of the models" in capsys.readouterr().err


def test_checkpoint_named_like_a_model_is_a_file(tmp_path, monkeypatch):
    """`rlfn bench rlfn_x4.pth` in the weights folder times that checkpoint, not random weights."""
    import torch

    import rlfn

    module = rlfn.create_model("rlfn_ntire", 2)
    torch.save(module.state_dict(), tmp_path / "rlfn_ntire_x2.pth")
    monkeypatch.chdir(tmp_path)
    model = resolve_model("rlfn_ntire_x2.pth")
    assert model.scale == 2 and model.source != "random weights"
    assert resolve_model("rlfn_ntire_x2").source.startswith("random weights")  # a bare name is still a name (none shipped)
