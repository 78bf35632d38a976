"""Downloading official weights: local HTTP server and file:// URLs only, never the network."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from rlfn import cli
from rlfn.models import hub
from rlfn.errors import DownloadError
from rlfn.models.weights import OFFICIAL_WEIGHTS, Weights

PAYLOAD = b"not really weights, but bytes with a known hash " * 100


class _Server:
    """A static file server on 127.0.0.1 that counts the requests it answers."""

    def __init__(self, root: Path):
        counter = self
        self.requests = 0

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                counter.requests += 1
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    (root / "w.pth").write_bytes(PAYLOAD)
    s = _Server(root)
    yield s
    s.close()


def record(sha: str | None = None, filename: str = "w.pth") -> Weights:
    return Weights("rlfn_s", 4, "official", 255.0, url="http://example.invalid/never-used",
                   sha256=sha or hashlib.sha256(PAYLOAD).hexdigest(), filename=filename)


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_download_verifies_and_caches(server, tmp_path):
    cache = tmp_path / "cache"
    path = hub.fetch(record(), progress=False, url=server.url, cache=cache)
    assert path == cache / "w.pth" and path.read_bytes() == PAYLOAD
    assert server.requests == 1
    again = hub.fetch(record(), progress=False, url=server.url, cache=cache)
    assert again == path and server.requests == 1, "the cached file must be reused without a request"
    assert [p.name for p in cache.iterdir()] == ["w.pth"], "no temporary files left behind"


def test_hash_mismatch_is_refused_and_nothing_cached(server, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        hub.fetch(record(sha="0" * 64), progress=False, url=server.url, cache=cache)
    assert list(cache.iterdir()) == []


def test_corrupt_cache_is_downloaded_again(server, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "w.pth").write_bytes(b"truncated")
    path = hub.fetch(record(), progress=False, url=server.url, cache=cache)
    assert path.read_bytes() == PAYLOAD and server.requests == 1


def test_file_url_and_env_override(tmp_path, monkeypatch):
    src = tmp_path / "mirror"
    src.mkdir()
    (src / "w.pth").write_bytes(PAYLOAD)
    monkeypatch.setenv("RLFN_WEIGHTS_URL", src.as_uri())
    monkeypatch.setenv("RLFN_CACHE", str(tmp_path / "c"))
    assert hub.cache_dir() == tmp_path / "c"
    assert hub.fetch(record(), progress=False).read_bytes() == PAYLOAD


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("RLFN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert hub.cache_dir() == tmp_path / "rlfn"


def test_offline_message_says_what_to_do(tmp_path):
    with pytest.raises(DownloadError) as e:
        hub.fetch(record(), progress=False, url=f"http://127.0.0.1:{closed_port()}", cache=tmp_path / "c")
    msg = str(e.value)
    assert "offline" in msg and "--weights" in msg and "\n" not in msg
    assert not any((tmp_path / "c").iterdir())


def test_http_error(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        hub.fetch(record(filename="missing.pth"), progress=False, url=server.url, cache=tmp_path / "c")


def test_official_weights_by_name_from_a_mirror(official_dir, tmp_path, monkeypatch):
    """load_model(pretrained='official') fetches, verifies against the registry's SHA-256, and loads."""
    import rlfn

    monkeypatch.setenv("RLFN_WEIGHTS_URL", official_dir.as_uri())
    monkeypatch.setenv("RLFN_CACHE", str(tmp_path / "cache"))
    model = rlfn.load_model("rlfn_s", 4, pretrained="official")
    assert (model.variant, model.scale, model.source) == ("rlfn_s", 4, "official")
    cached = tmp_path / "cache" / OFFICIAL_WEIGHTS[("rlfn_s", 4)].filename
    assert hub.sha256_of(cached) == OFFICIAL_WEIGHTS[("rlfn_s", 4)].sha256


def test_cli_offline_is_one_line(tmp_path, monkeypatch, capsys):
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    monkeypatch.setenv("RLFN_WEIGHTS_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("RLFN_CACHE", str(tmp_path / "cache"))
    rc = cli.main(["upscale", str(tmp_path / "a.png"), "--model", "rlfn_s", "--pretrained", "official", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--weights" in err, err
    assert not (tmp_path / "a_x4.png").exists()
