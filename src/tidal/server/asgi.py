"""The ASGI plumbing of the API server: a request parsed once (`Request`), whole and streamed
answers (`Response`, `Stream`), reading a body under the 413 cap, and sending both kinds of
answer. Nothing here knows a Kubernetes path; `routes` and `handlers` do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from tidal.api import params
from tidal.api.errors import ApiError, BadRequest, UnsupportedMediaType
from tidal.server import protobuf
from tidal.server.body import MAX_BODY_BYTES, decode, plain, too_large

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"
TABLE_CT = b"application/json;as=Table;v=v1;g=meta.k8s.io"


class Request:
    """A request as the handlers see it: method, percent-decoded segments, query parameters
    (the last of each name), lower-cased headers and the whole body."""

    __slots__ = ("method", "path", "segments", "params", "headers", "body")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.segments = segments(scope)
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.params = {k: v[-1] for k, v in qs.items()}
        self.headers = parse_headers(scope)
        self.body = body

    def json(self) -> Any:
        ctype = self.headers.get("content-type", "")
        if "protobuf" in ctype:
            try:
                return protobuf.decode(self.body)
            except protobuf.ProtobufError as exc:
                raise UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: application/json, application/yaml ({exc}; `kubectl apply -f` "
                    "sends JSON)"
                ) from None
        if "cbor" in ctype:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json, application/yaml"
            )
        if not self.body:
            raise BadRequest("the request body is empty")
        return decode(self.body, ctype)

    @property
    def wants_table(self) -> bool:
        return "as=Table" in self.headers.get("accept", "")

    @property
    def wants_metadata(self) -> bool:
        """`as=PartialObjectMetadata[List]`: metadata-only clients (garbage collectors)."""
        return "as=PartialObjectMetadata" in self.headers.get("accept", "") and not self.wants_table

    @property
    def dry_run(self) -> bool:
        return params.dry_run(self.params)


class Response:
    """A whole answer: body, status, content type and any extra headers."""

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: bytes = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.headers = headers or []


class Stream:
    """A streamed answer (watch, `logs -f`): chunks from `chunks`, until it ends or the
    client goes away."""

    def __init__(self, chunks: AsyncIterator[bytes], content_type: bytes = JSON) -> None:
        self.chunks, self.content_type = chunks, content_type


def json_response(obj: Any, status: int = 200, content_type: bytes = JSON) -> Response:
    return Response(orjson.dumps(obj), status, content_type)


def status_error(err: ApiError) -> Response:
    try:
        return json_response(err.to_status(), err.code)
    except TypeError:  # a message quoting text orjson refuses (a lone surrogate): U+FFFD
        return json_response(plain(err.to_status()), err.code)


def parse_headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def segments(scope: Scope) -> list[str]:
    """The path's segments, each percent-decoded on its own (so `%2F` stays inside a name and
    an empty name stays visible as ""); the leading "" is dropped."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = raw.split(b"?", 1)[0]
    return [unquote(seg.decode("latin-1"), errors="replace") for seg in raw.split(b"/")][1:]


def has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


async def read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole body, refused (413) as soon as it exceeds MAX_BODY_BYTES: by its declared
    length before reading, or while reading a chunked one. None when the client left."""
    length = headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
        if not msg.get("more_body"):
            return b"".join(chunks)


async def answer(send: Send, resp: Response, *, close: bool = False) -> None:
    """Send a whole answer. `close`: the request's body was not read, so the connection is
    closed after the answer (as Go's server does) instead of reading on."""
    headers = [(b"content-type", resp.content_type), *resp.headers]
    headers.append((b"content-length", str(len(resp.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body})


async def send_stream(stream: Stream, receive: Receive, send: Send) -> None:
    """Pump `stream` until it ends or the client disconnects, whichever comes first."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", stream.content_type),
                (b"cache-control", b"no-cache"),
            ],
        }
    )

    async def pump() -> None:
        async for chunk in stream.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (pumping, watching):
            t.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
        aclose = getattr(stream.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    if not watching.done() or watching.cancelled():
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:  # the client left while we finished
            pass
