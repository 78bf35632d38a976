"""Writing a file atomically: to a temporary name beside it, then renamed, so that a crash never leaves a
partial file behind. Used for images, JSON, plots, ONNX and TorchScript files alike.

Temporary files are named ``.NAME.rlfn-XXXXXXXX.part``: hidden, and with a suffix that no input scan takes for
an image (:func:`is_temp_name` also knows the older ``.STEM.XXXXXXXX.part.EXT`` names). Every temporary file
that exists is registered until it is renamed or removed, so that an interrupted process can remove what a
signal left between two statements (:func:`remove_temp_files`, called by the CLI on SIGINT, SIGTERM, SIGHUP).
"""
from __future__ import annotations

import os
import re
import secrets
import threading
from pathlib import Path
from typing import Callable

from ..errors import RLFNError, WriteError

_live: set[str] = set()  # temporary files this process may have created and not yet renamed or removed
_live_lock = threading.Lock()
_TEMP_RE = re.compile(r"^\..+\.(rlfn-[0-9a-f]{8}\.part|[0-9a-f]{8}\.part(\.[A-Za-z0-9]+)?)$")


def is_temp_name(name: str) -> bool:
    """True for the name of a temporary file that an atomic write of this package (or an older one) uses."""
    return bool(_TEMP_RE.match(name))


def temp_name(name: str) -> str:
    """A fresh temporary name for a file called ``name`` (the form :func:`is_temp_name` knows), for writers
    that create the file themselves (another filesystem than the local one)."""
    return f".{name}.rlfn-{secrets.token_hex(4)}.part"


def _new_temp_file(parent: Path, path: Path) -> str:
    """An empty, exclusively created file beside ``path``, with the permissions a plain open() would give
    (``tempfile.mkstemp`` makes files private, 0600, which is wrong for images people share). The name is
    registered before the file exists, so no signal finds a file that is not registered."""
    for _ in range(100):
        tmp = str(parent / temp_name(path.name))
        with _live_lock:
            _live.add(tmp)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            _forget(tmp)
            continue
        except BaseException:
            _forget(tmp)
            raise
    raise OSError(17, "no free temporary name")


def _forget(tmp: str) -> None:
    with _live_lock:
        _live.discard(tmp)


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    except OSError:
        return  # still registered: remove_temp_files tries again
    _forget(tmp)


def remove_temp_files() -> int:
    """Remove every temporary file this process still has (after an interrupt); returns how many."""
    with _live_lock:
        names = list(_live)
    removed = 0
    for tmp in names:
        if os.path.exists(tmp):
            removed += 1
        _remove(tmp)
    return removed


def refuse_existing(path: str | Path, overwrite: bool = False, what: str = "") -> None:
    """A WriteError if ``path`` exists and may not be replaced (``what``: the option that named it)."""
    if Path(path).exists() and not overwrite:
        raise WriteError(f"{what + ' ' if what else ''}{path}: exists (pass --overwrite to replace it)")


def atomic_write(path: str | Path, write: Callable[[Path], object], overwrite: bool = False) -> Path:
    """Call ``write(tmp_path)`` then rename to ``path``: a crash never leaves a partial file behind.

    Whatever ``write`` raises (an encoder's ValueError, a full disk's OSError...) becomes one WriteError
    naming ``path``; an RLFNError from ``write`` passes through as it is.
    """
    from .files import describe

    path = Path(path)
    refuse_existing(path, overwrite)
    parent = path.parent
    if path.is_dir():
        raise WriteError(f"{path}: is a folder; give a file name")
    for folder in (parent, *parent.parents):  # the nearest existing folder must be one
        if folder.exists():
            if not folder.is_dir():
                raise WriteError(f"{path}: cannot write there ({folder} is a file, not a folder)")
            break
    tmp: str | None = None
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = _new_temp_file(parent, path)
        except OSError as e:
            raise WriteError(f"{path}: cannot write there ({e.strerror or e})") from None
        try:
            write(Path(tmp))
            os.replace(tmp, path)
        except (RLFNError, MemoryError):
            raise
        except Exception as e:  # an encoder's or writer's own failure, whatever its type
            raise WriteError(f"{path}: cannot write ({describe(e)})") from e
    finally:
        if tmp is not None:
            _remove(tmp)
    return path
