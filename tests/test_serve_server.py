"""``rlfn serve`` as a real server on 127.0.0.1 (a child process): the errors over the wire, the token,
the limits, 503 when full, a disconnecting client cancels its job, Ctrl-C stops it."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from _serve_helpers import multipart, needs_sigint, pixels, png_header_claiming, request, smooth_png, start_server

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server():
    # one worker and no queue: a second job while one runs is refused; small tiles: a job runs many steps
    with start_server("--token", TOKEN, "--workers", "1", "--queue", "0", "--tile", "32", "--threads", "1",
                      "--max-bytes", "300000", "--max-pixels", "70000") as s:
        yield s


def stats(server) -> dict:
    return json.loads(request(server, "GET", "/healthz", timeout=10)[2])


def wait_for(cond, timeout=60.0, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def upscale(server, body, ctype="image/png", query="", headers=AUTH, timeout=120):
    return request(server, "POST", "/v1/upscale" + query, body, {"Content-Type": ctype, **headers}, timeout=timeout)


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port``, from Linux's /proc/net/tcp."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":  # LISTEN
                found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]) if len(addr) == 8 else addr)
    return found


def test_binds_loopback_by_default(server):
    assert server.url.startswith("http://127.0.0.1:")
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/net/tcp")
    assert listening_addresses(server.host_port[1]) == {"127.0.0.1"}


def test_good_requests_over_the_wire(server):
    png = smooth_png(36, 28, 3)
    status, headers, body = upscale(server, png)
    assert status == 200 and headers["content-type"] == "image/png"
    assert pixels(body).shape == (112, 144, 3)
    form, ctype = multipart(png, "x.png")
    status, headers, body2 = upscale(server, form, ctype, "?format=png")
    assert status == 200 and (pixels(body2) == pixels(body)).all()
    assert headers["content-disposition"] == 'inline; filename="x_x4.png"'


@pytest.mark.parametrize("kind, status", [("garbage", 400), ("bytes", 413), ("chunked", 413), ("pixels", 413),
                                          ("bomb", 413), ("type", 415), ("option", 422)])
def test_errors_over_the_wire(server, kind, status):
    png = smooth_png(16, 16, 0)
    if kind == "chunked":  # no Content-Length: the limit is enforced while reading
        def chunks():
            for _ in range(40):
                yield b"\x89PNG" + b"\0" * 10_000
        code, headers, body = request(server, "POST", "/v1/upscale", chunks(), {"Content-Type": "image/png", **AUTH})
    else:
        body, ctype, query = {
            "garbage": (b"GIF? no, nothing", "application/octet-stream", ""),
            "bytes": (b"\0" * 300_001, "image/png", ""),
            "pixels": (smooth_png(300, 240, 0), "image/png", ""),  # 72,000 pixels > 70,000
            "bomb": (png_header_claiming(50_000, 50_000), "image/png", ""),
            "type": (png, "text/plain", ""),
            "option": (png, "image/png", "?scale=3"),
        }[kind]
        code, headers, body = upscale(server, body, ctype, query)
    assert code == status
    assert headers["content-type"] == "application/json"
    err = json.loads(body)
    assert err["status"] == status and err["error"] and "Traceback" not in err["error"]


def test_token(server):
    png = smooth_png(16, 16, 0)
    for headers in ({}, {"Authorization": "Bearer nope"}):
        code, h, body = upscale(server, png, headers=headers)
        assert code == 401 and h["www-authenticate"] == "Bearer" and json.loads(body)["status"] == 401
        assert request(server, "GET", "/v1/models", headers=headers)[0] == 401
    assert request(server, "GET", "/v1/models", headers=AUTH)[0] == 200
    assert request(server, "GET", "/healthz")[0] == 200


def _slow_body() -> bytes:
    return smooth_png(256, 256, 5)  # 64+ tiles of 32 px on one thread: seconds of work, checked between tiles


def test_full_server_answers_503_with_retry_after(server):
    before = stats(server)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=upscale(server, _slow_body())))
    t.start()
    wait_for(lambda: stats(server)["running"] == 1)
    code, headers, body = upscale(server, smooth_png(16, 16, 0))
    assert code == 503 and int(headers["retry-after"]) >= 1 and json.loads(body)["status"] == 503
    code, headers, _ = request(server, "GET", "/healthz")
    assert code == 503 and int(headers["retry-after"]) >= 1
    t.join(300)
    assert result["r"][0] == 200 and pixels(result["r"][2]).shape == (1024, 1024, 3)
    after = stats(server)
    assert after["done"] == before["done"] + 1 and after["status"] == "ok"


def test_a_client_that_disconnects_cancels_its_job(server):
    before = stats(server)
    body = _slow_body()
    host, port = server.host_port
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall((f"POST /v1/upscale HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                  f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    wait_for(lambda: stats(server)["running"] == 1)
    sock.close()  # the client goes away mid-job
    t0 = time.monotonic()
    after = wait_for(lambda: (s := stats(server))["running"] == 0 and s)
    # stopped part-way (a finished job would count as done), and promptly
    assert after["cancelled"] == before["cancelled"] + 1 and after["done"] == before["done"]
    assert time.monotonic() - t0 < 30


def test_bad_arguments():
    r = subprocess.run([sys.executable, "-m", "rlfn", "serve", "--workers", "0"], capture_output=True, text=True,
                       timeout=120)
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("rlfn serve: error: argument --workers")
    assert "0 is out of range" in err and "between 1 and" in err


@needs_sigint
def test_ctrl_c():
    with start_server("--quiet", "--threads", "1") as s:
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(30) == 130
