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

A request is retried on another endpoint only when it never reached a pod: its connection was
refused, timed out, or closed before the request was written. Errors the router makes itself are
JSON with a `reason`: 404 unknown host, 503 held too long, too many held or every pod failing,
502 pod unreachable or connection lost before any response byte, 504 pod silent too long, 408 a
client too slow, 431 a head over 64 KiB.

Timeouts (`Timeouts`) cost nothing per request: each side stamps a coarse clock (`_now`, updated
by one sweep per router every `tick_s`) when bytes arrive, and the sweep closes whatever has been
silent too long.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import httptools
import orjson

from tidal.router.activation import (
    REPOKE_S,
    PodCheck,
    Poker,
    overflow_message,
    timeout_message,
)
from tidal.router.table import Backend, Endpoint, RoutingTable

log = logging.getLogger("tidal.router")

CONNECT_TIMEOUT_S = 3.0
MAX_CONNECT_TRIES = 3
PENDING_LIMIT = 1 << 20  # body bytes held while connecting before the client is paused
MAX_HEAD = 64 << 10  # request head bytes
# An idle pooled connection older than this is not reused: servers close idle keep-alive
# connections (uvicorn after 5 s) and a request sent as one closes would be lost.
POOL_IDLE_S = 4.0
LINGER_S = 2.0  # how long an error answer's connection reads and drops what still comes
REASONS = {
    400: b"Bad Request",
    404: b"Not Found",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the router waits (docs/ROUTER.md, "Timeouts"); checked every `tick_s`."""

    connect_s: float = CONNECT_TIMEOUT_S  # TCP connect to a pod; then the next pod is tried
    response_s: float = 300.0  # the pod silent this long while a response is due/streaming: 504
    header_s: float = 10.0  # a client's whole request head, from its first byte (or accept): 408
    # a request body must come at `body_min_rate` bytes/s on average once `body_s` has passed
    # since its head (silent that long is the same): 408 (slow-body clients are closed)
    body_s: float = 10.0
    body_min_rate: float = 1024.0
    keepalive_s: float = 75.0  # an idle client connection between requests is closed
    tick_s: float = 0.5


# A coarse clock (loop.time()), stamped by the sweeps: reading it per chunk costs one global load.
_now = 0.0


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


def head_too_large(buffered: bytes, limit: int = MAX_HEAD) -> bool:
    """PURE: the request head at the start of `buffered` (which may go on into the body) is
    longer than `limit`, or is not over yet and `buffered` already is."""
    if len(buffered) <= limit:
        return False
    end = buffered.find(b"\r\n\r\n", 0, limit + 4)
    return end < 0


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
                self._write_close(_json_response(400, {"error": f"bad request: {cause}"}, False))
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
            _json_response(
                431,
                {"error": f"request head over {MAX_HEAD} bytes", "reason": "HeadTooLarge"},
                False,
            )
        )

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
            if self.last_error:
                msg += f" (last: {self.last_error})"
            backend.stats.observe(502, time.time() - self.t0, self.t0)
            self._send_own(502, {"error": msg, "reason": "ConnectFailed"})
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
        task = self.loop.create_task(self._connect(ep, self.seq))
        self.router.tasks.add(task)
        task.add_done_callback(self.router.tasks.discard)

    # holding (the activator)
    def _hold(self, backend: Backend) -> None:
        """No ready endpoint: wait for one (bounded), counted as in flight for the service."""
        verdict = backend.verdict
        if verdict is not None and self.router.verdict_fresh(backend):
            backend.stats.observe(503, time.time() - self.t0, self.t0)
            self._send_own(503, {"error": verdict[1], "reason": verdict[0]})
            return
        limit = backend.hold.max_held
        if len(backend.held) >= limit:
            backend.stats.observe(503, time.time() - self.t0, self.t0)
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
        self.router.poke(backend)

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

    def released(self, stopping: bool = False, failing: tuple[str, str] | None = None) -> None:
        """The service got a ready endpoint (or went away, or every pod of it is failing):
        forward now, or answer 503 naming the reason."""
        if self.hold_timer is None:
            return
        self.hold_timer.cancel()
        self.hold_timer = None
        backend = self.backend
        assert backend is not None
        if backend.endpoints and not stopping and failing is None:
            self._dispatch()
            return
        self._finish(503)
        if stopping:
            msg, reason = "the router is stopping", "RouterStopping"
        elif failing is not None:
            reason, msg = failing
        else:
            msg, reason = (
                f"service {backend.key} was removed while requests were held",
                "ServiceGone",
            )
        self._send_own(503, {"error": msg, "reason": reason})

    async def _connect(self, ep: Endpoint, seq: int) -> None:
        """A new connection to `ep` for request `seq`; nothing escapes this task."""
        try:
            try:
                _, conn = await asyncio.wait_for(
                    self.loop.create_connection(lambda: Upstream(ep), ep.ip, ep.port),
                    self.router.timeouts.connect_s,
                )
            except (OSError, TimeoutError) as exc:
                if self.active and seq == self.seq:
                    self._connect_failed(ep, str(exc) or "connect timed out")
                return
            if not self.active or seq != self.seq:  # the request ended meanwhile: keep it
                conn.idle_since = time.time()
                ep.idle.append(conn)
                return
            self._attach(conn)
        except Exception as exc:  # a bug here must answer the client, not strand it
            log.exception("forwarding to %s:%s", ep.ip, ep.port)
            if self.active and seq == self.seq:
                self._upstream_failed(None, 502, f"router error: {exc}", "RouterError")

    def _connect_failed(self, ep: Endpoint, why: str) -> None:
        """The request never reached `ep`: take it off that endpoint and try another one."""
        log.debug("connect to %s:%s failed: %s", ep.ip, ep.port, why)
        self.last_error = f"{ep.key}: {why}"
        self.active = False
        self.counted = False
        now = time.time()
        ep.stats.finish(now)
        backend = self.backend
        assert backend is not None
        backend.stats.finish(now)
        self.endpoint = None
        if len(self.tried) >= MAX_CONNECT_TRIES:
            self.tried = frozenset(range(len(backend.endpoints)))
        self._dispatch()

    def _attach(self, conn: Upstream) -> None:
        transport = conn.transport
        if conn.closed or transport is None or transport.is_closing():
            # closed (reset) between connect and now: the request was not sent, retry it
            self._connect_failed(conn.endpoint, "connection closed before the request was sent")
            return
        self.upstream = conn
        conn.client = self
        conn.head_only = self.is_head
        conn.seen = _now
        pending = self.pending
        self.pending = None
        transport.write(b"".join(pending) if pending else b"")
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
        else:
            self.head_since = None

    def upstream_lost(self, conn: Upstream) -> None:
        """The pod closed the connection before the response ended."""
        self.upstream = None
        if not conn.got_bytes:
            self._finish(502)
            self.discard = True
            self._write_close(
                _json_response(
                    502,
                    {
                        "error": f"connection to pod {conn.endpoint.key} closed before a response",
                        "reason": "UpstreamClosed",
                    },
                    False,
                )
            )
        else:
            self._finish(conn.status or 502)
            self._close()

    def _upstream_failed(self, up: Upstream | None, code: int, msg: str, reason: str) -> None:
        """Give up on the request: close its pod connection; answer `code` unless the pod's
        answer has begun (then the client sees the connection close, as with a proxy)."""
        self.upstream = None
        began = False
        if up is not None:
            began = up.got_bytes
            up.client = None
            up.close()
        self._finish(code)
        self.discard = True
        if began:
            self._close()
        else:
            self._write_close(_json_response(code, {"error": msg, "reason": reason}, False))

    # timeouts (the router's sweep calls this every tick for every client connection)
    def check(self, now: float, t: Timeouts) -> None:
        if self.closing or self.transport is None:
            return
        reading = self.transport.is_reading()  # paused: the router's back-pressure, not theirs
        if self.active:
            if not self.req_done and reading and self._body_slow(now, t):
                self._upstream_failed(
                    self.upstream,
                    408,
                    f"request body slower than {t.body_min_rate:g} bytes/s after {t.body_s:g}s",
                    "ClientBodyTimeout",
                )
                return
            up = self.upstream
            if (
                up is not None
                and up.transport is not None
                and up.transport.is_reading()
                and now - up.seen > t.response_s
            ):
                self._upstream_failed(
                    up,
                    504,
                    f"pod {up.endpoint.key} sent nothing for {t.response_s:g}s",
                    "UpstreamTimeout",
                )
            return
        if self.head_since is not None:
            if now - self.head_since > t.header_s:
                if self.head:
                    msg = f"request head not complete within {t.header_s:g}s"
                    self._write_close(
                        _json_response(408, {"error": msg, "reason": "ClientHeaderTimeout"}, False)
                    )
                else:
                    self._close()
        elif not self.req_done:  # the rest of a body answered early (discarded)
            if reading and self._body_slow(now, t):
                self._close()
        elif now - self.seen > t.keepalive_s:
            self._close()

    def _body_slow(self, now: float, t: Timeouts) -> bool:
        elapsed = now - self.body_since
        return elapsed > t.body_s and self.body_bytes < t.body_min_rate * elapsed

    # answers the router makes itself
    def _send_own(self, code: int, body: dict[str, Any]) -> None:
        """Answer with the router's own JSON (stats are the caller's business)."""
        self.discard = True
        if self.transport is None or self.closing:
            return
        self.transport.write(_json_response(code, body, self.keep_alive))
        self.seen = _now
        if not self.keep_alive:
            self._close()
        elif self.req_done:
            self._reset()
            self.head_since = None

    def _fail(self, code: int, message: str) -> None:
        self._write_close(_json_response(code, {"error": message}, False))

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

    def _write_close(self, data: bytes) -> None:
        """Answer, then a lingering close (nginx's): the write side is shut and what the
        client still sends is read and dropped for a moment, so a close with unread bytes
        (a reset) does not destroy the answer before the client reads it."""
        transport = self.transport
        if transport is None or self.closing:
            self._close()
            return
        transport.write(data)
        self.closing = self.lingering = True
        try:
            transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self._close()
            return
        self.loop.call_later(LINGER_S, self._close)

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
    """The listening ingress: a routing table, the protocol factory, the activator's poke
    (`poker`, None without an API: held requests then wait for the table alone), the check of
    a held Service's pods (`pods`, None without an API) and the timeouts' sweep."""

    def __init__(
        self,
        table: RoutingTable,
        loop: asyncio.AbstractEventLoop | None = None,
        poker: Poker | None = None,
        *,
        timeouts: Timeouts | None = None,
        pods: PodCheck | None = None,
    ) -> None:
        global _now
        self.table = table
        self.loop = loop or asyncio.get_event_loop()
        self.poker = poker
        self.pods = pods
        self.timeouts = timeouts or Timeouts()
        self.unrouted = 0
        self.server: asyncio.base_events.Server | None = None
        self.conns: set[ClientConn] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._repoker: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        _now = self.loop.time()
        table.on_release = self._release

    def poke(self, backend: Backend) -> None:
        """A request is held for `backend`: tell the autoscaler now, look at its pods, and do
        both again every second while requests stay held."""
        if self.poker is None and self.pods is None:
            return
        if self.poker is not None:
            self.poker.poke(backend.key)
        if self.pods is not None and backend.selector:
            self.pods.check(backend.key, backend.selector, self._pods_verdict)
        if self._repoker is None:
            self._repoker = self.loop.call_later(REPOKE_S, self._repoke)

    def _repoke(self) -> None:
        self._repoker = None
        for b in [b for b in self.table.backends.values() if b.held and not b.endpoints]:
            self.poke(b)

    def _pods_verdict(self, key: str, verdict: tuple[str, str] | None) -> None:
        """The pods of a held Service were looked at: when every one is failing, the held
        requests are answered 503 at once (and new ones while the verdict is fresh)."""
        backend = self.table.backends.get(key)
        if backend is None:
            return
        backend.verdict = verdict
        backend.verdict_at = self.loop.time()
        if verdict is None or backend.endpoints or not backend.held:
            return
        log.info("failing %d held requests of %s: %s", len(backend.held), key, verdict[1])
        held = list(backend.held)
        backend.held.clear()
        for conn in held:
            conn.released(failing=verdict)

    def verdict_fresh(self, backend: Backend) -> bool:
        return self.loop.time() - backend.verdict_at < 2 * REPOKE_S

    def _release(self, backend: Backend) -> None:
        """Forward the held requests in arrival order (or answer them 503 if the service went)."""
        held = list(backend.held)
        backend.held.clear()
        backend.verdict = None
        if self.poker is not None:
            self.poker.done(backend.key)
        for conn in held:
            conn.released()

    def _sweep(self) -> None:
        """Stamp the coarse clock and close what has been silent too long."""
        global _now
        _now = now = self.loop.time()
        t = self.timeouts
        for conn in list(self.conns):
            conn.check(now, t)
        self._sweeper = self.loop.call_later(t.tick_s, self._sweep)

    async def listen(self, host: str, port: int, sock: socket.socket | None = None) -> int:
        """Listen on host:port, or on `sock` (a listening socket the plane bound and passed)."""
        if sock is not None:
            self.server = await self.loop.create_server(
                lambda: ClientConn(self), sock=sock, backlog=1024
            )
        else:
            self.server = await self.loop.create_server(
                lambda: ClientConn(self), host, port, reuse_address=True, backlog=1024
            )
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.timeouts.tick_s, self._sweep)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for handle in (self._repoker, self._sweeper):
            if handle is not None:
                handle.cancel()
        for task in list(self.tasks):
            task.cancel()
        for backend in self.table.backends.values():
            held, backend.held = list(backend.held), deque()
            for conn in held:
                conn.released(stopping=True)
            for ep in backend.endpoints:
                ep.drain()
