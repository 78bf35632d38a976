"""The read-ahead and write-behind threads of rlfn.inference.pipeline: order, bounds, errors, interrupts."""
from __future__ import annotations

import threading
import time

import pytest

from rlfn.inference.pipeline import Writer, prefetched


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_prefetch_keeps_order_and_reports_errors(depth):
    def load(i):
        if i == 2:
            raise ValueError("bad file")
        return i * 10

    got = [(o.item, o.value, type(o.error).__name__ if o.error else None) for o in prefetched(range(5), load, depth)]
    assert got == [(0, 0, None), (1, 10, None), (2, None, "ValueError"), (3, 30, None), (4, 40, None)]


def test_prefetch_is_bounded_and_overlaps():
    started: list[int] = []
    lock = threading.Lock()

    def load(i):
        with lock:
            started.append(i)
        return i

    it = prefetched(range(100), load, depth=2)
    first = next(it)
    time.sleep(0.2)
    assert first.value == 0
    assert len(started) <= 4  # the one handed out, two ahead, and at most one being submitted
    it.close()  # the caller stops early: nothing more is read
    n = len(started)
    time.sleep(0.1)
    assert len(started) == n


def test_prefetch_runs_beside_the_caller():
    """While the caller holds item i, item i+1 is being read: each caller step waits for that read to start
    (events, not timings, so that a loaded machine cannot fail it)."""
    reading = [threading.Event() for _ in range(6)]

    def load(i):
        reading[i].set()
        return i

    for o in prefetched(range(6), load, depth=2):
        if o.item + 1 < len(reading):
            assert reading[o.item + 1].wait(30), f"item {o.item + 1} was not read while the caller held {o.item}"


def test_writer_hands_back_in_order_with_errors():
    out = []
    with Writer(depth=2) as w:
        for i in range(5):
            def write(i=i):
                time.sleep(0.02)
                if i == 1:
                    raise OSError("disk full")
                return i
            out += w.submit(i, write)
        out += w.drain()
    assert [o.item for o in out] == [0, 1, 2, 3, 4]
    assert [o.value for o in out] == [0, None, 2, 3, 4]
    assert isinstance(out[1].error, OSError)


def test_writer_interrupt_does_not_wait_and_drops_the_rest():
    """A stuck write must not hold Ctrl-C; writes not yet started never run."""
    release, second = threading.Event(), threading.Event()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        with Writer(depth=2) as w:
            w.submit("a", lambda: release.wait(5))
            w.submit("b", second.set)
            time.sleep(0.05)
            raise KeyboardInterrupt
    assert time.perf_counter() - t0 < 1.0
    release.set()
    time.sleep(0.1)
    assert not second.is_set()
