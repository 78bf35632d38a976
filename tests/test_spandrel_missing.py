"""Without spandrel (an optional extra): other architectures' checkpoints get one clear line naming the
extra, RLFN is unaffected, and ``import rlfn`` never imports spandrel. spandrel is hidden from the import
system here, so these tests mean the same with or without it installed."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import rlfn
from rlfn.cli import main
from rlfn.errors import CheckpointMismatchError, RLFNError

HINT = 'pip install "rlfn[spandrel]"'


@pytest.fixture
def no_spandrel(monkeypatch):
    monkeypatch.setitem(sys.modules, "spandrel", None)  # `import spandrel` now raises ImportError


@pytest.fixture
def other(tmp_path):
    """A checkpoint of another network (a Real-ESRGAN Compact-like state dict)."""
    path = tmp_path / "4x-Other.pth"
    torch.save({"body.0.weight": torch.zeros(8, 3, 3, 3), "body.1.weight": torch.zeros(8)}, path)
    return path


def test_load_file_names_the_extra(no_spandrel, other):
    with pytest.raises(CheckpointMismatchError) as info:
        rlfn.load_file(other)
    msg = str(info.value)
    assert "not an RLFN checkpoint" in msg and HINT in msg and "\n" not in msg


def test_upscale_cli_is_one_line(no_spandrel, other, tmp_path, capsys):
    rc = main(["upscale", "--weights", str(other), str(tmp_path / "img.png"), "-o", str(tmp_path / "out.png")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rlfn upscale: error: ") and HINT in err


def test_register_spandrel_names_the_extra(no_spandrel):
    with pytest.raises(RLFNError, match=r"register_spandrel\(\) needs spandrel: pip install"):
        rlfn.register_spandrel()


def test_rlfn_checkpoints_need_no_spandrel(no_spandrel, tmp_path):
    path = tmp_path / "r.pth"
    torch.save(rlfn.create_model("rlfn_s", 2).state_dict(), path)
    assert rlfn.load_file(path).variant == "rlfn_s"


def test_import_rlfn_does_not_import_spandrel():
    code = "import sys, rlfn, rlfn.cli.main; print('spandrel' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
