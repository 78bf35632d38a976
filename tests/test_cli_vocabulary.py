"""One flag vocabulary across the subcommands, the argparse traps fixed, aliases, and any output size."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from rlfn.cli.main import COMMANDS, build_parser, main
from rlfn.inference.resize import OutputSize, resize_pixels

from conftest import OFFICIAL, need


def parse(*argv: str):
    return build_parser(argv[0]).parse_args(list(argv))


def options(command: str) -> dict[str, object]:
    """Each option string of a subcommand → its argparse action."""
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    return {s: a for a in sub._actions for s in a.option_strings}


# ---- the argparse traps --------------------------------------------------------------------------------------


def test_eval_lr_before_hr_is_one_folder_each():
    args = parse("eval", "--lr", "LR", "HR")
    assert args.lr_dirs == ["LR"] and args.datasets == ["HR"]
    args = parse("eval", "HR1", "HR2", "--lr", "L1", "--lr", "L2")
    assert args.lr_dirs == ["L1", "L2"] and args.datasets == ["HR1", "HR2"]


def test_export_check_image_before_model():
    args = parse("export", "--check", "a.png", "rlfn_x2", "-o", "m.onnx")
    assert args.check == ["a.png"] and args.model_pos == "rlfn_x2" and args.output == "m.onnx"


def test_train_resume_before_config():
    args = parse("train", "--resume", "cfg.yaml")
    assert args.config == "cfg.yaml" and args.resume == "auto"
    args = parse("train", "cfg.yaml", "--resume-from", "old/last.pt")
    assert args.resume == "old/last.pt"


def test_export_check_then_model_runs(tmp_path):
    """The whole command, as typed: official RLFN x2 (from ../shared, as a download mirror), checked on a.png."""
    need(OFFICIAL / "rlfn_x2.pth")
    img = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)).save(img)
    out = tmp_path / "m.onnx"
    assert main(["export", "--check", str(img), "rlfn_x2", "-o", str(out), "-q"]) == 0
    assert out.stat().st_size > 100_000


def test_eval_lr_before_hr_runs(tmp_path, capsys):
    hr, lr = tmp_path / "HR", tmp_path / "LR"
    hr.mkdir(), lr.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(hr / "a.png")
    Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(lr / "a.png")
    assert main(["eval", "--lr", str(lr), str(hr), "--json", "-", "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)  # standard output holds the JSON alone
    assert doc["scale"] == 4 and doc["results"][0]["images"] == 1


# ---- one vocabulary ------------------------------------------------------------------------------------------


def test_same_flag_same_help_everywhere():
    for flag in ("--device", "--threads", "--overwrite", "--json", "--quiet", "--model", "--weights", "--pretrained"):
        helps = {}
        for command in COMMANDS:
            action = options(command).get(flag)
            if action is not None:
                helps[command] = action.help.split(" (default")[0].split(" (")[0]
        assert helps, flag
        if flag == "--device":
            defaults = {c: options(c)["--device"].default for c in helps}
            assert {d for c, d in defaults.items() if c != "train"} == {"auto"}, defaults
            assert len(set(helps.values())) == 1, helps
        if flag in ("--threads", "--model", "--weights"):
            assert len(set(helps.values())) == 1, helps


def test_no_flag_means_two_things():
    assert [c for c in COMMANDS if "--format" in options(c)] == ["export"]
    assert [c for c in COMMANDS if "--check" in options(c)] == ["export"]


def test_real_esrgan_aliases():
    args = parse("upscale", "-i", "a.png", "-i", "b.png", "-o", "out", "-t", "256", "--fp32", "--tile_pad", "8")
    assert args.more_inputs == ["a.png", "b.png"] and args.tile == 256 and args.precision == "fp32"
    assert args.tile_pad == 8 and args.output == "out"
    assert parse("upscale", "x.png", "--ext", "webp").ext == "webp"


def test_bench_name_gets_the_shipped_weights():
    from rlfn.perf.bench import resolve_model

    assert resolve_model("rlfn_s_x4").source == "ours"
    assert resolve_model("rlfn_s_x4", pretrained="none").source == "random weights"


@pytest.mark.parametrize("argv", [
    ["models", "--json", "{f}"],
    ["bench", "rlfn_ntire_x4", "--size", "16", "--count", "1", "--warmup", "0", "--pretrained", "none", "--json", "{f}"],
])
def test_json_file_is_not_replaced_without_overwrite(tmp_path, argv, capsys):
    f = tmp_path / "r.json"
    f.write_text("keep")
    assert main([a.format(f=f) for a in argv]) == 2
    assert f.read_text() == "keep" and "exists" in capsys.readouterr().err
    assert main([a.format(f=f) for a in argv] + ["--overwrite"]) == 0
    json.loads(f.read_text())


def test_models_json_on_stdout(capsys):
    assert main(["models", "--json"]) == 0
    names = {w["name"] for w in json.loads(capsys.readouterr().out)["weights"]}
    assert {"rlfn_s_x4", "rlfn_s_x2"} <= names


# ---- any output size -----------------------------------------------------------------------------------------


def _image(path, w=37, h=23, mode="RGB"):
    rng = np.random.default_rng(2)
    arr = (rng.random((h, w, len(mode))) * 255).astype(np.uint8)
    Image.fromarray(arr[:, :, 0] if mode == "L" else arr).save(path)
    return path


@pytest.mark.parametrize("flags, size", [
    (["--outscale", "3"], (111, 69)),
    (["--outscale", "1.5"], (56, 34)),
    (["--width", "100"], (100, 62)),
    (["--height", "46"], (74, 46)),
    (["--width", "100", "--height", "30"], (48, 30)),  # fits inside the box
])
def test_output_size(tmp_path, flags, size):
    src = _image(tmp_path / "a.png")
    out = tmp_path / "o.png"
    assert main(["upscale", str(src), "-o", str(out), "-q", *flags]) == 0
    assert Image.open(out).size == size


def test_outscale_names_the_output(tmp_path):
    src = _image(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "-q", "--outscale", "3"]) == 0
    assert Image.open(tmp_path / "out" / "a_x3.png").size == (111, 69)


def test_outscale_with_width_is_refused(tmp_path, capsys):
    src = _image(tmp_path / "a.png")
    assert main(["upscale", str(src), "--outscale", "2", "--width", "9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not both" in err[0]


def test_resize_keeps_16_bit_and_alpha():
    rng = np.random.default_rng(3)
    arr = (rng.random((20, 30, 4)) * 65535).astype(np.uint16)
    out = resize_pixels(arr, (45, 30))
    assert out.dtype == np.uint16 and out.shape == (30, 45, 4)
    # Fine steps survive: a 16-bit ramp stays finer than 8-bit quantisation would allow.
    ramp = np.tile(np.linspace(1000, 1100, 64, dtype=np.float64)[None, :, None], (8, 1, 3)).astype(np.uint16)
    assert len(np.unique(resize_pixels(ramp, (32, 4))[0, :, 0])) > 20


def test_output_size_arithmetic():
    assert OutputSize().for_input(10, 7, 4) == (40, 28)
    assert OutputSize(outscale=3).for_input(10, 7, 4) == (30, 21)
    assert OutputSize(width=1920).for_input(640, 360, 4) == (1920, 1080)
    assert OutputSize(width=1000, height=1000).for_input(400, 200, 4) == (1000, 500)
    with pytest.raises(Exception, match="not both"):
        OutputSize(outscale=2, width=3)


def test_png_compression_level(tmp_path):
    """Level 0 stores, level 9 squeezes: same pixels, different sizes; 16-bit colour too (through OpenCV)."""
    from rlfn.io.images import Picture, load_picture, save_picture

    rng = np.random.default_rng(4)
    smooth = np.kron(rng.integers(0, 255, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    for pixels in (smooth, smooth.astype(np.uint16) * 257):
        sizes = {}
        for level in (0, 9):
            path = save_picture(Picture(pixels), tmp_path / f"{pixels.dtype}_{level}.png", png_compression=level)
            assert np.array_equal(load_picture(path).pixels, pixels)
            sizes[level] = path.stat().st_size
        assert sizes[0] > 3 * sizes[9], sizes
    assert parse("upscale", "a.png", "--png-compression", "9").png_compression == 9


def test_help_and_models_do_not_import_torch():
    """Startup imports only what the command needs: parsing any subcommand and `rlfn models` stay torch-free."""
    import subprocess
    import sys

    code = ("import sys; from rlfn.cli.main import build_parser, main; build_parser(); main(['models']); "
            "from rlfn.cli.eval import PROTOCOL_NAMES; from rlfn.quality.evaluate import PROTOCOLS; "
            "print(sorted(PROTOCOL_NAMES) == sorted(PROTOCOLS))")
    out = subprocess.run([sys.executable, "-c", code.replace("from rlfn.quality", "assert 'torch' not in sys.modules; from rlfn.quality")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("True"), out


def test_command_exits_quickly_with_everything_flushed(tmp_path):
    """`python -m rlfn` ends with os._exit after the command (skipping PyTorch's slow teardown): its exit
    status and everything it printed, to a pipe or a file, still arrive whole."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "rlfn", "models", "--json", "-"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    catalogue = json.loads(out.stdout)  # whole, not a truncated buffer
    assert [v["name"] for v in catalogue["variants"]] == ["rlfn", "rlfn_s", "rlfn_ntire"]
    with open(tmp_path / "log.txt", "w") as f:  # a file: block-buffered, flushed before the exit
        rc = subprocess.run([sys.executable, "-m", "rlfn", "models"], stdout=f).returncode
    assert rc == 0 and "rlfn_s_x4" in (tmp_path / "log.txt").read_text()
    bad = subprocess.run([sys.executable, "-m", "rlfn", "upscale", str(tmp_path / "missing.png")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "missing.png: no such file" in bad.stderr, bad.stderr
