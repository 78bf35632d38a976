"""A bounded fuzz run of ``rlfn serve`` over real sockets: random bodies, headers, query strings, multipart
shapes and clients that leave mid-upload or mid-job.

What every answer must show: a status from the documented set; for every error, a JSON body
``{"error": one line, "status": the same code}``; for a 200, an image of the upscaled size. What the server
must show at the end: it still answers, no job is left running, and its log has no traceback.
"""
from __future__ import annotations

import io
import json
import random
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

STATUSES = {200, 400, 401, 404, 405, 413, 415, 421, 422, 503}
PROTOCOL_ERROR = 400  # uvicorn's own answer to bytes that are not HTTP: plain text, the app never sees them


@dataclass
class ServeReport:
    cases: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fail(self, kind: str, what: str) -> None:
        self.failures.append(f"[{kind}] {what}")

    def summary(self) -> str:
        return (f"{sum(self.cases.values())} server cases, statuses {dict(sorted(self.statuses.items()))}; "
                f"failures: {len(self.failures)}")


def png(rng: random.Random, w: int, h: int, mode: str = "RGB") -> bytes:
    a = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a[..., 0] if mode == "L" else a, mode).save(buf, "PNG")
    return buf.getvalue()


def exchange(host: str, port: int, raw: bytes, *, leave_after: float | None = None, timeout: float = 120):
    """Send ``raw`` on a fresh connection and read the answer: (status, headers, body); None for no answer.
    ``leave_after``: close that many seconds after sending, without reading (a client that goes away)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            sock.sendall(raw)
        except OSError:  # the server answered early (413, 503) and closed while the rest was on its way
            pass
        if leave_after is not None:
            time.sleep(leave_after)
            return None
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def request_bytes(host: str, path: str, headers: dict[str, str], body: bytes, length: int | None = None) -> bytes:
    h = {"Host": host, "Connection": "close", **headers}
    if length is not None or "Transfer-Encoding" not in h:
        h["Content-Length"] = str(len(body) if length is None else length)
    head = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


def multipart_shape(rng: random.Random, image: bytes) -> tuple[str, bytes, str]:
    """(shape name, body, content type) of a form, well or badly made."""
    b = uuid.uuid4().hex
    part = lambda name, data, filename="x.png", ctype="image/png": (  # noqa: E731
        f"--{b}\r\nContent-Disposition: form-data; name=\"{name}\"" + (f"; filename=\"{filename}\"" if filename else "")
        + (f"\r\nContent-Type: {ctype}" if ctype else "") + "\r\n\r\n").encode() + data + b"\r\n"
    end = f"--{b}--\r\n".encode()
    shapes = {
        "good": part("image", image) + end,
        "text field first": part("note", b"hello", None, None) + part("image", image) + end,
        "only file, other name": part("file", image) + end,
        "two files, none named image": part("a", image) + part("b", image) + end,
        "no closing boundary": part("image", image),
        "cut mid-part": (part("image", image) + end)[: len(image) // 2],
        "empty image field": part("image", b"") + end,
        "no file at all": part("note", b"x", None, None) + end,
        "text type in image field": part("image", b"not an image", "a.txt", "text/plain") + end,
        "junk part headers": f"--{b}\r\n".encode() + bytes(rng.randrange(32, 127) for _ in range(200)) + b"\r\n\r\n"
                             + image + b"\r\n" + end,
        "wrong boundary": part("image", image).replace(b.encode(), b[::-1].encode()) + end,
        "random bytes": bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))),
    }
    name = rng.choice(sorted(shapes))
    ctype = rng.choice([f"multipart/form-data; boundary={b}"] * 4 + ["multipart/form-data", "multipart/form-data; boundary="])
    return name, shapes[name], ctype


def mutated(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    how = rng.choice(["flip", "truncate", "insert", "zero header"])
    if how == "flip":
        for _ in range(rng.randrange(1, 20)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        data = data[: rng.randrange(len(data))]
    elif how == "insert":
        i = rng.randrange(len(data))
        data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    else:
        data[: min(16, len(data))] = bytes(min(16, len(data)))
    return bytes(data)


def check_answer(rep: ServeReport, kind: str, answer, expect_size: tuple[int, int] | None, scale: int) -> None:
    if answer is None:
        rep.fail(kind, "no answer")
        return
    status, headers, body = answer
    rep.statuses[status] += 1
    if status not in STATUSES:
        rep.fail(kind, f"status {status}: {body[:200]!r}")
        return
    if status == 200:
        try:
            im = Image.open(io.BytesIO(body))
            im.load()
        except Exception as e:  # noqa: BLE001
            rep.fail(kind, f"200 but not an image ({e})")
            return
        if expect_size is not None and im.size != (expect_size[0] * scale, expect_size[1] * scale):
            rep.fail(kind, f"200 with size {im.size}, expected ×{scale} of {expect_size}")
        return
    if not headers.get("content-type", "").startswith("application/json"):
        if status == PROTOCOL_ERROR and kind.startswith("header/"):
            return  # bytes uvicorn could not parse as HTTP: its own plain answer
        rep.fail(kind, f"{status} without JSON: {headers.get('content-type')} {body[:200]!r}")
        return
    try:
        doc = json.loads(body)
    except ValueError:
        rep.fail(kind, f"{status} with a body that is not JSON: {body[:200]!r}")
        return
    if doc.get("status") != status or not isinstance(doc.get("error"), str) or "\n" in doc["error"]:
        rep.fail(kind, f"{status}: bad error document {doc}")


def fuzz_server(host: str, port: int, token: str, rng: random.Random, n: int, scale: int = 4) -> ServeReport:
    rep = ServeReport()
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(n):
        kind = rng.choice(["body/random", "body/mutated", "body/good", "header/content-type", "header/auth",
                           "header/host", "header/length", "query", "multipart", "disconnect/upload",
                           "disconnect/job"])
        w, h = rng.randrange(1, 40), rng.randrange(1, 40)
        image = png(rng, w, h, rng.choice(["RGB", "RGBA", "L"]))
        size, path, headers, body = None, "/v1/upscale", {**auth, "Content-Type": "image/png"}, image
        length = None
        if kind == "body/random":
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 5000)))
            headers["Content-Type"] = rng.choice(["image/png", "image/jpeg", "application/octet-stream", "image/webp"])
        elif kind == "body/mutated":
            body = mutated(rng, image)
        elif kind == "body/good":
            size = (w, h)
        elif kind == "header/content-type":
            headers["Content-Type"] = rng.choice(["text/plain", "image/gif", "image/svg+xml", "", "image/png; q=1",
                                                  "application/json", "multipart/mixed; boundary=x", "\x7f\x01",
                                                  "image/" + "a" * 2000, "IMAGE/PNG"])
        elif kind == "header/auth":
            headers["Authorization"] = rng.choice(["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", f"bearer {token}x",
                                                   "Bearer " + "é" * 3, f"Bearer {token[:-1]}", token])
        elif kind == "header/host":
            headers["Host"] = rng.choice(["evil.example", "127.0.0.2", "localhost.evil", "", "[::1", "[::2]:80"])
        elif kind == "header/length":
            length = rng.choice([0, 1, len(body) - 1, 10**12, -1]) if body else 0
        elif kind == "query":
            q = rng.choice(["model=rlfn_x4", "model=rlfn_s&scale=3", "scale=0", "scale=99", "format=gif",
                            "quality=0", "quality=101", "format=jpg&quality=1", "model=" + "x" * 3000,
                            "scale=abc", "format=tif", "model=rlfn_s&scale=2"])
            path += "?" + q
            if q == "format=tif" or q == "format=jpg&quality=1":
                size = (w, h)
        elif kind == "multipart":
            shape, body, ctype = multipart_shape(rng, image)
            headers["Content-Type"] = ctype
            kind = f"multipart/{shape}"
            if shape in ("good", "text field first", "only file, other name") and "boundary=" in ctype and not ctype.endswith("="):
                size = (w, h)
        rep.cases[kind] += 1
        if kind == "disconnect/upload":
            exchange(host, port, request_bytes(host, path, headers, body[: len(body) // 2], len(body)),
                     leave_after=rng.uniform(0, 0.3))
            continue
        if kind == "disconnect/job":
            big = png(rng, 200, 200)
            exchange(host, port, request_bytes(host, path, headers, big), leave_after=rng.uniform(0, 1.0))
            continue
        if length is not None and length < 0:
            raw = request_bytes(host, path, {**headers, "Content-Length": "-1"}, body, length=None)
            raw = raw.replace(f"Content-Length: {len(body)}\r\n".encode(), b"", 1)
        else:
            raw = request_bytes(host, path, headers, body, length)
        if length is not None and length > len(body):
            exchange(host, port, raw, leave_after=0.2)  # promised more than it sends, then leaves
            continue
        check_answer(rep, kind, exchange(host, port, raw, timeout=120), size,
                     2 if "scale=2" in path else scale)
    return rep
