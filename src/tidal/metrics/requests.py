"""Request stats: what the router (tidal's activator and queue-proxy) measured, per service and
per pod, in 1 s buckets — the KPA's input. The shape is the router's admin `/stats` JSON
(docs/ARCHITECTURE.md, "Request stats"); `parse_stats` reads it, `RouterRequestStats` polls it,
`StaticRequestStats` holds a snapshot in memory (tests, the simulator)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class Bucket:
    """One second: `t` its start (Unix seconds), requests started in it, time-averaged in-flight
    requests over it, and the peak in flight."""

    t: int
    requests: int = 0
    concurrency: float = 0.0
    max_in_flight: int = 0


@dataclass(frozen=True, slots=True)
class Load:
    """One service or pod: in flight now, requests since the router started, held requests
    (services only: waiting for a ready pod), ready endpoints (services only), the buckets."""

    in_flight: int = 0
    requests_total: int = 0
    held: int = 0
    ready_endpoints: int = 0
    buckets: tuple[Bucket, ...] = ()
    service: str = ""  # pods only: the `namespace/name` of their service


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything at `now` (Unix seconds); keys are `namespace/name` (services) and
    `namespace/pod` (pods)."""

    now: float = 0.0
    services: Mapping[str, Load] = field(default_factory=dict)
    pods: Mapping[str, Load] = field(default_factory=dict)

    def service(self, namespace: str, name: str) -> Load | None:
        return self.services.get(f"{namespace}/{name}")

    def pods_of(self, namespace: str, name: str) -> dict[str, Load]:
        key = f"{namespace}/{name}"
        return {k: v for k, v in self.pods.items() if v.service == key}


class RequestStats(Protocol):
    """Where the KPA reads request load from."""

    async def snapshot(self) -> Snapshot:
        """The latest numbers; an empty Snapshot when the router cannot be read."""
        ...


def _load(entry: Mapping[str, Any]) -> Load:
    return Load(
        in_flight=int(entry.get("in_flight") or 0),
        requests_total=int(entry.get("requests_total") or 0),
        held=int(entry.get("held") or 0),
        ready_endpoints=int(entry.get("ready_endpoints") or 0),
        buckets=tuple(
            Bucket(
                int(b["t"]),
                int(b.get("requests") or 0),
                float(b.get("concurrency") or 0.0),
                int(b.get("max_in_flight") or 0),
            )
            for b in entry.get("buckets") or []
        ),
        service=str(entry.get("service") or ""),
    )


def parse_stats(doc: Mapping[str, Any]) -> Snapshot:
    """The router's `/stats` document as a Snapshot."""
    return Snapshot(
        now=float(doc.get("now") or 0.0),
        services={k: _load(v) for k, v in (doc.get("services") or {}).items()},
        pods={k: _load(v) for k, v in (doc.get("pods") or {}).items()},
    )


class StaticRequestStats:
    """A snapshot set by hand: the simulator's and the tests' RequestStats."""

    def __init__(self, snap: Snapshot | None = None) -> None:
        self.current = snap or Snapshot()

    async def snapshot(self) -> Snapshot:
        return self.current


class RouterRequestStats:
    """Polls the router's admin `/stats`; a router that is down reads as no data."""

    def __init__(self, admin_url: str, *, timeout_s: float = 2.0, token: str | None = None) -> None:
        self.url = admin_url.rstrip("/") + "/stats"
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers)

    async def snapshot(self) -> Snapshot:
        try:
            resp = await self._client.get(self.url)
            resp.raise_for_status()
            return parse_stats(resp.json())
        except (httpx.HTTPError, ValueError):
            return Snapshot()

    async def close(self) -> None:
        await self._client.aclose()
