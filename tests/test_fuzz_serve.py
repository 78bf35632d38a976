"""The server fuzz run (tests/_fuzz_serve.py) against a real ``rlfn serve`` on 127.0.0.1: every answer in the
documented set with a JSON error, the server still answering afterwards, no job left running, no traceback.

Short here (fixed seed); longer: ``RLFN_FUZZ_SERVE_CASES=2000 python -m pytest -s tests/test_fuzz_serve.py``."""
from __future__ import annotations

import json
import os
import random
import sys
import time

from _fuzz_serve import fuzz_server
from _serve_helpers import request, start_server

TOKEN = "fuzz-token"


def test_fuzz_server():
    n = int(os.environ.get("RLFN_FUZZ_SERVE_CASES", "150"))
    seed = int(os.environ.get("RLFN_FUZZ_SEED", "0"))
    with start_server("--token", TOKEN, "--workers", "1", "--queue", "2", "--threads", "1", "--tile", "64",
                      "--max-bytes", "200000", "--max-pixels", "1000000") as s:
        host, port = s.host_port
        rss0 = s.rss_mb()
        rep = fuzz_server(host, port, TOKEN, random.Random(seed), n)
        end = time.monotonic() + 60
        while time.monotonic() < end:  # the jobs of clients that left are cancelled or finish
            stats = json.loads(request(s, "GET", "/healthz", timeout=10)[2])
            if stats["running"] == 0 and stats["queued"] == 0:
                break
            time.sleep(0.2)
        else:
            rep.fail("end", f"jobs still running a minute after the last request: {stats}")
        rss1 = s.rss_mb()
        time.sleep(0.3)
        log = "\n".join(s.lines)
    print(f"\n{rep.summary()}; server memory {rss0:.0f} → {rss1:.0f} MB", file=sys.stderr)
    for kind, k in sorted(rep.cases.items()):
        print(f"  {kind}: {k}", file=sys.stderr)
    for needle in ("Traceback", "internal error", "never retrieved", "Exception in ASGI"):
        if needle in log:
            i = log.index(needle)
            rep.fail("log", f"{needle!r} in the server's log: {log[max(0, i - 300):i + 1200]}")
    assert not rep.failures, "\n".join(rep.failures[:20])
