"""The ingress data plane: raw asyncio protocols (uvloop + httptools), no framework per request.

`ClientConn` parses a request head, finds the service by Host in the `RoutingTable`, picks the
least-loaded endpoint and forwards the head it rebuilt plus the body as it arrives (re-chunked
when the client sent chunks). `Upstream` is one keep-alive connection to a pod: its response
bytes go to the client untouched as they arrive (SSE stays unbuffered) while a response parser
only finds where the message ends, so the connection can go back to the endpoint's pool.

A request for a Service with no ready endpoint is *held* (the router is Knative's activator):
it waits, in arrival order, counted as in flight for the Service, while the autoscaler is poked
at once; it is forwarded as soon as an endpoint is ready, or answered 503 when the Service holds
its limit already or the activation timeout passes (`tidal.router.activation`).

A request is retried on another endpoint only when its connection was refused (it never reached
a pod). Errors the router makes itself are JSON: 404 unknown host, 503 held too long or too many
held, 502 pod unreachable or connection lost before any response byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import httptools
import orjson

from tidal.router.activation import Poker, overflow_message, timeout_message
from tidal.router.table import Backend, Endpoint, RoutingTable

log = logging.getLogger("tidal.router")

CONNECT_TIMEOUT_S = 3.0
MAX_CONNECT_TRIES = 3
PENDING_LIMIT = 1 << 20  # body bytes held while connecting before the client is paused
MAX_HEAD = 64 << 10  # request head bytes
# An idle pooled connection older than this is not reused: servers close idle keep-alive
# connections (uvicorn after 5 s) and a request sent as one closes would be lost.
POOL_IDLE_S = 4.0
REASONS = {
    400: b"Bad Request",
    404: b"Not Found",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
}


def _json_response(code: int, body: dict[str, Any], keep_alive: bool) -> bytes:
    payload = orjson.dumps(body)
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (code, REASONS.get(code, b"Error")),
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(payload),
            b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n",
            payload,
        )
    )


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

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
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


def find_host(head: bytes) -> bytes:
    """The Host header's value in a raw request head (b"" when absent)."""
    i = head.find(b"\r\nHost:")
    if i < 0:
        i = head.lower().find(b"\r\nhost:")
        if i < 0:
            return b""
    end = head.find(b"\r\n", i + 2)
    return head[i + 7 : end if end >= 0 else len(head)].strip()


class ClientConn(asyncio.Protocol):
    """One client connection; requests on it are served one after another.

    The request goes to the pod as the client sent it (raw bytes, chunked bodies untouched),
    with `x-forwarded-for` added after the request line: the parser only finds the Host, the end
    of the head and the end of the message, with three callbacks per request.
    """

    def __init__(self, router: Router) -> None:
        self.router = router
        self.loop = router.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.xff = b""
        self.closing = False
        self.head = b""  # raw bytes of the current request until its head is complete
        self.in_head = True
        self.is_head = False
        self.ended_here = False
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
        peer = transport.get_extra_info("peername")
        if peer:
            self.xff = b"\r\nx-forwarded-for: " + str(peer[0]).encode()

    def data_received(self, data: bytes) -> None:
        self.ended_here = False
        if self.in_head:
            self.head = self.head + data if self.head else data
        elif not self.discard:
            self._send_body(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported by the router")
        except httptools.HttpParserError as exc:
            if not self.active:
                cause = exc.__cause__ or exc.__context__ or exc
                self._write_close(_json_response(400, {"error": f"bad request: {cause}"}, False))
            else:
                self._abort()
        else:
            if self.in_head and len(self.head) > MAX_HEAD:
                self._write_close(_json_response(431, {"error": "request header too large"}, False))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
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
        self.in_head = True

    def on_headers_complete(self) -> None:
        self.in_head = False
        head, self.head = self.head, b""
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
        if self.discard and not self.active and self.keep_alive and not self.closing:
            self._reset()

    # forwarding
    def _send_body(self, data: bytes) -> None:
        pending = self.pending
        if pending is None:
            up = self.upstream
            if up is not None and up.transport is not None:
                up.transport.write(data)
            return
        pending.append(data)
        self.pending_size += len(data)
        if self.pending_size > PENDING_LIMIT and self.transport is not None:
            self.transport.pause_reading()

    def _dispatch(self) -> None:
        backend = self.backend
        assert backend is not None
        idx, ep = backend.pick(self.tried)
        if ep is None:
            if not self.tried:
                self._hold(backend)
                return
            msg = f"no endpoint of service {backend.key} accepted the connection"
            backend.stats.observe(502, time.time() - self.t0)
            self._send_own(502, {"error": msg})
            return
        self.tried = self.tried | {idx}
        self.endpoint = ep
        self.active = True
        now = time.time()
        ep.stats.start(now)
        if not self.counted:
            self.counted = True
            backend.stats.start(now)
        idle = ep.idle
        while idle:
            conn = idle.pop()
            if now - conn.idle_since > POOL_IDLE_S:
                conn.close()  # the pod may be closing it right now (its keep-alive timeout)
            elif not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                self._attach(conn)
                return
        self.loop.create_task(self._connect(ep))

    # holding (the activator)
    def _hold(self, backend: Backend) -> None:
        """No ready endpoint: wait for one (bounded), counted as in flight for the service."""
        limit = backend.hold.max_held
        if len(backend.held) >= limit:
            backend.stats.observe(503, time.time() - self.t0)
            self._send_own(
                503, {"error": overflow_message(backend.key, limit), "reason": "Overflow"}
            )
            return
        self.active = True
        if not self.counted:
            self.counted = True
            backend.stats.start(time.time())
        backend.held.append(self)
        backend.held_total += 1
        self.hold_timer = self.loop.call_later(backend.hold.timeout_s, self._hold_expired)
        self.router.poke(backend.key)

    def _unhold(self) -> None:
        timer, self.hold_timer = self.hold_timer, None
        if timer is not None:
            timer.cancel()
            backend = self.backend
            if backend is not None and self in backend.held:
                backend.held.remove(self)

    def _hold_expired(self) -> None:
        self.hold_timer = None
        backend = self.backend
        assert backend is not None
        if self in backend.held:
            backend.held.remove(self)
        self._finish(503)
        self._send_own(
            503,
            {"error": timeout_message(backend.key, backend.hold.timeout_s), "reason": "Timeout"},
        )

    def released(self, stopping: bool = False) -> None:
        """The service got a ready endpoint (or went away): forward now, or answer 503."""
        if self.hold_timer is None:
            return
        self.hold_timer.cancel()
        self.hold_timer = None
        backend = self.backend
        assert backend is not None
        if backend.endpoints and not stopping:
            self._dispatch()
            return
        self._finish(503)
        if stopping:
            msg, reason = "the router is stopping", "RouterStopping"
        else:
            msg, reason = (
                f"service {backend.key} was removed while requests were held",
                "ServiceGone",
            )
        self._send_own(503, {"error": msg, "reason": reason})

    async def _connect(self, ep: Endpoint) -> None:
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(lambda: Upstream(ep), ep.ip, ep.port),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            log.info("connect to %s:%s failed: %s", ep.ip, ep.port, exc)
            if not self.active:  # the client went away meanwhile (already counted)
                return
            # never reached the pod: take it off this endpoint and try another one
            self.active = False
            self.counted = False
            now = time.time()
            ep.stats.finish(now)
            self.backend.stats.finish(now)  # type: ignore[union-attr]
            self.endpoint = None
            if len(self.tried) >= MAX_CONNECT_TRIES:
                self.tried = frozenset(range(len(self.backend.endpoints)))  # type: ignore[union-attr]
            self._dispatch()
            return
        if not self.active:
            ep.idle.append(conn)
            return
        self._attach(conn)

    def _attach(self, conn: Upstream) -> None:
        self.upstream = conn
        conn.client = self
        conn.head_only = self.is_head
        pending = self.pending
        self.pending = None
        conn.transport.write(b"".join(pending) if pending else b"")  # type: ignore[union-attr]
        if self.pending_size > PENDING_LIMIT and self.transport is not None:
            self.transport.resume_reading()

    def upstream_done(self, conn: Upstream, upstream_keep: bool) -> None:
        """The pod's response is complete (all bytes already written to the client)."""
        self.upstream = None
        ep = conn.endpoint
        now = time.time()
        if upstream_keep and self.req_done and not ep.draining:
            conn.idle_since = now
            ep.idle.append(conn)
        else:  # closing, draining, or it answered before reading the whole body
            conn.close()
        self._finish(conn.status, now)
        if not upstream_keep or not self.keep_alive:
            self._close()  # the client saw the pod's `connection: close` (or asked for it)
        elif not self.req_done:
            self.discard = True  # drop the rest of the body; reset at its end

    def upstream_lost(self, conn: Upstream) -> None:
        """The pod closed the connection before the response ended."""
        self.upstream = None
        if not conn.got_bytes:
            self._finish(502)
            self.discard = True
            self._write_close(
                _json_response(
                    502,
                    {"error": f"connection to pod {conn.endpoint.key} closed before a response"},
                    False,
                )
            )
        else:
            self._finish(conn.status or 502)
            self._close()

    # answers the router makes itself
    def _send_own(self, code: int, body: dict[str, Any]) -> None:
        """Answer with the router's own JSON (stats are the caller's business)."""
        self.discard = True
        if self.transport is None or self.closing:
            return
        self.transport.write(_json_response(code, body, self.keep_alive))
        if not self.keep_alive:
            self._close()
        elif self.req_done:
            self._reset()

    def _fail(self, code: int, message: str) -> None:
        self._write_close(_json_response(code, {"error": message}, False))

    def _finish(self, code: int, now: float = 0.0) -> None:
        if not self.active:
            return
        self.active = False
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
            backend.stats.observe(code, now - self.t0)

    def _write_close(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)
        self._close()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        up = self.upstream
        if up is not None:
            up.client = None
            up.close()
        self._finish(400)
        self._close()


class Router:
    """The listening ingress: a routing table, the protocol factory and the activator's poke
    (`poker`, None without an API: held requests then wait for the table alone)."""

    def __init__(
        self,
        table: RoutingTable,
        loop: asyncio.AbstractEventLoop | None = None,
        poker: Poker | None = None,
    ) -> None:
        self.table = table
        self.loop = loop or asyncio.get_event_loop()
        self.poker = poker
        self.unrouted = 0
        self.server: asyncio.base_events.Server | None = None
        self._repoker: asyncio.TimerHandle | None = None
        table.on_release = self._release

    def poke(self, service: str) -> None:
        """A request is held for `service`: tell the autoscaler now, and again every second
        while requests stay held."""
        if self.poker is None:
            return
        self.poker.poke(service)
        if self._repoker is None:
            self._repoker = self.loop.call_later(1.0, self._repoke)

    def _repoke(self) -> None:
        self._repoker = None
        held = [b.key for b in self.table.backends.values() if b.held and not b.endpoints]
        for key in held:
            self.poke(key)

    def _release(self, backend: Backend) -> None:
        """Forward the held requests in arrival order (or answer them 503 if the service went)."""
        held = list(backend.held)
        backend.held.clear()
        if self.poker is not None:
            self.poker.done(backend.key)
        for conn in held:
            conn.released()

    async def listen(self, host: str, port: int) -> int:
        self.server = await self.loop.create_server(
            lambda: ClientConn(self), host, port, reuse_address=True, backlog=1024
        )
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self._repoker is not None:
            self._repoker.cancel()
        for backend in self.table.backends.values():
            held, backend.held = list(backend.held), deque()
            for conn in held:
                conn.released(stopping=True)
            for ep in backend.endpoints:
                ep.drain()
