"""Shared by the serve tests: the load-test script's server starter and request helper, and small images."""
from __future__ import annotations

import importlib.util
import io
import signal
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

pytest.importorskip("fastapi", reason="rlfn serve needs its extra: pip install 'rlfn[serve]'")
pytest.importorskip("uvicorn", reason="rlfn serve needs its extra: pip install 'rlfn[serve]'")


# A shell starts background jobs (`cmd &`, nohup) with SIGINT ignored; the server inherits that and keeps it,
# as Python does, so a Ctrl-C test has nothing to test there.
needs_sigint = pytest.mark.skipif(signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                                  reason="SIGINT is ignored here (a background job): the server inherits that, by design")


def _load_script():
    name = "serve_load"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "serve_load.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


serve_load = _load_script()
start_server = serve_load.start_server
request = serve_load.request
smooth_png = serve_load.smooth_png
multipart = serve_load.multipart


def encoded(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(decoded(data).convert("RGB"), dtype=np.int16)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height but carries almost no data: a decompression bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
