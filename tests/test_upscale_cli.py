"""``rlfn upscale`` end to end: naming, no overwrite, atomic writes, bad files, formats, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from rlfn import cli

from _images import random_weights

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"))


def rgb(path, size=(20, 16), mode="RGB"):
    arr = RNG.integers(0, 256, size=(size[1], size[0], 4), dtype=np.uint8)
    Image.fromarray(arr, "RGBA").convert(mode).save(path)
    return path


def run(capsys, *argv) -> tuple[int, str]:
    rc = cli.main(["upscale", *map(str, argv)])
    return rc, capsys.readouterr().err


def no_partial_files(folder) -> bool:
    return not [p for p in folder.rglob("*") if ".part" in p.name]


def test_files_beside_inputs_with_summary(tmp_path, weights, capsys):
    a, b = rgb(tmp_path / "a.png"), rgb(tmp_path / "b.jpg")
    rc, err = run(capsys, a, b, "--weights", weights)
    assert rc == 0, err
    assert Image.open(tmp_path / "a_x2.png").size == (40, 32)
    assert Image.open(tmp_path / "b_x2.jpg").format == "JPEG"
    assert "2 upscaled, 0 failed" in err and "MP/s" in err


def test_output_folder_recursive_and_format(tmp_path, weights, capsys):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rgb(src / "a.png")
    rgb(src / "sub" / "b.bmp")
    rc, err = run(capsys, src, "-r", "-o", tmp_path / "out", "--ext", "webp", "--weights", weights, "-q")
    assert rc == 0, err
    assert (tmp_path / "out" / "a_x2.webp").is_file() and (tmp_path / "out" / "sub" / "b_x2.webp").is_file()
    assert err == ""  # --quiet


def test_single_output_file_and_glob(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    rgb(tmp_path / "b.png")
    rc, err = run(capsys, tmp_path / "a.png", "-o", tmp_path / "big.tif", "--weights", weights)
    assert rc == 0 and Image.open(tmp_path / "big.tif").size == (40, 32), err
    rc, err = run(capsys, str(tmp_path / "?.png"), "-o", tmp_path / "g", "--weights", weights)
    assert rc == 0 and sorted(p.name for p in (tmp_path / "g").iterdir()) == ["a_x2.png", "b_x2.png"], err


def test_rerun_on_a_folder_skips_its_own_outputs(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    assert run(capsys, tmp_path, "--weights", weights)[0] == 0
    rc, err = run(capsys, tmp_path, "--weights", weights, "--skip-existing")
    assert rc == 0 and not (tmp_path / "a_x2_x2.png").exists(), err


def test_no_overwrite_without_flag(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    (tmp_path / "a_x2.png").write_bytes(b"precious")
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights)
    assert rc == 1 and "--overwrite" in err
    assert (tmp_path / "a_x2.png").read_bytes() == b"precious"
    rc, _ = run(capsys, tmp_path / "a.png", "--weights", weights, "--skip-existing")
    assert rc == 0 and (tmp_path / "a_x2.png").read_bytes() == b"precious"
    rc, _ = run(capsys, tmp_path / "a.png", "--weights", weights, "--overwrite")
    assert rc == 0 and Image.open(tmp_path / "a_x2.png").size == (40, 32)


def test_one_bad_file_among_good_ones(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    (tmp_path / "b.png").write_text("this is not a picture")
    data = (rgb(tmp_path / "full.png", (64, 64))).read_bytes()
    (tmp_path / "c.png").write_bytes(data[: len(data) // 2])  # truncated
    rgb(tmp_path / "d.png")
    rc, err = run(capsys, tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png", tmp_path / "d.png",
                  tmp_path / "missing.png", "--weights", weights)
    assert rc == 1
    assert (tmp_path / "a_x2.png").exists() and (tmp_path / "d_x2.png").exists()
    assert not (tmp_path / "b_x2.png").exists() and not (tmp_path / "c_x2.png").exists()
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 3 and all("Traceback" not in e for e in errors)
    assert "b.png: not an image" in err and "c.png" in err and "missing.png" in err
    assert "2 upscaled, 3 failed" in err
    assert no_partial_files(tmp_path)


def test_decompression_bomb_and_limit(tmp_path, weights, capsys):
    from test_imageio import bomb

    bomb(tmp_path / "bomb.png")
    rc, err = run(capsys, tmp_path / "bomb.png", "--weights", weights)
    assert rc == 1 and "--max-pixels" in err and not (tmp_path / "bomb_x2.png").exists()
    rgb(tmp_path / "s.png")
    rc, err = run(capsys, tmp_path / "s.png", "--weights", weights, "--max-pixels", "100")
    assert rc == 1 and "limit" in err
    rc, err = run(capsys, tmp_path / "s.png", "--weights", weights, "--max-pixels", "320")
    assert rc == 0, err


def test_unwritable_output(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    (tmp_path / "file").write_text("a file, not a folder")
    rc, err = run(capsys, tmp_path / "a.png", "-o", tmp_path / "file" / "out", "--weights", weights)
    assert rc == 1 and "cannot write" in err and "Traceback" not in err


@pytest.mark.parametrize("writer", ["pillow", "opencv"])
def test_failed_save_leaves_no_partial_file(tmp_path, weights, capsys, monkeypatch, writer):
    """A write that fails half-way (a full disk) leaves nothing, whichever library encodes the PNG (both encode
    to bytes, which one write puts in the temporary file)."""
    from pathlib import Path

    from rlfn.io import deep

    rgb(tmp_path / "a.png")

    def broken_write_bytes(self, data):
        open(self, "wb").write(bytes(data)[:10])
        raise OSError(28, "No space left on device")

    if writer == "pillow":
        monkeypatch.setattr(deep, "has_opencv", lambda: False)
    elif not deep.has_opencv():
        pytest.skip("OpenCV (the codecs extra) is not installed")
    monkeypatch.setattr(Path, "write_bytes", broken_write_bytes)
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights)
    assert rc == 1 and "No space" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("argv,message", [
    (["--model", "esrgan"], "unknown model"),
    (["--model", "rlfn_s", "--scale", "3", "--pretrained", "official"], "no official weights for rlfn_s x3"),
    (["--scale", "4"], "x2"),
    (["--tile", "abc"], "--tile"),
])
def test_bad_model_arguments_are_one_line(tmp_path, weights, capsys, argv, message):
    rgb(tmp_path / "a.png")
    extra = [] if "--model" in argv else ["--weights", weights]
    rc, err = run(capsys, tmp_path / "a.png", *extra, *argv)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "a_x2.png").exists()


def test_missing_bundled_weights_is_one_line(tmp_path, capsys, monkeypatch):
    from rlfn.models import weights

    monkeypatch.setattr(weights, "bundled_weights_path", lambda variant, scale, tag="ours": None)
    rgb(tmp_path / "a.png")
    rc, err = run(capsys, tmp_path / "a.png", "--pretrained", "ours")
    assert rc == 2 and "--weights" in err and len(err.strip().splitlines()) == 1


def test_cuda_without_cuda(tmp_path, weights, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rgb(tmp_path / "a.png")
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights, "--device", "cuda")
    assert rc == 2 and "CUDA" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA"])
def test_modes_survive_the_command(tmp_path, weights, capsys, mode):
    rgb(tmp_path / "a.png", mode=mode)
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights, "-q")
    assert rc == 0, err
    out = Image.open(tmp_path / "a_x2.png")
    assert out.mode == mode and out.size == (40, 32)


def test_16bit_survives_the_command(tmp_path, weights, capsys):
    from rlfn.io.images import Picture, load_picture, save_picture

    save_picture(Picture(RNG.integers(0, 65536, size=(16, 20, 3), dtype=np.uint16)), tmp_path / "c.png")
    save_picture(Picture(RNG.integers(0, 65536, size=(16, 20, 1), dtype=np.uint16)), tmp_path / "g.tif")
    rc, err = run(capsys, tmp_path / "c.png", tmp_path / "g.tif", "--weights", weights, "-q")
    assert rc == 0, err
    for name, channels in (("c_x2.png", 3), ("g_x2.tif", 1)):
        pic = load_picture(tmp_path / name)
        assert pic.bits == 16 and pic.channels == channels and pic.size == (40, 32)


def test_onnxruntime_backend(tmp_path, weights, capsys):
    rgb(tmp_path / "a.png")
    try:
        from rlfn.perf.export import onnx_model_for  # noqa: F401
    except ImportError:
        rc, err = run(capsys, tmp_path / "a.png", "--weights", weights, "--backend", "onnxruntime")
        assert rc == 2 and "onnxruntime" in err and len(err.strip().splitlines()) == 1
        return
    pytest.importorskip("onnxruntime")
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights, "--backend", "onnxruntime", "-o", tmp_path / "o")
    assert rc == 0, err
    rc, err = run(capsys, tmp_path / "a.png", "--weights", weights, "-o", tmp_path / "t")
    a = np.asarray(Image.open(tmp_path / "o" / "a_x2.png")).astype(int)
    b = np.asarray(Image.open(tmp_path / "t" / "a_x2.png")).astype(int)
    assert np.abs(a - b).max() <= 1


def test_readme_main_command_with_bundled_weights(tmp_path, capsys):
    """`rlfn upscale examples/demo.png -o out/`: the bundled default weights, no network."""
    from rlfn.models.loader import DEFAULT_MODEL, DEFAULT_SCALE
    from rlfn.models.weights import bundled_weights_path

    if bundled_weights_path(DEFAULT_MODEL, DEFAULT_SCALE) is None:
        pytest.skip("the bundled default weights are not in this checkout yet")
    demo = __import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "demo.png"
    if not demo.exists():
        pytest.skip("examples/demo.png is absent")
    rc, err = run(capsys, demo, "-o", str(tmp_path / "out") + "/", "--tile", "64")
    assert rc == 0, err
    out = Image.open(tmp_path / "out" / "demo_x4.png")
    assert out.size == tuple(4 * n for n in Image.open(demo).size)


def test_a_32_bit_integer_tiff_is_refused_in_one_line_not_saturated(tmp_path, weights, capsys):
    """Values 23,000 to 211,000 used to come out 16-bit, clipped at 65535 (issue 27, 7b)."""
    arr = np.linspace(23_000, 211_000, 32 * 40).reshape(32, 40).astype(np.int32)
    Image.fromarray(arr, "I").save(tmp_path / "deep.tif")
    rc, err = run(capsys, tmp_path / "deep.tif", "--weights", weights)
    lines = err.strip().splitlines()
    assert rc == 1 and "32-bit integer pixels (values 23,000 to 211,000)" in err and "Traceback" not in err
    assert len([ln for ln in lines if "error" in ln]) == 1
    assert not (tmp_path / "deep_x2.tif").exists()
