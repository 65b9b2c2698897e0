"""The ingress data plane: raw asyncio protocols (uvloop + httptools), no framework per request.

`ClientConn` (`tidal.router.conn`) parses a request head, finds the service by Host in the
`RoutingTable`, picks the least-loaded endpoint and forwards the head it rebuilt plus the body as
it arrives (re-chunked when the client sent chunks; `tidal.router.forward`). `Upstream`
(`tidal.router.upstream`) is one keep-alive connection to a pod: its response bytes go to the
client untouched as they arrive (SSE stays unbuffered) while a response parser only finds where
the message ends, so the connection can go back to the endpoint's pool.

A request for a Service with no ready endpoint is *held* (the router is Knative's activator):
it waits, in arrival order, counted as in flight for the Service, while the autoscaler is poked
at once; it is forwarded as soon as an endpoint is ready, or answered 503 when the Service holds
its limit already or the activation timeout passes (`tidal.router.holding`,
`tidal.router.activation`).

A request is retried on another endpoint only when it never reached a pod: its connection was
refused, timed out, or closed before the request was written. Errors the router makes itself are
JSON with a `reason` (`tidal.router.replies`): 404 unknown host, 503 held too long, too many
held or every pod failing, 502 pod unreachable or connection lost before any response byte, 504
pod silent too long, 408 a client too slow, 431 a head over 64 KiB.

Timeouts (`tidal.router.timeouts`) cost nothing per request: each side stamps a coarse clock
(`_now`, updated by one sweep per router every `tick_s`, here) when bytes arrive, and the sweep
closes whatever has been silent too long. This module holds `Router`: the listening ingress.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque

from tidal.router import conn as _conn
from tidal.router import forward as _forward
from tidal.router import replies as _replies
from tidal.router import upstream as _upstream
from tidal.router.activation import PodCheck, Poker
from tidal.router.conn import ClientConn
from tidal.router.holding import Activator
from tidal.router.table import RoutingTable
from tidal.router.timeouts import Timeouts


def _stamp(now: float) -> None:
    """Set the coarse clock: it is a global in each module that reads it per request (one
    global load there, not an attribute load on a shared object)."""
    _conn._now = _forward._now = _replies._now = _upstream._now = now


class Router(Activator):
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
        _stamp(self.loop.time())
        table.on_release = self._release

    def _sweep(self) -> None:
        """Stamp the coarse clock and close what has been silent too long."""
        now = self.loop.time()
        _stamp(now)
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
