from __future__ import annotations

import pickle

import pytest
import torch
from conftest import OFFICIAL, need

import rlfn
from rlfn.models.checkpoint import read_checkpoint, save_safetensors
from rlfn.errors import CheckpointError, CheckpointMismatchError


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return rlfn.create_model("rlfn_s", 2)


@pytest.mark.parametrize("wrap", ["plain", "params_ema", "params", "state_dict", "module_prefix"])
def test_wrappers_are_unwrapped(tmp_path, small_model, wrap):
    state = small_model.state_dict()
    if wrap == "module_prefix":
        obj = {f"module.{k}": v for k, v in state.items()}
    elif wrap == "plain":
        obj = state
    else:
        obj = {wrap: state, "iter": torch.tensor(5)}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    loaded = rlfn.load_file(path)
    assert (loaded.variant, loaded.scale) == ("rlfn_s", 2)
    for k, v in loaded.module.state_dict().items():
        assert torch.equal(v, state[k])


def test_params_ema_preferred_over_params(tmp_path, small_model):
    ema = {k: v + 1 for k, v in small_model.state_dict().items()}
    torch.save({"params": small_model.state_dict(), "params_ema": ema}, tmp_path / "c.pth")
    loaded = rlfn.load_file(tmp_path / "c.pth")
    assert torch.equal(loaded.module.conv_1.weight, ema["conv_1.weight"])


def test_safetensors_round_trip_keeps_metadata(tmp_path, small_model):
    path = save_safetensors(small_model, tmp_path / "m.safetensors", {"variant": "rlfn_s", "scale": 2, "pixel_range": 1.0})
    loaded = rlfn.load_file(path)
    assert loaded.pixel_range == 1.0 and loaded.scale == 2 and loaded.metadata["variant"] == "rlfn_s"
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded(x), small_model(x).clamp(0, 1), atol=1e-6)


def test_saved_weights_are_readable_by_others_as_plain_files_are(tmp_path, small_model):
    """Weights are shared: the file gets the permissions open() gives (safetensors' own writer makes 0600)."""
    import os

    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    path = save_safetensors(small_model, tmp_path / "m.safetensors", {"pixel_range": 1.0})
    assert os.stat(path).st_mode & 0o777 == os.stat(plain).st_mode & 0o777


def test_official_checkpoint_detected_and_bit_exact(official_dir):
    path = need(official_dir / "rlfn_ntire_x4.pth")
    loaded = rlfn.load_model(str(path))
    assert (loaded.variant, loaded.scale, loaded.pixel_range) == ("rlfn_ntire", 4, 255.0)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    for k, v in loaded.module.state_dict().items():
        assert torch.equal(v, raw[k].cpu())


def test_wrong_scale_and_variant_refused(tmp_path, small_model):
    path = tmp_path / "s2.pth"
    torch.save(small_model.state_dict(), path)
    with pytest.raises(CheckpointMismatchError, match=r"is rlfn_s x2, but rlfn_s x4 was asked"):
        rlfn.load_model("rlfn_s", 4, weights=path)
    with pytest.raises(CheckpointMismatchError, match=r"is rlfn_s x2, but rlfn x2 was asked"):
        rlfn.load_model("rlfn", 2, weights=path)


def test_other_architecture_refused(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU()).state_dict(), tmp_path / "x.pth")
    with pytest.raises(CheckpointMismatchError, match="not an RLFN checkpoint"):
        rlfn.load_file(tmp_path / "x.pth")


def test_arbitrary_pickles_are_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("side effect",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(CheckpointError, match="refused|not a readable"):
        read_checkpoint(path)


def test_truncated_and_missing_files(tmp_path, small_model):
    path = tmp_path / "t.pth"
    torch.save(small_model.state_dict(), path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable"):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="safetensors"):
        read_checkpoint(tmp_path / "bad.safetensors")
