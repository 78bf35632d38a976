"""Reading and writing videos with PyAV (FFmpeg), for ``rlfn upscale``.

PyAV is the optional ``video`` extra, imported only when a video is opened (:func:`require_av`), so images
never need it. :class:`VideoReader` demuxes the input once, in file order: frames of the video stream are
decoded and handed out one at a time, and the packets of every other stream (audio, subtitles, cover art...)
go to a callback untouched, so that :class:`VideoWriter` can copy them into the output without re-encoding.
Frames become RGB arrays with the input's own YUV matrix and range; the writer converts back with the same
and tags the output with what the input says about its colours, its rotation and its pixel aspect.

Every failure a user can cause (not a video, no video stream, an unknown codec, a damaged or truncated
file, an encoder or container that does not fit) is a :class:`~rlfn.errors.VideoError` naming the file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import VideoError
from .files import check_input, describe

# Output containers by suffix (FFmpeg's muxer names).
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
DEFAULT_CODEC = "libx264"
# WebM holds only VP8, VP9 and AV1. AVI stores no presentation times, and FFmpeg reads H.264 from AVI one
# frame late (the first frame at 1/rate, the last ending a frame after the input's); MPEG-4 Part 2 without
# B-frames, AVI's own codec, comes back frame for frame.
_CONTAINER_CODEC = {"webm": "libvpx-vp9", "avi": "mpeg4"}
# Constant-quality defaults at "visually lossless" (x264's guides: CRF 17-18; the others chosen to match):
# an upscale is only worth keeping with the fine detail the network added, which the encoders' own
# defaults (x264 23, VP9 32, SVT-AV1 35) visibly smooth away.
# For mpeg4 the value is its fixed quantiser (2: the usual "visually lossless" for MPEG-4 Part 2; measured
# as close to the source as x264 at CRF 17).
DEFAULT_CRF = {"libx264": 17, "libx265": 20, "libvpx-vp9": 20, "libsvtav1": 22, "mpeg4": 2}
_CRF_RANGE = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libsvtav1": 63, "mpeg4": 31}
_JPEG_RANGE_FORMS = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}  # deprecated aliases
_ATTACHED_PIC = 1024  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video
# AVColorSpace → the swscale matrix that decodes it (BT.601 variants share one; BT.2020 CL is close enough).
_MATRICES = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
_AVCOL_SPC = {"ITU709": 1, "ITU601": 6}
# Encoders that carry alpha, by container, in order of preference; the input's own codec comes first when it
# is one of them. MP4 and AVI have none that players read with alpha.
_ALPHA_CODECS = {"mov": ("png", "qtrle", "prores_ks", "ffv1"), "matroska": ("ffv1", "png", "libvpx-vp9", "prores_ks"),
                 "webm": ("libvpx-vp9",), "mp4": (), "avi": ()}
_ENCODER_FOR = {"vp9": "libvpx-vp9", "vp8": "libvpx", "prores": "prores_ks"}  # decoder name → its encoder
# VP8/VP9 keep alpha in a side channel that only libvpx's decoders read (FFmpeg's own decode the colour only).
_ALPHA_DECODERS = {"vp9": "libvpx-vp9", "vp8": "libvpx"}


def has_alpha(pix_fmt: str) -> bool:
    av = require_av()
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


def _alpha_ways() -> str:
    return "keep it with .mkv (ffv1), .mov (png, qtrle) or .webm (libvpx-vp9)"


def require_av():
    """The ``av`` module, or one VideoError saying how to install it."""
    try:
        import av
    except ImportError:
        raise VideoError('videos need PyAV, which is not installed: pip install "rlfn[video]"') from None
    return av


def muxer_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in MUXERS:
        raise VideoError(f"{path}: a video is written as {', '.join(MUXERS)}; not as {suffix or 'a file without suffix'}")
    return MUXERS[suffix]


def check_codec(codec: str | None, crf: int | None) -> None:
    """A VideoError, before any work, for an encoder this FFmpeg lacks or a CRF it does not take."""
    av = require_av()
    if codec is not None:
        try:
            c = av.codec.Codec(codec, "w")
        except Exception:
            raise VideoError(f"--codec {codec}: this FFmpeg has no such encoder (try libx264, libx265, libvpx-vp9 "
                             "or libsvtav1)") from None
        if c.type != "video":
            raise VideoError(f"--codec {codec}: is a {c.type} encoder, not a video one")
    if crf is not None and codec is not None:
        if codec not in _CRF_RANGE:
            raise VideoError(f"--crf: {codec} has no constant-quality setting rlfn knows; "
                             f"leave --crf out, or use {', '.join(_CRF_RANGE)}")
        low = 1 if codec == "mpeg4" else 0  # a quantiser, 1 (best) to 31
        if not low <= crf <= _CRF_RANGE[codec]:
            raise VideoError(f"--crf {crf}: {codec} takes {low} to {_CRF_RANGE[codec]}")


def _why(e: BaseException) -> str:
    return getattr(e, "strerror", None) or describe(e)


def _tagged_seconds(text: str | None) -> float | None:
    """Matroska's per-stream DURATION tag, ``HH:MM:SS.nnnnnnnnn``."""
    try:
        h, m, s = (text or "").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


@dataclass
class VideoInfo:
    """What the writer must reproduce, read from the video stream and its first frame."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None  # nominal frames per second (the average for variable frame rates)
    frames: int | None  # as the container says, when it does
    duration: float | None  # seconds, of the video stream
    pix_fmt: str
    deep: bool  # more than 8 bits per sample: read and written as 16-bit RGB
    matrix: str  # the swscale matrix used both ways
    matrix_tag: int  # AVColorSpace to write: the input's, or the matrix assumed for an untagged input
    color_range: int  # AVColorRange; 0 = unspecified (limited, as every player assumes)
    primaries: int
    trc: int
    display_matrix: tuple[int, ...] | None  # rotation and flips, FFmpeg's 3×3 layout
    sample_aspect: Fraction | None
    codec: str
    alpha: bool = False  # the frames carry an alpha channel

    @property
    def expected_frames(self) -> int | None:
        """For the progress bar: the container's count, else duration × rate."""
        if self.frames:
            return self.frames
        if self.duration and self.rate:
            return max(1, round(self.duration * self.rate))
        return None


class VideoReader:
    """An input video: its info, the streams to copy, and its frames in order (see :meth:`frames`)."""

    def __init__(self, path: str | Path, warn: Callable[[str], None] | None = None):
        av = require_av()
        self.path = Path(path)
        self._warn = warn or (lambda _msg: None)
        check_input(self.path, VideoError, "a video")
        try:
            self.container = av.open(str(self.path), metadata_errors="replace")
        except Exception as e:  # FFmpeg's InvalidDataError and its relatives: whatever it is, it is no video
            raise VideoError(f"{self.path}: not a video FFmpeg can read ({_why(e)})") from None
        self.decoded = 0
        self._last_end: Fraction | None = None
        try:
            self._open_stream()
        except BaseException:
            self.container.close()
            raise

    def _open_stream(self) -> None:
        av = require_av()
        c = self.container
        videos = [s for s in c.streams.video if not int(s.disposition) & _ATTACHED_PIC]
        if not videos:
            kinds = sorted({s.type for s in c.streams})
            raise VideoError(f"{self.path}: has no video stream ({' and '.join(kinds) + ' only' if kinds else 'no streams'})")
        self.stream = s = videos[0]
        if s.codec_context is None:
            raise VideoError(f"{self.path}: its video codec is not one this FFmpeg build can decode")
        s.thread_type = "AUTO"  # frame and slice threads: decoding keeps up with the network
        self._decoder = self._alpha_decoder(s)
        self.copy_streams = []
        for other in c.streams:
            if other.index == s.index:
                continue
            if other.type == "video" and not int(other.disposition) & _ATTACHED_PIC:
                self._warn(f"{self.path.name}: video stream {other.index} is left out (only the first is upscaled)")
                continue
            self.copy_streams.append(other)
        self._copy_index = {st.index for st in self.copy_streams}
        self._items = self._demux()
        self._head: list[Any] = []  # packets of other streams read before the first frame
        for item in self._items:
            if isinstance(item, av.VideoFrame):
                self.first = item
                break
            self._head.append(item)
        else:
            raise VideoError(f"{self.path}: no frame of its video stream could be decoded ({s.codec_context.name})")
        self.info = self._describe(s, self.first)

    def _alpha_decoder(self, s):
        """libvpx's decoder for a VP8/VP9 stream whose alpha is in its side channel; None for the others."""
        av = require_av()
        name = _ALPHA_DECODERS.get(s.codec_context.name)
        if name is None or s.metadata.get("alpha_mode") != "1":
            return None
        try:
            dec = av.codec.CodecContext.create(name, "r")
        except Exception:  # noqa: BLE001 - an FFmpeg build without libvpx
            self._warn(f"{self.path.name}: its alpha channel cannot be read (this FFmpeg has no {name} decoder); "
                       "only the colour is upscaled")
            return None
        dec.width, dec.height = s.codec_context.width, s.codec_context.height
        dec.thread_type = "AUTO"
        return dec

    def _demux(self) -> Iterator[Any]:
        try:
            for packet in self.container.demux():
                if packet.stream.index == self.stream.index:
                    frames = self._decoder.decode(packet) if self._decoder is not None else packet.decode()
                    for frame in frames:
                        self.decoded += 1
                        yield frame
                # Size 0: the empty packets PyAV adds at the end to flush decoders; nothing to copy.
                elif packet.stream.index in self._copy_index and packet.size:
                    yield packet
        except Exception as e:  # noqa: BLE001 - FFmpeg's errors, whatever their class: the file is at fault
            raise VideoError(f"{self.path}: damaged after {self.decoded} frames ({_why(e)})") from None

    def _describe(self, s, f) -> VideoInfo:
        cc = s.codec_context
        tb = s.time_base or Fraction(1, 90000)
        rate = s.average_rate or s.guessed_rate or s.base_rate
        duration = float(s.duration * tb) if s.duration else _tagged_seconds(s.metadata.get("DURATION"))
        pix_fmt = f.format.name
        deep = max((comp.bits for comp in f.format.components), default=8) > 8
        tag = int(f.colorspace or cc.colorspace or 0)
        if tag in _MATRICES:
            matrix, matrix_tag = _MATRICES[tag], tag
        else:
            # Untagged: decoded as players do (BT.601 up to 576 lines, BT.709 above), and the output tagged
            # with it, since the ×4 output would otherwise be guessed as HD, BT.709, and shift in colour.
            matrix = "ITU601" if f.height <= 576 else "ITU709"
            matrix_tag = _AVCOL_SPC[matrix]
        display = None
        try:
            from av.sidedata.sidedata import Type

            sd = f.side_data.get(Type.DISPLAYMATRIX)
            if sd is not None and len(bytes(sd)) == 36:
                display = struct.unpack("=9i", bytes(sd))
        except (ImportError, AttributeError):  # an older PyAV: no side data to read
            pass
        sar = s.sample_aspect_ratio or cc.sample_aspect_ratio
        return VideoInfo(
            width=f.width, height=f.height, time_base=Fraction(tb), rate=Fraction(rate) if rate else None,
            frames=s.frames or None, duration=duration, pix_fmt=pix_fmt, deep=deep, matrix=matrix,
            matrix_tag=matrix_tag, color_range=int(f.color_range or cc.color_range or 0),
            primaries=int(f.color_primaries or cc.color_primaries or 0), trc=int(f.color_trc or cc.color_trc or 0),
            display_matrix=display, sample_aspect=Fraction(sar) if sar else None, codec=cc.name,
            alpha=has_alpha(pix_fmt))

    def frames(self, on_packet: Callable[[Any], None]) -> Iterator[Any]:
        """The video's frames in decoding order; every packet of a stream to copy goes to ``on_packet`` as it is
        read (interleaved as in the file, so nothing piles up in memory)."""
        for packet in self._head:
            on_packet(packet)
        self._head = []
        yield self._track(self.first)
        for item in self._items:
            if isinstance(item, type(self.first)):
                yield self._track(item)
            else:
                on_packet(item)

    def _track(self, frame):
        if frame.pts is not None:
            end = Fraction(frame.pts + (frame.duration or 0)) * self.info.time_base
            self._last_end = end if self._last_end is None else max(self._last_end, end)
        return frame

    def rgb_format(self, alpha: bool = False) -> str:
        if alpha:
            return "rgba64le" if self.info.deep else "rgba"
        return "rgb48le" if self.info.deep else "rgb24"

    def to_array(self, frame, alpha: bool = False) -> np.ndarray:
        """A frame as H×W×3 RGB (H×W×4 RGBA with ``alpha``), uint8 (uint16 for deeper video), through the
        input's matrix and range."""
        from av.video.reformatter import ColorRange, Colorspace, Interpolation

        rgb = frame.reformat(format=self.rgb_format(alpha), src_colorspace=Colorspace[self.info.matrix],
                             src_color_range=ColorRange.JPEG if self.info.color_range == 2 else ColorRange.MPEG,
                             interpolation=Interpolation.BICUBIC)
        return rgb.to_ndarray()

    def check_complete(self) -> None:
        """A VideoError if fewer frames were decoded than the container promised (a truncated file)."""
        info = self.info
        if info.frames and self.decoded < info.frames - max(2, info.frames // 100):
            raise VideoError(f"{self.path}: truncated or damaged: {self.decoded} of its {info.frames} frames could be "
                             "decoded")
        if not info.frames and info.duration and self._last_end is not None and info.rate:
            missing = info.duration - float(self._last_end)
            if missing > max(2 / float(info.rate), 0.01 * info.duration):
                raise VideoError(f"{self.path}: truncated or damaged: its frames stop at {float(self._last_end):.2f} s "
                                 f"of {info.duration:.2f} s")

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VideoWriter:
    """The output video: the upscaled stream encoded as asked, every stream of ``source`` to copy remuxed."""

    def __init__(self, path: str | Path, muxer: str, source: VideoReader, scale: int, codec: str | None = None,
                 crf: int | None = None, warn: Callable[[str], None] | None = None):
        av = require_av()
        self._av = av
        self._warn = warn or (lambda _msg: None)
        info = source.info
        self.name = source.path.name
        self.container = av.open(str(path), mode="w", format=muxer)
        try:
            if codec is None and info.alpha:
                codec = self._codec_for_alpha(info, muxer, crf)
            codec = codec or _CONTAINER_CODEC.get(muxer, DEFAULT_CODEC)
            check_codec(codec, crf)
            self.codec = codec
            self._setup(source, info, scale, codec, crf, muxer)
        except BaseException:
            self.abort()
            raise

    def _codec_for_alpha(self, info: VideoInfo, muxer: str, crf: int | None) -> str | None:
        """An encoder that keeps the input's alpha in ``muxer``: the input's own when it can, else the
        container's first choice; with ``crf``, only one that takes it. None when there is none (the
        container's default then drops the alpha, with a warning)."""
        av = require_av()
        mine = _ENCODER_FOR.get(info.codec, info.codec)
        for name in (mine, *_ALPHA_CODECS.get(muxer, ())):
            if name not in _ALPHA_CODECS.get(muxer, ()) or name not in self.container.supported_codecs:
                continue
            if crf is not None and name not in _CRF_RANGE:
                continue
            try:
                c = av.codec.Codec(name, "w")
            except Exception:  # noqa: BLE001 - not in this FFmpeg build
                continue
            if any(has_alpha(f.name) for f in (c.video_formats or ())):
                if name != mine:
                    self._warn(f"{self.name}: has an alpha channel: written with {name} to keep it "
                               f"(--codec {_CONTAINER_CODEC.get(muxer, DEFAULT_CODEC)} would drop it)")
                return name
        return None

    def _setup(self, source: VideoReader, info: VideoInfo, scale: int, codec: str, crf: int | None, muxer: str) -> None:
        av = self._av
        out = self.container
        if codec not in out.supported_codecs:
            raise VideoError(f"{self.name}: the {muxer} container cannot hold {codec} video; choose another --codec "
                             "or another output suffix (.mkv holds nearly everything)")
        c = av.codec.Codec(codec, "w")
        supported = [f.name for f in (c.video_formats or ())]
        pix_fmt = _JPEG_RANGE_FORMS.get(info.pix_fmt, info.pix_fmt)
        with_alpha = [f for f in supported if has_alpha(f)]
        self.alpha = info.alpha and bool(with_alpha)
        if self.alpha and pix_fmt not in with_alpha:
            deep = [f for f in with_alpha if max(comp.bits for comp in av.VideoFormat(f).components) > 8]
            pix_fmt = (deep if info.deep and deep else with_alpha)[0]
        elif info.alpha and not self.alpha:
            self._warn(f"{self.name}: its alpha channel is dropped: {codec} in {muxer} cannot carry it; {_alpha_ways()}")
        if pix_fmt not in supported or (has_alpha(pix_fmt) and not self.alpha):
            pix_fmt = "yuv420p" if "yuv420p" in supported or not supported else supported[0]
        fmt = av.VideoFormat(pix_fmt)
        w, h = info.width * scale, info.height * scale
        sub_x = fmt.chroma_width(w) != w if hasattr(fmt, "chroma_width") else pix_fmt.startswith(("yuv420", "yuv422"))
        sub_y = fmt.chroma_height(h) != h if hasattr(fmt, "chroma_height") else pix_fmt.startswith("yuv420")
        if (sub_x and w % 2) or (sub_y and h % 2):
            # Subsampled chroma needs even sizes (only odd scales of odd inputs get here): one edge row or
            # column is cropped rather than invented.
            w, h = w - (w % 2 if sub_x else 0), h - (h % 2 if sub_y else 0)
            self._warn(f"{self.name}: {pix_fmt} needs an even size; the output is cropped to {w}×{h}")
        self.size = (w, h)
        self.pix_fmt = pix_fmt
        self.time_base = info.time_base
        self.rgb_format = source.rgb_format(self.alpha)
        vs = out.add_stream(codec, rate=info.rate) if info.rate else out.add_stream(codec)
        vs.width, vs.height = w, h
        vs.time_base = info.time_base  # frames keep their input timestamps, variable frame rates included
        cc = vs.codec_context
        cc.pix_fmt = pix_fmt
        cc.time_base = info.time_base
        if info.rate:
            cc.framerate = info.rate
        cc.bit_rate = 0  # constant quality, not PyAV's default bit rate
        cc.thread_count = 0  # the encoder's own choice
        cc.colorspace = info.matrix_tag
        out_range = info.color_range
        if codec == "mjpeg":
            out_range = 2  # JPEG is full range: FFmpeg's encoder refuses limited-range input
        if out_range:
            cc.color_range = out_range
        if muxer == "avi":
            # AVI stores no presentation timestamps: B-frames would come out in decoding order
            cc.max_b_frames = 0
        if info.primaries:
            cc.color_primaries = info.primaries
        if info.trc:
            cc.color_trc = info.trc
        if info.sample_aspect:
            cc.sample_aspect_ratio = info.sample_aspect
        quality = crf if crf is not None else DEFAULT_CRF.get(codec)
        if quality is not None:
            q = str(max(quality, 1) if codec == "mpeg4" else quality)
            cc.options = {"qmin": q, "qmax": q} if codec == "mpeg4" else {"crf": q}
        if info.display_matrix is not None:
            m = list(info.display_matrix)
            m[6], m[7] = m[6] * scale, m[7] * scale  # its translation is in pixels
            if hasattr(vs, "set_display_matrix"):
                vs.set_display_matrix(m)
            else:
                self._warn(f"{self.name}: its rotation is not kept (PyAV 18 or later writes it)")
        _copy_tags(source.stream.metadata, vs.metadata)
        self.stream = vs
        self._map = {}
        for st in source.copy_streams:
            name = st.codec_context.name if st.codec_context is not None else None
            if name is None or name not in out.supported_codecs:
                self._warn(f"{self.name}: {st.type} stream {st.index} ({name or 'unknown codec'}) cannot go into "
                           f"{muxer}; left out")
                continue
            try:
                o = out.add_stream_from_template(st)
            except Exception as e:
                self._warn(f"{self.name}: {st.type} stream {st.index} ({name}) left out ({_why(e)})")
                continue
            _copy_tags(st.metadata, o.metadata)
            try:
                o.disposition = st.disposition
            except (AttributeError, TypeError, ValueError):
                pass
            self._map[st.index] = o
        out.metadata.update({k: v for k, v in source.container.metadata.items()
                             if k not in ("major_brand", "minor_version", "compatible_brands", "encoder")})
        from av.video.reformatter import ColorRange, Colorspace

        self._matrix = Colorspace[info.matrix]
        self._range = ColorRange.JPEG if out_range == 2 else ColorRange.MPEG
        self._last_pts: int | None = None
        self._step = max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1
        self.written = 0

    def write(self, frames: np.ndarray, pts: list[int | None]) -> None:
        """Encode N×H×W×3 RGB frames (N×H×W×4 RGBA when :attr:`alpha`; the reader's dtype) with their input
        timestamps."""
        av = self._av
        w, h = self.size
        for arr, t in zip(frames, pts):
            if arr.shape[0] != h or arr.shape[1] != w:
                arr = arr[:h, :w]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=self.rgb_format)
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace=self._matrix, dst_color_range=self._range)
            # Encoders need strictly increasing timestamps; a damaged input can repeat or lack one.
            if t is None or (self._last_pts is not None and t <= self._last_pts):
                t = 0 if self._last_pts is None else self._last_pts + (self._step if t is None else 1)
            frame.pts, frame.time_base = t, self.time_base
            self._last_pts = t
            for packet in self._encode(frame):
                self.container.mux(packet)
            self.written += 1

    def _encode(self, frame):
        if self.written:
            return self.stream.encode(frame)
        try:  # the encoder opens on its first frame: a refusal of its settings is the user's --codec
            return self.stream.encode(frame)
        except self._av.error.FFmpegError as e:
            raise VideoError(f"{self.name}: the {self.codec} encoder refused this video ({self.pix_fmt}, "
                             f"{self.size[0]}×{self.size[1]}: {_why(e)}); try another --codec (libx264 in .mp4 or .mkv plays everywhere)") from None

    def copy(self, packet) -> None:
        """Remux one packet of a copied stream as it is (no decoding, no re-encoding)."""
        out = self._map.get(packet.stream.index)
        if out is not None:
            packet.stream = out
            self.container.mux(packet)

    def finish(self) -> None:
        for packet in self.stream.encode(None):  # what the encoder still holds (lookahead, B-frames)
            self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        """Close after a failure; the file is the caller's to remove, so a second error here does not matter."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a full disk fails again on the trailer
            pass


def _copy_tags(src, dst) -> None:
    for key in ("language", "title"):
        if src.get(key):
            dst[key] = src[key]
