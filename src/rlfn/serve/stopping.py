"""The server's stop, in two steps, so that no client gets a half answer or a plain-text 500.

1. **Draining**, at once: new requests get a JSON 503, jobs still waiting in the queue are dropped (their
   clients get the same 503), running jobs go on.
2. **Hurrying**, after the grace period: running jobs are cancelled and their clients answered with the 503.

The web server (uvicorn) meanwhile stops accepting connections and waits for the answers to go out. A
signal handler calls :meth:`Stopping.request` from the event loop's thread at any point of its code, so that
only hands the work to the loop.
"""
from __future__ import annotations

import asyncio

from .jobs import JobQueue

STOPPING_MESSAGE = "the server is stopping; retry later (elsewhere, or once it is back)"


class Stopping:
    def __init__(self, jobs: JobQueue, grace: float):
        self.jobs, self.grace = jobs, grace
        self.draining = False
        self.hurry = asyncio.Event()  # set when running jobs must give up
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the app runs on (called at start-up)."""
        self._loop = loop

    def request(self, now: bool = False) -> None:
        """Begin stopping; ``now`` skips the grace period (a second Ctrl-C). Safe from a signal handler."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._begin, now)

    def _begin(self, now: bool) -> None:
        if not self.draining:
            self.draining = True
            self.jobs.cancel_waiting()
            self._loop.call_later(self.grace, self.hurry.set)
        if now:
            self.hurry.set()
