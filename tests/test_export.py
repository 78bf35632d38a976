"""ONNX export: dynamic height and width, opset ≥ 17, onnxruntime equal to PyTorch within 1e-4."""
from __future__ import annotations

import pytest
import torch

import rlfn
from rlfn.cli import main
from rlfn.models.descriptor import SRModel

from _images import smooth_image

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from rlfn.inference.backends import load_onnx  # noqa: E402
from rlfn.perf.export import export_onnx, onnx_model_for  # noqa: E402

_smooth = smooth_image


@pytest.fixture(scope="module")
def random_model() -> SRModel:
    torch.manual_seed(0)
    m = rlfn.create_model("rlfn_ntire", 3).eval()
    return SRModel(module=m, variant="rlfn_ntire", scale=3, pixel_range=1.0, channels=46, mid_channels=48, blocks=4)


@pytest.fixture(scope="module")
def ort_random(random_model):
    return onnx_model_for(random_model)


def test_graph_has_dynamic_height_and_width(random_model, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(random_model, path)
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[1] == 3 and all(isinstance(d, str) and d for d in (dims[0], dims[2], dims[3]))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["rlfn_scale"] == "3" and meta["rlfn_variant"] == "rlfn_ntire"
    with pytest.raises(rlfn.RLFNError, match="exists"):
        export_onnx(random_model, path)


@pytest.mark.parametrize("h, w", [(93, 127), (240, 320), (8, 11)])
def test_parity_on_several_sizes(random_model, ort_random, h, w):
    x = _smooth(h, w)
    a, b = random_model(x), ort_random(x)
    assert b.shape == a.shape == (1, 3, 3 * h, 3 * w)
    assert (a - b).abs().max().item() <= 1e-4


def test_ort_model_follows_the_srmodel_convention(ort_random):
    assert ort_random.scale == 3 and ort_random.device == torch.device("cpu")
    x = _smooth(20, 17)[0]
    y = ort_random(x)
    assert y.shape == (3, 60, 51) and 0 <= y.min() and y.max() <= 1


def test_official_weights_on_real_images(official_dir, train_data_dir, tmp_path):
    from rlfn.io.images import read_rgb

    model = rlfn.load_file(official_dir / "rlfn_ntire_x4.pth")  # [0, 255] weights: the range is in the graph
    path = tmp_path / "ntire.onnx"
    export_onnx(model, path)
    ort_model = load_onnx(path)  # scale from the file's metadata
    assert ort_model.scale == 4
    full = read_rgb(train_data_dir / "div2k-0901-1000-lr-x4" / "0901.png") / 255  # 510×339
    for x in (full[:, 100:193, 50:177], full):  # an odd-sized crop (127×93) and the whole image
        assert (ort_model(x) - model(x)).abs().max().item() <= 1e-4


def test_export_command(tmp_path, capsys, official_dir, train_data_dir):
    out = tmp_path / "rlfn_s.onnx"
    img = train_data_dir / "div2k-0901-1000-lr-x4" / "0905.png"
    args = ["export", str(official_dir / "rlfn_s_x4.pth"), "-o", str(out), "--check", str(img)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert out.exists() and "opset 17" in text and "max difference" in text
    assert main(args) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_old_opsets_are_refused(tmp_path):
    m = SRModel(module=rlfn.create_model("rlfn_s", 2).eval(), variant="rlfn_s", scale=2, pixel_range=1.0)
    with pytest.raises(rlfn.RLFNError, match="opset"):
        export_onnx(m, tmp_path / "x.onnx", opset=13)
