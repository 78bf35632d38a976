"""Paths and URIs: local files through :mod:`rlfn.io` (atomic writes, the same checks as ``rlfn upscale``),
anything else through the filesystem pyarrow makes of the URI (``s3://``, ``gs://``, ``hdfs://``...).

A location is a string: a local path, a ``file://`` URI (local too), or another URI. Remote writes are
atomic as well: object stores make an object visible only when its single upload is complete; on other
filesystems the bytes go to a temporary name that is then moved into place.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Iterable
from urllib.parse import unquote, urlparse

from ..errors import ImageError, WriteError
from ..io.atomic import atomic_write, is_temp_name, temp_name
from ..io.files import check_input, describe
from ..io.media import MEDIA_SUFFIXES

# Filesystems whose single upload is atomic (an object appears complete or not at all).
OBJECT_STORES = {"s3", "gcs", "abfs"}


def is_local(location: str) -> bool:
    scheme = urlparse(location).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter is no scheme


def local_path(location: str) -> Path:
    """The path of a local location (a path or a ``file://`` URI)."""
    return Path(unquote(urlparse(location).path)) if location.startswith("file://") else Path(location)


@functools.lru_cache(maxsize=64)
def _filesystem(scheme: str, netloc: str):
    """One pyarrow filesystem per bucket or host: making one (credentials, region) costs a round trip."""
    from pyarrow import fs

    return fs.FileSystem.from_uri(f"{scheme}://{netloc}/")[0]


def remote(location: str):
    """(pyarrow filesystem, path inside it) of a URI."""
    u = urlparse(location)
    try:
        filesystem = _filesystem(u.scheme, u.netloc)
    except Exception as e:  # an unknown scheme, missing credentials, a library pyarrow lacks
        raise ImageError(f"{location}: cannot open this filesystem ({describe(e)})") from None
    path = (u.netloc + u.path) if filesystem.type_name in OBJECT_STORES else u.path
    return filesystem, path.rstrip("/") or "/"


def join(root: str, *parts: str) -> str:
    """``root``/``parts`` for a path or a URI ('' parts left out)."""
    parts = tuple(p for p in parts if p and p != ".")
    if is_local(root) and not root.startswith("file://"):
        return str(Path(root).joinpath(*parts))
    return "/".join([root.rstrip("/"), *parts])


def read_bytes(location: str) -> bytes:
    """The exact bytes of an input file; an ImageError naming it if it cannot be read."""
    if is_local(location):
        path = check_input(local_path(location), ImageError, "an image")  # a folder or a FIFO is refused
        try:
            return path.read_bytes()
        except OSError as e:
            raise ImageError(f"{location}: cannot read it ({e.strerror or e})") from None
    filesystem, path = remote(location)
    try:
        with filesystem.open_input_file(path) as f:
            return f.readall()
    except Exception as e:  # pyarrow's OSError for a missing key, a denied read, a network failure
        raise ImageError(f"{location}: cannot read it ({describe(e)})") from None


def existing(locations: Iterable[str]) -> set[str]:
    """Which of ``locations`` exist: local ones by a stat each, remote ones by one ``get_file_info`` call per
    filesystem (which an object store may still answer with a request per path)."""
    from collections import defaultdict

    found, by_fs = set(), defaultdict(list)
    for loc in locations:
        if is_local(loc):
            if local_path(loc).exists():
                found.add(loc)
        else:
            filesystem, path = remote(loc)
            by_fs[id(filesystem)].append((filesystem, path, loc))
    for group in by_fs.values():
        from pyarrow import fs

        infos = group[0][0].get_file_info([path for _, path, _ in group])
        found |= {loc for (_, _, loc), info in zip(group, infos) if info.type != fs.FileType.NotFound}
    return found


def write_bytes(location: str, data: bytes, overwrite: bool = False) -> None:
    """Write ``data`` atomically; an existing file is replaced only with ``overwrite``."""
    if is_local(location):
        atomic_write(local_path(location), lambda tmp: tmp.write_bytes(data), overwrite=overwrite)
        return
    if not overwrite and existing([location]):
        raise WriteError(f"{location}: exists (pass --overwrite to replace it)")
    filesystem, path = remote(location)
    try:
        if filesystem.type_name in OBJECT_STORES:
            with filesystem.open_output_stream(path) as f:
                f.write(data)
            return
        parent, name = path.rsplit("/", 1)
        filesystem.create_dir(parent, recursive=True)
        tmp = f"{parent}/{temp_name(name)}"
        try:
            with filesystem.open_output_stream(tmp) as f:
                f.write(data)
            filesystem.move(tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):  # the write's own error is the one worth reporting
                filesystem.delete_file(tmp)
            raise
    except WriteError:
        raise
    except Exception as e:
        raise WriteError(f"{location}: cannot write ({describe(e)})") from None


def list_remote(location: str, recursive: bool) -> list[tuple[str, str]]:
    """(URI, path relative to ``location``) of every image, GIF or video under a remote folder, sorted; a
    remote file alone gives itself with an empty relative folder. An ImageError if there is none."""
    from pyarrow import fs

    filesystem, path = remote(location)
    try:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            return [(location, path.rsplit("/", 1)[-1])]
        if info.type == fs.FileType.NotFound:
            raise ImageError(f"{location}: no such file or folder")
        infos = filesystem.get_file_info(fs.FileSelector(path, recursive=recursive))
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"{location}: cannot list it ({describe(e)})") from None
    files = sorted(i.path for i in infos if i.type == fs.FileType.File and i.extension
                   and f".{i.extension.lower()}" in MEDIA_SUFFIXES and not is_temp_name(i.base_name))
    if not files:
        raise ImageError(f"{location}: has no images or videos")
    root = location.rstrip("/")
    return [(f"{root}/{f[len(path):].lstrip('/')}", f[len(path):].lstrip("/")) for f in files]
