"""A bounded fuzz run of the CLI: malformed images, checkpoints, configs and option values through every
subcommand, in-process through ``rlfn.cli.main.main(argv)``, plus real processes stopped by signals mid-write.

What every case must show: no traceback, no temporary or partial file left behind, a non-zero exit for every
input known to be bad, and an error line naming the bad file. A mutated file that still decodes (a flipped
byte in pixel data) may succeed, but then its output must be a readable image.

``run_fuzz(root, seed, seconds)`` returns the counts by kind and the failures; the short version runs in
tests/test_fuzz.py, the long one with ``RLFN_FUZZ_SECONDS=600 python -m pytest -s tests/test_fuzz.py``.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rlfn.cli.main import main
from rlfn.io import deep
from rlfn.io.pngchunks import SIGNATURE
from rlfn.io.atomic import is_temp_name

SCALE = 2


@dataclass
class Report:
    cases: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fail(self, kind: str, what: str) -> None:
        self.failures.append(f"[{kind}] {what}")

    def summary(self) -> str:
        total = sum(self.cases.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.cases.items()))
        return f"{total} cases ({kinds}); failures: {len(self.failures)}"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``rlfn ARGV`` in this process: (exit status, stdout, stderr); an escaping exception is a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except BaseException as e:  # noqa: BLE001 - this is what the fuzz test looks for
            import traceback

            err.write("Traceback (escaped main)\n" + "".join(traceback.format_exception(e)))
            rc = -1
    return rc, out.getvalue(), err.getvalue()


def leftovers(root: Path, planted: set[Path] = frozenset()) -> list[Path]:
    """Temporary or partial files under ``root`` (``planted`` ones excepted)."""
    return [p for p in root.rglob("*") if (is_temp_name(p.name) or ".part" in p.name) and p not in planted]


# ---- images --------------------------------------------------------------------------------------------------


def _pixels(rng: random.Random, h: int, w: int, c: int, dtype=np.uint8) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    g = np.random.default_rng(rng.randrange(2**32))
    return g.integers(0, top + 1, (h, w, c)).astype(dtype)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def insert_after_ihdr(png: bytes, chunk: bytes) -> bytes:
    return png[:33] + chunk + png[33:]


def good_image(rng: random.Random, kind: str) -> tuple[bytes, str]:
    """A valid small image of ``kind``: (file bytes, suffix)."""
    h, w = rng.randint(3, 40), rng.randint(3, 40)
    buf = io.BytesIO()
    if kind == "png16":
        return deep.encode_png(_pixels(rng, h, w, rng.choice((3, 4)), np.uint16)), ".png"
    if kind == "tiff16":
        return deep.encode_tiff(_pixels(rng, h, w, 3, np.uint16)), ".tif"
    mode, fmt, suffix = {
        "png": ("RGB", "PNG", ".png"), "png_rgba": ("RGBA", "PNG", ".png"), "png_l": ("L", "PNG", ".png"),
        "png_p": ("P", "PNG", ".png"), "png_la": ("LA", "PNG", ".png"), "jpeg": ("RGB", "JPEG", ".jpg"),
        "jpeg_cmyk": ("CMYK", "JPEG", ".jpg"), "webp": ("RGB", "WEBP", ".webp"), "bmp": ("RGB", "BMP", ".bmp"),
        "tiff": ("RGB", "TIFF", ".tif"), "gif": ("P", "GIF", ".png"),  # a GIF named .png: sniffed, not trusted
        "png_i16": ("I;16", "PNG", ".png"), "tiff_f": ("F", "TIFF", ".tif"), "png_1": ("1", "PNG", ".png"),
    }[kind]
    arr = _pixels(rng, h, w, 3)
    im = Image.fromarray(arr, "RGB")
    if mode == "P":
        im = im.convert("P")
    elif mode in ("L", "LA", "RGBA", "CMYK", "1"):
        im = im.convert(mode)
    elif mode == "I;16":
        im = Image.frombytes("I;16", (w, h), _pixels(rng, h, w, 1, np.uint16)[:, :, 0].astype("<u2").tobytes())
    elif mode == "F":
        im = Image.fromarray(np.random.default_rng(1).random((h, w)).astype(np.float32), "F")
    im.save(buf, format=fmt)
    return buf.getvalue(), suffix


GOOD_KINDS = ("png", "png_rgba", "png_l", "png_p", "png_la", "png16", "jpeg", "jpeg_cmyk", "webp", "bmp", "tiff",
              "tiff16", "gif", "png_i16", "tiff_f", "png_1")


def multi_frame(rng: random.Random, kind: str) -> tuple[bytes, str]:
    """Animated GIF, WebP, APNG (8 and 16 bits) or a multi-page TIFF. 8-bit animations come out animated
    (rlfn.io.animation); 16-bit APNGs and multi-page TIFFs must be refused, never flattened."""
    frames = [Image.fromarray(_pixels(rng, 12, 14, 3), "RGB") for _ in range(rng.randint(2, 4))]
    buf = io.BytesIO()
    if kind == "apng16":
        png = deep.encode_png(_pixels(rng, 12, 14, 3, np.uint16))
        return insert_after_ihdr(png, png_chunk(b"acTL", struct.pack(">II", 3, 0))), ".png"
    # .gif is no input suffix: an animated GIF named .png (the content is sniffed, not the name)
    fmt, suffix = {"gif_anim": ("GIF", ".png"), "webp_anim": ("WEBP", ".webp"), "apng": ("PNG", ".png"),
                   "tiff_pages": ("TIFF", ".tif")}[kind]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    frames[0].save(buf, format=fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue(), suffix


MULTI_KINDS = ("gif_anim", "webp_anim", "apng", "apng16", "tiff_pages")
REFUSED_MULTI_KINDS = ("apng16", "tiff_pages")


def bad_image(rng: random.Random) -> tuple[bytes, str, str, bool]:
    """(bytes, suffix, kind, known bad): a malformed image; known bad means it must be refused."""
    how = rng.choice(("truncate", "flip", "garbage_tail", "zero_fill", "empty", "text", "random", "header_only",
                      "bomb", "icc16", "icc8", "multi", "ihdr_bad"))
    if how == "multi":
        kind = rng.choice(MULTI_KINDS)
        data, suffix = multi_frame(rng, kind)
        return data, suffix, f"image/{kind}", kind in REFUSED_MULTI_KINDS
    if how == "empty":
        return b"", rng.choice((".png", ".jpg", ".webp", ".tif")), "image/empty", True
    if how == "text":
        return b"this is not an image\n" * rng.randint(1, 50), rng.choice((".png", ".jpg", ".bmp")), "image/text", True
    if how == "random":
        return rng.randbytes(rng.randint(1, 3000)), rng.choice((".png", ".jpg", ".webp", ".tif")), "image/random", True
    if how == "bomb":  # a PNG header claiming 100000×100000 pixels
        ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
        return SIGNATURE + ihdr + png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + png_chunk(b"IEND", b""), \
            ".png", "image/bomb", True
    if how == "ihdr_bad":  # a 16-bit PNG whose IHDR is short or whose data is missing
        body = struct.pack(">IIBB", 10, 10, 16, 2)
        return SIGNATURE + png_chunk(b"IHDR", body + b"\0\0\0") + png_chunk(b"IEND", b""), ".png", \
            "image/ihdr_bad", True
    if how in ("icc16", "icc8"):  # a damaged colour profile: accepted like Pillow does, the profile dropped
        data, suffix = good_image(rng, "png16" if how == "icc16" else "png")
        garbage = rng.choice((b"sRGB\0\0" + rng.randbytes(40), b"no-nul-separator", b"x\0\1" + zlib.compress(b"icc")))
        return insert_after_ihdr(data, png_chunk(b"iCCP", garbage)), suffix, f"image/{how}", False
    kind = rng.choice(GOOD_KINDS)
    data, suffix = good_image(rng, kind)
    if how == "header_only":
        return data[: rng.randint(1, min(40, len(data) - 1))], suffix, "image/header_only", True
    if how == "truncate":
        cut = rng.randint(1, len(data) - 1)
        return data[:cut], suffix, "image/truncate", False  # a cut in trailing metadata may still decode
    b = bytearray(data)
    if how == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif how == "garbage_tail":
        b += rng.randbytes(rng.randint(1, 500))
    else:  # zero_fill
        i = rng.randrange(len(b))
        b[i : i + rng.randint(1, 64)] = bytes(min(64, len(b) - i))
    return bytes(b), suffix, f"image/{how}", False


def _is_readable_image(path: Path) -> bool:
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:  # noqa: BLE001
        return False


def fuzz_upscale_batch(root: Path, weights: Path, rng: random.Random, rep: Report, n: int) -> None:
    """One folder of ``n`` malformed images plus good ones: one upscale run; the batch must go on."""
    src = root / "in"
    out = root / "out"
    src.mkdir(parents=True)
    files: dict[Path, tuple[str, bool]] = {}
    for i in range(n):
        data, suffix, kind, known_bad = bad_image(rng)
        p = src / f"b{i:03d}{suffix}"
        p.write_bytes(data)
        files[p] = (kind, known_bad)
    for i, kind in enumerate(rng.sample(GOOD_KINDS, 3)):
        data, suffix = good_image(rng, kind)
        p = src / f"g{i}{suffix}"
        p.write_bytes(data)
        files[p] = ("image/good", False)
    # Leftovers of an earlier interrupted run (old and new names) are no inputs.
    planted = {src / ".g0.1a2b3c4d.part.png", src / ".g0.png.rlfn-1a2b3c4d.part"}
    for p in planted:
        p.write_bytes(b"\x89PNG half")
    rc, _, err = run_cli(["upscale", src, "-o", out, "--weights", weights, "-q", "--tile", "0"])
    lines = err.strip().splitlines()
    _no_traceback(rep, "image", err)
    errors = [ln for ln in lines if ln.startswith("rlfn upscale: error: ")]
    for p, (kind, known_bad) in files.items():
        rep.cases[kind if kind == "image/good" else "image/malformed"] += 1
        named = [ln for ln in errors if f"{p}:" in ln]
        dst = out / f"{p.stem}_x{SCALE}{p.suffix}"
        if known_bad or kind == "image/good":
            ok = bool(named) and not dst.exists() if known_bad else (dst.exists() and not named)
            if not ok:
                rep.fail(kind, f"{p.name}: expected {'an error' if known_bad else 'an output'}; rc {rc}; {named}")
        if dst.exists() == bool(named):
            rep.fail(kind, f"{p.name}: output {dst.exists()} and error {named} (exactly one expected)")
        if dst.exists() and not _is_readable_image(dst):
            rep.fail(kind, f"{dst.name}: written but not readable")
    for p in planted:
        if any(str(p) in ln for ln in lines) or any(q.name.startswith(p.name) for q in out.rglob("*")):
            rep.fail("image/leftover", f"{p.name} was taken as an input")
    if (rc != 0) != bool(errors):
        rep.fail("image", f"exit status {rc} with {len(errors)} error lines")
    if [ln for ln in lines if not ln.startswith("rlfn upscale: error: ") and "upscaled" not in ln
            and "warning" not in ln.lower()]:
        rep.fail("image", f"unexpected stderr: {err[:300]}")
    _no_leftovers(rep, "image", root, planted)


def fuzz_special_inputs(root: Path, weights: Path, rep: Report) -> None:
    """Non-regular files, format limits, --suffix paths, an existing file where a folder is needed."""
    root.mkdir(parents=True)
    fifo = root / "pipe.png"
    os.mkfifo(fifo)
    folder_png = root / "dir.png"
    folder_png.mkdir()
    wide = root / "wide.png"
    Image.new("RGB", (8200, 2)).save(wide)  # ×2 → 16400 wide: over WebP's 16383
    huge = root / "huge.png"
    Image.new("L", (32800, 1)).save(huge)  # ×2 → 65600 wide: over JPEG's 65535
    good = root / "good.png"
    Image.new("RGB", (9, 7), (200, 10, 10)).save(good)
    afile = root / "afile.png"
    Image.new("RGB", (4, 4)).save(afile)
    cases = [
        ("special/fifo", [fifo], "not a regular file"),
        ("special/folder", [folder_png, "-o", root / "o1"], "no images"),
        ("special/missing", [root / "nope.png"], "no such file"),
        ("special/webp_limit", [wide, "-o", root / "o2", "--ext", "webp"], "16,383"),
        ("special/jpeg_limit", [huge, "-o", root / "o3", "--ext", "jpg"], "65,535"),
        ("special/suffix_path", [good, "--suffix", "/../../x"], "suffix"),
        ("special/out_is_file", [good, afile, "-o", afile], "is a file"),
        ("special/replace_input", [good, "--suffix", ""], "replace the input"),
    ]
    for kind, argv, message in cases:
        rep.cases[kind] += 1
        rc, _, err = run_cli(["upscale", *argv, "--weights", weights, "-q", "--tile", "0"])
        _no_traceback(rep, kind, err)
        if rc == 0 or message not in err:
            rep.fail(kind, f"rc {rc}, expected a message with {message!r}: {err.strip()[:300]}")
    _no_leftovers(rep, "special", root)
    outside = [p for p in root.parent.rglob("x*") if p.is_file()]
    if outside:
        rep.fail("special/suffix_path", f"wrote outside -o: {outside}")


# ---- checkpoints ---------------------------------------------------------------------------------------------


def bad_checkpoint(rng: random.Random, good: bytes, folder: Path) -> tuple[Path, str, bool]:
    """(path, kind, known bad) of a malformed checkpoint."""
    how = rng.choice(("text", "empty", "random", "truncate", "flip", "pickle_evil", "zip_empty", "safetensors_bad",
                      "safetensors_header", "other_arch", "nan", "not_tensors", "a_list", "one_tensor", "json"))
    suffix = rng.choice((".pth", ".pt", ".ckpt"))
    data: bytes
    known_bad = True
    if how == "text":
        data = b"hello, I am not a checkpoint\n"
    elif how == "empty":
        data = b""
    elif how == "random":
        data = rng.randbytes(rng.randint(1, 4000))
    elif how == "json":
        data, suffix = b'{"conv_1.weight": [1, 2, 3]}', ".safetensors"
    elif how == "truncate":
        data = good[: rng.randint(1, len(good) - 1)]
    elif how == "flip":
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        data, known_bad = bytes(b), False  # a flip inside the tensor data may still load
    elif how == "pickle_evil":
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, ("touch PWNED",))

        data = pickle.dumps({"model": Evil()})
    elif how == "zip_empty":
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("archive/nothing.txt", "x")
        data = buf.getvalue()
    elif how in ("safetensors_bad", "safetensors_header"):
        header = b'{"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}'
        data = (struct.pack("<Q", len(header)) + header + b"\0" * 10) if how == "safetensors_header" else b"garbage!!"
        suffix = ".safetensors"
    else:
        buf = io.BytesIO()
        obj = {"other_arch": {"layer.weight": torch.zeros(3, 3)}, "not_tensors": {"a": 1, "b": "two"},
               "a_list": [torch.zeros(2)], "one_tensor": torch.zeros(4)}.get(how)
        if how == "nan":
            state = torch.load(io.BytesIO(good), weights_only=True)
            state["conv_1.weight"][0, 0, 0, 0] = float("nan")
            obj = state
        torch.save(obj, buf)
        data = buf.getvalue()
    path = folder / f"ck_{how}_{rng.randrange(10**6)}{suffix}"
    path.write_bytes(data)
    return path, f"checkpoint/{how}", known_bad


def fuzz_checkpoints(root: Path, weights: Path, image: Path, rng: random.Random, rep: Report, n: int) -> None:
    root.mkdir(parents=True)
    good = weights.read_bytes()
    for i in range(n):
        ck, kind, known_bad = bad_checkpoint(rng, good, root)
        out = root / f"o{i}"
        command = rng.choice(("upscale", "eval", "bench", "export", "train") if known_bad else ("upscale",))
        argv = {
            "upscale": ["upscale", image, "-o", out / "x.png", "--weights", ck, "-q", "--tile", "0"],
            "eval": ["eval", image.parent, "--weights", ck, "-q"],
            "bench": ["bench", ck, "--size", "16", "--count", "1", "--warmup", "0"],
            "export": ["export", "--weights", ck, "-o", out / "m.onnx"],
            "train": None,
        }[command]
        if command == "train":
            cfg = _write_config(root / f"c{i}.yaml", root, {"model": {"variant": "rlfn_s", "scale": SCALE,
                                                                      "init_from": str(ck)}})
            argv = ["train", cfg, "--dry-run"]
        rep.cases[f"{kind} ({command})"] += 1
        rc, _, err = run_cli(argv)
        _no_traceback(rep, kind, err)
        if known_bad and (rc == 0 or str(ck) not in err or len(err.strip().splitlines()) != 1):
            rep.fail(kind, f"{command}: rc {rc}, expected one line naming {ck.name}: {err.strip()[:300]}")
        if rc == 0 and command == "upscale" and not _is_readable_image(out / "x.png"):
            rep.fail(kind, "upscale succeeded but wrote no readable image")
        if known_bad and out.exists() and any(out.iterdir()):
            rep.fail(kind, f"{command}: left {list(out.iterdir())}")
    if Path("PWNED").exists():
        rep.fail("checkpoint/pickle_evil", "a pickle ran code")
    _no_leftovers(rep, "checkpoint", root)


# ---- configs ---------------------------------------------------------------------------------------------------


def _write_config(path: Path, root: Path, extra: dict) -> Path:
    import yaml

    data = root / "train_hr"
    if not data.exists():
        data.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(_pixels(random.Random(i), 40, 40, 3)).save(data / f"t{i}.png")
    raw = {"name": "fuzz", "out_dir": str(root / "run"), "model": {"variant": "rlfn_s", "scale": SCALE},
           "data": {"hr_dirs": [str(data)], "patch_size": 16, "batch_size": 2},
           "val": {"hr_dirs": [str(data)], "every": 1000, "images": 0},
           "train": {"steps": 1, "tensorboard": False}}
    for k, v in extra.items():
        raw[k] = {**raw[k], **v} if isinstance(v, dict) and isinstance(raw.get(k), dict) else v
    path.write_text(yaml.safe_dump(raw))
    return path


def bad_config(rng: random.Random, root: Path, i: int) -> tuple[Path, str]:
    path = root / f"cfg{i}.yaml"
    how = rng.choice(("binary", "empty_ok", "not_yaml", "a_list", "unknown_key", "wrong_type", "negative",
                      "huge", "out_dir_file", "out_dir_unwritable", "missing_data", "nested", "scale_zero",
                      "utf16", "fifo"))
    if how == "binary":
        path.write_bytes(rng.randbytes(200) + b"\xff\xfe\x00")
    elif how == "utf16":
        path.write_bytes("name: x\n".encode("utf-16"))
    elif how == "empty_ok":
        path.write_text("")
    elif how == "not_yaml":
        path.write_text("model: [unclosed\n  : : :\n")
    elif how == "a_list":
        path.write_text("- 1\n- 2\n")
    elif how == "nested":
        path.write_text("a: " + "[" * 200 + "]" * 200 + "\n")
    elif how == "fifo":
        os.mkfifo(path)
    else:
        extra = {"unknown_key": {"bogus": 1}, "wrong_type": {"train": {"steps": "many"}},
                 "negative": {"data": {"batch_size": -3}}, "huge": {"data": {"patch_size": 10**12}},
                 "out_dir_file": {"out_dir": str(root / "afile")}, "out_dir_unwritable": {"out_dir": "/proc/rlfn-x/run"},
                 "missing_data": {"data": {"hr_dirs": [str(root / "nope")]}},
                 "scale_zero": {"model": {"variant": "rlfn_s", "scale": 0}}}[how]
        (root / "afile").write_text("x")
        _write_config(path, root, extra)
    return path, f"config/{how}"


def fuzz_configs(root: Path, rng: random.Random, rep: Report, n: int) -> None:
    root.mkdir(parents=True)
    for i in range(n):
        cfg, kind = bad_config(rng, root, i)
        rep.cases[kind] += 1
        rc, _, err = run_cli(["train", cfg, "--dry-run"])
        _no_traceback(rep, kind, err)
        if rc == 0 or len(err.strip().splitlines()) != 1 or "error" not in err:
            rep.fail(kind, f"rc {rc}, expected one error line: {err.strip()[:300]}")
    _no_leftovers(rep, "config", root)
    if (root / "run").exists():
        rep.fail("config", "a refused config created out_dir")


# ---- numeric options -------------------------------------------------------------------------------------------

NUMERIC = {
    "upscale": ["--quality", "--tile", "--tile-pad", "--threads", "--max-pixels", "--scale"],
    "bench": ["--scale", "--max-images", "--size", "--count", "--count-size", "--warmup", "--repeat", "--threads"],
    "eval": ["--scale"],
    "export": ["--opset", "--tolerance", "--scale"],
    "serve": ["--port", "--workers", "--queue", "--max-bytes", "--max-pixels", "--threads", "--tile"],
}
BAD_NUMBERS = ("0", "-1", "-4", "abc", "nan", "inf", "1e400", "99999999999999999999", "", "3.5", "0x10", "-0")


def fuzz_numbers(root: Path, image: Path, rng: random.Random, rep: Report, n: int) -> None:
    root.mkdir(parents=True)
    for _ in range(n):
        command = rng.choice(sorted(NUMERIC))
        option = rng.choice(NUMERIC[command])
        value = rng.choice(BAD_NUMBERS)
        if value in ("0", "-0") and (option in ("--tile", "--tile-pad", "--tolerance", "--warmup", "--port")
                                     or (command, option) == ("serve", "--queue")):
            value = "-7"  # 0 is valid for these
        first = {"upscale": [image, "-o", root / "o.png"], "bench": ["rlfn_s"], "eval": [image.parent],
                 "export": ["rlfn_s", "-o", root / "m.onnx"],
                 "serve": ["--host", "256.0.0.1"]}[command]  # should a value pass, no server starts
        kind = f"option/{command} {option}"
        rep.cases[kind] += 1
        rc, _, err = run_cli([command, *first, option, value])
        _no_traceback(rep, kind, err)
        lines = err.strip().splitlines()
        if rc != 2 or len(lines) != 1 or option not in lines[0]:
            rep.fail(kind, f"{option} {value!r}: rc {rc}, expected one line naming {option}: {err.strip()[:300]}")
    if any(root.iterdir()):
        rep.fail("option", f"a refused option left {list(root.iterdir())}")


# ---- signals ---------------------------------------------------------------------------------------------------

# A real `rlfn upscale` process whose encoder writes half a file and then waits: the signal arrives mid-write.
# Both writers are slowed: Pillow's, and the bytes that OpenCV encodes (8-bit and 16-bit PNG).
_SLOW_WRITE = """
import pathlib, sys, time
from PIL import Image
real = Image.Image.save
def slow(self, fp, *a, **k):
    real(self, fp, *a, **k)
    open(fp, "ab").write(b"more")
    print("WRITING", flush=True)
    time.sleep(60)
Image.Image.save = slow
def slow_bytes(self, data):
    open(self, "wb").write(bytes(data)[:100])
    print("WRITING", flush=True)
    time.sleep(60)
pathlib.Path.write_bytes = slow_bytes
from rlfn.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _terminal_signals() -> None:
    for s in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if s is not None:
            signal.signal(s, signal.SIG_DFL)


def fuzz_signals(root: Path, weights: Path, rng: random.Random, rep: Report, sigs: list[int]) -> None:
    root.mkdir(parents=True)
    img = root / "a.png"
    Image.fromarray(_pixels(rng, 20, 24, 3)).save(img)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for sig in sigs:
        name = signal.Signals(sig).name
        out = root / f"out_{name}"
        kind = f"signal/{name} mid-write"
        rep.cases[kind] += 1
        # preexec_fn: a run started in the background (`cmd &`, nohup, a CI runner) passes SIGINT or SIGHUP on
        # ignored, which rlfn respects; the child gets a terminal's defaults, as a user at a terminal has.
        proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITE, "upscale", str(img), "-o", str(out), "--weights",
                                 str(weights), "-q", "--tile", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, preexec_fn=_terminal_signals)
        assert proc.stdout is not None
        start = time.monotonic()
        line = proc.stdout.readline()  # blocks until the write has begun
        if "WRITING" not in line:
            proc.kill()
            rep.fail(kind, f"the process never wrote: {proc.communicate()[1][-300:]}")
            continue
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rep.fail(kind, "did not stop within 30 s")
            continue
        _no_traceback(rep, kind, err)
        if proc.returncode != 128 + sig or "interrupted" not in err:
            rep.fail(kind, f"exit {proc.returncode}, expected {128 + sig}: {err.strip()[-300:]}")
        if out.exists() and any(out.iterdir()):
            rep.fail(kind, f"left {[p.name for p in out.iterdir()]} after {time.monotonic() - start:.1f} s")
    _no_leftovers(rep, "signal", root)


# ---- output sizes ------------------------------------------------------------------------------------------------

# One child process under a 6 GiB address-space limit runs every case (one torch import): an output that cannot
# fit must be refused up front in one line, never grow until the limit (a MemoryError) or the OOM killer.
_SIZES_CHILD = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
from rlfn.cli.main import main
import contextlib, io
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except BaseException as e:
            rc, _ = -1, err.write("Traceback (escaped main): %r" % e)
    print(json.dumps([rc, err.getvalue()]), flush=True)
"""
SIZE_VALUES = ("1", "2", "7", "33", "513", "4096", "65535", "70000", "100000", "1048576")


def fuzz_sizes(root: Path, weights: Path, rng: random.Random, rep: Report, n: int) -> None:
    """Random --width/--height/--outscale on small images: an image of the asked size, or one refusal line."""
    root.mkdir(parents=True)
    cases, sizes = [], []
    for i in range(n):
        w, h = rng.randint(1, 24), rng.randint(1, 24)
        img = root / f"s{i}.png"
        Image.fromarray(_pixels(rng, h, w, 3)).save(img)
        how = rng.choice(["width", "height", "both", "outscale"])
        args = {"width": ["--width", rng.choice(SIZE_VALUES)], "height": ["--height", rng.choice(SIZE_VALUES)],
                "both": ["--width", rng.choice(SIZE_VALUES), "--height", rng.choice(SIZE_VALUES)],
                "outscale": ["--outscale", rng.choice(["0.5", "1", "3", "7.5", "300", "5000"])]}[how]
        out = root / f"o{i}.png"
        cases.append(["upscale", str(img), "-o", str(out), "--weights", str(weights), "-q", *args])
        sizes.append((w, h, args, out))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", _SIZES_CHILD, json.dumps(cases)], capture_output=True, text=True,
                       env=env, timeout=600)
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("[")]
    if len(results) != len(cases):
        rep.fail("size", f"the child stopped after {len(results)} of {len(cases)} cases (exit {r.returncode}): "
                         f"{r.stderr[-500:]}")
    for (rc, err), (w, h, args, out) in zip(results, sizes):
        kind = f"size/{args[0]}"
        rep.cases[kind] += 1
        _no_traceback(rep, kind, err)
        if "out of memory" in err or "MemoryError" in err:
            rep.fail(kind, f"{w}x{h} {args}: ran out of memory instead of refusing up front: {err.strip()[:300]}")
        elif rc == 0:
            if not out.exists():
                rep.fail(kind, f"{w}x{h} {args}: exit 0 and no output")
        elif rc not in (1, 2) or len([ln for ln in err.splitlines() if "error" in ln]) != 1:  # 2: an argument
            rep.fail(kind, f"{w}x{h} {args}: exit {rc}, expected one error line: {err.strip()[:300]}")
        elif out.exists():
            rep.fail(kind, f"{w}x{h} {args}: refused but {out.name} was written")
    _no_leftovers(rep, "size", root)


# ---- checks and the driver -------------------------------------------------------------------------------------


def _no_traceback(rep: Report, kind: str, err: str) -> None:
    if "Traceback" in err:
        rep.fail(kind, "traceback:\n" + err[-1500:])


def _no_leftovers(rep: Report, kind: str, root: Path, planted: set[Path] = frozenset()) -> None:
    left = leftovers(root, set(planted))
    if left:
        rep.fail(kind, f"temporary files left: {[str(p) for p in left]}")


def make_weights(path: Path) -> Path:
    from rlfn.models.registry import create_model

    torch.manual_seed(0)
    torch.save(create_model("rlfn_s", SCALE).state_dict(), path)
    return path


def run_fuzz(root: Path, seed: int = 0, seconds: float = 40.0, batch: int = 40, signals_each: int = 1) -> Report:
    """Rounds of every kind until ``seconds`` have passed (at least one round); returns the counts."""
    rng = random.Random(seed)
    rep = Report()
    root.mkdir(parents=True, exist_ok=True)
    weights = make_weights(root / "weights.pth")
    hr = root / "hr"
    hr.mkdir()
    image = hr / "tiny.png"
    Image.fromarray(_pixels(rng, 8, 8, 3)).save(image)  # 8 px HR: too small to score, a clear message
    cwd = os.getcwd()
    os.chdir(root)  # a pickle that ran would leave PWNED here
    try:
        deadline = time.monotonic() + seconds
        fuzz_special_inputs(root / "special", weights, rep)
        sigs = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
        fuzz_signals(root / "signals", weights, rng, rep, sigs * signals_each)
        r = 0
        while r == 0 or time.monotonic() < deadline:
            base = root / f"round{r}"
            fuzz_upscale_batch(base / "images", weights, rng, rep, batch)
            fuzz_checkpoints(base / "checkpoints", weights, image, rng, rep, batch // 2)
            fuzz_configs(base / "configs", rng, rep, batch // 4)
            fuzz_numbers(base / "numbers", image, rng, rep, batch)
            fuzz_sizes(base / "sizes", weights, rng, rep, max(4, batch // 4))
            r += 1
    finally:
        os.chdir(cwd)
    return rep
