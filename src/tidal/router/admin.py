"""The router's admin port: `/metrics` (Prometheus text), `/stats` (1 s buckets, JSON),
`/requests` (each service's last requests: arrival, code, latency), `/routes` (the routing table), `/healthz` (JSON naming this router: pid and ports, which is how
the plane knows the router on its ports is its own). Tiny and separate from the ingress port,
so the ingress never exposes anything but the services it routes to. With a token (the plane
always gives one) every path needs `Authorization: Bearer <token>`: 401 otherwise.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools
import orjson

from tidal.router.conn import MAX_HEAD
from tidal.router.replies import LINGER_S
from tidal.router.stats import prometheus_text
from tidal.router.table import RoutingTable


def stats_document(table: RoutingTable, now: float, since: float = 0.0) -> dict[str, Any]:
    """The `/stats` JSON (shape documented in docs/ARCHITECTURE.md, "Request stats")."""
    services: dict[str, Any] = {}
    pods: dict[str, Any] = {}
    for key, b in sorted(table.backends.items()):
        services[key] = {
            "in_flight": b.stats.in_flight,
            "held": len(b.held),  # waiting for a ready endpoint (also counted in in_flight)
            "held_total": b.held_total,
            "requests_total": b.stats.requests_total,
            "ready_endpoints": len(b.endpoints),
            "buckets": b.stats.buckets(now, since),
        }
        for ep in b.endpoints:
            pods[ep.key] = {
                "service": key,
                "address": f"{ep.ip}:{ep.port}",
                "in_flight": ep.stats.in_flight,
                "requests_total": ep.stats.requests_total,
                "buckets": ep.stats.buckets(now, since),
            }
    return {"now": now, "bucket_s": 1, "services": services, "pods": pods}


class AdminConn(asyncio.Protocol):
    def __init__(self, table: RoutingTable, token: str | None, ident: dict[str, Any]) -> None:
        self.table = table
        self.token = ("Bearer " + token).encode() if token else None
        self.ident = ident
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.auth = b""
        self.in_head = True
        self.head_bytes = 0  # bytes read while a head was going on (the ingress's limit)
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.closing:  # answered and closing (lingering): drop what still comes
            return
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, b"application/json", b'{"error":"bad request"}', close=True)
            return
        if self.in_head and self.head_bytes > MAX_HEAD:
            self._too_large()

    def _too_large(self) -> None:
        self._send(431, b"application/json", b'{"error":"request head too large"}', True)

    def on_message_begin(self) -> None:
        self.url = b""
        self.auth = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self.auth = value

    def on_headers_complete(self) -> None:
        self.in_head = False

    def on_message_complete(self) -> None:
        self.in_head = True
        too_large, self.head_bytes = self.head_bytes > MAX_HEAD, 0
        if too_large:
            self._too_large()
            return
        parts = urlsplit(self.url.decode("latin-1"))
        q = parse_qs(parts.query)
        path = parts.path
        close = not self.parser.should_keep_alive()
        if self.token is not None and not hmac.compare_digest(self.auth.strip(), self.token):
            self._send(
                401,
                b"application/json",
                b'{"error":"the admin port needs the plane\'s bearer token"}',
                close,
                b"www-authenticate: Bearer\r\n",
            )
            return
        if path == "/metrics":
            self._send(
                200,
                b"text/plain; version=0.0.4",
                prometheus_text({k: b.stats for k, b in self.table.backends.items()}).encode(),
                close,
            )
        elif path in ("/stats", "/requests"):
            try:
                since = float(q.get("since", ["0"])[0])
            except ValueError:
                self._send(400, b"application/json", b'{"error":"since must be a number"}', close)
                return
            if path == "/requests":
                self._send(200, b"application/json", self._requests(q, since), close)
                return
            self._send(
                200,
                b"application/json",
                orjson.dumps(stats_document(self.table, time.time(), since)),
                close,
            )
        elif path == "/routes":
            self._send(200, b"application/json", orjson.dumps(self.table.snapshot()), close)
        elif path == "/healthz":
            self._send(200, b"application/json", orjson.dumps({"ok": True, **self.ident}), close)
        else:
            self._send(
                404, b"application/json", orjson.dumps({"error": f"no such path {path!r}"}), close
            )

    def _requests(self, q: dict[str, list[str]], since: float) -> bytes:
        """`/requests?since=T[&service=ns/name...]`: each service's remembered requests."""
        wanted = q.get("service")
        doc = {
            key: b.stats.requests_since(since)
            for key, b in sorted(self.table.backends.items())
            if not wanted or key in wanted
        }
        return orjson.dumps({"services": doc})

    def _send(self, code: int, ctype: bytes, body: bytes, close: bool, extra: bytes = b"") -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s%s\r\n"
            % (
                code,
                b"OK" if code == 200 else b"Error",
                ctype,
                len(body),
                extra,
                b"connection: close\r\n" if close else b"",
            )
            + body
        )
        if close:  # a lingering close, as the ingress does (tidal.router.replies._write_close)
            self.closing = True
            transport = self.transport
            try:
                transport.write_eof()
            except (OSError, RuntimeError, NotImplementedError):
                transport.close()
                return
            asyncio.get_running_loop().call_later(LINGER_S, transport.close)


async def serve_admin(
    table: RoutingTable,
    host: str,
    port: int,
    *,
    token: str | None = None,
    sock: socket.socket | None = None,
    ident: dict[str, Any] | None = None,
) -> tuple[asyncio.base_events.Server, int]:
    """Serve the admin port on host:port (or the listening `sock` the plane passed); `token`
    None leaves it open (the static router of benchmarks); `ident` joins `/healthz`."""
    loop = asyncio.get_running_loop()
    ident = ident if ident is not None else {}
    ident.setdefault("pid", os.getpid())  # the caller may add to it once the port is known
    if sock is not None:
        server = await loop.create_server(lambda: AdminConn(table, token, ident), sock=sock)
    else:
        server = await loop.create_server(
            lambda: AdminConn(table, token, ident), host, port, reuse_address=True
        )
    return server, server.sockets[0].getsockname()[1]
