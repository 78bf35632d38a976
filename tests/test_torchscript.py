"""TorchScript export: traced once, dynamic height and width, equal to PyTorch; bad files are one-line errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import rlfn
from rlfn.cli import main
from rlfn.models.descriptor import SRModel

from _images import smooth_image
from rlfn.inference.backends import load_torchscript
from rlfn.perf.export import export_torchscript


_smooth = smooth_image


@pytest.fixture(scope="module")
def model() -> SRModel:
    torch.manual_seed(0)
    m = rlfn.create_model("rlfn_ntire", 2).eval()
    with torch.no_grad():  # biases large enough that every layer matters
        for p in m.parameters():
            if p.dim() == 1:
                p.uniform_(-0.1, 0.1)
    # [0, 255] like the official weights, so the range folding inside the archive is checked too
    return SRModel(module=m, variant="rlfn_ntire", scale=2, pixel_range=255.0, channels=46, mid_channels=48, blocks=4)


@pytest.fixture(scope="module")
def archive(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "m.pt"
    export_torchscript(model, path)  # traced on 64×64
    return path


@pytest.mark.parametrize("h, w", [(93, 127), (64, 64), (8, 11), (150, 37)])
def test_traced_archive_equals_pytorch_at_other_sizes(model, archive, h, w):
    ts = load_torchscript(archive)
    assert ts.scale == 2 and ts.variant == "rlfn_ntire"
    x = _smooth(h, w)
    a, b = model(x), ts(x)
    assert b.shape == a.shape == (1, 3, 2 * h, 2 * w)
    assert (a - b).abs().max().item() <= 1e-4
    assert ts(x[0]).shape == (3, 2 * h, 2 * w)


def test_existing_file_is_kept(model, archive):
    before = archive.read_bytes()
    with pytest.raises(rlfn.RLFNError, match="exists"):
        export_torchscript(model, archive)
    assert archive.read_bytes() == before


def test_cli_writes_and_checks_by_suffix(tmp_path, capsys):
    out = tmp_path / "net.ts"
    code = main(["export", "rlfn_s_x2", "-o", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and out.exists()
    assert "TorchScript" in text and "TorchScript vs PyTorch" in text and "max difference" in text


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_bad_archives_are_one_line_errors(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(rlfn.RLFNError, match="not a TorchScript archive"):
        load_torchscript(bad)
    with pytest.raises(rlfn.RLFNError, match="no such file"):
        load_torchscript(tmp_path / "missing.pt")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_archive_without_metadata_is_refused(tmp_path):
    path = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.trace(nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4)), str(path))
    with pytest.raises(rlfn.RLFNError, match="no rlfn metadata"):
        load_torchscript(path)
