"""`ClientConn`: one client connection, the per-connection protocol (httptools callbacks).

It parses a request head, finds the service by Host in the `RoutingTable` and hands the request
to its forwarding part (`tidal.router.forward`), which forwards the head it rebuilt plus the body
as it arrives; it keeps the request's accounting (`_finish`) and the limits on a head.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httptools

from tidal.router.forward import Forwarding
from tidal.router.holding import Holding
from tidal.router.replies import Replies, json_response
from tidal.router.table import Backend, Endpoint
from tidal.router.timeouts import Deadlines
from tidal.router.upstream import Upstream

if TYPE_CHECKING:
    from tidal.router.proxy import Router

MAX_HEAD = 64 << 10  # request head bytes

# The coarse clock, stamped by the router's sweep (`tidal.router.proxy`): one global load a chunk.
_now = 0.0


def head_too_large(buffered: bytes, limit: int = MAX_HEAD) -> bool:
    """PURE: the request head at the start of `buffered` (which may go on into the body) is
    longer than `limit`, or is not over yet and `buffered` already is."""
    if len(buffered) <= limit:
        return False
    end = buffered.find(b"\r\n\r\n", 0, limit + 4)
    return end < 0


def find_host(head: bytes) -> bytes:
    """The Host header's value in a raw request head (b"" when absent)."""
    i = head.find(b"\r\nHost:")
    if i < 0:
        i = head.lower().find(b"\r\nhost:")
        if i < 0:
            return b""
    end = head.find(b"\r\n", i + 2)
    return head[i + 7 : end if end >= 0 else len(head)].strip()


class ClientConn(Forwarding, Holding, Deadlines, Replies, asyncio.Protocol):
    """One client connection; requests on it are served one after another.

    The request goes to the pod as the client sent it (raw bytes, chunked bodies untouched),
    with `x-forwarded-for` added after the request line: the parser only finds the Host, the end
    of the head and the end of the message, with three callbacks per request. Its other jobs are
    parts it inherits: `Forwarding` (`tidal.router.forward`), `Holding` (`tidal.router.holding`),
    `Deadlines` (`tidal.router.timeouts`), `Replies` (`tidal.router.replies`); a method is found
    on the class as if written here (no call goes through another object).
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.loop = router.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.xff = b""
        self.closing = False
        self.lingering = False
        self.head = b""  # raw bytes of the current request until its head is complete
        self.in_head = True
        self.is_head = False
        self.ended_here = False
        self.seq = 0  # requests begun on this connection (a late connect finds it moved on)
        self.seen = _now  # last byte from the client, or the end of its last answer
        self.head_since: float | None = _now  # a head is due since then (None: between requests)
        self.body_since = _now  # the current request's head ended then
        self.body_bytes = 0  # body bytes read since
        self.last_error = ""
        self._reset()

    def _reset(self) -> None:
        self.discard = False
        self.req_done = False
        self.keep_alive = True
        self.pending: list[bytes] | None = []
        self.pending_size = 0
        self.upstream: Upstream | None = None
        self.backend: Backend | None = None
        self.endpoint: Endpoint | None = None
        self.tried: frozenset[int] = frozenset()
        self.active = False
        self.counted = False  # started on the service's stats (held requests are too)
        self.hold_timer: asyncio.TimerHandle | None = None
        self.t0 = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.router.conns.add(self)
        peer = transport.get_extra_info("peername")
        if peer:
            self.xff = b"\r\nx-forwarded-for: " + str(peer[0]).encode()

    def data_received(self, data: bytes) -> None:
        if self.lingering:  # answered and closing: drop what still comes
            return
        self.seen = _now
        self.ended_here = False
        if self.in_head:
            if self.head_since is None:
                self.head_since = _now
            self.head = self.head + data if self.head else data
        else:
            self.body_bytes += len(data)
            if not self.discard:
                self._send_body(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported by the router")
        except httptools.HttpParserError as exc:
            if not self.active:
                cause = exc.__cause__ or exc.__context__ or exc
                self._write_close(json_response(400, {"error": f"bad request: {cause}"}, False))
            else:
                self._abort()
        else:
            if self.in_head and not self.closing and head_too_large(self.head):
                self._head_too_large()

    def eof_received(self) -> bool:
        return False  # the client is done sending: the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.router.conns.discard(self)
        if self.active:
            up = self.upstream
            self.upstream = None
            if up is not None:
                up.client = None
                up.close()
            self._finish(499)

    def pause_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.resume_reading()

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.active or self.ended_here:  # a second request in the same bytes: pipelining
            raise httptools.HttpParserError("pipelined requests are not supported")
        self._reset()
        self.seq += 1
        self.in_head = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_since = None
        self.body_since = _now
        self.body_bytes = 0
        head, self.head = self.head, b""
        if head_too_large(head):  # the whole head came in one read: same limit, same answer
            self._head_too_large()
            return
        self.keep_alive = self.parser.should_keep_alive()
        host = find_host(head)
        backend = self.router.table.lookup(host)
        if backend is None:
            self.router.unrouted += 1
            name = host.decode("latin-1")
            self._send_own(404, {"error": f"no service for host {name!r}", "host": name})
            return
        eol = head.find(b"\r\n")
        self.is_head = head.startswith(b"HEAD ")
        self.pending = [head[:eol], self.xff, head[eol:]]
        self.pending_size = len(head)
        self.backend = backend
        self.t0 = time.time()
        self._dispatch()

    def on_message_complete(self) -> None:
        self.req_done = True
        self.in_head = True
        self.ended_here = True
        if not self.active:
            self.head_since = None
        if self.discard and not self.active and self.keep_alive and not self.closing:
            self._reset()

    def _head_too_large(self) -> None:
        self.discard = True
        self._write_close(
            json_response(
                431,
                {"error": f"request head over {MAX_HEAD} bytes", "reason": "HeadTooLarge"},
                False,
            )
        )

    def _finish(self, code: int, now: float = 0.0) -> None:
        if not self.active:
            return
        self.active = False
        self.seen = _now
        self._unhold()
        now = now or time.time()
        ep = self.endpoint
        if ep is not None:
            ep.stats.finish(now)
            self.endpoint = None
        backend = self.backend
        if backend is not None:
            if self.counted:
                self.counted = False
                backend.stats.finish(now)
            backend.stats.observe(code, now - self.t0, self.t0)

    def _abort(self) -> None:
        up = self.upstream
        if up is not None:
            up.client = None
            up.close()
        self._finish(400)
        self._close()
