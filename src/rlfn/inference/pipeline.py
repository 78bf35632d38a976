"""Overlap file work with the network: read the next inputs and write the finished outputs on threads while
the current image is computed.

Decoding and encoding (Pillow, libpng, zlib) release the GIL, so one reader and one writer thread run beside
PyTorch's own threads. Both stay a bounded number of items ahead (``depth``), so memory does not grow with
the number of files. The caller's thread keeps the network, the progress bar and all messages.
"""
from __future__ import annotations

import collections
import queue
import threading
from concurrent.futures import Future
from typing import Callable, Generic, Iterable, Iterator, TypeVar

J = TypeVar("J")
R = TypeVar("R")


class _Worker:
    """One daemon thread running submitted calls in order, each with a Future.

    Not a ThreadPoolExecutor: Python joins those threads at exit, so a write stuck in a slow disk would keep
    an interrupted process alive; a daemon thread ends with the process, and the temporary file of a write
    it leaves unfinished is removed by the CLI's cleanup (rlfn.io.atomic)."""

    def __init__(self, name: str):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as e:  # handed to the caller through the future
                    future.set_exception(e)

    def submit(self, fn: Callable, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def stop(self) -> None:
        """No new work: the thread ends after the call under way (not waited for)."""
        self._jobs.put(None)


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
    pool = _Worker("rlfn-read")
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
        # Stopped early (an interrupt, or the caller gave up): drop what was not started; the read under way
        # only reads, and its result is dropped.
        for _, f in pending:
            f.cancel()
        pool.stop()


class Writer(Generic[J]):
    """Runs write calls on one thread, at most ``depth`` waiting; finished ones are handed back in order.

    ``submit`` returns the outcomes of the writes that have finished meanwhile (or that had to finish to keep
    at most ``depth`` waiting); ``drain`` waits for the rest. Used as a context manager, leaving it drops the
    writes not yet started. On an interrupt the write under way is not waited for (a stuck disk must not
    hold Ctrl-C): the caller removes its temporary file, as rlfn's CLI does for every atomic write.
    """

    def __init__(self, depth: int = 2):
        self.depth = max(0, depth)
        self._pool = _Worker("rlfn-write") if depth else None
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
            self._pool.stop()
