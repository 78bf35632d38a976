"""``rlfn upscale`` on videos: frames, timing, audio, rotation and colour kept; bad input refused in one line
with nothing left behind. The clips are made here with PyAV (tiny: 96×64), the model is the shipped rlfn_s ×4."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rlfn import cli

av = pytest.importorskip("av", reason="PyAV (rlfn[video]) is not installed")

RATE = Fraction(24000, 1001)
SRC = str(Path(__file__).resolve().parents[1] / "src")


def make_clip(path, n=48, size=(96, 64), rate=RATE, audio=True, pts=None, rotate=None, colour=None, fmt=None,
              options=None):
    """A moving colour pattern in H.264 (CRF 10), optionally with a 440 Hz AAC tone, irregular timestamps
    (``pts`` in 1/24000 s), a rotation or colour tags (``colour``: codec context attributes)."""
    w, h = size
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        v = out.add_stream("libx264", rate=rate, options={"crf": "10"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.codec_context.time_base = Fraction(1, 24000) if pts else 1 / rate
        for k, val in (colour or {}).items():
            setattr(v.codec_context, k, val)
        if rotate is not None:
            v.set_display_rotation(rotate)
        a = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            img = np.stack([(xx * 3 + i * 5) % 256, (yy * 4 + i * 3) % 256, ((xx - yy) * 2 + 128) % 256], -1)
            img = img.astype(np.uint8)
            img[(yy - h // 2) ** 2 + (xx - (i * 2) % w) ** 2 < 100] = 255  # a moving disc: edges for the network
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = pts[i] if pts else i
            out.mux(v.encode(f))
        out.mux(v.encode())
        if a is not None:
            t = np.arange(int(n / float(rate) * 48000)) / 48000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(tone), 1024):
                af = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, k
                out.mux(a.encode(af))
            out.mux(a.encode())
    return Path(path)


def probe(path):
    """(frames as RGB arrays, pts, time base, average rate, rotation, colour tags, audio packet bytes)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = list(c.decode(v))
        info = {"tb": v.time_base, "rate": v.average_rate, "pts": [f.pts for f in frames],
                "end": (frames[-1].pts + frames[-1].duration) * v.time_base, "rotation": frames[0].rotation,
                "colour": tuple(getattr(frames[0], k) for k in ("colorspace", "color_range", "color_primaries",
                                                                 "color_trc")),
                "size": (frames[0].width, frames[0].height), "n": len(frames),
                "rgb": [f.to_ndarray(format="rgb24") for f in frames]}
        c.seek(0)
        info["audio"] = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return info


def upscale(capsys, *argv) -> tuple[int, str]:
    rc = cli.main(["upscale", *map(str, argv)])
    return rc, capsys.readouterr().err


def leftovers(folder) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if ".part" in p.name or "_x4" in p.name]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture(scope="module")
def upscaled(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    t0 = time.perf_counter()
    rc = cli.main(["upscale", str(clip), "-o", str(out), "-q"])
    secs = time.perf_counter() - t0
    assert rc == 0
    print(f"\n48 frames 96×64 → 384×256 in {secs:.1f} s: {48 / secs:.1f} frames/s")
    return out / "clip_x4.mp4"


def test_video_keeps_frames_rate_duration_and_audio(clip, upscaled):
    src, out = probe(clip), probe(upscaled)
    assert out["n"] == src["n"] == 48
    assert out["size"] == (96 * 4, 64 * 4)
    assert out["rate"] == RATE
    frame = 1 / RATE
    assert abs(out["end"] - src["end"]) <= frame
    assert [Fraction(p) * out["tb"] for p in out["pts"]] == [Fraction(p) * src["tb"] for p in src["pts"]]
    assert src["audio"] and out["audio"] == src["audio"]  # copied packet for packet, not re-encoded


def test_a_frame_matches_the_image_upscale(clip, upscaled, tmp_path, capsys):
    k = 20
    src, out = probe(clip), probe(upscaled)
    Image.fromarray(src["rgb"][k]).save(tmp_path / "f.png")
    rc, err = upscale(capsys, tmp_path / "f.png", "-q")
    assert rc == 0, err
    ref = np.asarray(Image.open(tmp_path / "f_x4.png").convert("RGB"))
    score = psnr(out["rgb"][k], ref)
    print(f"\nframe {k}: {score:.2f} dB against the PNG upscale")
    assert score >= 35


def test_variable_frame_rate_timestamps_are_kept(tmp_path, capsys):
    stamps = [0, 1001, 2002, 5000, 6001, 12000, 13001, 20000]
    src = make_clip(tmp_path / "vfr.mkv", n=len(stamps), pts=stamps, audio=False)
    rc, err = upscale(capsys, src, "-q")
    assert rc == 0, err
    a, b = probe(src), probe(tmp_path / "vfr_x4.mkv")
    assert [Fraction(p) * b["tb"] for p in b["pts"]] == [Fraction(p) * a["tb"] for p in a["pts"]]


def test_rotation_and_colour_tags_are_kept(tmp_path, capsys):
    colour = {"colorspace": 1, "color_range": 2, "color_primaries": 1, "color_trc": 1}  # BT.709, full range
    src = make_clip(tmp_path / "rot.mov", n=6, rotate=90, colour=colour, audio=False)
    rc, err = upscale(capsys, src, "-q", "--batch", "4")  # a batch of 4, then one of 2
    assert rc == 0, err
    a, b = probe(src), probe(tmp_path / "rot_x4.mov")
    assert a["rotation"] == b["rotation"] == 90
    assert a["colour"] == b["colour"] == (1, 2, 1, 1)
    assert b["n"] == 6 and b["size"] == (384, 256)


def with_subtitles(clip, path):
    """``clip`` remuxed with a SubRip subtitle stream (French, two lines)."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,050\nBonjour\n\n2\n00:00:00,060 --> 00:00:00,120\nSalut\n")
    with av.open(str(clip)) as v, av.open(str(srt)) as s, av.open(str(path), "w") as out:
        streams = {(c, st.index): out.add_stream_from_template(st) for c in (v, s) for st in c.streams}
        streams[(s, 0)].metadata["language"] = "fra"
        for c in (v, s):
            for p in c.demux():
                if p.size:
                    p.stream = streams[(c, p.stream.index)]
                    out.mux(p)
    srt.unlink()
    clip.unlink()
    return path


def subtitle_packets(path):
    with av.open(str(path)) as c:
        return c.streams.subtitles[0].metadata.get("language"), [(p.pts, bytes(p)) for p in c.demux(subtitles=0) if p.size]


def test_folders_mix_images_and_videos_and_subtitles_are_copied(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    with_subtitles(make_clip(tmp_path / "v0.mkv", n=3), tmp_path / "in" / "v.mkv")
    Image.new("RGB", (16, 12), "teal").save(tmp_path / "in" / "p.png")
    rc, err = upscale(capsys, tmp_path / "in", "-o", tmp_path / "out")
    assert rc == 0, err
    assert "2 upscaled, 0 failed" in err
    assert probe(tmp_path / "out" / "v_x4.mkv")["n"] == 3
    lang, packets = subtitle_packets(tmp_path / "out" / "v_x4.mkv")
    assert lang == "fra" and packets == subtitle_packets(tmp_path / "in" / "v.mkv")[1] and len(packets) == 2
    assert Image.open(tmp_path / "out" / "p_x4.png").size == (64, 48)


def test_webm_gets_vp9_and_codec_choice(tmp_path, capsys):
    src = make_clip(tmp_path / "a.mkv", n=3, audio=False)
    rc, err = upscale(capsys, src, "-o", tmp_path / "a.webm", "-q")
    assert rc == 0, err
    with av.open(str(tmp_path / "a.webm")) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
    rc, err = upscale(capsys, src, "--codec", "no-such-codec", "-q")
    assert rc == 2 and "no such encoder" in err and len(err.strip().splitlines()) == 1
    rc, err = upscale(capsys, src, "--codec", "libx264", "-o", tmp_path / "b.webm", "-q")
    assert rc == 1 and "cannot hold libx264" in err and not (tmp_path / "b.webm").exists()


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    src = make_clip(tmp_path / "a.mp4", n=2, audio=False)
    (tmp_path / "a_x4.mp4").write_bytes(b"keep me")
    rc, err = upscale(capsys, src)
    assert rc == 1 and "exists" in err and (tmp_path / "a_x4.mp4").read_bytes() == b"keep me"
    rc, err = upscale(capsys, src, "--overwrite", "-q")
    assert rc == 0 and probe(tmp_path / "a_x4.mp4")["n"] == 2


def _audio_only(path):
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        tone = np.zeros((1, 1024 * 8), np.float32)
        for k in range(0, tone.shape[1], 1024):
            f = av.AudioFrame.from_ndarray(tone[:, k : k + 1024], format="fltp", layout="mono")
            f.sample_rate, f.pts = 48000, k
            out.mux(a.encode(f))
        out.mux(a.encode())
    return path


def _truncated(path):
    good = make_clip(path.with_name("whole.mp4"), n=12, audio=False, options={"movflags": "faststart"})
    data = good.read_bytes()
    good.unlink()
    path.write_bytes(data[: len(data) * 6 // 10])  # the index (moov) first: the file opens, frames run out
    return path


def _unknown_codec(path):
    data = make_clip(path.with_name("whole.mp4"), n=2, audio=False).read_bytes()
    path.with_name("whole.mp4").unlink()
    i = data.index(b"avc1", 64)  # the sample description's codec tag (the first is in the file type box)
    path.write_bytes(data[:i] + b"zzz9" + data[i + 4 :])
    return path


@pytest.mark.parametrize("case, message", [
    ("text", "not a video FFmpeg can read"),
    ("empty", "not a video FFmpeg can read"),
    ("audio", "has no video stream (audio only)"),
    ("truncated", "truncated or damaged"),
    ("codec", "video codec is not one this FFmpeg build can decode"),
])
def test_bad_videos_are_one_line_and_leave_nothing(tmp_path, capsys, case, message):
    path = tmp_path / "bad.mp4"
    if case == "text":
        path.write_text("this is not a video\n" * 100)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "audio":
        _audio_only(path)
    elif case == "truncated":
        _truncated(path)
    else:
        _unknown_codec(path)
    rc, err = upscale(capsys, path, "-q")
    assert rc == 1, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 2  # + the summary
    assert not leftovers(tmp_path)


def test_output_under_a_file_is_refused(tmp_path, capsys):
    src = make_clip(tmp_path / "a.mp4", n=2, audio=False)
    (tmp_path / "file").write_text("x")
    rc, err = upscale(capsys, src, "-o", tmp_path / "file" / "sub", "-q")
    assert rc == 1 and "is a file, not a folder" in err and not leftovers(tmp_path)


def test_a_full_disk_leaves_nothing(tmp_path, capsys):
    src = make_clip(tmp_path / "a.mp4", n=6, audio=False)
    disk = tmp_path / "disk"
    disk.mkdir()
    # One 4 KiB page: the temporary file is created, the encoded frames do not fit.
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(disk)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mount.stderr.decode().strip()}); needs root")
    try:
        rc, err = upscale(capsys, src, "-o", disk, "-q")
        assert rc == 1 and "No space left on device" in err and "Traceback" not in err, err
        assert not list(disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def _default_sigint() -> None:
    # A job started in the background (CI runners, `cmd &`) inherits SIGINT ignored, and Python then installs
    # no KeyboardInterrupt handler: give the child the terminal's default, as a user's shell would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*argv, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rlfn", "upscale", *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, **kw)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_video_leaves_nothing(clip, tmp_path, sig, code):
    out = tmp_path / "out"
    proc = _cli(clip, "-o", out, "--batch", "1", "-q")
    deadline = time.monotonic() + 60
    while not (out.exists() and any(".part" in p.name for p in out.iterdir())):  # mid-video: the temporary file
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)  # at once: on a fast machine the whole clip takes about a second
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "interrupted" in err and "Traceback" not in err
    assert not list(out.iterdir())


def test_images_need_no_pyav_and_videos_say_how_to_get_it(clip, tmp_path):
    Image.new("RGB", (16, 12)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    code = ("import sys; from rlfn.cli.main import main; rc = main(['upscale', sys.argv[1], '-q']); "
            "print('av' in sys.modules, rc); sys.modules['av'] = None; "  # from here on, import av fails
            "print(main(['upscale', sys.argv[2], '-o', sys.argv[3], '-q']))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.png"), str(clip), str(out)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"})
    assert r.stdout.split() == ["False", "0", "1"], r.stderr
    assert 'pip install "rlfn[video]"' in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() or not list(out.iterdir())


def test_batched_frames_equal_single_frames():
    from rlfn import Upscaler

    up = Upscaler(threads=1)
    frames = np.random.default_rng(0).integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
    together = up.upscale_batch(frames)
    assert together.shape == (3, 80, 96, 3) and together.dtype == np.uint8
    for i in range(3):
        assert np.abs(together[i].astype(int) - up.upscale_array(frames[i]).astype(int)).max() <= 1
