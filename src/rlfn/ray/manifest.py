"""The manifest of a Ray job: one JSON line per input, with what became of it.

Fields: ``input``, ``output`` (null when the input could not be used), ``status`` (``done``, ``failed`` or
``skipped``: the output was there already, from an earlier run or an earlier attempt of this one),
``error`` (one line, as ``rlfn upscale`` prints it), ``width_in``, ``height_in``, ``width_out``,
``height_out`` (null when unknown), ``seconds`` (read, upscale, encode and write) and ``warning`` (what an
output format could not keep, such as alpha in a JPEG).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from ..inference.batch import Job, Summary
from .storage import read_bytes, write_bytes

NAME = "rlfn-manifest.jsonl"  # in the output folder unless another place is given
FIELDS = ("input", "output", "status", "error", "width_in", "height_in", "width_out", "height_out", "seconds",
          "warning")


def row(input: str, output: str | None, status: str = "failed", error: str | None = None, **sizes) -> dict:
    r = dict.fromkeys(FIELDS)
    r.update(input=input, output=output, status=status, error=error, seconds=0.0, **sizes)
    return r


def schema():
    """The Arrow schema of rows, so that a batch of only failures (all sizes null) has the same columns' types."""
    import pyarrow as pa

    ints = ("width_in", "height_in", "width_out", "height_out")
    return pa.schema([(f, pa.int64() if f in ints else pa.float64() if f == "seconds" else pa.string())
                      for f in FIELDS])


def write(location: str, rows: Iterable[dict]) -> None:
    """All rows, sorted by input, replacing an earlier manifest (a re-run's lists every input again)."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sorted(rows, key=lambda r: r["input"]))
    write_bytes(location, text.encode(), overwrite=True)


def read(location: str) -> list[dict]:
    return [json.loads(line) for line in read_bytes(location).decode().splitlines() if line.strip()]


def summary(rows: Iterable[dict], seconds: float) -> Summary:
    """``rlfn upscale``'s summary of these rows (its line is the one the CLI prints)."""
    s = Summary(seconds=seconds)
    for r in rows:
        if r["status"] == "done":
            s.done += 1
            s.megapixels += r["width_in"] * r["height_in"] / 1e6
        elif r["status"] == "skipped":
            s.skipped += 1
        else:
            s.failed.append(Job(Path(r["input"]), None, r["error"]))
    return s
