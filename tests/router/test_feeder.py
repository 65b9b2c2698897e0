"""The routing table fed by a real API (in-process): follows Services and Endpoints, and keeps
serving what it knows while the API is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tidal.api.errors import TransportError
from tidal.router.feeder import Feeder
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable
from tidal.server.inprocess import InProcessClient, open_inprocess

pytestmark = pytest.mark.process
HOST = "iris-default.example.com"


class Flaky:
    """An ApiClient that forwards to the real one until `down` is set (then the API is gone)."""

    def __init__(self, inner: InProcessClient) -> None:
        self.inner = inner
        self.down = asyncio.Event()

    async def list(self, kind: str, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        if self.down.is_set():
            raise TransportError("connection refused")
        return await self.inner.list(kind, namespace, **kw)

    async def watch(self, kind: str, namespace: str | None = None, **kw: Any) -> AsyncIterator[Any]:
        it = self.inner.watch(kind, namespace, **kw).__aiter__()
        while True:
            nxt = asyncio.ensure_future(it.__anext__())
            down = asyncio.ensure_future(self.down.wait())
            done, _ = await asyncio.wait({nxt, down}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                with contextlib.suppress(BaseException):
                    await nxt
                raise TransportError("connection reset")
            down.cancel()
            yield nxt.result()


async def until(pred: Any, what: str, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_feeder_follows_api_and_survives_its_outage(tmp_path: Path, start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-f")

    async def main() -> None:
        api = await open_inprocess(tmp_path)
        flaky = Flaky(api)
        table = RoutingTable()
        feeder = Feeder(flaky, table, retry_s=0.05, retry_max_s=0.1)  # type: ignore[arg-type]
        task = asyncio.create_task(feeder.run())
        router = Router(table, asyncio.get_running_loop())
        rport = await router.listen("127.0.0.1", 0)
        url = f"http://127.0.0.1:{rport}/who"
        try:
            await api.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": "iris",
                        "namespace": "default",
                        "annotations": {
                            "serving.tidal.dev/hosts": HOST,
                            "autoscaling.tidal.dev/activation-timeout": "200ms",
                        },
                    },
                    "spec": {"ports": [{"port": 80, "targetPort": port}]},
                }
            )
            await api.create(
                {
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {"name": "iris", "namespace": "default"},
                    "subsets": [
                        {
                            "addresses": [
                                {"ip": ip, "targetRef": {"kind": "Pod", "name": "pod-f"}}
                            ],
                            "ports": [{"port": port}],
                        }
                    ],
                }
            )
            await until(
                lambda: table.lookup(HOST.encode()) and table.lookup(HOST.encode()).endpoints,
                "route",
            )
            async with httpx.AsyncClient() as c:
                assert (await c.get(url, headers={"Host": HOST})).json() == {"pod": "pod-f"}
                flaky.down.set()  # the control plane dies
                await asyncio.sleep(0)  # let the watches notice
                for _ in range(5):
                    assert (await c.get(url, headers={"Host": HOST})).json() == {"pod": "pod-f"}
                # it comes back with the endpoint gone: the table follows after the relist
                await api.delete("Endpoints", "iris", "default")
                flaky.down.clear()
                await until(
                    lambda: (
                        not table.backends.get("default/iris")
                        or not table.backends["default/iris"].endpoints
                    ),
                    "relist",
                )
                r = await c.get(url, headers={"Host": HOST})  # held, then the timeout
                assert r.status_code == 503 and r.json()["reason"] == "Timeout"
                await api.delete("Service", "iris", "default")
                await until(lambda: table.lookup(HOST.encode()) is None, "service gone")
                assert (await c.get(url, headers={"Host": HOST})).status_code == 404
        finally:
            task.cancel()
            await router.close()
            await api.close()

    asyncio.run(main())
