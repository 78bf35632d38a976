"""``rlfn serve`` under signals, hostile uploads and clients that leave, as a real server on 127.0.0.1:
JSON 503 for what cannot finish, exit status 128 + the signal, bytes in flight bounded, no traceback logged."""
from __future__ import annotations

import json
import signal
import socket
import threading
import time

import pytest

from _serve_helpers import needs_sigint, request, smooth_png, start_server

SLOW = ("--workers", "1", "--tile", "32", "--threads", "1")  # a 256² image: many tiles, seconds of work


def _slow_body() -> bytes:
    return smooth_png(256, 256, 5)


def _stats(server) -> dict:
    return json.loads(request(server, "GET", "/healthz", timeout=10)[2])


def _wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _post_in_thread(server, body, results, key):
    def go():
        results[key] = request(server, "POST", "/v1/upscale", body, {"Content-Type": "image/png"}, timeout=120)
    t = threading.Thread(target=go)
    t.start()
    return t


def _clean_log(server) -> None:
    log = "\n".join(server.lines)
    assert "Traceback" not in log and "internal error" not in log and "never retrieved" not in log, log


def _stopping_503(response) -> None:
    status, headers, body = response
    assert status == 503 and headers["content-type"] == "application/json", response
    assert "stopping" in json.loads(body)["error"]


def test_sigterm_answers_running_and_queued_jobs_with_json_503_then_exits_143():
    results: dict = {}
    with start_server(*SLOW, "--queue", "2", "--grace", "0.5") as s:
        running = _post_in_thread(s, _slow_body(), results, "running")
        _wait_for(lambda: _stats(s)["running"] == 1)
        queued = _post_in_thread(s, _slow_body(), results, "queued")
        _wait_for(lambda: _stats(s)["queued"] == 1)
        s.proc.send_signal(signal.SIGTERM)
        running.join(60)
        queued.join(60)
        assert s.proc.wait(60) == 143
    _stopping_503(results["running"])
    _stopping_503(results["queued"])
    _clean_log(s)
    assert s.lines[-1] == "rlfn serve: interrupted (SIGTERM)"


@needs_sigint
def test_sigint_lets_a_running_job_finish_within_the_grace_period_then_exits_130():
    results: dict = {}
    with start_server(*SLOW, "--grace", "120") as s:
        t = _post_in_thread(s, _slow_body(), results, "job")
        _wait_for(lambda: _stats(s)["running"] == 1)
        s.proc.send_signal(signal.SIGINT)
        t.join(120)
        assert s.proc.wait(60) == 130
    assert results["job"][0] == 200 and results["job"][1]["content-type"] == "image/png"
    _clean_log(s)


def test_an_upload_still_arriving_when_the_grace_period_ends_gets_json_503():
    with start_server(*SLOW, "--grace", "0.5") as s:
        sock = _open_upload(s, 150_000, b"\x89PNG\r\n" + b"\0" * 1000)  # a client that stalls mid-upload
        try:
            _wait_for(lambda: _stats(s)["receiving_bytes"] == 150_000)  # its upload is being read
            s.proc.send_signal(signal.SIGTERM)
            reply = b""
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        finally:
            sock.close()
        assert s.proc.wait(60) == 143
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"application/json" in head, reply[:300]
    assert "stopping" in json.loads(body)["error"]
    _clean_log(s)


@pytest.mark.skipif(signal.getsignal(signal.SIGHUP) == signal.SIG_IGN,
                    reason="SIGHUP is ignored here (run under nohup): the server inherits that and keeps it, by design")
def test_sighup_when_idle_stops_cleanly_with_129():
    with start_server("--quiet", "--threads", "1") as s:
        s.proc.send_signal(signal.SIGHUP)
        assert s.proc.wait(60) == 129
    _clean_log(s)
    assert s.lines[-1] == "rlfn serve: interrupted (SIGHUP)"


@pytest.fixture(scope="module")
def budget_server():
    # 2 uploads of at most 200 kB may be received or held at once
    with start_server(*SLOW, "--queue", "4", "--max-bytes", "200000", "--max-receiving", "400000") as s:
        yield s


def _open_upload(server, length: int, sent: bytes) -> socket.socket:
    host, port = server.host_port
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall((f"POST /v1/upscale HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                  f"Content-Length: {length}\r\n\r\n").encode() + sent)
    return sock


def test_bytes_in_flight_are_bounded_and_refused_with_503(budget_server):
    s = budget_server
    _wait_for(lambda: _stats(s)["receiving_bytes"] == 0)  # an earlier test's uploads given back
    slow = [_open_upload(s, 200_000, b"\x89PNG" + b"\0" * 1000) for _ in range(2)]  # two half-sent uploads
    try:
        _wait_for(lambda: _stats(s)["receiving_bytes"] == 400_000)  # both reservations taken
        status, headers, body = request(s, "POST", "/v1/upscale", smooth_png(16, 16, 2), {"Content-Type": "image/png"})
        assert status == 503 and int(headers["retry-after"]) >= 1 and "receiving" in json.loads(body)["error"]
    finally:
        for sock in slow:
            sock.close()
    # their bytes are given back once they are gone: the next upload is served
    _wait_for(lambda: request(s, "POST", "/v1/upscale", smooth_png(16, 16, 2), {"Content-Type": "image/png"})[0] == 200)


def test_a_chunked_upload_is_counted_as_it_arrives(budget_server):
    s = budget_server
    host, port = s.host_port
    _wait_for(lambda: _stats(s)["receiving_bytes"] == 0)
    hog = _open_upload(s, 200_000, b"\0" * 10)
    hog2 = _open_upload(s, 200_000, b"\0" * 10)
    _wait_for(lambda: _stats(s)["receiving_bytes"] == 400_000)  # both reservations taken before the third request
    sock = socket.create_connection((host, port), timeout=30)
    try:
        sock.sendall((f"POST /v1/upscale HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/png\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"\0" * 50_000
        sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        reply = b""
        while b"receiving" not in reply:  # the headers and the JSON body may come in separate packets
            data = sock.recv(4096)
            if not data:
                break
            reply += data
        assert reply.startswith(b"HTTP/1.1 503") and b"receiving" in reply, reply
    finally:
        for c in (sock, hog, hog2):
            c.close()


def test_clients_that_leave_mid_upload_or_mid_job_leave_no_traceback(budget_server):
    s = budget_server
    _wait_for(lambda: _stats(s)["receiving_bytes"] == 0)
    before = _stats(s)
    sock = _open_upload(s, 150_000, b"\x89PNG\r\n" + b"\0" * 5000)  # leaves half-way through its upload
    time.sleep(0.3)
    sock.close()
    body = _slow_body()
    sock = _open_upload(s, len(body), body)  # leaves while its job runs
    _wait_for(lambda: _stats(s)["running"] == 1)
    sock.close()
    _wait_for(lambda: _stats(s)["cancelled"] == before["cancelled"] + 1 and _stats(s)["running"] == 0)
    assert request(s, "POST", "/v1/upscale", smooth_png(16, 16, 3), {"Content-Type": "image/png"})[0] == 200
    time.sleep(0.5)
    _clean_log(s)
