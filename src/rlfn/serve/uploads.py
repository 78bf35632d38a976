"""Reading an upload: the request's body, or the image in its multipart form, within the size limit and
the server's budget of bytes in flight. Multipart is parsed by a streaming parser, never spooled to a file."""
from __future__ import annotations

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from ..io.images import MEDIA_TYPES
from .errors import ApiError, ClientGone

MULTIPART_SLACK = 16 * 1024  # form boundaries and part headers, on top of the image's own bytes
RAW_TYPES = {"", "application/octet-stream", *MEDIA_TYPES.values(), "image/jpg", "image/x-ms-bmp", "image/x-bmp"}


class ByteBudget:
    """The bytes of uploads being received or held by this server, at most ``limit`` in all.

    The job queue bounds the work, not what is read before a job exists: without this, 40 clients sending
    20 MB each at once hold 800 MB. A request reserves its declared Content-Length before reading (or its
    chunks as they come, when there is none) and keeps the reservation until the endpoint has answered; what
    does not fit is refused with 503 and ``Retry-After`` (413 if it could never fit). Used from the event
    loop's thread only."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> None:
        if n > self.limit:  # would never fit, however long the client waits
            raise ApiError(413, f"the upload is over the {self.limit:,} bytes this server receives at once "
                                "(its --max-receiving)")
        if self.used + n > self.limit:
            raise ApiError(503, f"busy: this server is receiving {self.used:,} bytes of uploads already (limit "
                                f"{self.limit:,}); retry later", {"Retry-After": "2"})
        self.used += n

    def give_back(self, n: int) -> None:
        self.used -= n


class Reservation:
    """One request's share of a :class:`ByteBudget`; :meth:`release` once the answer is out."""

    def __init__(self, budget: ByteBudget):
        self.budget, self.held = budget, 0

    def take(self, n: int) -> None:
        self.budget.take(n)
        self.held += n

    def release(self) -> None:
        self.budget.give_back(self.held)
        self.held = 0


async def _read_body(request: Request, limit: int, reservation: Reservation) -> bytes:
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"the upload is over this server's limit of {limit:,} bytes")
            if size > reservation.held:
                reservation.take(size - reservation.held)
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone() from None
    return b"".join(chunks)


def _check_part_type(media: str) -> None:
    if media not in RAW_TYPES:
        if media.startswith("image/"):
            raise ApiError(415, f"{media} is not supported; send PNG, JPEG, WebP, BMP or TIFF")
        raise ApiError(415, f"Content-Type {media} is not an image; send the image as the body (for example "
                            "Content-Type: image/png) or as a multipart/form-data field named 'image'")


def _parse_multipart(body: bytes, boundary: bytes) -> tuple[bytes, str | None, str]:
    """The form's field named 'image', else its only file: (bytes, file name, media type)."""
    parts: list[dict] = []
    cur: dict = {}
    header_field: list[bytes] = []
    header_value: list[bytes] = []
    begun = [0]

    def on_part_begin():
        begun[0] += 1
        cur.clear()
        cur.update(headers={}, data=[])

    def on_header_field(data, start, end):
        header_field.append(data[start:end])

    def on_header_value(data, start, end):
        header_value.append(data[start:end])

    def on_header_end():
        cur["headers"][b"".join(header_field).lower()] = b"".join(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(data, start, end):
        cur["data"].append(data[start:end])

    def on_part_end():
        parts.append(dict(cur))

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as e:  # noqa: BLE001 - python-multipart raises its own and ValueError
        raise ApiError(400, f"malformed multipart/form-data body ({e})") from None
    if begun[0] > len(parts):
        raise ApiError(400, "the multipart/form-data body ends before its closing boundary (cut short?)")
    named, files = [], []
    for p in parts:
        _, opts = parse_options_header(p["headers"].get(b"content-disposition", b""))
        name, filename = opts.get(b"name"), opts.get(b"filename")
        entry = (p, filename.decode("utf-8", "replace") if filename is not None else None)
        if name == b"image":
            named.append(entry)
        elif filename is not None:
            files.append(entry)
    if named:
        part, filename = named[0]
    elif len(files) == 1:
        part, filename = files[0]
    elif files:
        raise ApiError(400, f"the form has {len(files)} files and none in a field named 'image'; name the image's "
                            "field 'image'")
    else:
        raise ApiError(400, "the form has no file; send the image in a field named 'image'")
    media = parse_options_header(part["headers"].get(b"content-type", b""))[0].decode("latin-1").lower()
    _check_part_type(media)
    return b"".join(part["data"]), filename, media


async def read_upload(request: Request, max_bytes: int, reservation: Reservation) -> tuple[bytes, str | None]:
    """The image's bytes and file name from the body, or from a multipart form's field 'image' (or its only file)."""
    media_b, opts = parse_options_header(request.headers.get("content-type", ""))
    media = media_b.decode("latin-1").lower()
    multipart = media == "multipart/form-data"
    if not multipart:
        _check_part_type(media)
    limit = max_bytes + (MULTIPART_SLACK if multipart else 0)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"the upload is {int(declared):,} bytes, over this server's limit of {max_bytes:,}")
    if declared is not None and declared.isdigit():
        reservation.take(int(declared))  # refused before reading, when it cannot fit
    body = await _read_body(request, limit, reservation)
    if not multipart:
        return body, None
    boundary = opts.get(b"boundary")
    if not boundary:
        raise ApiError(400, "multipart/form-data without a boundary")
    data, filename, _ = _parse_multipart(body, boundary)
    if len(data) > max_bytes:
        raise ApiError(413, f"the image is {len(data):,} bytes, over this server's limit of {max_bytes:,}")
    return data, filename
