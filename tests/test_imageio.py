"""Image files: modes kept (grey, alpha, 16 bits), EXIF orientation, ICC, limits, atomicity.

16-bit colour files (OpenCV and tifffile, the ``codecs`` extra) are in tests/test_deep_images.py."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from rlfn.errors import ImageError, WriteError
from rlfn.io.atomic import atomic_write
from rlfn.io.images import Picture, _orient, load_picture, open_image, save_picture
from rlfn.io.pngchunks import SIGNATURE, chunk

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grey_round_trip(tmp_path, suffix):
    px = RNG.integers(0, 65536, size=(9, 11, 1), dtype=np.uint16)
    save_picture(Picture(px), tmp_path / f"g{suffix}")
    pic = load_picture(tmp_path / f"g{suffix}")
    assert pic.bits == 16 and pic.channels == 1
    np.testing.assert_array_equal(pic.pixels, px)


@pytest.mark.parametrize("mode,channels", [("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)])
@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp"])
def test_modes_survive(tmp_path, mode, channels, suffix):
    im = Image.fromarray(RNG.integers(0, 256, size=(8, 10, 4), dtype=np.uint8), "RGBA").convert(mode)
    im.save(tmp_path / f"a{suffix}", **({"lossless": True} if suffix == ".webp" else {}))
    pic = load_picture(tmp_path / f"a{suffix}")
    if suffix == ".webp":  # WebP has no grey: it decodes as RGB(A)
        channels = {1: 3, 2: 4}.get(channels, channels)
    assert pic.channels == channels and pic.bits == 8
    save_picture(pic, tmp_path / f"b{suffix}", quality=100)
    assert load_picture(tmp_path / f"b{suffix}").channels == channels


def test_palette_with_transparency_becomes_rgba(tmp_path):
    im = Image.new("P", (6, 6), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    im.putpixel((0, 0), 0)
    im.save(tmp_path / "p.png", transparency=0)
    pic = load_picture(tmp_path / "p.png")
    assert pic.channels == 4 and pic.pixels[0, 0, 3] == 0 and pic.pixels[1, 1, 3] == 255


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_matches_pillow(orientation):
    arr = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    want = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(_orient(arr, orientation), want)


def test_exif_orientation_applied_and_reset(tmp_path):
    im = Image.fromarray(RNG.integers(0, 256, size=(10, 16, 3), dtype=np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    exif[0x010F] = "rlfn-test-camera"
    im.save(tmp_path / "o.jpg", exif=exif.tobytes())
    pic = load_picture(tmp_path / "o.jpg")
    assert pic.size == (10, 16)
    save_picture(pic, tmp_path / "p.jpg")
    with Image.open(tmp_path / "p.jpg") as out:
        ex = out.getexif()
        assert out.size == (10, 16) and ex.get(0x0112, 1) == 1 and ex.get(0x010F) == "rlfn-test-camera"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_icc_profile_is_carried(tmp_path, suffix):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # any non-default profile
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / f"i{suffix}", icc_profile=icc)
    pic = load_picture(tmp_path / f"i{suffix}")
    assert pic.icc == icc
    save_picture(pic, tmp_path / f"j{suffix}")
    with Image.open(tmp_path / f"j{suffix}") as out:
        assert out.info.get("icc_profile") == icc


def test_conversions_warn(tmp_path):
    notes: list[str] = []
    px = RNG.integers(0, 65536, size=(4, 5, 4), dtype=np.uint16)
    save_picture(Picture(px), tmp_path / "a.jpg", warn=notes.append)
    assert any("alpha" in n for n in notes) and any("8 bits" in n for n in notes)
    with Image.open(tmp_path / "a.jpg") as im:
        assert im.mode == "RGB"


def test_not_an_image_and_truncated(tmp_path):
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(ImageError, match="not an image"):
        load_picture(tmp_path / "t.png")
    Image.fromarray(RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_picture(tmp_path / "cut.png")


def bomb(path: Path, w: int = 100_000, h: int = 100_000, depth: int = 8, ctype: int = 2) -> Path:
    """A PNG that claims enormous dimensions: a few dozen bytes."""
    body = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)
    path.write_bytes(SIGNATURE + chunk(b"IHDR", body) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("depth", [8, 16])
def test_decompression_bomb_refused(tmp_path, depth):
    with pytest.raises(ImageError, match="--max-pixels"):
        load_picture(bomb(tmp_path / "b.png", depth=depth))


def test_pixel_limit_can_be_raised(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "s.png")
    with pytest.raises(ImageError, match="limit"):
        load_picture(tmp_path / "s.png", max_pixels=1000)
    assert load_picture(tmp_path / "s.png", max_pixels=1200).size == (40, 30)
    assert open_image(tmp_path / "s.png", max_pixels=1200).size == (40, 30)


def test_atomic_write_failure_leaves_nothing(tmp_path):
    def fail(tmp: Path):
        tmp.write_bytes(b"half an image")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match="No space"):
        atomic_write(tmp_path / "x.png", fail)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        save_picture(Picture(np.zeros((2, 2, 3), np.uint8)), tmp_path / "x.png")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o644


def test_no_overwrite_unless_asked(tmp_path):
    (tmp_path / "x.png").write_bytes(b"keep me")
    with pytest.raises(WriteError, match="--overwrite"):
        save_picture(Picture(np.zeros((2, 2, 3), np.uint8)), tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes() == b"keep me"
    save_picture(Picture(np.zeros((2, 2, 3), np.uint8)), tmp_path / "x.png", overwrite=True)
    assert Image.open(tmp_path / "x.png").size == (2, 2)


def test_unknown_output_format(tmp_path):
    with pytest.raises(ImageError, match="unknown output format"):
        save_picture(Picture(np.zeros((2, 2, 3), np.uint8)), tmp_path / "x.xyz")


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("opencv", [True, False])
def test_8bit_png_writers_agree(tmp_path, monkeypatch, channels, opencv):
    """8-bit PNG goes through OpenCV where it is installed (faster) and Pillow otherwise: the same pixels, ICC
    profile, EXIF and resolution come back either way, and Pillow reads what OpenCV wrote."""
    from rlfn.io import deep

    if opencv and not deep.has_opencv():
        pytest.skip("OpenCV (the codecs extra) is not installed")
    monkeypatch.setattr(deep, "has_opencv", lambda: opencv)
    px = RNG.integers(0, 256, size=(9, 13, channels), dtype=np.uint8)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "rlfn test camera"
    pic = Picture(px, icc=icc if channels > 1 else None, exif=exif.tobytes(), dpi=(300.0, 300.0))
    path = save_picture(pic, tmp_path / "out.png")
    back = load_picture(path)
    np.testing.assert_array_equal(back.pixels, px)
    assert back.icc == (icc if channels > 1 else None) and back.dpi is not None and round(back.dpi[0]) == 300
    with Image.open(path) as im:
        assert im.getexif()[0x010F] == "rlfn test camera"
        np.testing.assert_array_equal(np.asarray(im).reshape(px.shape), px)


@pytest.mark.parametrize("fmt", ["JPEG", "BMP"])
def test_alpha_into_a_format_that_drops_it_warns_in_one_line(fmt):
    """RGBA into JPEG or BMP (Pillow's BMP has no alpha mask): one warning naming what is lost, RGB written."""
    import io as _io

    from rlfn.io.images import Picture, encode_picture

    px = np.zeros((6, 5, 4), np.uint8)
    px[..., 0], px[..., 3] = 200, 128
    notes: list[str] = []
    data = encode_picture(Picture(px), fmt, warn=notes.append, name="a.png")
    assert len(notes) == 1 and "alpha is dropped" in notes[0] and "a.png" in notes[0]
    assert Image.open(_io.BytesIO(data)).mode == "RGB"
