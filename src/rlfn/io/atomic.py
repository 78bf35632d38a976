"""Writing a file atomically: to a temporary name beside it, then renamed, so that a crash never leaves a
partial file behind. Used for images, JSON, plots, ONNX and TorchScript files alike."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable

from ..errors import WriteError


def _new_temp_file(parent: Path, path: Path) -> str:
    """An empty, exclusively created file beside ``path``, with the permissions a plain open() would give
    (``tempfile.mkstemp`` makes files private, 0600, which is wrong for images people share)."""
    for _ in range(100):
        tmp = parent / f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return str(tmp)
        except FileExistsError:
            continue
    raise OSError(17, "no free temporary name")


def refuse_existing(path: str | Path, overwrite: bool = False, what: str = "") -> None:
    """A WriteError if ``path`` exists and may not be replaced (``what``: the option that named it)."""
    if Path(path).exists() and not overwrite:
        raise WriteError(f"{what + ' ' if what else ''}{path}: exists (pass --overwrite to replace it)")


def atomic_write(path: str | Path, write: Callable[[Path], object], overwrite: bool = False) -> Path:
    """Call ``write(tmp_path)`` then rename to ``path``: a crash never leaves a partial file behind."""
    path = Path(path)
    refuse_existing(path, overwrite)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = _new_temp_file(parent, path)
    except OSError as e:
        raise WriteError(f"{path}: cannot write there ({e.strerror or e})") from None
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        raise WriteError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
