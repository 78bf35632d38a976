"""`rlfn degrade`: degraded LR sets from a folder of HR images, repeatable, written atomically; its
answers to bad input are one line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import rlfn
from _train_helpers import make_images
from rlfn.cli import main
from rlfn.io.images import read_rgb
from rlfn.models.checkpoint import save_safetensors
from rlfn.quality.degradation import make_lr
from rlfn.quality.degrade_images import make_degraded_lr
from rlfn.quality.realworld import RealWorldConfig


@pytest.fixture
def hr_dir(tmp_path):
    return make_images(tmp_path / "HR", n=3, size=(50, 42))  # not multiples of 4: modcropped


def run_cli(args, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def one_line_error(rc, err, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


def test_default_is_the_realworld_pipeline_repeatably(hr_dir, tmp_path, capsys):
    out = tmp_path / "LR"
    rc, stdout, err = run_cli(["degrade", str(hr_dir), str(out)], capsys)
    assert rc == 0, err
    assert "3 LR images (realworld, x4, seed 0)" in stdout
    files = sorted(p.name for p in out.iterdir())
    assert files == ["img00.png", "img01.png", "img02.png"]  # and no temporary files left behind
    first = pixels(out / "img00.png")
    assert first.shape == (10, 12, 3)
    hr = read_rgb(hr_dir / "img00.png")
    expected = make_degraded_lr(hr, 4, RealWorldConfig(), "img00", seed=0)
    assert np.array_equal(first, expected.permute(1, 2, 0).numpy())
    bicubic = make_lr(hr[:, :40, :48].double(), 4).byte().permute(1, 2, 0).numpy()
    assert not np.array_equal(first, bicubic)
    # the same command writes the same pixels; another seed, others
    assert run_cli(["degrade", str(hr_dir), str(out), "--overwrite", "-q"], capsys)[0] == 0
    assert np.array_equal(pixels(out / "img00.png"), first)
    assert run_cli(["degrade", str(hr_dir), str(tmp_path / "s1"), "--seed", "1", "-q"], capsys)[0] == 0
    assert not np.array_equal(pixels(tmp_path / "s1" / "img00.png"), first)


def test_no_overwrite_without_the_option(hr_dir, tmp_path, capsys):
    out = tmp_path / "LR"
    out.mkdir()
    (out / "img01.png").write_bytes(b"keep me")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(out), "-q"], capsys)
    one_line_error(rc, err, "rlfn degrade: error:", "img01.png: exists", "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["img01.png"]  # nothing written at all
    assert (out / "img01.png").read_bytes() == b"keep me"
    rc, _, err = run_cli(["degrade", str(hr_dir), str(hr_dir), "-q", "--overwrite"], capsys)
    one_line_error(rc, err, "is the input folder")


def test_config_degradation_and_scale(hr_dir, tmp_path, capsys):
    cfg = {"model": {"scale": 2}, "data": {"hr_dirs": [str(hr_dir)], "degradation": {"kind": "realworld", "sinc_prob": 0.0}},
           "stages": [{"steps": 1}, {"steps": 1, "data": {"degradation": "bicubic"}}]}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert run_cli(["degrade", str(hr_dir), str(tmp_path / "a"), "--config", str(path), "-q"], capsys)[0] == 0
    hr = read_rgb(hr_dir / "img02.png")
    expected = make_degraded_lr(hr, 2, RealWorldConfig(sinc_prob=0.0), "img02")
    assert np.array_equal(pixels(tmp_path / "a" / "img02.png"), expected.permute(1, 2, 0).numpy())
    rc, out, _ = run_cli(["degrade", str(hr_dir), str(tmp_path / "b"), "--config", str(path), "--stage", "2"], capsys)
    assert rc == 0 and "bicubic, x2" in out
    bicubic = make_lr(hr[:, :42, :50].double(), 2).byte().permute(1, 2, 0).numpy()
    assert np.array_equal(pixels(tmp_path / "b" / "img02.png"), bicubic)
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "c"), "--config", str(path), "--stage", "3"], capsys)
    one_line_error(rc, err, "--stage 3", "2 stage(s)")
    cfg["data"]["degradation"]["blur_prob"] = 2
    path.write_text(yaml.safe_dump(cfg))
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "d"), "--config", str(path)], capsys)
    one_line_error(rc, err, "data.degradation.blur_prob: must be a probability")


def test_spec_makes_the_lr_of_eval_degrade(hr_dir, tmp_path, capsys):
    """rlfn degrade --spec S then rlfn eval --lr scores exactly as rlfn eval --degrade S."""
    torch.manual_seed(0)
    ckpt = save_safetensors(rlfn.create_model("rlfn_s", 2), tmp_path / "tiny_x2.safetensors",
                            {"variant": "rlfn_s", "scale": 2, "pixel_range": 1.0})
    lr_dir = tmp_path / "LR"
    assert run_cli(["degrade", str(hr_dir), str(lr_dir), "--spec", "noise10+jpeg70", "--scale", "2", "-q"], capsys)[0] == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run_cli(["eval", str(hr_dir), "--weights", str(ckpt), "--degrade", "noise10+jpeg70", "--json", str(a), "-q"], capsys)[0] == 0
    assert run_cli(["eval", str(hr_dir), "--lr", str(lr_dir), "--weights", str(ckpt), "--json", str(b), "-q"], capsys)[0] == 0
    assert json.loads(a.read_text())["results"] == json.loads(b.read_text())["results"]


def test_bad_input_is_one_line(hr_dir, tmp_path, capsys):
    rc, _, err = run_cli(["degrade", str(tmp_path / "nowhere"), str(tmp_path / "o")], capsys)
    one_line_error(rc, err, "nowhere", "no such folder")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "o"), "--spec", "jpeg500"], capsys)
    one_line_error(rc, err, "JPEG quality")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "o"), "--config", str(tmp_path / "none.yaml")], capsys)
    one_line_error(rc, err, "none.yaml", "no such config file")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "o"), "--stage", "2"], capsys)
    one_line_error(rc, err, "--stage: only with --config")
    # a bad file among good ones is one line and exit status 1; the others are written (as rlfn upscale does)
    (hr_dir / "fake.png").write_text("hello")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "o"), "-q"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "fake.png" in err and "Traceback" not in err
    (hr_dir / "fake.png").unlink()
    Image.new("RGB", (3, 3)).save(hr_dir / "tiny.png")
    rc, _, err = run_cli(["degrade", str(hr_dir), str(tmp_path / "o"), "-q", "--overwrite"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "tiny" in err and "too small for ×4" in err


def test_a_too_small_image_is_skipped_and_the_batch_goes_on(tmp_path, capsys):
    """One 3×2 HR among good ones (issue 27, item 8): one line naming its size and the minimum, the others
    written, exit status 1."""
    from PIL import Image

    from rlfn.cli.main import main

    hr = tmp_path / "hr"
    hr.mkdir()
    Image.new("RGB", (40, 32), (90, 120, 30)).save(hr / "good.png")
    Image.new("RGB", (3, 2), (90, 120, 30)).save(hr / "tiny.png")
    assert main(["degrade", str(hr), str(tmp_path / "lr"), "--scale", "4", "-q"]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "tiny.png: 3×2 pixels" in err[0] and "at least 4×4" in err[0], err
    assert sorted(p.name for p in (tmp_path / "lr").iterdir()) == ["good.png"]


@pytest.mark.parametrize("spec", [None, "jpeg50"])
def test_alpha_is_kept_downscaled_by_the_matlab_bicubic(tmp_path, capsys, spec):
    rng = np.random.default_rng(3)
    hr = np.concatenate([rng.integers(0, 256, (48, 40, 3)), np.tile(np.arange(40) * 6, (48, 1))[..., None]], -1)
    for kind, pixels_ in (("rgba", hr), ("rgb", hr[..., :3])):  # one name: the same random draws
        (tmp_path / kind).mkdir()
        Image.fromarray(pixels_.astype(np.uint8)).save(tmp_path / kind / "img.png")
        rc, _, err = run_cli(["degrade", str(tmp_path / kind), str(tmp_path / f"LR_{kind}"), "-q",
                              *(["--spec", spec] if spec else [])], capsys)
        assert rc == 0 and err == ""
    out, plain = Image.open(tmp_path / "LR_rgba" / "img.png"), Image.open(tmp_path / "LR_rgb" / "img.png")
    assert out.mode == "RGBA" and plain.mode == "RGB" and out.size == (10, 12)
    alpha = torch.from_numpy(hr[..., 3].astype(np.float64))[None]
    np.testing.assert_array_equal(np.asarray(out)[..., 3], make_lr(alpha, 4)[0].numpy().astype(np.uint8))
    # the colour is what an RGB image of the same pixels gets
    np.testing.assert_array_equal(np.asarray(out)[..., :3], np.asarray(plain))
