"""Any spandrel model in rlfn: ``--weights other.pth`` of another architecture works in ``rlfn upscale``,
``eval`` and ``bench``, through the upscaler's tiling, alpha and 16-bit paths, and matches spandrel's own call."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

spandrel = pytest.importorskip(
    "spandrel", reason='spandrel is not installed (pip install "rlfn[spandrel]"; CI runs these tests in .venv-spandrel)')

import rlfn  # noqa: E402
from rlfn.cli import main  # noqa: E402

RNG = np.random.default_rng(0)


def _compact():
    from spandrel.architectures.Compact import Compact

    return Compact(num_feat=16, num_conv=4, upscale=4)


def _span():
    from spandrel.architectures.SPAN import SPAN

    return SPAN(num_in_ch=3, num_out_ch=3, feature_channels=16, upscale=2)


def _swinir():  # spandrel discourages tiling it (windowed attention over the whole image)
    from spandrel.architectures.SwinIR import SwinIR

    return SwinIR(embed_dim=12, depths=[1], num_heads=[1], window_size=4, upscale=2, img_size=16,
                  upsampler="pixelshuffle")


FACTORIES = {"Compact": _compact, "SPAN": _span, "SwinIR": _swinir}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Random-weight checkpoints of other architectures, saved as plain state dicts."""
    folder = tmp_path_factory.mktemp("w")
    out = {}
    for name, make in FACTORIES.items():
        torch.manual_seed(0)
        out[name] = folder / f"{name.lower()}.pth"
        torch.save(make().state_dict(), out[name])
    return out


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A smooth 120×90 RGB image with some detail (random weights then give mid-range output)."""
    y, x = np.mgrid[0:90, 0:120]
    base = np.stack([x / 120, y / 90, (x + y) / 210], axis=-1)
    arr = np.clip(base * 200 + 30 + RNG.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("img") / "photo.png"
    Image.fromarray(arr).save(path)
    return path


def spandrel_output(weights, arr: np.ndarray) -> np.ndarray:
    """spandrel's own call on an H×W×3 uint8 image, as float pixels in [0, 255]."""
    d = spandrel.ModelLoader().load_from_file(weights)
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float() / 255
    return d(x)[0].permute(1, 2, 0).double().numpy() * 255


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


@pytest.mark.parametrize("name", ["Compact", "SPAN"])
@pytest.mark.parametrize("tile", ["0", "32"])
def test_upscale_cli_matches_spandrel(name, tile, checkpoints, photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    rc = main(["upscale", "--weights", str(checkpoints[name]), str(photo), "-o", str(out), "--tile", tile])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"{name} x" in err and "through spandrel" in err and f"tile {'off' if tile == '0' else 32}" in err
    arr = np.asarray(Image.open(photo).convert("RGB"))
    ref = spandrel_output(checkpoints[name], arr)
    got = np.asarray(Image.open(out))
    assert got.shape == ref.shape
    assert 0.05 < ((ref > 0.5) & (ref < 254.5)).mean()  # not a saturated image: the comparison means something
    db = psnr(got, ref)
    print(f"{name} tile {tile}: {db:.1f} dB against spandrel")
    assert db >= 45


def test_loaded_model_describes_itself(checkpoints):
    m = rlfn.load_file(checkpoints["SPAN"])
    assert (m.variant, m.scale, m.pixel_range, m.architecture) == ("SPAN", 2, 1.0, "SPAN")
    assert m.tileable and m.tile_align == 1 and not m.is_rlfn
    assert m.supports_half and m.supports_bfloat16
    assert "SPAN x2 (SPAN through spandrel" in m.describe()
    y = m(torch.rand(3, 10, 13))  # the SRModel call: [0, 1] in and out, any size
    assert y.shape == (3, 20, 26) and 0 <= y.min() and y.max() <= 1


def test_untileable_model_runs_whole_images(checkpoints, photo, tmp_path, capsys):
    m = rlfn.load_file(checkpoints["SwinIR"])
    assert not m.tileable
    out = tmp_path / "out.png"
    rc = main(["upscale", "--weights", str(checkpoints["SwinIR"]), str(photo), "-o", str(out), "--tile", "32"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "not meant to be tiled" in err and "tile off" in err
    ref = spandrel_output(checkpoints["SwinIR"], np.asarray(Image.open(photo).convert("RGB")))
    assert psnr(np.asarray(Image.open(out)), ref) >= 45


def test_alpha_and_16_bit_through_a_spandrel_model(checkpoints):
    up = rlfn.Upscaler(checkpoints["Compact"], tile=32)
    rgba = np.dstack([RNG.integers(0, 256, (40, 50, 3)), np.full((40, 50), 200)]).astype(np.uint8)
    big = up.upscale_array(rgba)
    assert big.shape == (160, 200, 4) and big.dtype == np.uint8
    assert (big[:, :, 3] == 200).all()  # a uniform alpha stays as it was
    ref = spandrel_output(checkpoints["Compact"], rgba[:, :, :3])
    assert psnr(big[:, :, :3], ref) >= 45
    deep = (rgba[:, :, :3].astype(np.uint16) * 257)
    big16 = up.upscale_array(deep)
    assert big16.dtype == np.uint16
    assert psnr(big16 / 257.0, ref) >= 45


def test_eval_and_bench_accept_spandrel_weights(checkpoints, tmp_path, capsys):
    hr = tmp_path / "hr"
    hr.mkdir()
    for i in range(2):
        Image.fromarray(RNG.integers(0, 256, (32, 40, 3), dtype=np.uint8)).save(hr / f"{i}.png")
    out = tmp_path / "eval.json"
    assert main(["eval", str(hr), "--weights", str(checkpoints["SPAN"]), "--json", str(out), "-q"]) == 0
    result = json.loads(out.read_text())
    assert (result["model"], result["scale"], result["results"][0]["images"]) == ("SPAN", 2, 2)
    bench = tmp_path / "bench.json"
    assert main(["bench", str(checkpoints["Compact"]), "--size", "20x24", "--count", "2", "--warmup", "1",
                 "--json", str(bench)]) == 0
    (r,) = json.loads(bench.read_text())["results"]
    assert r["scale"] == 4 and r["params"] == sum(p.numel() for p in _compact().parameters())
    capsys.readouterr()


def test_named_model_with_other_weights_is_refused(checkpoints, capsys):
    rc = main(["upscale", "--model", "rlfn_s", "--weights", str(checkpoints["SPAN"]), "x.png"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "is SPAN x2, but rlfn_s x4 was asked" in err


def test_unknown_architecture_is_one_line(tmp_path, capsys):
    torch.save({"encoder.weight": torch.zeros(4, 4)}, tmp_path / "other.pth")
    rc = main(["upscale", "--weights", str(tmp_path / "other.pth"), "x.png"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "not an RLFN checkpoint" in err and "nor of any architecture spandrel" in err


def test_rlfn_checkpoints_stay_on_rlfns_own_path(tmp_path):
    path = tmp_path / "r.pth"
    torch.save(rlfn.create_model("rlfn_s", 2).state_dict(), path)
    m = rlfn.load_file(path)
    assert m.is_rlfn and m.variant == "rlfn_s" and m.tile_align == 6


def test_export_refuses_other_architectures(checkpoints, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    rc = main(["export", "--weights", str(checkpoints["SPAN"]), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "RLFN models only" in err
    assert not out.exists()
