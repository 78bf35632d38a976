"""A bounded job queue served by a fixed number of worker threads.

The web server never runs a model itself: each request becomes a :class:`Job` that waits in a queue of
fixed length and is picked up by one of ``workers`` threads. The CPU is therefore never asked for more
than ``workers`` upscales at a time, however many clients connect, and a full queue is refused at once
(:class:`QueueFull`, which the app answers with 503 and ``Retry-After``) rather than piling up memory.

A job can be cancelled (its client went away): if it is still waiting, no worker runs it; if it is
running, the work checks :meth:`Job.check` between tiles and stops there.
"""
from __future__ import annotations

import concurrent.futures
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..inference import heap


class QueueFull(Exception):
    """Every worker is busy and the queue is full."""

    def __init__(self, retry_after: int):
        super().__init__(f"busy: the queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class Cancelled(Exception):
    """The job was cancelled before or while it ran."""


@dataclass(eq=False)
class Job:
    """One unit of work: ``fn(job)`` runs on a worker thread; its result or exception lands in ``future``."""

    fn: Callable[["Job"], Any]
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job was cancelled (called by the work between steps)."""
        if self._cancelled.is_set():
            raise Cancelled()


class JobQueue:
    """``workers`` threads taking jobs from a queue that holds at most ``max_queued`` waiting jobs."""

    def __init__(self, workers: int = 1, max_queued: int = 8, name: str = "rlfn-serve"):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_queued < 0:
            raise ValueError(f"max_queued must not be negative, got {max_queued}")
        self.workers = workers
        self.max_queued = max_queued
        # The queue itself is unbounded; admission is counted under the lock below, so that a job taken
        # by a worker frees its place only when it finishes (waiting + running ≤ workers + max_queued).
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0  # waiting or running
        self._waiting: set[Job] = set()  # admitted, not yet taken by a worker
        self._running = 0
        self._counts = {"done": 0, "failed": 0, "cancelled": 0}  # failed: bad image found while decoding
        self._seconds = 0.0  # total run time of finished jobs, for Retry-After
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    # ---- admission -----------------------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.workers + self.max_queued

    def has_room(self) -> bool:
        with self._lock:
            return self._admitted < self.capacity

    def retry_after(self) -> int:
        """Seconds after which a refused client may find room: the queue's expected drain time, at least 1."""
        with self._lock:
            done = self._counts["done"]
            per_job = self._seconds / done if done else 1.0
            waiting = max(1, self._admitted - self.workers + 1)
        return max(1, math.ceil(per_job * waiting / self.workers))

    def submit(self, fn: Callable[[Job], Any]) -> Job:
        """Queue ``fn``; raises :class:`QueueFull` when ``workers + max_queued`` jobs are admitted already."""
        with self._lock:
            full = self._admitted >= self.capacity
            if not full:
                self._admitted += 1
        if full:
            raise QueueFull(self.retry_after())
        job = Job(fn)
        with self._lock:
            self._waiting.add(job)
        self._queue.put(job)
        return job

    def cancel_waiting(self) -> int:
        """Cancel every job no worker has taken yet (the server is stopping); their futures are cancelled at
        once, so their requests can be answered now. Returns how many."""
        with self._lock:
            waiting, self._waiting = list(self._waiting), set()
        for job in waiting:
            job.cancel()
            job.future.cancel()
        return len(waiting)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"workers": self.workers, "running": self._running,
                    "queued": self._admitted - self._running, "max_queued": self.max_queued, **self._counts}

    # ---- the workers ---------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                self._running += 1
                self._waiting.discard(job)
            t0 = time.perf_counter()
            outcome, result, error = "cancelled", None, None
            try:
                # False: the waiting side cancelled the future itself; nobody wants a result
                if job.future.set_running_or_notify_cancel() and not job.cancelled:
                    try:
                        result = job.fn(job)
                        outcome = "done"
                    except Cancelled as e:  # stopped part-way, between two tiles
                        error = e
                    except BaseException as e:  # noqa: BLE001 - handed to the waiting request, which decides
                        outcome, error = "failed", e
                elif not job.future.done():
                    error = Cancelled()
            finally:
                with self._lock:
                    self._running -= 1
                    self._admitted -= 1
                    self._counts[outcome] += 1
                    if outcome == "done":
                        self._seconds += time.perf_counter() - t0
                    idle = self._admitted == 0
                # The place is free before the answer goes out: a client that sends its next request as soon
                # as it has this answer finds room (it got 503 when the machine was slow to reach this line).
                if outcome == "done":
                    job.future.set_result(result)
                elif error is not None:
                    job.future.set_exception(error)
                if idle:  # the burst is over: give its memory back (a few milliseconds)
                    heap.trim()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the workers after the jobs already queued (cancel those first to stop sooner)."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
