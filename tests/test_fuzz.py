"""The bounded fuzz run (tests/_fuzz.py): no traceback, no file left behind, a clear error for every bad input.

Short here (fixed seed, about 30 s on an idle machine); the long run: ``RLFN_FUZZ_SECONDS=600 RLFN_FUZZ_SEED=1
python -m pytest -s tests/test_fuzz.py`` prints its counts by kind.
"""
from __future__ import annotations

import os
import sys

import pytest

from _fuzz import run_fuzz


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs and signals")
def test_fuzz(tmp_path):
    seconds = float(os.environ.get("RLFN_FUZZ_SECONDS", "0"))  # 0: one round of every kind
    seed = int(os.environ.get("RLFN_FUZZ_SEED", "0"))
    rep = run_fuzz(tmp_path, seed=seed, seconds=seconds, batch=int(os.environ.get("RLFN_FUZZ_BATCH", "40")),
                   signals_each=1 if seconds < 60 else 3)
    print("\n" + rep.summary(), file=sys.stderr)
    for kind, n in sorted(rep.cases.items()):
        print(f"  {kind}: {n}", file=sys.stderr)
    assert not rep.failures, "\n".join(rep.failures[:20])
