"""Every weight file we ship is traceable to its training run, by name alone (issue 28)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from safetensors import safe_open

from rlfn.models.weights import available_weights, manifest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "rlfn" / "weights"
DOC = yaml.safe_load((SHIPPED / "MANIFEST.yaml").read_text())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_shipped_file_is_in_the_manifest_and_nothing_else():
    assert sorted(DOC["files"]) == sorted(p.name for p in SHIPPED.glob("*.safetensors"))


@pytest.mark.parametrize("name", sorted(DOC["files"]))
def test_shipped_file_matches_its_run(name):
    entry = DOC["files"][name]
    shipped = SHIPPED / name
    run_dir = REPO / "training" / entry["run_dir"]
    assert _sha(shipped) == entry["sha256"]
    assert _sha(run_dir / "weights.safetensors") == entry["sha256"], f"training/{entry['run_dir']}/weights.safetensors"
    for f in ("train.log", "metrics.jsonl"):
        assert (run_dir / f).is_file(), f"training/{entry['run_dir']}/{f}"
    with safe_open(str(shipped), "pt") as f:
        assert f.metadata()["run"] == entry["run"]
    assert entry["run"] in (run_dir / "train.log").read_text(), "the run's log names it"
    for parent in entry["parents"]:
        assert (REPO / "training" / parent).is_dir(), f"parent run training/{parent}"


def test_catalogue_carries_sha256_run_and_licence():
    ours = [w for w in available_weights() if w.tag != "official"]
    assert ours
    for w in ours:
        entry = manifest()["files"][w.filename]
        assert (w.sha256, w.run, w.licence) == (entry["sha256"], entry["run"], "Apache-2.0")
    assert all(w.licence == "Apache-2.0" and w.sha256 for w in available_weights() if w.tag == "official")
