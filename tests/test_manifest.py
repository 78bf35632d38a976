"""Every weight file we ship is traceable to its training run, by name alone (issue 28)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open

from rlfn.models.interpolate import combine
from rlfn.models.loader import load_file
from rlfn.models.weights import available_weights, manifest, soups

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "rlfn" / "weights"
DOC = yaml.safe_load((SHIPPED / "MANIFEST.yaml").read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_shipped_file_is_in_the_manifest_and_nothing_else():
    assert sorted(DOC["files"]) == sorted(p.name for p in SHIPPED.glob("*.safetensors"))


@pytest.mark.parametrize("name", sorted(DOC["files"]))
def test_shipped_file_matches_its_run(name):
    """From a shipped file to its config and log by name alone: configs/<run>.yaml (whose name is <run>) and
    training/<run>/ (its log, metrics and the same file as weights.safetensors), for its parents too."""
    entry = DOC["files"][name]
    shipped = SHIPPED / name
    run = entry["run"]
    assert _sha(shipped) == entry["sha256"]
    assert _sha(REPO / "training" / run / "weights.safetensors") == entry["sha256"], f"training/{run}/weights.safetensors"
    with safe_open(str(shipped), "pt") as f:
        assert f.metadata()["run"] == run
    # a weight soup (scripts/weight_soup.py) has no log of its own: its members are the runs to trace, for the file
    # and for a parent that is a soup
    mixed = soups()
    for r in (*mixed.get(run, [run]), *(m for p in entry["parents"] for m in mixed.get(p, [p]))):
        run_dir = REPO / "training" / r
        for f in ("train.log", "metrics.jsonl", "config.resolved.yaml", "weights.safetensors"):
            assert (run_dir / f).is_file(), f"training/{r}/{f}"
        assert f"run {r}:" in (run_dir / "train.log").read_text(), f"training/{r}/train.log names its run"
        config = REPO / "configs" / f"{r}.yaml"
        assert config.is_file(), config
        assert yaml.safe_load(config.read_text())["name"] == r
        with safe_open(str(run_dir / "weights.safetensors"), "pt") as f:
            assert f.metadata().get("run") == r, f"training/{r}/weights.safetensors says its run"


@pytest.mark.parametrize("run", sorted(soups()))
def test_soup_is_the_mean_of_its_runs(run):
    """A soup in the manifest (shipped, or named as a parent) is exactly what scripts/weight_soup.py makes of its
    members' committed weights; a shipped one is the same file (test_shipped_file_matches_its_run)."""
    members = [load_file(REPO / "training" / r / "weights.safetensors") for r in soups()[run]]
    want = combine(members, [1.0 / len(members)] * len(members)).module.state_dict()
    got = load_file(REPO / "training" / run / "weights.safetensors").module.state_dict()
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_catalogue_carries_sha256_run_and_licence():
    ours = [w for w in available_weights() if w.tag != "official"]
    assert ours
    for w in ours:
        entry = manifest()["files"][w.filename]
        assert (w.sha256, w.run, w.licence) == (entry["sha256"], entry["run"], "Apache-2.0")
    assert all(w.licence == "Apache-2.0" and w.sha256 for w in available_weights() if w.tag == "official")
