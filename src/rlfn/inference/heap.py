"""Reusing freed memory instead of faulting in fresh pages (glibc only).

An RLFN forward pass on the CPU allocates and frees dozens of full-resolution feature maps of tens of
megabytes each. glibc serves blocks larger than its mmap threshold (at most 32 MiB) with a fresh ``mmap``
and unmaps them when freed, so every such buffer is faulted in page by page, again and again: measured on a
510×339 image, RLFN ×4 took 290,000 page faults per forward pass, a third of its run time.

``retained_heap()`` makes glibc serve those blocks from the heap and keep the freed ones for the next
allocation, the next pass included: the process keeps the memory of its largest pass, as ONNX Runtime's
arena or PyTorch's CUDA caching allocator do, until :func:`release` gives it back.
Elsewhere (macOS, Windows, musl) it does nothing. The settings are process-wide: another thread allocating
meanwhile is served the same way, which is harmless.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import threading
from typing import Iterator

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

# What glibc's own heuristic settles on in a process that frees large blocks (64-bit): blocks up to 32 MiB
# from the heap, the heap trimmed when 64 MiB are free at its top. mallopt cannot read the current values
# back, so these are what we set again: the mmap threshold when retained_heap exits, the trim threshold
# only in release() (until then the heap keeps what it holds).
STEADY_MMAP_THRESHOLD = 32 * 2**20
STEADY_TRIM_THRESHOLD = 64 * 2**20
DEFAULT_MMAP_MAX = 65536
KEEP_ALL = 2**31 - 1  # mallopt takes an int

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError, TypeError):
        return None


def available() -> bool:
    return _glibc() is not None


def _release(libc: ctypes.CDLL) -> None:
    libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
    libc.mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD)
    libc.malloc_trim(0)


def release() -> None:
    """Give the memory kept by :func:`retained_heap` back to the OS and restore glibc's usual trimming."""
    libc = _glibc()
    if libc is not None:
        with _lock:
            if _depth == 0:
                _release(libc)
            else:
                libc.malloc_trim(0)


def trim() -> None:
    """Return the free memory at the heap's top to the OS (glibc only); the settings are unchanged."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def active() -> bool:
    return _depth > 0


@contextlib.contextmanager
def retained_heap(enabled: bool = True) -> Iterator[None]:
    """While active, large blocks come from the heap and freed ones stay there for reuse; nested uses
    share the outermost one. When it exits, large blocks are mapped afresh again, but the freed ones stay
    in the heap for the next pass (like an inference engine's arena) until :func:`release`."""
    global _depth
    libc = _glibc()
    if not enabled or libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_ALL)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD)
