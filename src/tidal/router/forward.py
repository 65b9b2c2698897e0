"""Forwarding a request: pick an endpoint, reuse a pooled connection or open one, attach the
request to it, retry on another endpoint when it never reached a pod, and settle the outcome of
the pod's answer (done, lost, given up).

`Forwarding` is a part of `ClientConn` (`tidal.router.conn`); its methods use the connection's
fields and call its other parts (`_hold`, `_send_own`, `_finish`) through `self`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tidal.router.replies import json_response
from tidal.router.table import Endpoint
from tidal.router.upstream import Upstream

log = logging.getLogger("tidal.router")

MAX_CONNECT_TRIES = 3
PENDING_LIMIT = 1 << 20  # body bytes held while connecting before the client is paused
# An idle pooled connection older than this is not reused: servers close idle keep-alive
# connections (uvicorn after 5 s) and a request sent as one closes would be lost.
POOL_IDLE_S = 4.0

# The coarse clock, stamped by the router's sweep (`tidal.router.proxy`): one global load.
_now = 0.0


class Forwarding:
    """A part of `ClientConn`: the request's way to a pod and back."""

    __slots__ = ()

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
                json_response(
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
            self._write_close(json_response(code, {"error": msg, "reason": reason}, False))
