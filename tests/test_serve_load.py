"""A short, bounded run of benchmarks/serve_load.py: concurrent clients, 10% bad uploads, a queue small enough
that some requests are refused with 503 and retried. Every good request must get the right image, every bad
one its 4xx, no request may hang, and the server's memory must settle within 10% of its idle level."""
from __future__ import annotations

from _serve_helpers import serve_load, start_server


def test_short_load_run():
    args = ["--quiet", "--workers", "1", "--queue", "3", "--threads", "1",
            "--max-bytes", str(serve_load.MAX_BYTES), "--max-pixels", str(serve_load.MAX_PIXELS)]
    with start_server(*args) as server:
        r = serve_load.run_load(server, requests=40, clients=8, bad_every=10, timeout=60, deadline=240)
    print(serve_load.table(r))
    assert r["answered"] == 40 and r["timeouts"] == 0 and r["hung_clients"] == 0
    assert r["good"] == 36 and r["good_ok"] == 36, r["failures"]
    assert r["bad"] == 4 and r["bad_ok"] == 4, r["failures"]
    assert sorted(r["by_status"]) == ["200", "400", "413", "415"]  # the first four kinds of bad upload
    assert r["memory_ok"], (r["idle_mb"], r["after_mb"])
    assert serve_load.passed(r)
