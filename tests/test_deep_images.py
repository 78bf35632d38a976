"""16-bit colour PNG and TIFF through rlfn.io.images: OpenCV and tifffile (the ``codecs`` extra) for the pixels,
Pillow for size and metadata; and what happens without the extra."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from _png import png16
from rlfn.errors import ImageError, WriteError
from rlfn.io.images import Picture, _orient, load_picture, save_picture
from rlfn.io.pngchunks import chunk, exif_chunk

RNG = np.random.default_rng(0)


def _have(name: str) -> bool:
    try:
        __import__(name)
        return True
    except ImportError:
        return False


needs_cv2 = pytest.mark.skipif(not _have("cv2"), reason="OpenCV (the codecs extra) is not installed")
needs_tifffile = pytest.mark.skipif(not _have("tifffile"), reason="tifffile (the codecs extra) is not installed")


def pixels(h: int, w: int, c: int) -> np.ndarray:
    px = RNG.integers(0, 65536, size=(h, w, c), dtype=np.uint16)
    px[h // 3 : h // 2] //= 7  # smoother rows, so that filter predictions are not all noise
    return px


# ---- PNG ----------------------------------------------------------------------------------------------------


@needs_cv2
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_every_filter_type(tmp_path, channels):
    px = pixels(23, 17, channels)
    (tmp_path / "f.png").write_bytes(png16(px, filters=[0, 1, 2, 3, 4]))
    pic = load_picture(tmp_path / "f.png")
    assert pic.bits == 16 and pic.channels == channels
    np.testing.assert_array_equal(pic.pixels, px)


@needs_cv2
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_interlaced_png_keeps_16_bits(tmp_path, channels):
    """Adam7 was read with 8 bits by the former hand-written decoder; libpng reads it whole."""
    px = pixels(19, 13, channels)
    (tmp_path / "i.png").write_bytes(png16(px, filters=[0, 1, 2, 3, 4], interlace=True))
    with Image.open(tmp_path / "i.png") as im:  # the hand-made file is right: Pillow agrees on its 8 high bits
        assert im.info.get("interlace") == 1
        want8 = (px >> 8).astype(np.uint8)
        if channels == 2:
            want8 = np.concatenate([want8[:, :, :1]] * 3 + [want8[:, :, 1:]], axis=2)
        np.testing.assert_array_equal(np.asarray(im), want8)
    pic = load_picture(tmp_path / "i.png")
    assert pic.bits == 16
    np.testing.assert_array_equal(pic.pixels, px)


@needs_cv2
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_png_round_trip(tmp_path, channels):
    px = pixels(9, 11, channels)
    save_picture(Picture(px), tmp_path / "c.png")
    pic = load_picture(tmp_path / "c.png")
    assert pic.bits == 16 and pic.pixels.dtype == np.uint16 and pic.format == "PNG"
    np.testing.assert_array_equal(pic.pixels, px)
    with Image.open(tmp_path / "c.png") as im:  # a valid PNG to Pillow too, which reads 8 bits of it
        im.load()
        assert im.size == (11, 9)


@needs_cv2
def test_png_metadata_carried_and_readable_by_pillow(tmp_path):
    icc = b"fake-but-opaque-icc-bytes" * 10  # kept as it is: libpng would refuse it, so it is spliced in
    exif = Image.Exif()
    exif[0x010F] = "rlfn-test-camera"
    px = pixels(4, 5, 3)
    save_picture(Picture(px, icc=icc, exif=exif.tobytes(), dpi=(300.0, 150.0)), tmp_path / "a.png")
    pic = load_picture(tmp_path / "a.png")
    assert pic.icc == icc and pic.dpi is not None and round(pic.dpi[0]) == 300 and round(pic.dpi[1]) == 150
    with Image.open(tmp_path / "a.png") as im:
        assert im.info["icc_profile"] == icc and im.getexif().get(0x010F) == "rlfn-test-camera"
        assert tuple(round(d) for d in im.info["dpi"]) == (300, 150)
    np.testing.assert_array_equal(pic.pixels, px)


@needs_cv2
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_orientation_applied_and_reset(tmp_path, orientation):
    """OpenCV applies no EXIF orientation with IMREAD_UNCHANGED: rlfn does, once, and writes 1 back."""
    px = pixels(6, 10, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "rlfn-test-camera"
    (tmp_path / "o.png").write_bytes(png16(px, chunks=[exif_chunk(exif.tobytes())]))
    pic = load_picture(tmp_path / "o.png")
    np.testing.assert_array_equal(pic.pixels, _orient(px, orientation))
    save_picture(pic, tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as out:
        ex = out.getexif()
        assert out.size == pic.size and ex.get(0x0112, 1) == 1 and ex.get(0x010F) == "rlfn-test-camera"
    np.testing.assert_array_equal(load_picture(tmp_path / "p.png").pixels, pic.pixels)


@needs_cv2
def test_corrupt_icc_in_png_is_dropped_silently(tmp_path, capfd):
    """Like Pillow for 8-bit files: a colour profile that cannot be read is dropped, and libpng's warning about
    it does not reach the terminal."""
    px = pixels(5, 6, 3)
    (tmp_path / "a.png").write_bytes(png16(px, chunks=[chunk(b"iCCP", b"icc\0\0not zlib")]))
    pic = load_picture(tmp_path / "a.png")
    assert pic.bits == 16 and pic.icc is None
    np.testing.assert_array_equal(pic.pixels, px)
    assert capfd.readouterr().err == ""


@needs_cv2
@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_damaged_png_is_one_error_line(tmp_path, capfd, damage):
    save_picture(Picture(pixels(30, 30, 3)), tmp_path / "c16.png")
    data = bytearray((tmp_path / "c16.png").read_bytes())
    if damage == "cut":
        data = data[: len(data) // 2]
    else:  # inside the compressed data, with the chunk CRC left wrong
        data[len(data) // 2] ^= 0xFF
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"bad.png: cannot decode image \((libpng|OpenCV)") as e:
        load_picture(tmp_path / "bad.png")
    assert "\n" not in str(e.value)
    assert capfd.readouterr().err == ""  # libpng's and OpenCV's own messages are caught


@needs_cv2
def test_animated_16bit_png_is_refused(tmp_path):
    import struct

    actl = chunk(b"acTL", struct.pack(">II", 2, 0))
    (tmp_path / "a.png").write_bytes(png16(pixels(4, 4, 3), chunks=[actl]))
    with pytest.raises(ImageError, match="an animated PNG"):
        load_picture(tmp_path / "a.png")


# ---- TIFF ---------------------------------------------------------------------------------------------------


@needs_tifffile
@pytest.mark.parametrize("channels", [3, 4])
def test_tiff_round_trip(tmp_path, channels):
    px = pixels(70, 11, channels)
    save_picture(Picture(px, icc=b"opaque icc", dpi=(72.0, 72.0)), tmp_path / "c.tif")
    with Image.open(tmp_path / "c.tif") as im:  # a valid TIFF to Pillow too, which reads 8 bits of it
        assert im.mode == ("RGB", "RGBA")[channels - 3]
        np.testing.assert_array_equal(np.asarray(im), (px >> 8).astype(np.uint8))
    pic = load_picture(tmp_path / "c.tif")
    assert pic.bits == 16 and pic.channels == channels and pic.icc == b"opaque icc" and pic.format == "TIFF"
    assert pic.dpi == (72.0, 72.0)
    np.testing.assert_array_equal(pic.pixels, px)


@needs_tifffile
@pytest.mark.parametrize("layout", ["tiled", "planar", "tiled planar"])
@pytest.mark.parametrize("channels", [3, 4])
def test_tiled_and_planar_tiff(tmp_path, layout, channels):
    """Layouts the former hand-written reader could not read (it fell back to 8 bits)."""
    import tifffile

    px = pixels(40, 37, channels)
    planar = "planar" in layout
    tifffile.imwrite(tmp_path / "t.tif", np.moveaxis(px, 2, 0) if planar else px, photometric="rgb",
                     planarconfig="separate" if planar else "contig", compression="zlib",
                     tile=(16, 16) if "tiled" in layout else None,
                     extrasamples=("unassalpha",) if channels == 4 else None)
    pic = load_picture(tmp_path / "t.tif")
    assert pic.bits == 16 and pic.channels == channels
    np.testing.assert_array_equal(pic.pixels, px)


@needs_tifffile
def test_tiff_associated_alpha_is_made_straight(tmp_path):
    import tifffile

    colour = np.array([[[40000, 20000, 65535]]], np.uint16)
    alpha = np.array([[[32768]]], np.uint16)
    premultiplied = np.round(colour * (32768 / 65535)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", np.concatenate([premultiplied, alpha], axis=2), photometric="rgb",
                     extrasamples=("assocalpha",))
    pic = load_picture(tmp_path / "a.tif")
    assert pic.channels == 4 and pic.pixels[0, 0, 3] == 32768
    np.testing.assert_allclose(pic.pixels[0, 0, :3].astype(int), colour[0, 0].astype(int), atol=2)


@needs_tifffile
def test_tiff_orientation_applied(tmp_path):
    import tifffile

    px = pixels(6, 10, 3)
    tifffile.imwrite(tmp_path / "o.tif", px, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    pic = load_picture(tmp_path / "o.tif")
    np.testing.assert_array_equal(pic.pixels, _orient(px, 6))


@needs_cv2
@needs_tifffile
@pytest.mark.parametrize("channels", [3, 4])
def test_lzw_tiff_read_by_opencv(tmp_path, channels):
    """tifffile decodes LZW only with imagecodecs; OpenCV's libtiff reads such files instead."""
    import cv2

    px = pixels(20, 24, channels)
    ok, buf = cv2.imencode(".tif", px[:, :, [2, 1, 0, 3][:channels]], [cv2.IMWRITE_TIFF_COMPRESSION, 5])
    (tmp_path / "l.tif").write_bytes(buf.tobytes())
    pic = load_picture(tmp_path / "l.tif")
    assert pic.bits == 16 and pic.channels == channels
    np.testing.assert_array_equal(pic.pixels, px)


@needs_tifffile
def test_damaged_tiff_is_one_error_line(tmp_path):
    save_picture(Picture(pixels(64, 64, 3)), tmp_path / "c.tif")
    data = (tmp_path / "c.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.tif: ") as e:
        load_picture(tmp_path / "cut.tif")
    assert "\n" not in str(e.value)


# ---- without the codecs extra -------------------------------------------------------------------------------


@pytest.fixture
def no_codecs(monkeypatch):
    """As if OpenCV and tifffile were not installed: importing them fails."""
    monkeypatch.setitem(sys.modules, "cv2", None)
    monkeypatch.setitem(sys.modules, "tifffile", None)


def test_16bit_colour_png_without_extra_says_how_to_install(tmp_path, no_codecs):
    (tmp_path / "c.png").write_bytes(png16(pixels(4, 5, 3)))
    with pytest.raises(ImageError, match=r'c.png: .*OpenCV.*pip install "rlfn\[codecs\]"'):
        load_picture(tmp_path / "c.png")
    with pytest.raises(ImageError, match=r'd.png: .*pip install "rlfn\[codecs\]"'):
        save_picture(Picture(pixels(4, 5, 3)), tmp_path / "d.png")
    assert not (tmp_path / "d.png").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]


@needs_tifffile
def test_16bit_colour_tiff_without_extra_says_how_to_install(tmp_path, monkeypatch):
    save_picture(Picture(pixels(4, 5, 4)), tmp_path / "c.tif")
    monkeypatch.setitem(sys.modules, "tifffile", None)
    with pytest.raises(ImageError, match=r'c.tif: .*tifffile.*pip install "rlfn\[codecs\]"'):
        load_picture(tmp_path / "c.tif")
    with pytest.raises(ImageError, match=r'd.tif: .*pip install "rlfn\[codecs\]"'):
        save_picture(Picture(pixels(4, 5, 3)), tmp_path / "d.tif")


def test_without_extra_8bit_and_16bit_grey_still_work(tmp_path, no_codecs):
    Image.fromarray(RNG.integers(0, 256, size=(6, 7, 4), dtype=np.uint8)).save(tmp_path / "a.png")
    assert load_picture(tmp_path / "a.png").channels == 4
    grey = pixels(6, 7, 1)
    for suffix in (".png", ".tif"):
        save_picture(Picture(grey), tmp_path / f"g{suffix}")
        np.testing.assert_array_equal(load_picture(tmp_path / f"g{suffix}").pixels, grey)
    save_picture(Picture(pixels(6, 7, 3)), tmp_path / "n.jpg", warn=lambda _m: None)  # JPEG: 8 bits anyway


def test_bomb_refused_before_any_codec_is_needed(tmp_path, no_codecs):
    import struct

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 16, 2, 0, 0, 0)
    from rlfn.io.pngchunks import SIGNATURE

    (tmp_path / "b.png").write_bytes(SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="--max-pixels"):
        load_picture(tmp_path / "b.png")


def test_codecs_are_imported_only_when_needed():
    code = ("import sys, rlfn.io.images, rlfn.io.deep; "
            "print(sorted(m for m in ('cv2', 'tifffile') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_cv2
def test_existing_file_is_kept(tmp_path):
    (tmp_path / "x.png").write_bytes(b"keep me")
    with pytest.raises(WriteError, match="--overwrite"):
        save_picture(Picture(pixels(2, 2, 3)), tmp_path / "x.png")
    assert (tmp_path / "x.png").read_bytes() == b"keep me"


def test_native_stderr_keeps_what_is_not_the_codecs(capfd):
    import os

    from rlfn.io import native_stderr

    with native_stderr.caught() as said:
        os.write(2, b"libpng warning: iCCP: too short\nsome other thread's line\n")
    assert said == ["libpng warning: iCCP: too short"]
    assert capfd.readouterr().err == "some other thread's line\n"
    assert native_stderr.reason(["[ WARN:0@1.5] global grfmt_png.cpp:793 readFromStreamOrBuffer PNG input buffer "
                                 "is incomplete"], "?") == "OpenCV: PNG input buffer is incomplete"
