"""Fetching published weights: downloaded once, SHA-256 verified, cached in the user's cache folder.

The cache is ``$RLFN_CACHE``, else ``$XDG_CACHE_HOME/rlfn``, else ``~/.cache/rlfn``. ``RLFN_WEIGHTS_URL``
replaces the download location (a mirror, a local folder as ``file:///...``, or a test server): either a
template with ``{filename}`` or a base to which the file name is appended.
"""
from __future__ import annotations

import hashlib
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DownloadError
from .weights import Weights

CHUNK = 1 << 16
TIMEOUT_S = 30


def cache_dir() -> Path:
    if os.environ.get("RLFN_CACHE"):
        return Path(os.environ["RLFN_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "rlfn"


def url_for(record: Weights, override: str | None = None) -> str:
    """The URL to fetch ``record`` from: ``override``, else $RLFN_WEIGHTS_URL, else the record's own."""
    filename = record.filename or f"{record.variant}_x{record.scale}.pth"
    base = override or os.environ.get("RLFN_WEIGHTS_URL")
    if base:
        return base.format(filename=filename) if "{filename}" in base else base.rstrip("/") + "/" + filename
    if not record.url:
        raise DownloadError(f"{record.variant} x{record.scale}: no download location is known; pass --weights PATH")
    return record.url


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _offline_hint(record: Weights, url: str) -> str:
    name = record.filename or "the weights"
    return (f"download {url} yourself (any browser) and pass --weights PATH/{name}, or set RLFN_WEIGHTS_URL "
            f"to a mirror or a file:// folder that holds {name}")


def fetch(record: Weights, progress: bool = True, *, url: str | None = None, cache: str | Path | None = None) -> Path:
    """The local path of ``record``'s file, downloading it into the cache first if needed.

    A cached file is used only if its SHA-256 matches; a download is written to a temporary name in the
    cache folder, checked, and renamed, so an interrupted or tampered download never becomes the cache.
    """
    folder = Path(cache) if cache is not None else cache_dir()
    filename = record.filename or f"{record.variant}_x{record.scale}.pth"
    target = folder / filename
    if target.is_file() and (record.sha256 is None or sha256_of(target) == record.sha256):
        return target
    src = url_for(record, url)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
    except OSError as e:
        raise DownloadError(f"cannot write the weights cache {folder} ({e.strerror or e}); set RLFN_CACHE to a "
                            "writable folder, or pass --weights PATH") from None
    tmp = Path(tmp_name)
    try:
        digest = _download(src, fd, progress and sys.stderr.isatty(), filename)
        if record.sha256 is not None and digest != record.sha256:
            raise DownloadError(
                f"{src}: SHA-256 mismatch (got {digest[:16]}…, expected {record.sha256[:16]}…); the file was "
                "refused. Retry later, or " + _offline_hint(record, record.url or src)
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _download(src: str, fd: int, show: bool, label: str) -> str:
    """Stream ``src`` into the open file ``fd`` (closed here) and return the SHA-256 of what was written."""
    h = hashlib.sha256()
    with os.fdopen(fd, "wb") as out:
        try:
            with urllib.request.urlopen(src, timeout=TIMEOUT_S) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = None
                if show:
                    from tqdm import tqdm

                    bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {label}", leave=False)
                try:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        out.write(block)
                        h.update(block)
                        if bar is not None:
                            bar.update(len(block))
                finally:
                    if bar is not None:
                        bar.close()
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{src}: the server answered {e.code} {e.reason}; pass --weights PATH to use a "
                                "local copy") from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise DownloadError(f"cannot download {src} ({reason}); are you offline? Then "
                                + _offline_hint_generic(src)) from None
        except ValueError as e:  # a malformed URL in RLFN_WEIGHTS_URL
            raise DownloadError(f"{src}: not a usable URL ({e}); check RLFN_WEIGHTS_URL") from None
    return h.hexdigest()


def _offline_hint_generic(src: str) -> str:
    name = src.rsplit("/", 1)[-1]
    return (f"download it elsewhere and pass --weights PATH/{name}, or set RLFN_WEIGHTS_URL to a mirror or a "
            f"file:// folder that holds {name}")
