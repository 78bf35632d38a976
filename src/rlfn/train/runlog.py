"""What a training run reports: a plain-text log (echoed to stderr), metrics.jsonl and TensorBoard."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _stamp(msg: str) -> str:
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"


class RunLog:
    """Log lines to ``train.log`` and stderr (through the progress bar when one owns the terminal), records
    to ``metrics.jsonl``, scalars and images to TensorBoard. Closed, or never opened (processes other than
    the main one), it does nothing."""

    def __init__(self) -> None:
        self.echo = False
        self.bar = None  # the tqdm bar of the running stage, if any
        self._text = self._metrics = None
        self.writer = None

    def open(self, out: Path, echo: bool, tensorboard: bool) -> None:
        self.echo = echo
        self._text = open(out / "train.log", "a", buffering=1)
        self._metrics = open(out / "metrics.jsonl", "a", buffering=1)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out / "tb"))
            except ImportError:
                self("tensorboard is not installed: no TensorBoard logs (pip install rlfn[tensorboard])")

    def __call__(self, msg: str, to_terminal: bool = True) -> None:
        line = _stamp(msg)
        if self._text:
            self._text.write(line + "\n")
        if self.echo and to_terminal:
            if self.bar is not None:
                self.bar.write(line, file=sys.stderr)
            else:
                print(line, file=sys.stderr, flush=True)

    def record(self, rec: dict) -> None:
        if self._metrics:
            self._metrics.write(json.dumps(rec) + "\n")

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self.writer:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        for f in (self._text, self._metrics, self.writer):
            if f is not None:
                f.close()
        self._text = self._metrics = self.writer = None
