"""Routing stop signals to a handler for the length of a block, then putting the previous handlers back.
Used by the CLI (SIGTERM and SIGHUP stop a command like Ctrl-C) and the trainer (a stop waits for the end
of the step)."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterable, Iterator

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Stopped(KeyboardInterrupt):
    """A stop by a signal, raised where the program is, like the KeyboardInterrupt of SIGINT; ``signum`` says
    which, so that the CLI reports it and exits with 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def handled(signals: Iterable[int], handler: Callable, also_restore: Iterable[int] = ()) -> Iterator[None]:
    """Send ``signals`` to ``handler`` inside the block; a signal the process ignores (nohup's SIGHUP, SIGINT
    in a background job) stays ignored. Only the main thread may set handlers: elsewhere nothing changes.
    On exit the handlers of ``signals`` and ``also_restore`` are what they were before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = tuple(signals)
    saved = {s: signal.getsignal(s) for s in (*signals, *also_restore)}
    for s in signals:
        if saved[s] != signal.SIG_IGN:
            signal.signal(s, handler)
    try:
        yield
    finally:
        for s, previous in saved.items():
            if previous is not None:
                signal.signal(s, previous)
