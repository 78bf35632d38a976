"""Overlap file work with the network: read the next inputs and write the finished outputs on threads while
the current image is computed.

Decoding and encoding (Pillow, libpng, zlib) release the GIL, so one reader and one writer thread run beside
PyTorch's own threads. Both stay a bounded number of items ahead (``depth``), so memory does not grow with
the number of files. The caller's thread keeps the network, the progress bar and all messages.
"""
from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, Iterable, Iterator, TypeVar

J = TypeVar("J")
R = TypeVar("R")


class Outcome(Generic[J, R]):
    """What a background call gave for one item: its value, or the exception it raised."""

    __slots__ = ("item", "value", "error")

    def __init__(self, item: J, value: R | None = None, error: BaseException | None = None):
        self.item, self.value, self.error = item, value, error

    @staticmethod
    def of(item: J, future: Future) -> "Outcome[J, R]":
        try:
            return Outcome(item, future.result())
        except Exception as e:  # reported per item by the caller; KeyboardInterrupt is the caller's own
            return Outcome(item, error=e)


def prefetched(items: Iterable[J], load: Callable[[J], R], depth: int = 2) -> Iterator[Outcome[J, R]]:
    """``load(item)`` for each item, in order, computed on a thread up to ``depth`` items ahead."""
    if depth < 1:
        for item in items:
            try:
                yield Outcome(item, load(item))
            except Exception as e:
                yield Outcome(item, error=e)
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlfn-read")
    pending: collections.deque[tuple[J, Future]] = collections.deque()
    source = iter(items)
    try:
        for item in source:
            pending.append((item, pool.submit(load, item)))
            if len(pending) > depth:
                yield Outcome.of(*pending.popleft())
        while pending:
            yield Outcome.of(*pending.popleft())
    finally:
        # Stopped early (an interrupt, or the caller gave up): drop what was not started, let the read under
        # way finish (it only reads), and free what was read.
        for _, f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


class Writer(Generic[J]):
    """Runs write calls on one thread, at most ``depth`` waiting; finished ones are handed back in order.

    ``submit`` returns the outcomes of the writes that have finished meanwhile (or that had to finish to keep
    at most ``depth`` waiting); ``drain`` waits for the rest. Used as a context manager, leaving it (an
    interrupt included) waits for the write under way, so that no file is half-written when the caller
    removes its temporary files, and drops the writes not yet started.
    """

    def __init__(self, depth: int = 2):
        self.depth = max(0, depth)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlfn-write") if depth else None
        self._pending: collections.deque[tuple[J, Future]] = collections.deque()

    def submit(self, item: J, write: Callable[[], object]) -> list[Outcome[J, object]]:
        if self._pool is None:
            try:
                return [Outcome(item, write())]
            except Exception as e:
                return [Outcome(item, error=e)]
        self._pending.append((item, self._pool.submit(write)))
        done = []
        while self._pending and (len(self._pending) > self.depth or self._pending[0][1].done()):
            done.append(Outcome.of(*self._pending.popleft()))
        return done

    def drain(self) -> list[Outcome[J, object]]:
        out = [Outcome.of(*p) for p in self._pending]
        self._pending.clear()
        return out

    def __enter__(self) -> "Writer[J]":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            for _, f in self._pending:
                f.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
