"""Load test of ``rlfn serve`` on 127.0.0.1: many small requests from concurrent clients, some of them bad.

Starts ``rlfn serve`` in a child process (the bundled RLFN-S ×4), sends ``--requests`` requests from
``--clients`` threads, one in ten of them bad (not an image, a decompression bomb, an upload over the byte
limit, a GIF, a bad option), and checks every answer: a good request must come back as the right image
(4× the input's size, pixels within 1 of an in-process :class:`rlfn.Upscaler`), a bad one with its 4xx
and a JSON error. A 503 (queue full) is retried after its ``Retry-After``. Then it checks that the
server's resident memory went back to within 10% of its idle level and that no request hung past
``--timeout``. Prints one table; exit status 1 if any check failed.

    python benchmarks/serve_load.py [--requests 200] [--clients 16] [--workers 1] [--queue 16] [--threads N]

Everything is bounded: each request by ``--timeout``, the whole run by ``--deadline``.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000  # the server's limits in this test: small, so that bad uploads stay cheap
MAX_PIXELS = 1_000_000


# ---- the server -------------------------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def host_port(self) -> tuple[str, int]:
        u = urlsplit(self.url)
        return u.hostname, u.port

    def rss_mb(self) -> float:
        """Resident memory of the server process, in MB (Linux /proc)."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def start_server(*args: str, timeout: float = 120, env: dict | None = None):
    """``rlfn serve --port 0 ARGS`` in a child process; yields a :class:`Server` once it answers /healthz."""
    cmd = [sys.executable, "-m", "rlfn", "serve", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env or os.environ.copy())
    server = Server(proc, "")
    reader_done = threading.Event()

    def read() -> None:  # keep draining the child's output so that it never blocks on a full pipe
        for line in proc.stdout:
            server.lines.append(line.rstrip())
            m = re.search(r"(http://\S+?)/ ", line)
            if m and not server.url:
                server.url = m.group(1)
        reader_done.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                reader_done.wait(5)
                raise RuntimeError(f"rlfn serve exited with {proc.returncode}:\n" + "\n".join(server.lines))
            if server.url:
                try:
                    if request(server, "GET", "/healthz", timeout=5)[0] == 200:
                        break
                except OSError:
                    pass
            time.sleep(0.2)
        else:
            raise RuntimeError("rlfn serve did not start in time:\n" + "\n".join(server.lines))
        yield server
    finally:
        server.stop()
        reader_done.wait(10)  # the child's last lines are in server.lines when this returns


def request(server: Server, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, dict, bytes]:
    """One HTTP request on a fresh connection: (status, lower-cased headers, body)."""
    host, port = server.host_port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# ---- what is sent -----------------------------------------------------------------------------------------------


def smooth_png(width: int, height: int, seed: int) -> bytes:
    """A small RGB PNG of smooth noise (closer to a photograph than pure noise)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    buf = io.BytesIO()
    small.resize((width, height), Image.Resampling.BICUBIC).save(buf, "PNG")
    return buf.getvalue()


def multipart(data: bytes, filename: str, media: str = "image/png") -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {media}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def bad_uploads() -> list[tuple[str, str, bytes, dict, int]]:
    """(kind, path, body, headers, expected status) for each kind of bad request."""
    gif = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 0, 0)).save(gif, "GIF")
    bomb = io.BytesIO()  # 2000×2000 of zeros: a few kB of PNG, 4 megapixels decoded
    Image.new("L", (2000, 2000)).save(bomb, "PNG", optimize=True)
    png = smooth_png(32, 32, 99)
    raw = {"Content-Type": "application/octet-stream"}
    return [
        ("not an image", "/v1/upscale", b"this is not an image" * 20, raw, 400),
        ("pixel bomb", "/v1/upscale", bomb.getvalue(), {"Content-Type": "image/png"}, 413),
        ("over the byte limit", "/v1/upscale", os.urandom(MAX_BYTES + 1000), {"Content-Type": "image/png"}, 413),
        ("GIF", "/v1/upscale", gif.getvalue(), {"Content-Type": "image/gif"}, 415),
        ("bad option", "/v1/upscale?scale=3", png, {"Content-Type": "image/png"}, 422),
    ]


# ---- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str  # "good" or the bad kind
    expected: int
    status: int | None = None  # final status; None: timed out or failed to connect
    latency: float = 0.0  # from the first attempt to the final answer, retries included
    retries: int = 0  # 503s before the final answer
    ok: bool = False
    note: str = ""


def run_load(server: Server, requests: int = 200, clients: int = 16, bad_every: int = 10, timeout: float = 60,
             deadline: float = 600, seed: int = 0, check_pixels: bool = True) -> dict:
    import rlfn

    sizes = [(32, 32), (48, 40), (64, 48), (40, 64), (56, 56), (33, 47), (64, 64), (45, 31)]
    goods = [smooth_png(w, h, seed + i) for i, (w, h) in enumerate(sizes)]
    refs = []
    if check_pixels:
        up = rlfn.Upscaler("rlfn_s", 4, device="cpu", warn=lambda _m: None)
        refs = [np.asarray(up.upscale(Image.open(io.BytesIO(g)).convert("RGB")), dtype=np.int16) for g in goods]
    bads = bad_uploads()
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for i in range(requests):
        jobs.put(i)
    results: list[Outcome] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + deadline

    def one(i: int) -> Outcome:
        if (i + 1) % bad_every == 0:
            kind, path, body, headers, expected = bads[(i // bad_every) % len(bads)]
            out = Outcome(kind, expected)
        else:
            k = i % len(goods)
            out = Outcome("good", 200)
            if i % 2:
                body, ctype = multipart(goods[k], f"img{k}.png")
            else:
                body, ctype = goods[k], "image/png"
            path, headers = "/v1/upscale", {"Content-Type": ctype}
        t0 = time.perf_counter()
        while True:
            try:
                status, hdrs, data = request(server, "POST", path, body, headers, timeout=timeout)
            except (TimeoutError, OSError) as e:
                out.note = f"{type(e).__name__}: {e}"
                break
            if status == 503 and time.monotonic() < stop_at:
                out.retries += 1
                time.sleep(min(5.0, float(hdrs.get("retry-after", "1"))))
                continue
            out.status = status
            break
        out.latency = time.perf_counter() - t0
        if out.status != out.expected:
            out.note = out.note or f"got {out.status}: {data[:200]!r}"
        elif out.kind == "good":
            im = Image.open(io.BytesIO(data))
            w, h = sizes[k]
            if im.size != (4 * w, 4 * h):
                out.note = f"size {im.size}, expected {(4 * w, 4 * h)}"
            elif refs:
                diff = int(np.abs(np.asarray(im.convert("RGB"), dtype=np.int16) - refs[k]).max())
                out.ok = diff <= 1
                out.note = "" if out.ok else f"pixels differ by up to {diff}"
            else:
                out.ok = True
        else:
            try:
                err = json.loads(data)
                out.ok = err.get("status") == out.expected and bool(err.get("error"))
            except ValueError:
                out.note = f"not JSON: {data[:200]!r}"
        return out

    def client() -> None:
        while time.monotonic() < stop_at:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                return
            o = one(i)
            with lock:
                results.append(o)

    # warm up (one good request), then settle and take the idle memory
    request(server, "POST", "/v1/upscale", goods[0], {"Content-Type": "image/png"}, timeout=timeout)
    time.sleep(1.0)
    idle_mb = server.rss_mb()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, stop_at - time.monotonic()) + timeout + 5)
    elapsed = time.perf_counter() - t0
    hung = [t for t in threads if t.is_alive()]
    peak_mb = server.rss_mb()
    # let the server settle (every job finished), then measure again
    settle = time.monotonic() + 30
    while time.monotonic() < settle:
        stats = json.loads(request(server, "GET", "/healthz", timeout=10)[2])
        if stats["running"] == 0 and stats["queued"] == 0:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    after_mb = server.rss_mb()
    stats = json.loads(request(server, "GET", "/healthz", timeout=10)[2])

    lat = np.array([o.latency for o in results]) * 1000 if results else np.zeros(1)
    by_status: dict[str, int] = {}
    for o in results:
        key = str(o.status) if o.status is not None else "no answer"
        by_status[key] = by_status.get(key, 0) + 1
    return {
        "requests": requests, "answered": len(results), "clients": clients, "seconds": elapsed,
        "rps": len(results) / elapsed if elapsed else 0.0,
        "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
        "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
        "by_status": dict(sorted(by_status.items())),
        "retried_503": sum(o.retries for o in results),
        "good": sum(o.kind == "good" for o in results), "good_ok": sum(o.ok for o in results if o.kind == "good"),
        "bad": sum(o.kind != "good" for o in results), "bad_ok": sum(o.ok for o in results if o.kind != "good"),
        "failures": [f"{o.kind}: {o.note}" for o in results if not o.ok][:20],
        "timeouts": sum(o.status is None for o in results) + (requests - len(results)), "hung_clients": len(hung),
        "idle_mb": idle_mb, "peak_mb": peak_mb, "after_mb": after_mb,
        "memory_ok": after_mb <= idle_mb * 1.10,
        "server": stats,
    }


def passed(r: dict) -> bool:
    return (r["answered"] == r["requests"] and r["good_ok"] == r["good"] and r["bad_ok"] == r["bad"]
            and r["timeouts"] == 0 and r["hung_clients"] == 0 and r["memory_ok"])


def table(r: dict) -> str:
    rows = [
        ("requests (good + bad)", f"{r['answered']} of {r['requests']} ({r['good']} + {r['bad']}), "
                                  f"{r['clients']} concurrent clients"),
        ("throughput", f"{r['rps']:.1f} requests/s ({r['seconds']:.1f} s)"),
        ("latency p50 / p95 / p99 / max", f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} / {r['p99_ms']:.0f} / "
                                          f"{r['max_ms']:.0f} ms"),
        ("final status counts", ", ".join(f"{k}: {v}" for k, v in r["by_status"].items())),
        ("503 answers retried", str(r["retried_503"])),
        ("good requests with the right image", f"{r['good_ok']} of {r['good']}"),
        ("bad requests with their 4xx + JSON", f"{r['bad_ok']} of {r['bad']}"),
        ("timeouts / hung clients", f"{r['timeouts']} / {r['hung_clients']}"),
        ("server memory idle / end of load / settled", f"{r['idle_mb']:.0f} / {r['peak_mb']:.0f} / "
                                                      f"{r['after_mb']:.0f} MB "
                                                      f"({(r['after_mb'] / r['idle_mb'] - 1) * 100:+.1f}%)"),
        ("result", "PASS" if passed(r) else "FAIL"),
    ]
    w = max(len(a) for a, _ in rows)
    lines = [f"| {'measure':<{w}} | value |", f"| {'-' * w} | --- |"]
    lines += [f"| {a:<{w}} | {b} |" for a, b in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--bad-every", type=int, default=10, help="every Nth request is bad (default: 10, i.e. 10%%)")
    p.add_argument("--workers", type=int, default=1, help="server workers (default: %(default)s)")
    p.add_argument("--queue", type=int, default=16, help="server queue places (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="server PyTorch threads (default: PyTorch's)")
    p.add_argument("--timeout", type=float, default=60, help="per request, seconds (default: %(default)s)")
    p.add_argument("--deadline", type=float, default=600, help="whole run, seconds (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    a = p.parse_args(argv)
    args = ["--quiet", "--workers", str(a.workers), "--queue", str(a.queue), "--max-bytes", str(MAX_BYTES),
            "--max-pixels", str(MAX_PIXELS)]
    if a.threads:
        args += ["--threads", str(a.threads)]
    with start_server(*args) as server:
        r = run_load(server, a.requests, a.clients, a.bad_every, a.timeout, a.deadline)
        rc = server.stop()
    r["server_exit"] = rc
    print(f"rlfn serve load test: {os.cpu_count()} CPUs, server {' '.join(args)}")
    print(table(r))
    if r["failures"]:
        print("failures:", *r["failures"], sep="\n  ")
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=2))
    return 0 if passed(r) else 1


if __name__ == "__main__":
    sys.exit(main())
