"""An actor class for tests/test_ray.py that Ray workers can unpickle: the test registers this module to be
pickled by value, as the workers cannot import the tests folder."""
from __future__ import annotations

import os
import time

from rlfn.ray.worker import UpscaleWorker


class KillOnce(UpscaleWorker):
    """Right after the first image it writes in the whole job (``marker`` is created then), the actor kills
    itself with ``ray.kill`` (restart allowed): the task under way dies mid-batch, its images half done."""

    marker = ""  # a file name, set by the test

    def one(self, src: str, dst: str) -> dict:
        import ray

        r = super().one(src, dst)
        if r["status"] != "done":
            return r
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return r
        ray.kill(ray.get_runtime_context().current_actor, no_restart=False)
        time.sleep(120)  # the kill lands while the batch is unfinished
        raise AssertionError("ray.kill did not stop the actor")


class Slowed(UpscaleWorker):
    """Writes the first ``limit`` images of the job at once, then waits ``delay`` seconds before each further
    one: an actor runs ahead of the rows its job has delivered, and a job interrupted after two rows must not
    have reached its end by then."""

    limit, delay = 3, 3.0

    def one(self, src: str, dst: str) -> dict:
        self.written = getattr(self, "written", 0) + 1
        if self.written > self.limit:
            time.sleep(self.delay)
        return super().one(src, dst)
