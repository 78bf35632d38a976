"""rlfn.heap: large buffers freed during a pass are reused instead of being faulted in afresh."""
from __future__ import annotations

import resource

import pytest
import torch

from rlfn import heap

pytestmark = pytest.mark.skipif(not heap.available(), reason="glibc's mallopt is not available on this system")

MB = 2**20


def _faults_of(fn) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def _allocate_and_free(times: int = 4, size: int = 64 * MB) -> None:
    """A network's pattern: each layer's output is allocated while its input is alive, then the input freed."""
    x = torch.ones(size // 4)
    for _ in range(times):
        y = torch.empty(size // 4)
        y.fill_(1.0)  # touch every page
        x = y
    del x, y


@pytest.fixture(autouse=True)
def _restore():
    yield
    heap.release()


def test_freed_blocks_are_reused_inside_retained_heap():
    plain = _faults_of(_allocate_and_free)
    with heap.retained_heap():
        for _ in range(3):  # the first passes grow the heap (aligned allocations may need one more block)
            _allocate_and_free()
        kept = _faults_of(_allocate_and_free)
    pages = 64 * MB // resource.getpagesize()
    # outside: each 64 MB block is mapped afresh, so every layer faults its pages in (4 layers + input)
    assert plain > 3 * pages
    # inside: the same block comes back from the heap, already resident
    assert kept < pages // 10


def test_nesting_and_release_restore_the_usual_behaviour():
    with heap.retained_heap():
        assert heap.active()
        with heap.retained_heap():
            assert heap.active()
        assert heap.active()  # the inner exit does not end the outer one
    assert not heap.active()
    heap.release()
    assert _faults_of(_allocate_and_free) > 3 * (64 * MB // resource.getpagesize())


def test_disabled_context_changes_nothing():
    with heap.retained_heap(enabled=False):
        assert not heap.active()
        assert _faults_of(_allocate_and_free) > 3 * (64 * MB // resource.getpagesize())


def test_exception_inside_still_restores():
    with pytest.raises(RuntimeError):
        with heap.retained_heap(trim_on_exit=True):
            raise RuntimeError("boom")
    assert not heap.active()
