"""combine(): linear combinations of one network's weights, and the two scripts built on it (soup, task vector)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rlfn.errors import RLFNError
from rlfn.models.checkpoint import save_safetensors
from rlfn.models.interpolate import combine
from rlfn.models.loader import load_file, load_model

ROOT = Path(__file__).resolve().parents[1]


def _shifted(model, delta):
    out = load_model(model.variant, model.scale, pretrained="ours")
    out.module.load_state_dict({k: v + delta if v.is_floating_point() else v
                                for k, v in model.module.state_dict().items()})
    return out


def test_combine_is_the_weighted_sum():
    a = load_model("rlfn_s", 4, pretrained="ours")
    b, c = _shifted(a, 0.25), _shifted(a, -0.125)
    mixed = combine([a, b, c], [0.5, 0.25, 0.25]).module.state_dict()
    for k, v in a.module.state_dict().items():
        torch.testing.assert_close(mixed[k], v + 0.25 * 0.25 - 0.25 * 0.125, rtol=0, atol=1e-6)
    assert a.module.state_dict()[k] is not mixed[k]  # a new module: the inputs are untouched


def test_combine_refuses_other_networks_and_bad_coefficients():
    a, b = load_model("rlfn_s", 4, pretrained="ours"), load_model("rlfn_s", 2, pretrained="ours")
    with pytest.raises(RLFNError, match="not the same network"):
        combine([a, b], [0.5, 0.5])
    with pytest.raises(RLFNError, match="one coefficient per model"):
        combine([a, a], [1.0])


def _save(model, path):
    save_safetensors(model.module, path, {"variant": model.variant, "scale": model.scale,
                                          "pixel_range": model.pixel_range})
    return str(path)


def _script(name, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
                          capture_output=True, text=True)


def test_soup_and_task_vector_scripts(tmp_path):
    a = load_model("rlfn_s", 4, pretrained="ours")
    pa, pb = _save(a, tmp_path / "a.safetensors"), _save(_shifted(a, 0.5), tmp_path / "b.safetensors")
    r = _script("weight_soup.py", pa, pb, "-o", tmp_path / "soup.safetensors")
    assert r.returncode == 0, r.stderr
    soup = load_file(tmp_path / "soup.safetensors").module.state_dict()
    r = _script("task_vector.py", "--base", pb, "--parent", pa, "--tuned", tmp_path / "soup.safetensors",
                "-o", tmp_path / "moved.safetensors")
    assert r.returncode == 0, r.stderr
    moved = load_file(tmp_path / "moved.safetensors").module.state_dict()
    for k, v in a.module.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(soup[k], v + 0.25, rtol=0, atol=1e-6)
            torch.testing.assert_close(moved[k], v + 0.75, rtol=0, atol=1e-6)
    # an existing output is kept, and the refusal is one line
    r = _script("weight_soup.py", pa, pb, "-o", tmp_path / "soup.safetensors")
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
