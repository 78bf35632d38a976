"""ncnn export (issue 25): pnnx writes NAME.param + NAME.bin that ncnn runs within 50 dB of PyTorch for every
official and shipped weight, at odd and tiny sizes and in tiles; the blob names realesrgan-ncnn-vulkan uses;
``rlfn upscale --backend ncnn``; one-line errors. Uses the pnnx and ncnn packages (rlfn[ncnn]); skips without."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import rlfn
from rlfn.cli import main
from rlfn.models.descriptor import SRModel

from _images import smooth_image
from _png import png16

ncnn = pytest.importorskip("ncnn", reason="the ncnn Python binding is not installed (pip install 'rlfn[ncnn]')")
pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'rlfn[ncnn]')")
from rlfn.inference.ncnn_backend import NcnnModel, load_ncnn  # noqa: E402
from rlfn.models.interchange import NCNN_INPUT, NCNN_OUTPUT  # noqa: E402
from rlfn.perf.ncnn_export import export_ncnn, rename_blobs  # noqa: E402

OFFICIAL_NAMES = ("rlfn_x2", "rlfn_x4", "rlfn_s_x2", "rlfn_s_x4", "rlfn_ntire_x4")
OURS = (("rlfn_s", 2, "ours"), ("rlfn_s", 4, "ours"), ("rlfn_s", 4, "real"))
MIN_PSNR = 50.0  # dB, on [0, 1] outputs (the bar)
DIV2K_LR = "div2k-0901-1000-lr-x4"


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).pow(2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _load(which: str, official: Path | None) -> SRModel:
    """An official checkpoint from ../shared, or shipped weights named variant_xS_tag."""
    if which in OFFICIAL_NAMES:
        return rlfn.load_file(official / f"{which}.pth")
    variant, scale, tag = next(o for o in OURS if f"{o[0]}_x{o[1]}_{o[2]}" == which)
    return rlfn.load_model(variant, scale, pretrained=tag)


def _photo_339x510(train_dir: Path) -> torch.Tensor:
    """A DIV2K LR test image, 339 rows × 510 columns (the challenge's input size)."""
    from rlfn.io.images import read_rgb

    x = read_rgb(train_dir / DIV2K_LR / "0901.png") / 255
    return (x if x.shape[1] == 339 else x.transpose(1, 2))[None]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model exported once: {name: (SRModel, NcnnModel)}, filled as the tests ask."""
    cache: dict[str, tuple[SRModel, NcnnModel]] = {}
    folder = tmp_path_factory.mktemp("ncnn")

    def get(which: str, official: Path | None = None) -> tuple[SRModel, NcnnModel]:
        if which not in cache:
            model = _load(which, official)
            param, _ = export_ncnn(model, folder / f"{which}.param")
            cache[which] = model, load_ncnn(param, threads=2)
        return cache[which]

    return get


def _parity(model: SRModel, net: NcnnModel, photo: torch.Tensor) -> None:
    s = model.scale
    assert net.scale == s
    cases = {"64×80": smooth_image(64, 80, seed=1), "77×131": smooth_image(77, 131, seed=2), "339×510": photo,
             "1×1": smooth_image(1, 1, seed=4), "14×3 (below the ESA's 15)": smooth_image(14, 3, seed=5)}
    for label, x in cases.items():
        a, b = model(x), net(x)
        assert b.shape == a.shape == (1, 3, s * x.shape[2], s * x.shape[3]), label
        assert psnr(a, b) >= MIN_PSNR, (label, psnr(a, b))
    # Tiles: 32-pixel tiles of 77×131 (the last column of tiles 3 pixels wide) against the whole image in PyTorch
    x = smooth_image(77, 131, seed=2)[0]
    tiled = rlfn.Upscaler(net, tile=32, tile_pad=8, blend=8)
    whole = model(x)
    out = tiled.upscale(x)
    assert tiled.stats.tiles > 4
    assert psnr(whole, out) >= MIN_PSNR, psnr(whole, out)


@pytest.mark.slow
@pytest.mark.parametrize("which", OFFICIAL_NAMES)
def test_official_checkpoints_match_pytorch(which, exported, official_dir, train_data_dir):
    model, net = exported(which, official_dir)
    _parity(model, net, _photo_339x510(train_data_dir))


@pytest.mark.slow
@pytest.mark.parametrize("which", [f"{v}_x{s}_{t}" for v, s, t in OURS])
def test_shipped_weights_match_pytorch(which, exported, train_data_dir):
    model, net = exported(which)
    _parity(model, net, _photo_339x510(train_data_dir))


def test_param_passes_ncnn_loader_with_the_documented_blob_names(exported):
    model, net = exported("rlfn_s_x4_ours")
    fresh = ncnn.Net()
    assert fresh.load_param(str(net.path)) == 0 and fresh.load_model(str(net.path.with_suffix(".bin"))) == 0
    assert list(fresh.input_names()) == [NCNN_INPUT] == ["data"]  # docs/deploy.md names them
    assert list(fresh.output_names()) == [NCNN_OUTPUT] == ["output"]
    # dynamic size: the ESA's resize follows the input (an Interp with a size expression), none is frozen
    assert any(layer.type == "Interp" and len(layer.bottoms) == 2 for layer in fresh.layers())


def test_rename_blobs_touches_blob_fields_only():
    text = "7767517\n3 3\nInput in0 0 1 in0\nConvolution c 1 1 in0 1 0=8 1=3\nClip x 1 1 1 out0 0=0.0 1=1.0\n"
    out = rename_blobs(text, {"in0": "data", "out0": "output"}).splitlines()
    assert out[2:] == ["Input data 0 1 data", "Convolution c 1 1 data 1 0=8 1=3", "Clip x 1 1 1 output 0=0.0 1=1.0"]
    with pytest.raises(rlfn.RLFNError, match="out0"):
        rename_blobs(text.replace("out0", "out1"), {"in0": "data", "out0": "output"})


def _write_rgba16(path: Path, h: int, w: int) -> None:
    """A smooth 16-bit RGBA PNG, its alpha kept off zero (a fully transparent pixel's colour may go anywhere)."""
    rgb = smooth_image(h, w, seed=9)[0].permute(1, 2, 0).numpy()
    alpha = 0.2 + 0.8 * smooth_image(h, w, seed=10)[0, :1].permute(1, 2, 0).numpy()
    path.write_bytes(png16((np.concatenate([rgb, alpha], axis=2) * 65535).round().astype(np.uint16)))


def _read_any(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float64)


def test_upscale_backend_ncnn_tiles_alpha_16bit_folders(exported, tmp_path, capsys):
    """A folder of an 8-bit RGB and a 16-bit RGBA image, 32-pixel tiles, through the exported file and through
    PyTorch (float32): the same images within 50 dB, alpha included."""
    pytest.importorskip("cv2", reason="OpenCV (rlfn[codecs]) reads 16-bit PNG")
    model, net = exported("rlfn_s_x4_ours")
    src = tmp_path / "in"
    src.mkdir()
    x = smooth_image(70, 101, seed=8)[0]
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(src / "rgb.png")
    _write_rgba16(src / "rgba16.png", 45, 77)
    common = [str(src), "--tile", "32", "--tile-pad", "8", "--precision", "fp32", "-q"]
    assert main(["upscale", *common, "-o", str(tmp_path / "torch"), "-m", "rlfn_s", "-s", "4"]) == 0
    assert main(["upscale", *common, "-o", str(tmp_path / "ncnn"), "--backend", "ncnn", "-m", str(net.path)]) == 0
    for name, peak in (("rgb_x4.png", 255.0), ("rgba16_x4.png", 65535.0)):
        a, b = _read_any(tmp_path / "torch" / name), _read_any(tmp_path / "ncnn" / name)
        assert a.shape == b.shape and a.shape[2] == (4 if "rgba" in name else 3)
        mse = ((a - b) / peak) ** 2
        assert (math.inf if mse.mean() == 0 else -10 * math.log10(mse.mean())) >= MIN_PSNR, name
    assert Image.open(tmp_path / "ncnn" / "rgba16_x4.png").size == (77 * 4, 45 * 4)


def test_upscale_backend_ncnn_exports_a_named_model_on_the_fly(tmp_path, capsys):
    Image.fromarray((smooth_image(20, 24)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path / "a.png")
    assert main(["upscale", str(tmp_path / "a.png"), "-o", str(tmp_path / "o"), "--backend", "ncnn",
                 "-m", "rlfn_s", "-s", "2"]) == 0
    assert "through ncnn" in capsys.readouterr().err  # the header line
    assert Image.open(tmp_path / "o" / "a_x2.png").size == (48, 40)


def test_export_command_checks_with_ncnn_and_refuses_to_overwrite(tmp_path, capsys, train_data_dir):
    out = tmp_path / "rlfn-s-x2.param"
    img = train_data_dir / DIV2K_LR / "0905.png"
    args = ["export", "rlfn_s", "-s", "2", "-o", str(out), "--check", str(img)]
    assert main(args) == 0
    text = capsys.readouterr()
    assert out.is_file() and out.with_suffix(".bin").is_file() and "ncnn vs PyTorch" in text.out
    assert "note" not in text.err  # the name tells Upscayl the scale
    out.unlink()  # the .bin alone still blocks: both files are the model
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "rlfn-s-x2.bin: exists" in err and len(err.strip().splitlines()) == 1


# ---- one line each ----------------------------------------------------------------------------------------------


def _one_line_error(argv: list[str], block: str | None = None) -> str:
    """``rlfn ARGV`` in a fresh interpreter (``block``: a package made unimportable there, as if not installed)."""
    pre = f"import sys; sys.modules[{block!r}] = None; " if block else "import sys; "
    code = pre + f"from rlfn.cli.main import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_missing_pnnx_is_one_line(tmp_path):
    line = _one_line_error(["export", "rlfn_s", "-o", str(tmp_path / "m.param")], block="pnnx")
    assert "pnnx" in line and "rlfn[ncnn]" in line
    assert not list(tmp_path.iterdir())


def test_missing_ncnn_is_one_line(tmp_path):
    line = _one_line_error(["upscale", str(tmp_path / "a.png"), "--backend", "ncnn", "-m", str(tmp_path / "m.param")],
                           block="ncnn")
    assert "ncnn" in line and "rlfn[ncnn]" in line


def test_unwritable_output_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    line = _one_line_error(["export", "rlfn_s", "-s", "2", "-o", str(tmp_path / "file" / "m.param"), "--no-check"])
    assert "cannot write" in line and "m.bin" in line


def test_an_architecture_that_cannot_be_exported_is_one_line(tmp_path):
    other = SRModel(module=torch.nn.Conv2d(3, 12, 3), variant="SPAN", scale=2, architecture="SPAN")
    with pytest.raises(rlfn.RLFNError) as e:
        export_ncnn(other, tmp_path / "m.param")
    assert "RLFN models only" in str(e.value) and "\n" not in str(e.value)
    line = _one_line_error(["export", "rlfn_s", "-o", str(tmp_path / "m.onnx"), "--format", "ncnn"])
    assert ".param" in line


def test_a_file_that_is_not_ncnn_is_one_line(tmp_path):
    (tmp_path / "m.param").write_text("hello\n")
    (tmp_path / "m.bin").write_bytes(b"\0" * 16)
    with pytest.raises(rlfn.RLFNError) as e:
        load_ncnn(tmp_path / "m.param")
    assert "\n" not in str(e.value)
    with pytest.raises(rlfn.RLFNError, match="no such file"):
        load_ncnn(tmp_path / "absent.param")
