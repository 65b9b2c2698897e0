"""The router as activator: hold settings and poke timing (pure tables), and holding, overflow,
timeout, poke and release against a real pod process (router in-process)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tidal.router.activation import (
    DEFAULT_ACTIVATION_TIMEOUT_S,
    DEFAULT_MAX_HELD,
    MAX_HELD_ANNOTATION,
    POKE_ANNOTATION,
    TIMEOUT_ANNOTATION,
    HoldSettings,
    Poker,
    hold_settings,
    should_poke,
)
from tidal.router.proxy import Router

from .test_proxy import HOST, make_table, run


@pytest.mark.parametrize(
    ("annotations", "want"),
    [
        ({}, HoldSettings(DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S)),
        ({MAX_HELD_ANNOTATION: "5"}, HoldSettings(5, DEFAULT_ACTIVATION_TIMEOUT_S)),
        ({MAX_HELD_ANNOTATION: "0"}, HoldSettings(0, DEFAULT_ACTIVATION_TIMEOUT_S)),
        ({MAX_HELD_ANNOTATION: "-1"}, HoldSettings(DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S)),
        ({MAX_HELD_ANNOTATION: "x"}, HoldSettings(DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S)),
        ({TIMEOUT_ANNOTATION: "90s"}, HoldSettings(DEFAULT_MAX_HELD, 90.0)),
        ({TIMEOUT_ANNOTATION: "1m30s"}, HoldSettings(DEFAULT_MAX_HELD, 90.0)),
        ({TIMEOUT_ANNOTATION: "2.5"}, HoldSettings(DEFAULT_MAX_HELD, 2.5)),
        ({TIMEOUT_ANNOTATION: "0s"}, HoldSettings(DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S)),
        (
            {TIMEOUT_ANNOTATION: "soon"},
            HoldSettings(DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S),
        ),
    ],
)
def test_hold_settings(annotations: dict[str, str], want: HoldSettings) -> None:
    assert hold_settings(annotations) == want


@pytest.mark.parametrize(
    ("last", "now", "want"),
    [(None, 100.0, True), (100.0, 100.5, False), (100.0, 101.0, True), (100.0, 130.0, True)],
)
def test_should_poke(last: float | None, now: float, want: bool) -> None:
    assert should_poke(last, now) is want


class FakeApi:
    """Records the patches the poker sends (the API's side of the poke)."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, str, Any, str | None]] = []

    async def patch(self, kind: str, name: str, patch: Any, namespace: str | None = None) -> dict:
        self.patches.append((kind, name, patch, namespace))
        return {}


pytestmark = pytest.mark.process


def test_hold_poke_overflow_then_forward_in_order(start_pod) -> None:  # type: ignore[no-untyped-def]
    table = make_table()
    table.backends["default/iris"].hold = HoldSettings(max_held=2, timeout_s=30)
    api = FakeApi()
    ip, port, _ = start_pod("pod-a")

    async def scenario(router: Router, url: str, admin: str) -> None:
        router.poker = Poker(api)
        async with httpx.AsyncClient(timeout=20) as c:

            async def stats() -> dict:
                return (await c.get(f"{admin}/stats")).json()["services"]["default/iris"]

            first = asyncio.create_task(c.get(f"{url}/who", headers={"Host": HOST}))
            while (await stats())["held"] < 1:
                await asyncio.sleep(0.01)
            second = asyncio.create_task(
                c.post(f"{url}/echo", headers={"Host": HOST}, content=b"second")
            )
            while (await stats())["held"] < 2:
                await asyncio.sleep(0.01)
            s = await stats()
            assert s["in_flight"] == 2 and s["ready_endpoints"] == 0
            held = list(router.table.backends["default/iris"].held)
            assert held[0].t0 <= held[1].t0  # arrival order

            r = await c.get(f"{url}/who", headers={"Host": HOST})
            assert r.status_code == 503 and r.json()["reason"] == "Overflow"
            assert "default/iris" in r.json()["error"] and "2" in r.json()["error"]
            assert not first.done() and not second.done()

            while not api.patches:  # the poke reached the API at the first held request
                await asyncio.sleep(0.01)
            kind, name, patch, ns = api.patches[0]
            assert (kind, name, ns) == ("PodAutoscaler", "iris", "default")
            assert float(patch["metadata"]["annotations"][POKE_ANNOTATION]) > 0

            router.table.apply(  # a pod became ready
                {
                    "kind": "Endpoints",
                    "metadata": {"name": "iris", "namespace": "default"},
                    "subsets": [
                        {
                            "addresses": [{"ip": ip, "targetRef": {"name": "pod-a"}}],
                            "ports": [{"port": port}],
                        }
                    ],
                }
            )
            r1, r2 = await first, await second
            assert r1.status_code == 200 and r1.json() == {"pod": "pod-a"}
            assert r2.status_code == 200 and r2.content == b"second"
            s = await stats()
            assert s["held"] == 0 and s["in_flight"] == 0

    run(scenario, table)


def test_client_gone_while_held_is_no_longer_held() -> None:
    table = make_table()

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient(timeout=20) as c:

            async def stats() -> dict:
                return (await c.get(f"{admin}/stats")).json()["services"]["default/iris"]

            reader, writer = await asyncio.open_connection(*url[7:].split(":"))
            writer.write(f"GET /who HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            await writer.drain()
            while (await stats())["held"] < 1:
                await asyncio.sleep(0.01)
            writer.close()
            while (await stats())["held"] > 0:
                await asyncio.sleep(0.01)
            assert (await stats())["in_flight"] == 0

    run(scenario, table)


def test_service_removed_while_held_answers_503_service_gone() -> None:
    table = make_table()

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient(timeout=20) as c:
            waiting = asyncio.create_task(c.get(f"{url}/who", headers={"Host": HOST}))
            while not router.table.backends["default/iris"].held:
                await asyncio.sleep(0.01)
            for kind in ("Service", "Endpoints"):
                router.table.delete({"kind": kind, "metadata": {"name": "iris"}})
            r = await waiting
            assert r.status_code == 503 and r.json()["reason"] == "ServiceGone"

    run(scenario, table)
