"""Which files ``rlfn upscale`` takes, and what kind each is (image, animation, video), by name alone.

Nothing here decodes anything or imports PyAV: a folder of PNGs is scanned, and ``rlfn upscale a.png`` runs,
without the video extra. Videos are told by their suffix; the reader (:mod:`rlfn.io.video`) then says
clearly when such a file is not a video after all.
"""
from __future__ import annotations

from pathlib import Path

from .images import IMAGE_SUFFIXES, list_files

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi")
# GIF is read and written only as an animation (rlfn.io.animation), still or not: save_picture has no GIF.
ANIMATION_SUFFIXES = (".gif",)
MEDIA_SUFFIXES = (*IMAGE_SUFFIXES, *ANIMATION_SUFFIXES, *VIDEO_SUFFIXES)


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def list_media(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Images, GIFs and videos in ``folder`` (by suffix), sorted by name; an ImageError if it has none."""
    return list_files(folder, MEDIA_SUFFIXES, "images or videos", recursive)
