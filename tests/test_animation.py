"""Animated GIF, WebP and APNG come out animated, in their own format, with every frame, its duration and the
loop count (the shipped rlfn_s ×4 model, frames of 20×16)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageSequence

from rlfn import cli

DURATIONS = [100, 250, 400]


def frames(n=3, size=(20, 16), alpha=False):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        arr = rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
        arr[:, :, 3] = 255
        if alpha:
            arr[:6, :6, 3] = 0  # a transparent corner in every frame
        out.append(Image.fromarray(arr, "RGBA") if alpha else Image.fromarray(arr[:, :, :3], "RGB"))
    return out


def read(path):
    with Image.open(path) as im:
        info = {"format": im.format, "n": im.n_frames, "size": im.size, "loop": im.info.get("loop"), "durations": [],
                "alpha": []}
        for f in ImageSequence.Iterator(im):
            f.load()
            info["durations"].append(f.info.get("duration"))
            info["alpha"].append(np.asarray(f.convert("RGBA"))[:, :, 3].copy())
    return info


def upscale(capsys, *argv):
    rc = cli.main(["upscale", *map(str, argv)])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("fmt, name, kw", [
    ("GIF", "a.gif", {}),
    ("WEBP", "a.webp", {"lossless": True}),
    ("PNG", "a.png", {}),
])
def test_animations_stay_animated(tmp_path, capsys, fmt, name, kw):
    fr = frames()
    fr[0].save(tmp_path / name, format=fmt, save_all=True, append_images=fr[1:], duration=DURATIONS, loop=3, **kw)
    rc, err = upscale(capsys, tmp_path / name, "-o", tmp_path / "out", "-q")
    assert rc == 0, err
    out = read(tmp_path / "out" / name.replace("a.", "a_x4."))
    assert out["format"] == fmt and out["n"] == 3 and out["size"] == (80, 64)
    assert [round(d) for d in out["durations"]] == DURATIONS
    assert out["loop"] == 3


def test_gif_transparency_and_play_once(tmp_path, capsys):
    fr = frames(alpha=True)
    fr[0].save(tmp_path / "t.gif", save_all=True, append_images=fr[1:], duration=DURATIONS, disposal=2)  # no loop
    rc, err = upscale(capsys, tmp_path / "t.gif", "-q")
    assert rc == 0, err
    out = read(tmp_path / "t_x4.gif")
    assert out["n"] == 3 and out["loop"] is None  # played once, as the input
    for a in out["alpha"]:
        assert (a[:20, :20] == 0).all() and (a[28:, 28:] == 255).all()


def test_animated_gif_to_webp_and_refused_formats(tmp_path, capsys):
    fr = frames()
    fr[0].save(tmp_path / "a.gif", save_all=True, append_images=fr[1:], duration=DURATIONS, loop=0)
    rc, err = upscale(capsys, tmp_path / "a.gif", "--ext", "webp", "-q")
    assert rc == 0, err
    out = read(tmp_path / "a_x4.webp")
    assert out["n"] == 3 and out["durations"] == DURATIONS
    rc, err = upscale(capsys, tmp_path / "a.gif", "--ext", "jpg", "-q")
    assert rc == 1 and "an animation is written as gif, png (APNG) or webp" in err and "Traceback" not in err
    assert not (tmp_path / "a_x4.jpg").exists()


def test_a_still_gif_stays_a_gif(tmp_path, capsys):
    Image.new("RGB", (12, 10), "orange").save(tmp_path / "s.gif")
    rc, err = upscale(capsys, tmp_path / "s.gif", "-q")
    assert rc == 0, err
    with Image.open(tmp_path / "s_x4.gif") as im:
        assert im.format == "GIF" and im.size == (48, 40) and getattr(im, "n_frames", 1) == 1
