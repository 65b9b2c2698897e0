"""The collector over a real registry (in-process API, SQLite) and a real HTTP server on loopback
standing in for the router's admin port: objects arrive through its watches, the router's
counters become rates, an HPA's Event becomes one decision (once, however often the collector
samples), and an open page's queue gets the window first, then frames."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from tidal.dashboard.collector import Collector
from tidal.server.inprocess import open_inprocess

NS = "default"


class Admin:
    """`/stats` and `/metrics` as the router's admin port serves them; `total` requests so far."""

    def __init__(self) -> None:
        self.total = 0
        self.auth: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ", 2)[1]
        self.auth += [ln for ln in head.split("\r\n") if ln.lower().startswith("authorization:")]
        if path.startswith("/stats"):
            body = orjson.dumps(
                {"services": {f"{NS}/web": {"in_flight": 4, "held": 1, "buckets": []}}}
            )
        else:
            lab = f'namespace="{NS}",service="web"'
            body = (
                f'tidal_router_requests_total{{{lab},code="200"}} {self.total}\n'
                f'tidal_router_request_duration_seconds_bucket{{{lab},le="0.1"}} {self.total}\n'
                f'tidal_router_request_duration_seconds_bucket{{{lab},le="+Inf"}} {self.total}\n'
            ).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "x", "command": ["sleep"]}]},
            },
        },
    }


def hpa() -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 4,
        },
    }


def event(count: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": NS},
        "involvedObject": {"kind": "HorizontalPodAutoscaler", "name": "web", "namespace": NS},
        "reason": "SuccessfulRescale",
        "message": "New size: 2; reason: cpu resource utilization (percentage of request) above target",
        "type": "Normal",
        "count": count,
        "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def until(pred: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = await pred()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_collector_watches_samples_and_streams(tmp_path: Path) -> None:
    async def go() -> None:
        client = await open_inprocess(tmp_path)
        admin = Admin()
        server = await asyncio.start_server(admin.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        collector = Collector(
            client, f"http://127.0.0.1:{port}", token="secret", period_s=0.2, window_s=60
        )
        task = asyncio.create_task(collector.run())
        try:
            await client.create(deployment())
            await client.create(hpa())

            async def service() -> dict | None:
                return (collector.latest or {}).get("services", {}).get(f"{NS}/web")

            row = await until(service, "the Deployment in a frame")
            assert row["desired"] == 2 and row["autoscaler"] == {"kind": "HPA", "name": "web"}
            assert (row["min"], row["max"], row["in_flight"], row["held"]) == (1, 4, 4, 1)

            page = collector.subscribe()
            first = (await page.get()).decode()
            assert first.startswith("event: init\ndata: ")
            assert f'"{NS}/web"' in first and '"window_s":60' in first.replace(" ", "")

            admin.total = 1000  # requests flow: the next frames show a rate
            await until(
                lambda: _true((collector.latest or {})["services"][f"{NS}/web"]["rps"]),
                "a request rate",
            )
            ev = await client.create(event(1))
            await until(lambda: _true(len(collector.decisions) == 1), "the HPA's decision")
            ev["count"] = 2  # the same decision made again: Kubernetes bumps the Event
            await client.update(ev)
            await until(lambda: _true(len(collector.decisions) == 2), "the repeated decision")
            await asyncio.sleep(0)  # a few more samples add nothing
            for _ in range(3):
                await collector.sample()
            assert [d["reason"] for d in collector.decisions] == ["SuccessfulRescale"] * 2
            assert collector.decisions[0]["service"] == f"{NS}/web"

            frames = []
            while not page.empty():
                frames.append(page.get_nowait().decode())
            assert frames and all(f.startswith("event: frame\n") for f in frames)
            assert any("SuccessfulRescale" in f for f in frames)
            assert admin.auth and all(a.endswith("Bearer secret") for a in admin.auth)
            collector.unsubscribe(page)
            assert collector.viewers == 0
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            server.close()
            await server.wait_closed()
            await client.close()

    asyncio.run(go())


async def _true(value: Any) -> Any:
    return value
