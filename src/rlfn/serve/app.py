"""The ASGI application: the page at ``/``, ``POST /v1/upscale``, ``GET /v1/models``, ``GET /healthz``.

Every request is answered from memory: uploads are read into bytes (multipart is parsed by a streaming
parser, never spooled to a temporary file), decoded, upscaled and encoded in memory, and the page's files
are read from the installed package once, at start-up, into a fixed table; no part of a request names a
file. Errors are JSON, ``{"error": message, "status": code}``, never a traceback.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import RLFNError
from ..io.images import FORMAT_LIMITS, FORMATS, MEDIA_TYPES, SUFFIX_FOR
from .catalogue import Catalogue, OptionError
from .errors import ApiError, ClientGone
from .images import HTTPImageError, decode, encode, probe
from .jobs import Cancelled, JobQueue, QueueFull
from .stopping import STOPPING_MESSAGE, Stopping
from .uploads import MULTIPART_SLACK, ByteBudget, Reservation, read_upload

log = logging.getLogger("rlfn.serve")


def _swagger_assets() -> dict[str, tuple[bytes, str]]:
    """Swagger UI's two files from the swagger-ui-bundle package, read once; empty without it (FastAPI's
    default /docs then loads them from a CDN)."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return {}
    files = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
    return {name: ((swagger_ui_path / name).read_bytes(), media) for name, media in files.items()}


STATIC = {  # URL path → (package file, media type): the only files a request can get
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
OutputFormat = Literal["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"]


@dataclass(frozen=True)
class Settings:
    max_bytes: int = 20_000_000  # upload size limit
    max_pixels: int = 4_000_000  # input pixel limit (width × height), checked before decoding
    workers: int = 1  # upscales run at the same time
    max_queued: int = 8  # jobs waiting for a worker before 503
    token: str | None = None  # bearer token for /v1/*; None: open
    # host names (no port) the Host header may carry; None: any. A server on 127.0.0.1 without a token takes
    # only its own names, so that a web page cannot reach it through DNS rebinding
    allowed_hosts: frozenset[str] | None = None
    # bytes of uploads received or held at once; None: room for workers + 1 uploads of max_bytes (multipart
    # included), so that a worker always has its next image while one runs. More is refused with 503 before
    # it is read
    max_receiving: int | None = None
    grace: float = 5.0  # seconds running jobs may take to finish once the server is told to stop

    @property
    def receiving_limit(self) -> int:
        if self.max_receiving is not None:
            return self.max_receiving
        return (self.max_bytes + MULTIPART_SLACK) * (self.workers + 1)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _safe_stem(filename: str | None) -> str:
    """A name for Content-Disposition from an uploaded file name (never used on the file system)."""
    base = re.split(r"[\\/]", filename or "")[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:100]
    return stem or "image"


async def _wait_disconnect(request: Request) -> None:
    """Returns when the client goes away (the request's body has been read by then)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class _SecurityHeaders:
    """Plain ASGI middleware (not BaseHTTPMiddleware, which hides client disconnects from the endpoint):
    nosniff and no-referrer everywhere, a strict Content-Security-Policy on the page's own files."""

    def __init__(self, app, page_paths: frozenset[str]):
        self.app, self.page_paths = app, page_paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
        if scope["path"] in self.page_paths:
            extra.append((b"content-security-policy", PAGE_CSP.encode()))

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *extra])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_name(header: str) -> str:
    """The host name of a Host header, without its port, lower case (``[::1]:8000`` → ``::1``)."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else h[1:]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


class _AllowedHosts:
    """Plain ASGI middleware: a request whose Host header is not one of ``allowed`` gets a JSON 421."""

    def __init__(self, app, allowed: frozenset[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if host_name(header) not in self.allowed:
                response = _error(421, f"this server answers to {', '.join(sorted(self.allowed))}, not to the host "
                                       f"{header!r} (rlfn serve --allow-host NAME adds one)")
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


# ---- the app ----------------------------------------------------------------------------------------------------


def create_app(catalogue: Catalogue, settings: Settings = Settings()) -> FastAPI:
    """The server's ASGI app. Its workers start now and stop when the app shuts down (lifespan)."""
    pages = {path: (resources.files("rlfn.serve").joinpath("static", name).read_bytes(), media)
             for path, (name, media) in STATIC.items()}
    jobs = JobQueue(settings.workers, settings.max_queued)
    stopping = Stopping(jobs, settings.grace)
    receiving = ByteBudget(settings.receiving_limit)

    @asynccontextmanager
    async def lifespan(_app):
        stopping.attach(asyncio.get_running_loop())
        yield
        # after a stop, running jobs had their grace period and were cancelled: do not wait much longer
        jobs.close(timeout=1.0 if stopping.draining else 10.0)

    docs_assets = _swagger_assets()
    app = FastAPI(title="rlfn serve", version=__version__, lifespan=lifespan, redoc_url=None,
                  docs_url=None if docs_assets else "/docs",
                  description="Super-resolution with RLFN over HTTP. Errors are JSON: "
                              '`{"error": "message", "status": code}`.')
    app.state.jobs = jobs
    app.state.catalogue = catalogue
    app.state.settings = settings
    app.state.stopping = stopping  # rlfn serve's signal handler calls app.state.stopping.request()
    bearer = HTTPBearer(auto_error=False, description="only when the server was started with --token")

    def authorize(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if settings.token is None:
            return
        given = creds.credentials if creds is not None and creds.scheme.lower() == "bearer" else ""
        # HTTP headers arrive decoded as latin-1: back to their bytes, compared with the token's UTF-8 bytes,
        # so that a non-ASCII token sent as UTF-8 matches
        if not hmac.compare_digest(given.encode("latin-1", "replace"), settings.token.encode("utf-8")):
            raise ApiError(401, "a valid bearer token is required (Authorization: Bearer TOKEN)",
                           {"WWW-Authenticate": "Bearer"})

    # ---- errors: JSON with a status, never a traceback

    @app.exception_handler(ApiError)
    async def _api_error(_request, e: ApiError):
        return _error(e.status, e.message, e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request, e: RequestValidationError):
        msgs = []
        for err in e.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            got = f" (got {err['input']!r})" if "input" in err and err["input"] is not None else ""
            msgs.append(f"{where}: {err.get('msg', 'invalid')}{got}")
        return _error(422, "; ".join(msgs) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request, e: StarletteHTTPException):
        return _error(e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(ClientGone)
    async def _client_gone(_request, _e: ClientGone):
        log.info("client disconnected during its upload")
        return Response(status_code=499)  # nobody is listening; uvicorn drops it

    @app.exception_handler(Exception)
    async def _unexpected(_request, e: Exception):
        log.exception("internal error")
        return _error(500, f"internal error ({type(e).__name__}); see the server's log")

    app.add_middleware(_SecurityHeaders, page_paths=frozenset(pages))
    if settings.allowed_hosts is not None:
        app.add_middleware(_AllowedHosts, allowed=settings.allowed_hosts)

    # ---- the page

    def _fixed(content: bytes, media: str, cache: str):
        """A route that answers one file read at start: no path from a request reaches the file system."""
        async def serve_file() -> Response:
            return Response(content, media_type=media, headers={"Cache-Control": cache})

        return serve_file

    for path, (content, media) in pages.items():
        app.add_api_route(path, _fixed(content, media, "no-cache"), methods=["GET"], include_in_schema=False)

    if docs_assets:  # the API docs from the package's own copy of Swagger UI: they work offline too
        from fastapi.openapi.docs import get_swagger_ui_html

        @app.get("/docs", include_in_schema=False)
        async def api_docs():
            return get_swagger_ui_html(openapi_url=app.openapi_url, title="rlfn serve: API",
                                       swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                       swagger_css_url="/docs/assets/swagger-ui.css", swagger_favicon_url="")

        for name, (content, media) in docs_assets.items():
            app.add_api_route(f"/docs/assets/{name}", _fixed(content, media, "max-age=86400"), methods=["GET"],
                              include_in_schema=False)

    # ---- the API

    @app.get("/healthz", tags=["server"], summary="Whether the server can take work now",
             responses={503: {"description": "busy: every worker and queue place is taken"}})
    async def healthz():
        stats = {**jobs.stats(), "receiving_bytes": receiving.used}  # uploads being read or held now
        if stopping.draining:
            return JSONResponse(dict(status="stopping", **stats), status_code=503)
        if not jobs.has_room():
            return JSONResponse(dict(status="busy", **stats), status_code=503,
                                headers={"Retry-After": str(jobs.retry_after())})
        return dict(status="ok", **stats)

    @app.get("/v1/models", tags=["upscale"], summary="The models served, and the limits",
             dependencies=[Depends(authorize)])
    async def models():
        return {"models": catalogue.describe(), "formats": sorted(set(FORMATS)),
                "max_bytes": settings.max_bytes, "max_pixels": settings.max_pixels}

    image_responses = {
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}, "description": "the upscaled image"},
        400: {"description": "not an image"}, 401: {"description": "missing or wrong token"},
        413: {"description": "upload or image too large"}, 415: {"description": "unsupported type"},
        422: {"description": "bad option"}, 503: {"description": "busy; see Retry-After"},
    }
    body_doc = {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "image": {"type": "string", "format": "binary"}}, "required": ["image"]}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        **{m: {"schema": {"type": "string", "format": "binary"}} for m in MEDIA_TYPES.values()},
    }}}

    @app.post("/v1/upscale", tags=["upscale"], summary="Upscale one image", response_class=Response,
              responses=image_responses, openapi_extra=body_doc, dependencies=[Depends(authorize)])
    async def upscale(
        request: Request,
        model: str | None = Query(None, description="a served model id (rlfn_s_x4) or variant (rlfn_s); "
                                                    "default: the first served"),
        scale: int | None = Query(None, ge=1, le=8, description="with a variant name: which scale"),
        format: OutputFormat | None = Query(None, description="output format; default: the input's"),
        quality: int = Query(95, ge=1, le=100, description="JPEG and WebP quality"),
    ) -> Response:
        """The image is the body (`Content-Type: image/png` or another image type) or a multipart form
        field named `image`; the upscaled image comes back in the same format unless `format` says
        otherwise. A client that disconnects cancels its job."""
        try:
            entry = catalogue.resolve(model, scale)
        except OptionError as e:
            raise ApiError(422, str(e)) from None
        if stopping.draining:
            raise ApiError(503, STOPPING_MESSAGE, {"Retry-After": "10"})
        if not jobs.has_room():  # refuse before reading an upload that would be refused anyway
            raise ApiError(503, "busy: every worker and queue place is taken; retry later",
                           {"Retry-After": str(jobs.retry_after())})
        reservation = Reservation(receiving)  # the upload's bytes count until the endpoint has answered
        try:
            data, filename = await _read_unless_stopped(request, reservation)
            return await _upscale(request, entry, data, filename, format, quality)
        finally:
            reservation.release()

    async def _read_unless_stopped(request: Request, reservation: Reservation) -> tuple[bytes, str | None]:
        """The upload, unless the grace period of a stop ends first (a slow client must not hold the stop
        until uvicorn cancels the request, which would answer it with a plain-text 500)."""
        reading = asyncio.ensure_future(read_upload(request, settings.max_bytes, reservation))
        hurry = asyncio.ensure_future(stopping.hurry.wait())
        try:
            await asyncio.wait({reading, hurry}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # this request itself is cancelled: so is its reading
            reading.cancel()
            raise
        finally:
            hurry.cancel()
        if not reading.done():
            reading.cancel()
            await asyncio.wait({reading})  # let it end; whatever it ends with, the answer is the 503
            if not reading.cancelled():
                reading.exception()  # retrieved: an error it ended with is not logged as never retrieved
            raise ApiError(503, STOPPING_MESSAGE, {"Retry-After": "10", "Connection": "close"})
        return reading.result()

    async def _upscale(request: Request, entry, data: bytes, filename: str | None, format: str | None,
                       quality: int) -> Response:
        try:
            info = probe(data, settings.max_pixels)
        except HTTPImageError as e:
            raise ApiError(e.status, str(e)) from None
        fmt = FORMATS[format] if format else info.format
        side = max(info.width, info.height) * entry.upscaler.scale
        if side > FORMAT_LIMITS.get(fmt, side):  # refused before the work, not by the encoder after it
            raise ApiError(422, f"the output would be {side} pixels wide or high, over {fmt}'s limit of "
                                f"{FORMAT_LIMITS[fmt]:,}; ask for another format (png or tif)")
        max_pixels = settings.max_pixels

        def work(job):
            image = decode(data, max_pixels)
            job.check()
            big = entry.upscaler.upscale(image, on_tile=job.check)
            del image
            job.check()
            return encode(big, fmt, quality), big.size

        if stopping.draining:  # the stop came while the upload was being read
            raise ApiError(503, STOPPING_MESSAGE, {"Retry-After": "10"})
        try:
            job = jobs.submit(work)
        except QueueFull as e:
            raise ApiError(503, str(e), {"Retry-After": str(e.retry_after)}) from None
        t0 = time.perf_counter()
        result = asyncio.wrap_future(job.future)
        gone = asyncio.ensure_future(_wait_disconnect(request))
        hurry = asyncio.ensure_future(stopping.hurry.wait())
        try:
            done, _ = await asyncio.wait({result, gone, hurry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            hurry.cancel()
            if not result.done():  # the client went away, or the server is stopping: stop the work
                job.cancel()
                result.cancel()  # what the worker leaves when it stops then goes nowhere, unlogged
        if gone in done and result not in done:
            log.info("client disconnected; job cancelled")
            return Response(status_code=499)  # nobody is listening; uvicorn drops it
        if result.cancelled() or isinstance(result.exception(), Cancelled):
            if stopping.draining:
                raise ApiError(503, STOPPING_MESSAGE, {"Retry-After": "10"})
            return Response(status_code=499)
        try:
            out, size = result.result()
        except HTTPImageError as e:
            raise ApiError(e.status, str(e)) from None
        except RLFNError as e:
            raise ApiError(400, str(e)) from None
        except MemoryError:
            raise ApiError(503, "out of memory for this image; retry later or send a smaller one",
                           {"Retry-After": "10"}) from None
        name = f"{_safe_stem(filename)}_x{entry.scale}{SUFFIX_FOR[fmt]}"
        return Response(out, media_type=MEDIA_TYPES[fmt], headers={
            "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store",
            "X-RLFN-Model": entry.name, "X-RLFN-Size": f"{size[0]}x{size[1]}",
            "X-RLFN-Seconds": f"{time.perf_counter() - t0:.3f}",
        })

    return app
