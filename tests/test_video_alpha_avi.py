"""Videos with an alpha channel keep it where the output can carry it (else one warning says what is lost);
AVI output comes back frame for frame, in order, with the input's duration; an encoder that refuses its
settings is one line. The clips are made here with PyAV (tiny), the model is the shipped rlfn_s ×4."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rlfn import Upscaler, cli

av = pytest.importorskip("av", reason="PyAV (rlfn[video]) is not installed")

W, H, N = 32, 24, 4


def _rgba(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    a = np.stack([(xx * 7 + i * 20) % 256, (yy * 9) % 256, np.full_like(xx, 90), (xx * 8) % 256], -1).astype(np.uint8)
    a[: H // 3, :, 3] = 255  # opaque band, then a ramp: an alpha worth upscaling
    return a


def make_alpha_clip(path, codec: str, pix_fmt: str, muxer: str):
    with av.open(str(path), "w", format=muxer) as out:
        s = out.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        for i in range(N):
            f = av.VideoFrame.from_ndarray(_rgba(i), format="rgba").reformat(format=pix_fmt)
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode())
    return path


def read_rgba(path) -> tuple[str, str, list[np.ndarray]]:
    """(codec, pixel format, RGBA frames); VP9's alpha side channel through libvpx, as a player does."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        name = st.codec_context.name
        if name == "vp9" and st.metadata.get("alpha_mode") == "1":
            dec = av.codec.CodecContext.create("libvpx-vp9", "r")
            frames = [f for p in c.demux(st) if p.size for f in dec.decode(p)]
        else:
            frames = list(c.decode(st))
        return name, frames[0].format.name, [f.to_ndarray(format="rgba") for f in frames]


def upscale(capsys, *argv) -> tuple[int, str]:
    rc = cli.main(["upscale", "-q", *map(str, argv)])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def up():
    return Upscaler("rlfn_s", 4)


def test_qtrle_alpha_is_upscaled_and_kept_exactly_as_images_are(tmp_path, capsys, up):
    src = make_alpha_clip(tmp_path / "anim.mov", "qtrle", "argb", "mov")
    rc, err = upscale(capsys, src, "-o", tmp_path / "out.mov")
    assert rc == 0 and err == ""
    codec, fmt, frames = read_rgba(tmp_path / "out.mov")
    assert (codec, fmt, len(frames)) == ("qtrle", "argb", N)
    _, _, inputs = read_rgba(src)
    for got, lr in zip(frames, inputs):  # qtrle is lossless: the same pixels as an RGBA image upscale
        np.testing.assert_array_equal(got, up.upscale_array(lr))
    assert frames[0][:, :, 3].min() < 64 and frames[0][:8, :, 3].min() > 200  # a real alpha, not opaque


def _has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 - an FFmpeg build without it
        return False


VP9 = pytest.mark.skipif(not _has_encoder("libvpx-vp9"), reason="this PyAV's FFmpeg has no libvpx-vp9")


@pytest.mark.parametrize("codec,pix_fmt,muxer,suffix,out_suffix,out_codec,note", [
    ("ffv1", "yuva420p", "matroska", "mkv", "mkv", "ffv1", ""),
    ("ffv1", "yuva420p", "matroska", "mkv", "mov", "png", "written with png to keep it"),
    pytest.param("libvpx-vp9", "yuva420p", "webm", "webm", "webm", "vp9", "", marks=VP9),
])
def test_alpha_is_kept_where_the_container_can_carry_it(tmp_path, capsys, up, codec, pix_fmt, muxer, suffix,
                                                        out_suffix, out_codec, note):
    src = make_alpha_clip(tmp_path / f"anim.{suffix}", codec, pix_fmt, muxer)
    rc, err = upscale(capsys, src, "-o", tmp_path / f"out.{out_suffix}")
    assert rc == 0 and (note in err if note else err == "")
    assert len(err.strip().splitlines()) <= 1
    got_codec, _, frames = read_rgba(tmp_path / f"out.{out_suffix}")
    _, _, inputs = read_rgba(src)
    assert got_codec == out_codec and len(frames) == N
    ref = up.upscale_array(inputs[1])[:, :, 3].astype(np.float64)
    mse = np.mean((frames[1][:, :, 3] - ref) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 35  # the upscaled alpha, through a (lossy) encoder


@pytest.mark.parametrize("args", [(), ("--codec", "libx264")])
def test_alpha_that_cannot_be_carried_is_dropped_with_one_warning(tmp_path, capsys, args):
    src = make_alpha_clip(tmp_path / "anim.mov", "qtrle", "argb", "mov")
    out = tmp_path / ("out.mp4" if not args else "out.mkv")
    rc, err = upscale(capsys, src, "-o", out, *args)
    assert rc == 0 and len(err.strip().splitlines()) == 1
    assert "alpha channel is dropped" in err and "libx264" in err and ".mkv (ffv1)" in err
    codec, fmt, _ = read_rgba(out)
    assert (codec, fmt) == ("h264", "yuv420p")


def _mjpeg_avi(path, n=20, rate=25):
    with av.open(str(path), "w", format="avi") as out:
        s = out.add_stream("mjpeg", rate=rate)
        s.width, s.height, s.pix_fmt = W, H, "yuvj420p"
        for i in range(n):
            a = np.zeros((H, W, 3), np.uint8)
            a[..., 0], a[:, i % W] = i * 12, 255
            f = av.VideoFrame.from_ndarray(a, format="rgb24").reformat(format="yuvj420p")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode())
    return path


def _timing(path) -> tuple[str, list[int], Fraction]:
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        frames = list(c.decode(st))
        end = (frames[-1].pts + (frames[-1].duration or 1)) * st.time_base
        return st.codec_context.name, [f.pts for f in frames], end


def test_avi_output_is_in_order_with_the_inputs_duration(tmp_path, capsys):
    src = _mjpeg_avi(tmp_path / "cam.avi")
    rc, err = upscale(capsys, src, "-o", tmp_path / "out.avi")
    assert rc == 0 and err == ""
    codec, pts, end = _timing(tmp_path / "out.avi")
    assert codec == "mpeg4" and pts == list(range(20)) and end == Fraction(20, 25)
    # H.264 on request: no B-frames, so frames stay in order
    rc, _ = upscale(capsys, src, "-o", tmp_path / "x264.avi", "--codec", "libx264")
    codec, pts, _ = _timing(tmp_path / "x264.avi")
    assert rc == 0 and codec == "h264" and pts == sorted(pts) and len(pts) == 20


def test_mjpeg_output_works_and_a_refusing_encoder_is_one_line(tmp_path, capsys):
    from test_video import make_clip

    clip = make_clip(tmp_path / "c.mp4", n=4, size=(W, H), audio=False)
    rc, err = upscale(capsys, clip, "-o", tmp_path / "mj.mp4", "--codec", "mjpeg")
    assert rc == 0 and err == ""
    assert _timing(tmp_path / "mj.mp4")[0] == "mjpeg"
    clip7 = make_clip(tmp_path / "c7.mp4", n=4, size=(W, H), audio=False, rate=Fraction(7))
    rc, err = upscale(capsys, clip7, "-o", tmp_path / "m2.mkv", "--codec", "mpeg2video")
    assert rc == 1 and "the mpeg2video encoder refused this video" in err and "try another --codec" in err
    assert "Traceback" not in err and not (tmp_path / "m2.mkv").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_crf_with_alpha_and_no_codec_keeps_to_encoders_that_take_it(tmp_path, capsys):
    src = make_alpha_clip(tmp_path / "anim.mov", "qtrle", "argb", "mov")
    rc, err = upscale(capsys, src, "-o", tmp_path / "out.mov", "--crf", "18")
    # no alpha encoder of .mov takes a CRF: libx264 at CRF 18, and the alpha is dropped with its warning
    assert rc == 0 and "alpha channel is dropped" in err
    assert read_rgba(tmp_path / "out.mov")[0] == "h264"
    rc, err = upscale(capsys, src, "-o", tmp_path / "out.avi", "--crf", "0")
    assert rc == 1 and "--crf 0: mpeg4 takes 1 to 31" in err
