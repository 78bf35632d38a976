"""Upscaling a video: frames streamed from the reader through the :class:`~rlfn.inference.upscaler.Upscaler`
in batches and into the encoder, the other streams copied as they are (:mod:`rlfn.io.video`).

Memory does not grow with the video's length: at most ``batch`` decoded frames and their upscaled copies
are held at once (plus what the encoder keeps for its lookahead). The output is written under a temporary
name and renamed when complete (:mod:`rlfn.io.atomic`): an error, Ctrl-C or a full disk leaves nothing behind.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..io.atomic import atomic_write, refuse_existing
from ..io.video import VideoReader, VideoWriter, muxer_for
from ..progress import progress
from .upscaler import Upscaler

DEFAULT_BATCH = 4


@dataclass
class VideoResult:
    frames: int
    seconds: float
    megapixels: float  # input pixels, all frames

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def upscale_video(up: Upscaler, src: str | Path, dst: str | Path, *, codec: str | None = None,
                  crf: int | None = None, batch: int = DEFAULT_BATCH, overwrite: bool = False, quiet: bool = False,
                  warn: Callable[[str], None] | None = None) -> VideoResult:
    """Upscale the video ``src`` into ``dst`` (its container from the suffix), keeping timestamps, audio,
    subtitles, rotation and colour tags. ``codec`` defaults to libx264 (libvpx-vp9 for .webm), ``crf`` to
    the codec's visually lossless value (:data:`rlfn.io.video.DEFAULT_CRF`). An alpha channel is upscaled
    and kept where the output can carry it (without ``codec``, an encoder that can is chosen), else dropped
    with a warning."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    src, dst = Path(src), Path(dst)
    refuse_existing(dst, overwrite)
    muxer = muxer_for(dst)  # before any decoding
    start = time.perf_counter()
    with VideoReader(src, warn) as reader:
        info = reader.info

        def write(tmp: Path) -> None:
            writer = VideoWriter(tmp, muxer, reader, up.scale, codec, crf, warn)
            try:
                frames: list[np.ndarray] = []
                stamps: list[int | None] = []
                for frame in progress(reader.frames(writer.copy), total=info.expected_frames, desc=src.name,
                                      quiet=quiet, unit="frame"):
                    frames.append(reader.to_array(frame, alpha=writer.alpha))
                    stamps.append(frame.pts)
                    if len(frames) == batch:
                        writer.write(up.upscale_batch(np.stack(frames)), stamps)
                        frames, stamps = [], []
                if frames:
                    writer.write(up.upscale_batch(np.stack(frames)), stamps)
                reader.check_complete()  # a truncated input is refused, not passed off as the whole video
                writer.finish()
            except BaseException:
                writer.abort()
                raise

        atomic_write(dst, write, overwrite=overwrite)
        n = reader.decoded
    return VideoResult(n, time.perf_counter() - start, n * info.width * info.height / 1e6)
