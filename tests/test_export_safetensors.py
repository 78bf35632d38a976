"""``rlfn export -o X.safetensors``: the weights alone, reloadable to the same outputs, with their pixel range
and a training checkpoint's run and step; a training checkpoint gives its EMA weights."""
from __future__ import annotations

import pytest
import torch
from safetensors import safe_open

import rlfn
from rlfn.cli import main
from rlfn.models.checkpoint import META_KEY

from _images import smooth_image


def _training_checkpoint(path, seed_raw=1, seed_ema=2):
    """A file shaped like the trainer's best.pt: raw and EMA weights that differ, optimiser state, metadata."""
    torch.manual_seed(seed_raw)
    raw = rlfn.create_model("rlfn_s", 2).state_dict()
    torch.manual_seed(seed_ema)
    ema = rlfn.create_model("rlfn_s", 2).state_dict()
    torch.save({"params": raw, "params_ema": ema, "optimizer": {"state": {}, "param_groups": []}, "step": 700,
                META_KEY: {"variant": "rlfn_s", "scale": "2", "pixel_range": "1.0", "run": "demo_run",
                           "stage": "0", "stage_name": "l1", "step": "700"}}, path)
    return raw, ema


def test_a_training_checkpoint_becomes_its_ema_weights_with_run_and_step(tmp_path, capsys):
    ckpt, out = tmp_path / "best.pt", tmp_path / "demo_x2.safetensors"
    raw, ema = _training_checkpoint(ckpt)
    assert main(["export", str(ckpt), "-o", str(out)]) == 0
    assert "max difference 0.00e+00" in capsys.readouterr().out  # the reloaded file gives the same output
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
        saved = {k: f.get_tensor(k) for k in f.keys()}
    assert (meta["run"], meta["step"], meta["scale"], float(meta["pixel_range"])) == ("demo_run", "700", "2", 1.0)
    assert meta["exported_from"] == "best.pt"
    assert saved.keys() == ema.keys() and all(torch.equal(saved[k], ema[k]) for k in ema)
    assert not all(torch.equal(saved[k], raw[k]) for k in raw)
    a, b = rlfn.load_file(ckpt), rlfn.load_file(out)
    x = smooth_image(21, 30)
    assert torch.equal(a(x), b(x))


def test_weights_in_0_255_keep_their_range(tmp_path):
    torch.manual_seed(0)
    pth, out = tmp_path / "plain.pth", tmp_path / "plain.safetensors"
    torch.save(rlfn.create_model("rlfn_ntire", 4).state_dict(), pth)  # no metadata: the official [0, 255]
    assert main(["export", str(pth), "-o", str(out), "--quiet"]) == 0
    a, b = rlfn.load_file(pth), rlfn.load_file(out)
    assert a.pixel_range == b.pixel_range == 255.0 and (b.variant, b.scale) == ("rlfn_ntire", 4)
    x = smooth_image(17, 23)
    assert torch.equal(a(x), b(x))


def test_an_existing_file_is_kept_unless_asked(tmp_path, capsys):
    ckpt, out = tmp_path / "best.pt", tmp_path / "w.safetensors"
    _training_checkpoint(ckpt)
    out.write_bytes(b"keep me")
    assert main(["export", str(ckpt), "-o", str(out), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["export", str(ckpt), "-o", str(out), "--quiet", "--overwrite"]) == 0
    assert rlfn.load_file(out).scale == 2


@pytest.mark.parametrize("flag", [[], ["--format", "safetensors"]])
def test_the_format_follows_the_suffix_or_the_flag(tmp_path, flag):
    ckpt = tmp_path / "best.pt"
    _training_checkpoint(ckpt)
    out = tmp_path / ("w.safetensors" if not flag else "w.weights")
    assert main(["export", str(ckpt), "-o", str(out), "--quiet", *flag]) == 0
    with open(out, "rb") as f:  # a safetensors file: an 8-byte header length, then its JSON header
        assert f.read(9)[8:9] == b"{"
