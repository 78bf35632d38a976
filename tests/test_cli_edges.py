"""Small wrongs of issue 27, item 7 and 9: each a clear line and the right outcome."""
from __future__ import annotations

import pytest

from rlfn.cli.main import main


@pytest.mark.parametrize("value, message", [("", "give a file name, or - for standard output"),
                                            (".", "is a folder; give a file name")])
def test_models_json_needs_a_file_name(value, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["models", "--json", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_an_empty_token_from_the_environment_is_named_as_such(monkeypatch, capsys):
    pytest.importorskip("uvicorn")
    monkeypatch.setenv("RLFN_SERVE_TOKEN", "")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "RLFN_SERVE_TOKEN" in err[0] and "--token" not in err[0].split(":")[1]


def test_a_utf8_bearer_token_matches():
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import rlfn
    from rlfn.serve import Catalogue, Settings, create_app

    cat = Catalogue.from_models([rlfn.load_model("rlfn_s", 2)], device="cpu", warn=lambda _m: None)
    with TestClient(create_app(cat, Settings(token="pässwörd"))) as client:
        ok = client.get("/v1/models", headers={"Authorization": "Bearer pässwörd".encode("utf-8")})
        bad = client.get("/v1/models", headers={"Authorization": "Bearer passwort"})
    assert ok.status_code == 200, ok.text
    assert bad.status_code == 401


def test_a_loopback_server_answers_only_to_its_own_names():
    """DNS rebinding (issue 27, 7e): a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    import rlfn
    from rlfn.cli.serve import allowed_hosts
    from rlfn.serve import Catalogue, Settings, create_app

    assert allowed_hosts("127.0.0.1", []) == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("0.0.0.0", []) is None and allowed_hosts("0.0.0.0", ["sr.lan"]) == {"0.0.0.0", "sr.lan"}
    cat = Catalogue.from_models([rlfn.load_model("rlfn_s", 2)], device="cpu", warn=lambda _m: None)
    settings = Settings(allowed_hosts=allowed_hosts("127.0.0.1", ["box.lan"]))
    with TestClient(create_app(cat, settings), base_url="http://127.0.0.1:8000") as client:
        assert client.get("/v1/models").status_code == 200
        for host in ("localhost:8000", "[::1]:8000", "BOX.lan"):
            assert client.get("/v1/models", headers={"Host": host}).status_code == 200, host
        r = client.get("/v1/models", headers={"Host": "evil.example:8000"})
    assert r.status_code == 421 and r.json()["status"] == 421 and "--allow-host" in r.json()["error"]
