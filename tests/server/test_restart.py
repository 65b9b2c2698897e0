"""Restarting the API server (issue 17): resourceVersions keep growing, and a watch resumed from a
resourceVersion gets every change after it or a 410, never a silent gap — in process (the
registry closed and opened again on the same home) and over HTTPS across a real process restart.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.apiserver import run_api_server
from tidal.api.errors import Gone
from tidal.server.registry import Registry


def svc(name: str, value: str) -> dict[str, Any]:
    """A Service: a kind the API server alone serves, with a spec."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"v": value}},
        "spec": {"ports": [{"port": 80}]},
    }


async def first_events(reg: Registry, rv: str, n: int) -> list[tuple[str, str]]:
    events = reg.watch("Service", "default", resource_version=rv)
    out = []
    async for etype, body in events:
        obj = json.loads(body)
        out.append((etype, obj["metadata"]["name"]))
        if len(out) == n:
            break
    await events.aclose()  # type: ignore[attr-defined]
    return out


def test_a_restart_keeps_versions_growing_and_never_resumes_across_a_gap(tmp_path: Path) -> None:
    async def go() -> None:
        reg = Registry.open(tmp_path)
        a = reg.create(svc("a", "1"))
        seen = a["metadata"]["resourceVersion"]  # a client saw this much
        reg.create(svc("b", "1"))  # ... and missed this one
        last = reg.create(svc("c", "1"))["metadata"]["resourceVersion"]
        # within one process, the history fills the gap
        assert await first_events(reg, seen, 2) == [("ADDED", "b"), ("ADDED", "c")]
        reg.close()

        reg = Registry.open(tmp_path)
        d = reg.create(svc("d", "1"))
        assert int(d["metadata"]["resourceVersion"]) > int(last) > int(seen)
        with pytest.raises(Gone):  # b happened before the restart: not in memory, so 410
            reg.watch("Service", "default", resource_version=seen)
        # resumed from the last version before the restart: nothing was missed, d arrives
        assert await first_events(reg, last, 1) == [("ADDED", "d")]
        with pytest.raises(Gone):  # a version this store never reached (a home made afresh)
            reg.watch("Service", "default", resource_version=str(int(last) + 1000))
        reg.close()

    asyncio.run(go())


@pytest.mark.process
def test_a_watch_resumed_across_a_process_restart_gets_410_over_https(tmp_path: Path) -> None:
    def http(s: Any) -> httpx.Client:
        return httpx.Client(
            base_url=s.url,
            verify=ssl.create_default_context(cafile=str(s.ca)),
            headers={"Authorization": f"Bearer {s.token}"},
            timeout=60,
        )

    path = "/api/v1/namespaces/default/services"
    with run_api_server(tmp_path) as s, http(s) as c:
        seen = c.post(path, json=svc("a", "1")).json()["metadata"]["resourceVersion"]
        c.post(path, json=svc("b", "1"))
        last = c.get(path).json()["metadata"]["resourceVersion"]
    with run_api_server(tmp_path) as s, http(s) as c:
        after = c.post(path, json=svc("c", "1")).json()["metadata"]["resourceVersion"]
        assert int(after) > int(last)
        with c.stream("GET", path, params={"watch": "1", "resourceVersion": seen}) as r:
            assert r.status_code == 200
            event = json.loads(next(r.iter_lines()))
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 410 and event["object"]["reason"] == "Expired"
        params = {"watch": "1", "resourceVersion": last, "timeoutSeconds": "30"}
        with c.stream("GET", path, params=params) as r:
            event = json.loads(next(r.iter_lines()))
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")
