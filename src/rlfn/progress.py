"""Progress reporting: a tqdm bar on a terminal, plain log lines otherwise, nothing when quiet."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "", quiet: bool = False,
             unit: str = "it", every_s: float = 10.0) -> Iterator[T]:
    """Iterate ``items`` with progress on stderr: a bar if stderr is a terminal, else a line every ``every_s``
    (count, seconds, rate and, with a total, the time left)."""
    if quiet:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)
        return
    start = last = time.monotonic()
    n = 0
    for item in items:
        yield item
        n += 1
        now = time.monotonic()
        if now - last >= every_s or (total is not None and n == total):
            of = f"/{total}" if total is not None else ""
            secs = now - start
            rate = n / secs if secs > 0 else 0.0
            eta = f", {(total - n) / rate:.0f} s left" if total is not None and n < total and rate > 0 else ""
            print(f"{desc}: {n}{of} {unit} ({secs:.1f} s, {rate:.3g} {unit}/s{eta})", file=sys.stderr, flush=True)
            last = now
