"""Issue 16's cases one by one (the fuzz run in test_fuzz.py covers their neighbours)."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image

from _fuzz import make_weights, run_cli
from rlfn.errors import CheckpointError, ImageError
from rlfn.io.atomic import atomic_write, is_temp_name, remove_temp_files
from rlfn.io.images import list_images, load_picture


@pytest.fixture
def weights(tmp_path):
    return make_weights(tmp_path / "w.pth")


def test_temp_names_are_no_inputs(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / ".a.1a2b3c4d.part.png").write_bytes(b"old leftover")
    seen = []
    atomic_write(tmp_path / "b.png", lambda tmp: seen.append(tmp.name) or tmp.write_bytes(b"x"))
    assert is_temp_name(seen[0]) and is_temp_name(".a.1a2b3c4d.part.png") and not is_temp_name("a.part.png")
    assert [p.name for p in list_images(tmp_path)] == ["a.png", "b.png"]


def test_a_signal_mid_write_leaves_nothing(tmp_path):
    from rlfn.cli.main import Stopped

    def write(tmp):
        tmp.write_bytes(b"half")
        raise Stopped(signal.SIGTERM)

    with pytest.raises(Stopped):
        atomic_write(tmp_path / "x.png", write)
    assert list(tmp_path.iterdir()) == [] and remove_temp_files() == 0


def test_encoder_errors_are_one_write_error(tmp_path):
    from rlfn.errors import WriteError

    with pytest.raises(WriteError, match="x.png: cannot write .*boom"):
        atomic_write(tmp_path / "x.png", lambda tmp: (_ for _ in ()).throw(KeyError("boom")))
    assert list(tmp_path.iterdir()) == []


def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "p.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match="named pipe"):
        load_picture(fifo)


def test_corrupt_icc_in_16bit_png_is_dropped(tmp_path):
    from _fuzz import insert_after_ihdr, png_chunk
    from rlfn.io import deep

    pytest.importorskip("cv2", reason="OpenCV (the codecs extra) is not installed")
    data = deep.encode_png(np.full((5, 6, 3), 40000, np.uint16))
    (tmp_path / "a.png").write_bytes(insert_after_ihdr(data, png_chunk(b"iCCP", b"icc\0\0not zlib")))
    pic = load_picture(tmp_path / "a.png")
    assert pic.bits == 16 and pic.icc is None


@pytest.mark.parametrize("content", [b"hello\n", b"", b"PK\x03\x04broken zip"])
def test_non_checkpoints_are_one_line(tmp_path, content):
    from rlfn.models.checkpoint import read_checkpoint

    path = tmp_path / "w.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="w.pth: not a"):
        read_checkpoint(path)


def test_nan_weights_are_refused(tmp_path, weights):
    state = torch.load(weights, weights_only=True)
    state["conv_1.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    rc, _, err = run_cli(["upscale", tmp_path / "a.png", "--weights", tmp_path / "nan.pth"])
    assert rc == 2 and "NaN or infinite" in err and not (tmp_path / "a_x2.png").exists()


def test_multi_page_inputs_are_refused(tmp_path, weights):
    # Animated GIF/APNG/WebP come out animated (tests/test_animation.py); pages of a TIFF are no animation.
    frames = [Image.new("RGB", (6, 5), c) for c in ("red", "blue")]
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:])
    rc, _, err = run_cli(["upscale", tmp_path / "pages.tif", "--weights", weights, "-q"])
    assert rc == 1 and "of 2 pages" in err and not list(tmp_path.glob("pages_x2*"))


@pytest.mark.parametrize("size", [8, 16])
def test_eval_on_tiny_hr_images_says_why(tmp_path, weights, size):
    (tmp_path / "hr").mkdir()
    Image.new("RGB", (size, size), "gray").save(tmp_path / "hr" / "a.png")
    rc, _, err = run_cli(["eval", tmp_path / "hr", "--weights", weights, "-q"])
    if size < 11 + 2 * 2:  # the SSIM window plus the x2 border on each side
        assert rc == 2 and "too small to score" in err and len(err.strip().splitlines()) == 1
    else:
        assert rc == 0 and "Traceback" not in err


def test_bench_on_a_network_without_parameters(tmp_path, monkeypatch):
    (tmp_path / "noparams_net.py").write_text(
        "import torch\ndef make():\n    return torch.nn.Upsample(scale_factor=2)\n")
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(["bench", "noparams_net:make", "--size", "16", "--count", "1", "--warmup", "0"])
    assert rc == 0 and "noparams_net:make" in out, err


def test_export_check_with_a_bad_image_writes_nothing(tmp_path, weights):
    (tmp_path / "bad.png").write_text("not an image")
    rc, _, err = run_cli(["export", "--weights", weights, "-o", tmp_path / "m.pt", "--check", tmp_path / "bad.png"])
    assert rc == 2 and "bad.png" in err and not (tmp_path / "m.pt").exists()


def test_train_on_a_binary_config_and_an_unusable_out_dir(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"\x00\xff\xfe binary")
    rc, _, err = run_cli(["train", tmp_path / "c.yaml"])
    assert rc == 2 and "not a YAML config file" in err and len(err.strip().splitlines()) == 1
