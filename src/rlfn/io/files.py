"""One error path for every file a command reads (images, weights, configs).

:func:`check_input` refuses what cannot be read as a file (missing, a folder, a FIFO, a device) before
anything opens it, so a named pipe never hangs a run; :func:`reading` turns whatever a decoder, a loader or
a parser raises into one error of the caller's :class:`~rlfn.errors.RLFNError` class that names the file
and the cause. Errors that are already ``RLFNError`` pass through, as do ``MemoryError`` and interrupts.
"""
from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

from ..errors import RLFNError

_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def check_input(path: str | Path, error: type[RLFNError] = RLFNError, what: str = "file") -> Path:
    """``path`` if it is a regular file (or a link to one) that can be opened for reading; else ``error``."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise error(f"{path}: is {kind}, not a regular file ({what} expected)")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: cannot read it (permission denied)")
    return path


def describe(e: BaseException) -> str:
    """An exception as a short cause: its first line, at most 200 characters, with the type when it helps."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, OSError) and e.strerror:
        text = e.strerror
    kind = type(e).__name__
    if not text:
        return kind
    if isinstance(e, (OSError, ValueError, EOFError)):
        return text[:200]
    return f"{kind}: {text[:200]}"


@contextlib.contextmanager
def reading(path: str | Path, error: type[RLFNError] = RLFNError, what: str = "cannot read it") -> Iterator[None]:
    """Any exception raised inside becomes ``error("PATH: WHAT (cause)")``; RLFNError passes through as it is."""
    try:
        yield
    except (RLFNError, MemoryError):
        raise
    except Exception as e:  # a decoder's or loader's own failure, whatever its type: the file is at fault
        raise error(f"{path}: {what} ({describe(e)})") from e


def read_text(path: str | Path, error: type[RLFNError] = RLFNError, what: str = "text file") -> str:
    """A UTF-8 text file's content; a binary file or an unreadable one is ``error`` naming it."""
    path = check_input(path, error, what)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not a {what} (byte {e.start} is not UTF-8 text)") from None
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e})") from None
