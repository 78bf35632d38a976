"""``rlfn serve``'s API in-process (FastAPI's TestClient): results, every error status, the token, the
limits, the queue, and that no request touches the file system."""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from _serve_helpers import decoded, encoded, multipart, pixels, png_header_claiming, smooth_png

import rlfn
from rlfn.serve import Catalogue, JobQueue, QueueFull, Settings, create_app
from rlfn.serve.jobs import Cancelled

from fastapi.testclient import TestClient  # noqa: E402  (after the skip in _serve_helpers)

LIMITS = dict(max_bytes=50_000, max_pixels=64 * 64)


@pytest.fixture(scope="module")
def catalogue():
    cat = Catalogue.from_models([rlfn.load_model("rlfn_s", 4), rlfn.load_model("rlfn_s", 2)], device="cpu",
                                warn=lambda _m: None)
    cat.warm_up()
    return cat


@pytest.fixture(scope="module")
def client(catalogue):
    with TestClient(create_app(catalogue, Settings(**LIMITS))) as c:
        yield c


@pytest.fixture(scope="module")
def png():
    return smooth_png(40, 32, 0)


def post(client, data, ctype="image/png", query=""):
    return client.post("/v1/upscale" + query, content=data, headers={"Content-Type": ctype})


def assert_json_error(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == status and body["error"], body
    assert "Traceback" not in r.text and "File \"" not in r.text
    return body["error"]


# ---- what works --------------------------------------------------------------------------------------------------


def test_models_lists_what_is_served_and_the_limits(client):
    r = client.get("/v1/models")
    assert r.status_code == 200
    info = r.json()
    assert [m["id"] for m in info["models"]] == ["rlfn_s_x4", "rlfn_s_x2"]
    assert info["models"][0]["default"] and not info["models"][1]["default"]
    assert info["models"][0]["parameters"] == 470_208  # RLFN-S x4, as in the README's table
    assert info["max_bytes"] == LIMITS["max_bytes"] and info["max_pixels"] == LIMITS["max_pixels"]
    assert {"png", "jpg", "webp", "tif", "bmp"} <= set(info["formats"])


def test_raw_body_gives_the_upscalers_image(client, catalogue, png):
    r = post(client, png)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-rlfn-model"] == "rlfn_s_x4" and r.headers["x-rlfn-size"] == "160x128"
    assert r.headers["cache-control"] == "no-store"
    want = np.asarray(catalogue.entries["rlfn_s_x4"].upscaler.upscale(decoded(png)), dtype=np.int16)
    np.testing.assert_array_equal(pixels(r.content), want)


def test_multipart_with_options(client, png):
    body, ctype = multipart(png, "../../etc/my photo.png")
    r = client.post("/v1/upscale?model=rlfn_s&scale=2&format=jpg&quality=80", content=body,
                    headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    im = decoded(r.content)
    assert (im.format, im.size) == ("JPEG", (80, 64))
    # the client's file name is only echoed, cleaned: no folders, no odd characters
    assert r.headers["content-disposition"] == 'inline; filename="my_photo_x2.jpg"'


def test_model_id_and_the_inputs_format_by_default(client):
    webp = encoded(Image.open(__import__("io").BytesIO(smooth_png(24, 24, 1))), "WEBP", lossless=True)
    r = post(client, webp, "image/webp", "?model=rlfn_s_x2")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/webp" and decoded(r.content).size == (48, 48)


def test_alpha_and_grey_are_kept(client):
    rgba = Image.new("RGBA", (20, 20), (10, 200, 30, 255))
    rgba.putpixel((3, 3), (0, 0, 0, 0))
    out = decoded(post(client, encoded(rgba)).content)
    assert out.mode == "RGBA" and out.size == (80, 80)
    assert out.getpixel((13, 13))[3] < 128 < 200 < out.getpixel((60, 60))[3]  # the hole is where it was
    out = decoded(post(client, encoded(Image.new("L", (20, 20), 77))).content)
    assert out.mode == "L" and out.size == (80, 80)


# ---- errors: the right status, as JSON, never a traceback ------------------------------------------------------------


@pytest.mark.parametrize("data, ctype, status, words", [
    (b"", "image/png", 400, "empty"),
    (b"not an image at all", "image/png", 400, "not an image"),
    (b"not an image at all", "application/octet-stream", 400, "not an image"),
    (b"x" * 60_000, "image/png", 413, "limit of 50,000"),
    ("bomb", "image/png", 413, "decompression bomb"),
    ("huge bomb", "image/png", 413, "decompression bomb"),
    ("gif", "application/octet-stream", 415, "GIF"),
    ("png", "image/gif", 415, "image/gif"),
    ("png", "text/plain", 415, "not an image"),
    ("png", "application/json", 415, "not an image"),
])
def test_bad_uploads(client, png, data, ctype, status, words):
    data = {
        "png": png,
        "gif": encoded(Image.new("RGB", (8, 8)), "GIF"),
        "bomb": encoded(Image.new("L", (65, 64))),  # one column over the 4096-pixel limit
        "huge bomb": png_header_claiming(100_000, 100_000),  # 10 gigapixels claimed by a tiny file
    }.get(data, data)
    assert words in assert_json_error(post(client, data, ctype), status)


def test_animations_and_outputs_over_a_format_limit_are_refused(client):
    frames = [Image.new("RGB", (6, 5), c) for c in ("red", "blue")]
    anim = encoded(frames[0], "PNG", save_all=True, append_images=frames[1:])
    assert "2 frames" in assert_json_error(post(client, anim), 415)
    wide = encoded(Image.new("L", (4096, 1)))  # ×4: 16,384 wide, one over WebP's limit
    assert "16,383" in assert_json_error(post(client, wide, query="?format=webp"), 422)


def test_truncated_image_is_400_from_the_worker(client, png):
    cut = png[: len(png) // 2]  # a valid header, then the data stops
    assert "cannot decode" in assert_json_error(post(client, cut), 400)


@pytest.mark.parametrize("query, words", [
    ("?scale=3", "scale 3"),
    ("?scale=x", "scale"),
    ("?scale=0", "scale"),
    ("?format=gif", "format"),
    ("?quality=0", "quality"),
    ("?quality=101", "quality"),
    ("?model=rlfn_ntire", "not served"),
    ("?model=rlfn_s_x4&scale=2", "x4"),
])
def test_bad_options_are_422(client, png, query, words):
    assert words in assert_json_error(post(client, png, query=query), 422)


def test_multipart_without_a_file_is_400(client):
    boundary = "b0undary"
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}--\r\n"
    r = client.post("/v1/upscale", content=body.encode(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "no file" in assert_json_error(r, 400)


def test_unknown_paths_and_methods_are_json(client):
    assert_json_error(client.get("/nope"), 404)
    assert_json_error(client.get("/v1/upscale"), 405)


# ---- no file system -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/static/../../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml",
                                  "/static/index.html", "/static/app.py", "/static/..%2fapp.py", "//etc/passwd",
                                  "/static/style.css/..", "/weights/rlfn_s_x4.safetensors"])
def test_request_paths_never_reach_files(client, path):
    assert_json_error(client.get(path), 404)


_watch = {"on": False, "opened": []}


def _audit(event, args):
    if _watch["on"] and event == "open":
        _watch["opened"].append(args[0])


sys.addaudithook(_audit)  # cannot be removed; records only while _watch["on"]


def test_a_request_opens_no_file(client, png):
    """Nothing is read from or written to disk while a request is served (Python's audit hook sees every open)."""
    body, ctype = multipart(png, "a.png")
    for _ in range(2):  # the first pass imports what it needs (Pillow's plugins, ...); the second must open nothing
        _watch["opened"].clear()
        _watch["on"] = True
        try:
            r1 = post(client, png)
            r2 = client.post("/v1/upscale?format=webp", content=body, headers={"Content-Type": ctype})
            r3 = client.get("/")
        finally:
            _watch["on"] = False
    assert (r1.status_code, r2.status_code, r3.status_code) == (200, 200, 200)
    assert _watch["opened"] == []
    _watch["on"] = True  # the hook itself works: an open while watching is recorded
    try:
        open(__file__, "rb").close()
    finally:
        _watch["on"] = False
    assert _watch["opened"] == [__file__]


# ---- the page and the docs --------------------------------------------------------------------------------------------


def test_page_is_served_from_the_package_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for path, media in [("/static/app.js", "text/javascript"), ("/static/style.css", "text/css")]:
        s = client.get(path)
        assert s.status_code == 200 and s.headers["content-type"].startswith(media)
        assert "http://" not in s.text and "https://" not in s.text  # works offline: nothing from elsewhere
    assert "https://" not in r.text and "http://" not in r.text


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/v1/upscale", "/v1/models", "/healthz"} <= set(spec["paths"])
    up = spec["paths"]["/v1/upscale"]["post"]
    assert {"multipart/form-data", "image/png"} <= set(up["requestBody"]["content"])
    assert {"model", "scale", "format", "quality"} == {p["name"] for p in up["parameters"]}
    assert {"400", "413", "415", "422", "503"} <= set(up["responses"])


def test_openapi_docs_work_offline(client):
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle (in rlfn[serve]) is not installed")
    page = client.get("/docs").text
    assert "https://" not in page and "/docs/assets/swagger-ui-bundle.js" in page
    js, css = client.get("/docs/assets/swagger-ui-bundle.js"), client.get("/docs/assets/swagger-ui.css")
    assert js.status_code == css.status_code == 200 and "SwaggerUIBundle" in js.text and "swagger-ui" in css.text
    assert client.get("/docs/assets/index.html").status_code == 404  # only those two files


# ---- the token --------------------------------------------------------------------------------------------------------


def test_token(catalogue, png):
    with TestClient(create_app(catalogue, Settings(token="s3cret"))) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}):
            r = c.post("/v1/upscale", content=png, headers={"Content-Type": "image/png", **headers})
            assert_json_error(r, 401)
            assert r.headers["www-authenticate"] == "Bearer"
            assert_json_error(c.get("/v1/models", headers=headers), 401)
        ok = {"Authorization": "Bearer s3cret"}
        assert c.get("/v1/models", headers=ok).status_code == 200
        assert c.post("/v1/upscale", content=png, headers={"Content-Type": "image/png", **ok}).status_code == 200
        # the page and the health check carry no data and stay open
        assert c.get("/").status_code == 200 and c.get("/healthz").status_code == 200


# ---- the queue ----------------------------------------------------------------------------------------------------------


def test_full_queue_is_503_with_retry_after(catalogue, png):
    with TestClient(create_app(catalogue, Settings(workers=1, max_queued=1))) as c:
        jobs: JobQueue = c.app.state.jobs
        gate = threading.Event()
        blockers = [jobs.submit(lambda job: gate.wait(30)) for _ in range(2)]  # one running, one waiting
        try:
            r = post(c, png)
            assert "busy" in assert_json_error(r, 503)
            assert int(r.headers["retry-after"]) >= 1
            h = c.get("/healthz")
            assert h.status_code == 503 and h.json()["status"] == "busy" and int(h.headers["retry-after"]) >= 1
        finally:
            gate.set()
        for b in blockers:
            b.future.result(10)
        assert post(c, png).status_code == 200
        assert c.get("/healthz").json()["status"] == "ok"


def test_job_queue_bounds_and_cancels():
    q = JobQueue(workers=1, max_queued=1)
    gate, ran = threading.Event(), []
    try:
        first = q.submit(lambda job: gate.wait(30))
        second = q.submit(lambda job: ran.append("second"))
        with pytest.raises(QueueFull) as e:
            q.submit(lambda job: ran.append("third"))
        assert e.value.retry_after >= 1
        second.cancel()  # its client went away while it waited: no worker runs it
        gate.set()
        first.future.result(10)
        with pytest.raises(Cancelled):
            second.future.result(10)
        assert ran == []

        def steps(job):  # a running job stops at its next check
            for _ in range(1000):
                job.check()
                time.sleep(0.01)
            return "finished"

        third = q.submit(steps)
        time.sleep(0.1)
        third.cancel()
        with pytest.raises(Cancelled):
            third.future.result(5)
        stats = q.stats()
        assert (stats["done"], stats["cancelled"], stats["running"], stats["queued"]) == (1, 2, 0, 0)
    finally:
        gate.set()
        q.close()


# ---- which models the command serves ---------------------------------------------------------------------------------


def test_command_serves_every_bundled_model_or_the_one_asked(tmp_path):
    from rlfn.models.checkpoint import save_safetensors
    from rlfn.cli import build_parser
    from rlfn.cli.serve import served_models

    def served(*argv):
        return [m.name for m in served_models(build_parser("serve").parse_args(["serve", *argv]), "cpu")]

    assert served() == ["rlfn_s_x4", "rlfn_s_x2"]
    assert served("--scale", "2") == ["rlfn_s_x2"]
    path = tmp_path / "mine.safetensors"
    save_safetensors(rlfn.create_model("rlfn", 3), path, {"variant": "rlfn", "scale": 3, "pixel_range": 1.0})
    assert served("--weights", str(path)) == ["rlfn_x3"]
    cat = Catalogue.from_models(served_models(build_parser("serve").parse_args(["serve", "--weights", str(path)]), "cpu"))
    assert cat.describe()[0]["weights"] == "mine.safetensors"  # the file's name, not its path


# ---- one encoder: the server's bytes are rlfn upscale's -------------------------------------------------------------


@pytest.mark.parametrize("ext, mode", [("png", "RGB"), ("png", "RGBA"), ("png", "L"), ("jpg", "RGB"), ("jpg", "RGBA"),
                                       ("webp", "LA"), ("tif", "RGB"), ("bmp", "RGB")])
def test_server_and_cli_write_identical_bytes(client, tmp_path, monkeypatch, ext, mode):
    """The same image and options through POST /v1/upscale and through rlfn upscale: byte for byte the same file
    (one encoder, rlfn.io.images.encode_picture; both choose their precision alike, --precision auto)."""
    from rlfn.cli.main import main

    src = Image.open(__import__("io").BytesIO(smooth_png(24, 20, 3))).convert(mode)
    path = tmp_path / "in.png"
    src.save(path)
    out = tmp_path / f"out.{ext}"
    assert main(["upscale", str(path), "-o", str(out), "-m", "rlfn_s", "-s", "4", "--quality", "80", "-q"]) == 0
    r = post(client, path.read_bytes(), query=f"?format={ext}&quality=80")
    assert r.status_code == 200, r.text
    assert r.content == out.read_bytes()


def _form(*parts: tuple[str, str | None, str, bytes], boundary: str = "XyZb0und") -> tuple[bytes, str]:
    """A multipart body of (field name, file name or None, content type, data) parts."""
    out = b""
    for name, filename, ctype, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_takes_the_field_named_image_after_other_files(client, png):
    body, ctype = _form(("notes", "notes.txt", "text/plain", b"hello"), ("image", "a.png", "image/png", png))
    r = client.post("/v1/upscale", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 200, r.text
    body, ctype = _form(("notes", None, "text/plain", b"hello"), ("upload", "a.png", "image/png", png))
    assert client.post("/v1/upscale", content=body, headers={"Content-Type": ctype}).status_code == 200  # the only file
    body, ctype = _form(("a", "a.txt", "text/plain", b"x"), ("b", "b.png", "image/png", png))
    assert "none in a field named 'image'" in assert_json_error(
        client.post("/v1/upscale", content=body, headers={"Content-Type": ctype}), 400)


def test_multipart_cut_short_says_so(client, png):
    body, ctype = _form(("image", "a.png", "image/png", png))
    cut = body[: len(body) - 40]
    assert "closing boundary" in assert_json_error(
        client.post("/v1/upscale", content=cut, headers={"Content-Type": ctype}), 400)
