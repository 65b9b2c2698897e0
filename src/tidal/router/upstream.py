"""`Upstream`: one keep-alive connection to a pod, lent to one client request at a time.

Its response bytes go to the client untouched as they arrive (SSE stays unbuffered) while a
response parser only finds where the message ends, so the connection can go back to the
endpoint's pool (`tidal.router.forward`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httptools

from tidal.router.table import Endpoint

if TYPE_CHECKING:
    from tidal.router.conn import ClientConn

# The coarse clock, stamped by the router's sweep (`tidal.router.proxy`): one global load a chunk.
_now = 0.0


class Upstream(asyncio.Protocol):
    """A keep-alive connection to a pod, lent to one client request at a time.

    Response bytes go to the client as they arrive, with one exception that saves a write per
    request: the head of a Content-Length response waits for the first body bytes (they follow
    at once) and both leave in one write. Chunked responses (SSE) are never held.
    """

    __slots__ = (
        "client",
        "closed",
        "endpoint",
        "got_bytes",
        "head_only",
        "hold",
        "idle_since",
        "keep_alive",
        "out",
        "parser",
        "seen",
        "status",
        "transport",
    )

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.client: ClientConn | None = None
        self.closed = False
        self.keep_alive = True
        self.status = 0
        self.got_bytes = False
        self.hold = False
        self.head_only = False  # answering a HEAD request
        self.out = b""
        self.idle_since = 0.0
        self.seen = _now  # last byte from the pod, or the request sent to it (coarse clock)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.seen = _now
        client = self.client
        if client is None:  # bytes on an idle connection: the pod is misbehaving
            self.close()
            return
        self.got_bytes = True
        self.out = self.out + data if self.out else data
        if self.head_only:
            self._head_response(client)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._flush(client)
            self.keep_alive = False
            self.close()
            return
        if self.out:
            if self.hold and self.out.endswith(b"\r\n\r\n"):
                self.hold = False  # only the head so far: it leaves with the first body bytes
            else:
                self._flush(client)

    def _head_response(self, client: ClientConn) -> None:
        """The answer to a HEAD request ends with its head, whatever Content-Length says (the
        response parser cannot be told, so this one is read by hand)."""
        end = self.out.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.out[:end].lower()
        first = head.split(b"\r\n", 1)[0].split()
        self.status = int(first[1]) if len(first) > 1 and first[1].isdigit() else 502
        self.keep_alive = (
            first[0] == b"http/1.1" and b"connection: close" not in head if first else False
        )
        if 100 <= self.status < 200:  # an interim answer: pass it on, wait for the final one
            out, self.out = self.out[: end + 4], self.out[end + 4 :]
            if client.transport is not None:
                client.transport.write(out)
            if self.out:
                self._head_response(client)
            return
        self.head_only = False
        self.client = None
        self.got_bytes = False
        self._flush(client)
        client.upstream_done(self, self.keep_alive)

    def _flush(self, client: ClientConn) -> None:
        out, self.out = self.out, b""
        if out and client.transport is not None:
            client.transport.write(out)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        idle = self.endpoint.idle
        if self in idle:
            idle.remove(self)
        client = self.client
        if client is not None:
            self._flush(client)
            self.client = None
            client.upstream_lost(self)

    def pause_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.resume_reading()

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.status = status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.hold = status >= 200 and b"content-length:" in self.out.lower()

    def on_message_complete(self) -> None:
        self.hold = False
        if 100 <= self.status < 200:  # 100 Continue: the final answer follows
            return
        client = self.client
        self.client = None
        self.got_bytes = False
        if client is not None:
            self._flush(client)
            client.upstream_done(self, self.keep_alive)

    def close(self) -> None:
        self.keep_alive = False
        if self.transport is not None and not self.closed:
            self.transport.close()
