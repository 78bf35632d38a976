"""--pretrained real and --denoise S: the real-world weights in the catalogue, and network interpolation."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from rlfn.cli.main import main
from rlfn.errors import RLFNError
from rlfn.models import weights as catalogue
from rlfn.models.interpolate import interpolate
from rlfn.models.loader import load_model


@pytest.fixture
def shipped_real(tmp_path, monkeypatch):
    """Real-world weights where the package would ship them: our x4 weights, shifted (a stand-in)."""
    clean = load_model("rlfn_s", 4, pretrained="ours")
    state = {k: (v + 0.01).contiguous() for k, v in clean.module.state_dict().items()}
    path = tmp_path / "rlfn_s_x4_real.safetensors"
    save_file(state, str(path), metadata={"pixel_range": "1.0"})
    real_path = catalogue.bundled_weights_path

    def fake(variant, scale, tag="ours"):
        return path if (tag, variant, scale) == ("real", "rlfn_s", 4) else real_path(variant, scale, tag)

    monkeypatch.setattr(catalogue, "bundled_weights_path", fake)
    return clean, state


def test_real_is_in_the_catalogue(shipped_real):
    m = load_model("rlfn_s", 4, pretrained="real")
    assert m.source == "real"
    assert any(w.tag == "real" for w in catalogue.available_weights())


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0])
def test_denoise_interpolates(shipped_real, s):
    clean, real_state = shipped_real
    mixed = load_model("rlfn_s", 4, denoise=s).module.state_dict()
    for k, v in clean.module.state_dict().items():
        torch.testing.assert_close(mixed[k], v + s * (real_state[k] - v), rtol=0, atol=1e-6)


def test_denoise_between_models_gives_between_outputs(shipped_real):
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    a, b, h = (load_model("rlfn_s", 4, denoise=s)(x) for s in (0.0, 1.0, 0.5))
    assert (h - a).abs().mean() < (b - a).abs().mean()


def test_interpolate_refuses_different_networks():
    a = load_model("rlfn_s", 4, pretrained="ours")
    b = load_model("rlfn_s", 2, pretrained="ours")
    with pytest.raises(RLFNError, match="not the same network"):
        interpolate(a, b, 0.5)


def test_without_real_weights_one_line(tmp_path, capsys, monkeypatch):
    """A package without real-world weights (other variants and scales, or a trimmed install) says so."""
    from PIL import Image

    shipped = catalogue.bundled_weights_path
    monkeypatch.setattr(catalogue, "bundled_weights_path",
                        lambda variant, scale, tag="ours": None if tag == "real" else shipped(variant, scale, tag))

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "--denoise", "0.5", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "real-world weights" in err[0]


def test_denoise_with_a_file_is_refused(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    path = catalogue.bundled_weights_path("rlfn_s", 4)
    assert main(["upscale", str(tmp_path / "a.png"), "--weights", str(path), "--denoise", "0.5"]) == 2
    assert "does not apply" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--pretrained", "official"], "cannot use --pretrained official"),  # it used to give ours+real silently
    (["-m", "rlfn_ntire"], "not for rlfn_ntire x4"),  # it used to suggest --weights, which --denoise refuses
])
def test_denoise_refuses_what_it_cannot_honour_in_one_line(tmp_path, capsys, argv, message):
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "--denoise", "0.5", *argv, "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "--weights" not in err[0]
