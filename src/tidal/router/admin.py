"""The router's admin port: `/metrics` (Prometheus text), `/stats` (1 s buckets, JSON),
`/routes` (the routing table), `/healthz`. Tiny and separate from the ingress port, so the
ingress never exposes anything but the services it routes to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools
import orjson

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
    def __init__(self, table: RoutingTable) -> None:
        self.table = table
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, b"application/json", b'{"error":"bad request"}', close=True)

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        parts = urlsplit(self.url.decode("latin-1"))
        q = parse_qs(parts.query)
        path = parts.path
        close = not self.parser.should_keep_alive()
        if path == "/metrics":
            self._send(
                200,
                b"text/plain; version=0.0.4",
                prometheus_text({k: b.stats for k, b in self.table.backends.items()}).encode(),
                close,
            )
        elif path == "/stats":
            try:
                since = float(q.get("since", ["0"])[0])
            except ValueError:
                self._send(400, b"application/json", b'{"error":"since must be a number"}', close)
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
            self._send(200, b"text/plain", b"ok", close)
        else:
            self._send(
                404, b"application/json", orjson.dumps({"error": f"no such path {path!r}"}), close
            )

    def _send(self, code: int, ctype: bytes, body: bytes, close: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n"
            % (
                code,
                b"OK" if code == 200 else b"Error",
                ctype,
                len(body),
                b"connection: close\r\n" if close else b"",
            )
            + body
        )
        if close:
            self.transport.close()


async def serve_admin(
    table: RoutingTable, host: str, port: int
) -> tuple[asyncio.base_events.Server, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: AdminConn(table), host, port, reuse_address=True)
    return server, server.sockets[0].getsockname()[1]
