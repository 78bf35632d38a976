"""What native code prints on file descriptor 2 while it runs: caught, for the caller to use or drop.

libpng (inside OpenCV) reports a damaged file by printing ``libpng error: ...`` straight to the process's
stderr, past Python's ``sys.stderr``, and OpenCV then just returns nothing; its own log lines (``[ WARN:...]``)
go the same way. Caught, the reason can go into the one error line rlfn prints, and warnings about harmless
oddities (a broken colour profile that is dropped anyway) do not clutter the output. Lines that other threads
printed meanwhile are not theirs to keep: they are written back to stderr afterwards.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Iterator

_NATIVE = ("libpng ", "[ WARN:", "[ERROR:", "[ INFO:", "[FATAL:")
_lock = threading.RLock()  # fd 2 is one per process: one catch at a time (nested ones each get theirs)


@contextlib.contextmanager
def caught() -> Iterator[list[str]]:
    """Inside, fd 2 goes to an anonymous file; afterwards the list holds the native libraries' lines."""
    lines: list[str] = []
    with _lock:
        saved = _redirect_start()
        if saved is None:  # no usable fd 2 (a detached process): nothing to catch
            yield lines
            return
        fd, sink, keep = saved
        try:
            yield lines
        finally:
            os.dup2(fd, 2)
            os.close(fd)
            text = _read_all(sink).decode("utf-8", "replace")
            if keep is not None:
                keep.close()
            else:
                os.close(sink)
            others = []
            for line in text.splitlines():
                (lines if line.startswith(_NATIVE) else others).append(line)
            if others and sys.stderr is not None:
                sys.stderr.write("\n".join(others) + "\n")


def _redirect_start():
    try:
        if sys.stderr is not None:
            sys.stderr.flush()  # nothing of ours may wait in Python's buffer while fd 2 points elsewhere
        fd = os.dup(2)
    except (OSError, ValueError):
        return None
    sink, keep = _sink()
    os.dup2(sink, 2)
    return fd, sink, keep


def _sink() -> tuple[int, object]:
    """(fd, object to close or None): an anonymous file in memory (Linux's memfd, used through its descriptor
    alone: nothing is opened and nothing touches a disk, which rlfn serve promises for its requests), else a
    temporary file."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("rlfn-native-stderr", getattr(os, "MFD_CLOEXEC", 0)), None
        except OSError:
            pass
    tmp = tempfile.TemporaryFile()
    return tmp.fileno(), tmp


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def reason(lines: list[str], default: str) -> str:
    """The most telling line of what libpng or OpenCV printed: libpng's last error, else OpenCV's last log
    message without its prefix (``[ WARN:0@1.2] global file.cpp:42 function``), else ``default``."""
    errors = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("libpng error")]
    if errors:
        return f"libpng: {errors[-1]}"
    logged = [ln.split("]", 1)[1].strip().split(" ", 3) for ln in lines if ln.startswith("[")]
    if logged and len(logged[-1]) == 4:
        return f"OpenCV: {logged[-1][3]}"
    return default
