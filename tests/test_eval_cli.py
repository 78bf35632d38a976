"""`rlfn eval` on small synthetic data, and its answers to bad input: one line, exit 2, no traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import rlfn
from rlfn.models.checkpoint import save_safetensors
from rlfn.cli import main


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "Tiny"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        base = np.linspace(0, 255, 64 * 48 * 3).reshape(64, 48, 3)
        Image.fromarray((base * 0.7 + rng.integers(0, 60, base.shape)).astype(np.uint8)).save(d / f"img{i}.png")
    return d


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return save_safetensors(rlfn.create_model("rlfn_s", 2), tmp_path / "tiny_x2.safetensors",
                            {"variant": "rlfn_s", "scale": 2, "pixel_range": 1.0})


def run_cli(args, capsys):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_eval_json_table_and_saved_images(dataset, checkpoint, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    rc, out, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--json", str(out_json),
                            "--save", str(tmp_path / "sr"), "--per-image"], capsys)
    assert rc == 0, err
    result = json.loads(out_json.read_text())
    assert (result["model"], result["scale"], result["protocol"]) == ("rlfn_s", 2, "y")
    (r,) = result["results"]
    assert r["dataset"] == "Tiny" and r["images"] == 2 and 0 < r["ssim"] <= 1 and r["psnr"] > 0
    assert "bicubic" in out and "img0" in out
    saved = sorted((tmp_path / "sr" / "Tiny").iterdir())
    assert [p.name for p in saved] == ["img0_x2.png", "img1_x2.png"]
    assert Image.open(saved[0]).size == (48, 64)  # the HR size (W, H)


def test_eval_json_is_not_replaced_without_overwrite(dataset, checkpoint, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    out_json.write_text("keep me")
    rc, out, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--json", str(out_json), "-q"], capsys)
    assert rc == 2 and "--json" in err and "--overwrite" in err and "bicubic" not in out  # refused before the work
    assert out_json.read_text() == "keep me"
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--json", str(out_json), "-q",
                          "--overwrite"], capsys)
    assert rc == 0, err
    assert json.loads(out_json.read_text())["model"] == "rlfn_s"


def test_models_json_lists_variants_and_weights(capsys):
    rc, out, _ = run_cli(["models", "--json"], capsys)
    data = json.loads(out)
    assert rc == 0 and [v["name"] for v in data["variants"]] == ["rlfn", "rlfn_s", "rlfn_ntire"]
    by_name = {(w["name"], w["pretrained"]): w for w in data["weights"]}
    assert by_name[("rlfn_s_x4", "ours")]["bundled"] and by_name[("rlfn_s_x4", "ours")]["pixel_range"] == 1.0
    assert by_name[("rlfn_ntire_x4", "official")]["url"].startswith("https://")


def test_paired_folders_give_the_same_scores(dataset, checkpoint, tmp_path, capsys):
    from rlfn.quality.degradation import make_lr
    from rlfn.io.images import read_rgb

    lr_dir = tmp_path / "TinyLR"
    lr_dir.mkdir()
    for p in dataset.iterdir():
        lr = make_lr(read_rgb(p).double(), 2).byte().permute(1, 2, 0).numpy()
        Image.fromarray(lr).save(lr_dir / f"{p.stem}x2.png")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--json", str(a), "-q"], capsys)[0] == 0
    assert run_cli(["eval", str(dataset), "--lr", str(lr_dir), "--weights", str(checkpoint), "--json", str(b), "-q"], capsys)[0] == 0
    ra, rb = json.loads(a.read_text())["results"][0], json.loads(b.read_text())["results"][0]
    assert ra["psnr"] == pytest.approx(rb["psnr"], abs=1e-9)


def one_line_error(rc, err, *needles):
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]


def test_folder_without_images(tmp_path, checkpoint, capsys):
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(["eval", str(tmp_path / "empty"), "--weights", str(checkpoint)], capsys)
    one_line_error(rc, err, "has no images")


def test_not_an_image_and_truncated_image(dataset, checkpoint, capsys):
    (dataset / "fake.png").write_text("hello")
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "-q"], capsys)
    one_line_error(rc, err, "fake.png", "not an image")
    (dataset / "fake.png").unlink()
    data = (dataset / "img0.png").read_bytes()
    (dataset / "img0.png").write_bytes(data[: len(data) // 2])
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "-q"], capsys)
    one_line_error(rc, err, "img0.png")


def test_scale_the_checkpoint_lacks(dataset, checkpoint, capsys):
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--scale", "4"], capsys)
    one_line_error(rc, err, "rlfn_s x2", "scale 4")
    rc, _, err = run_cli(["eval", str(dataset), "--model", "rlfn", "--scale", "2", "--weights", str(checkpoint)], capsys)
    one_line_error(rc, err, "rlfn x2 was asked")


def test_checkpoint_of_something_else(dataset, tmp_path, capsys):
    torch.save({"encoder.weight": torch.zeros(4, 4)}, tmp_path / "other.pth")
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(tmp_path / "other.pth")], capsys)
    one_line_error(rc, err, "not an RLFN checkpoint")


def test_missing_paths(dataset, checkpoint, tmp_path, capsys):
    rc, _, err = run_cli(["eval", str(tmp_path / "nowhere"), "--weights", str(checkpoint)], capsys)
    one_line_error(rc, err, "nowhere", "no such folder")
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(tmp_path / "none.pth")], capsys)
    one_line_error(rc, err, "none.pth", "no such file")
    rc, _, err = run_cli(["eval", str(dataset), "--model", "edsr"], capsys)
    one_line_error(rc, err, "unknown model")


def test_real_process_prints_one_line(tmp_path):
    """The installed entry point, as a user runs it: stderr is one line and the exit status non-zero."""
    proc = subprocess.run([sys.executable, "-m", "rlfn", "eval", str(tmp_path / "missing")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "missing" in proc.stderr


# ---------------------------------------------------------------- --degrade


def _eval_json(args, tmp_path, capsys, name):
    out = tmp_path / f"{name}.json"
    rc, _, err = run_cli(["eval", *args, "--json", str(out), "-q"], capsys)
    assert rc == 0, err
    return json.loads(out.read_text())


def test_degrade_clean_is_no_option_and_jpeg_lowers_bicubic(dataset, checkpoint, tmp_path, capsys):
    base = ["--weights", str(checkpoint)]
    plain = _eval_json([str(dataset), *base], tmp_path, capsys, "plain")
    clean = _eval_json([str(dataset), *base, "--degrade", "clean"], tmp_path, capsys, "clean")
    jpeg = _eval_json([str(dataset), *base, "--degrade", "jpeg50"], tmp_path, capsys, "jpeg")
    assert plain["degradation"] == clean["degradation"] == "clean" and jpeg["degradation"] == "jpeg50"
    assert plain["results"] == clean["results"]
    assert jpeg["results"][0]["bicubic_psnr"] < plain["results"][0]["bicubic_psnr"] - 0.1


def test_degrade_repeats_and_shows(dataset, checkpoint, tmp_path, capsys):
    args = [str(dataset), "--weights", str(checkpoint), "--degrade", "noise10+jpeg70"]
    a = _eval_json(args, tmp_path, capsys, "a")
    b = _eval_json(args, tmp_path, capsys, "b")
    assert a["results"] == b["results"] and a["degradation"] == "noise10+jpeg70"
    rc, out, _ = run_cli(["eval", *args, "-q"], capsys)
    assert rc == 0 and "degradation: noise10+jpeg70" in out


def test_degrade_applies_to_paired_lr_too(dataset, checkpoint, tmp_path, capsys):
    from rlfn.io.images import read_rgb
    from rlfn.quality.degradation import make_lr

    lr_dir = tmp_path / "TinyLR"
    lr_dir.mkdir()
    for p in dataset.iterdir():
        Image.fromarray(make_lr(read_rgb(p).double(), 2).byte().permute(1, 2, 0).numpy()).save(lr_dir / f"{p.stem}x2.png")
    made = _eval_json([str(dataset), "--weights", str(checkpoint), "--degrade", "noise5+jpeg60"], tmp_path, capsys, "m")
    given = _eval_json([str(dataset), "--lr", str(lr_dir), "--weights", str(checkpoint), "--degrade", "noise5+jpeg60"],
                       tmp_path, capsys, "g")
    assert made["results"] == given["results"]


def test_bad_degrade_spec_is_one_line(dataset, checkpoint, capsys):
    rc, _, err = run_cli(["eval", str(dataset), "--weights", str(checkpoint), "--degrade", "blur2"], capsys)
    one_line_error(rc, err, "rlfn eval: error:", "cannot read 'blur2'")
