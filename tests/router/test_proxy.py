"""The router's data plane against real pod processes on loopback (router in-process)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tidal.router.activation import HoldSettings
from tidal.router.admin import serve_admin
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable

from .conftest import free_addr

HOST = "iris-default.example.com"
pytestmark = pytest.mark.process


def run(scenario: Callable[[Router, str, str], Awaitable[None]], table: RoutingTable) -> None:
    async def main() -> None:
        router = Router(table, asyncio.get_running_loop())
        port = await router.listen("127.0.0.1", 0)
        admin, admin_port = await serve_admin(table, "127.0.0.1", 0)
        try:
            await scenario(router, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}")
        finally:
            admin.close()
            await router.close()

    asyncio.run(main())


def make_table(*endpoints: tuple[str, int, str]) -> RoutingTable:
    table = RoutingTable()
    table.apply(
        {
            "kind": "Service",
            "metadata": {
                "name": "iris",
                "namespace": "default",
                "annotations": {"serving.tidal.dev/hosts": f"{HOST},iris.default.example.com"},
            },
        }
    )
    table.apply(
        {
            "kind": "Endpoints",
            "metadata": {"name": "iris", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [
                        {"ip": ip, "targetRef": {"kind": "Pod", "name": pod}}
                        for ip, _, pod in endpoints
                    ],
                    "ports": [{"port": endpoints[0][1]}],
                }
            ]
            if endpoints
            else [],
        }
    )
    return table


def test_routes_by_host_and_404_names_unknown_host(start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-a")
    table = make_table((ip, port, "pod-a"))

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient() as c:
            for host in (HOST, "IRIS.default.example.com:8080"):
                r = await c.get(f"{url}/who", headers={"Host": host})
                assert r.status_code == 200 and r.json() == {"pod": "pod-a"}
            r = await c.post(f"{url}/echo", headers={"Host": HOST}, content=b"x" * 300_000)
            assert r.content == b"x" * 300_000

            async def chunks():  # type: ignore[no-untyped-def]
                for i in range(5):
                    yield f"part{i};".encode()

            r = await c.post(f"{url}/echo", headers={"Host": HOST}, content=chunks())
            assert r.content == b"part0;part1;part2;part3;part4;"
            r = await c.get(f"{url}/who", headers={"Host": "nope.example.com"})
            assert r.status_code == 404
            assert "nope.example.com" in r.json()["error"]
            metrics = (await c.get(f"{admin}/metrics")).text
            assert (
                'tidal_router_requests_total{namespace="default",service="iris",code="200"} 4'
                in metrics
            )
            assert "tidal_router_request_duration_seconds_count" in metrics
            stats = (await c.get(f"{admin}/stats")).json()
            assert stats["services"]["default/iris"]["requests_total"] == 4
            assert stats["pods"]["default/pod-a"]["requests_total"] == 4
            assert sum(b["requests"] for b in stats["pods"]["default/pod-a"]["buckets"]) == 4

    run(scenario, table)


def test_no_endpoints_holds_then_503_json_after_the_timeout() -> None:
    table = make_table()
    table.backends["default/iris"].hold = HoldSettings(max_held=100, timeout_s=0.2)

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient() as c:
            r = await c.get(f"{url}/who", headers={"Host": HOST})
            assert r.status_code == 503
            assert r.json()["reason"] == "Timeout" and "default/iris" in r.json()["error"]
            r = await c.get(f"{url}/who", headers={"Host": HOST})  # the connection stays usable
            assert r.status_code == 503

    run(scenario, table)


def test_sse_passes_through_unbuffered(start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-sse")
    table = make_table((ip, port, "pod-sse"))

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient(timeout=20) as c:
            async with c.stream("GET", f"{url}/sse", headers={"Host": HOST}) as r:
                it = r.aiter_raw()
                first = await it.__anext__()
                assert first == b"data: one\n\n"  # arrived while the pod still holds the second
                await c.get(f"{url}/release", headers={"Host": HOST})
                rest = b"".join([chunk async for chunk in it])
                assert rest == b"data: two\n\n"

    run(scenario, table)


def test_refused_connection_is_retried_on_another_pod(start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-live")
    dead_ip, _ = free_addr()  # nothing listens there: connect is refused
    table = make_table((ip, port, "pod-live"))
    table.set_endpoints("default/iris", [(dead_ip, port, "pod-dead"), (ip, port, "pod-live")])

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient() as c:
            for _ in range(6):
                r = await c.get(f"{url}/who", headers={"Host": HOST})
                assert r.status_code == 200 and r.json()["pod"] == "pod-live"

    run(scenario, table)


def test_least_outstanding_and_draining(start_pod) -> None:  # type: ignore[no-untyped-def]
    a = start_pod("pod-a")
    b = start_pod("pod-b")
    table = make_table((a[0], a[1], "pod-a"))
    table.set_endpoints("default/iris", [(a[0], a[1], "pod-a"), (b[0], b[1], "pod-b")])

    async def scenario(router: Router, url: str, admin: str) -> None:
        async with httpx.AsyncClient(timeout=20) as c:
            held = asyncio.create_task(c.get(f"{url}/hold", headers={"Host": HOST}))
            backend = table.backends["default/iris"]
            while sum(e.stats.in_flight for e in backend.endpoints) < 1:
                await asyncio.sleep(0.01)
            busy = next(e for e in backend.endpoints if e.stats.in_flight)
            # while one pod holds a request, every new one goes to the other pod
            for _ in range(4):
                r = await c.get(f"{url}/who", headers={"Host": HOST})
                assert r.json()["pod"] != busy.pod
            # the busy pod leaves the endpoints: it drains, its in-flight request still finishes
            other = next(e for e in backend.endpoints if e is not busy)
            table.set_endpoints("default/iris", [(other.ip, other.port, other.pod)])
            assert busy.draining
            for _ in range(3):
                r = await c.get(f"{url}/who", headers={"Host": HOST})
                assert r.json()["pod"] == other.pod
            # release the held request on the draining pod directly (it is no longer routed to)
            async with httpx.AsyncClient() as direct:
                await direct.get(f"http://{busy.ip}:{busy.port}/release")
            r = await held
            assert r.status_code == 200 and r.json() == {"pod": busy.pod, "held": True}
            assert busy.stats.in_flight == 0

    run(scenario, table)


def test_static_router_process(tmp_path, start_pod) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.support import stop_process, wait_until

    ip, port, _ = start_pod("pod-s")
    table = make_table((ip, port, "pod-s"))
    static = tmp_path / "routes.json"
    static.write_text(json.dumps(table.snapshot()))
    ports = tmp_path / "ports.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidal.router",
            "--static",
            str(static),
            "--port",
            "0",
            "--ports-file",
            str(ports),
        ],
        start_new_session=True,
    )
    try:
        wait_until(ports.exists, timeout_s=20, what="router ports file")
        p = json.loads(ports.read_text())
        r = httpx.get(f"http://127.0.0.1:{p['port']}/who", headers={"Host": HOST})
        assert r.json() == {"pod": "pod-s"}
        with socket.create_connection(("127.0.0.1", p["port"]), timeout=10) as s:
            answers = []
            for _ in range(2):  # keep-alive: two requests on one socket, one after the other
                s.sendall(f"GET /who HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                got = b""
                while not got.endswith(b"0\r\n\r\n"):  # the pod answers chunked
                    chunk = s.recv(65536)
                    assert chunk, f"connection closed after {got!r}"
                    got += chunk
                answers.append(got)
            assert all(a.startswith(b"HTTP/1.1 200") and b"pod-s" in a for a in answers)
        health = httpx.get(f"http://127.0.0.1:{p['admin_port']}/healthz").json()
        assert health == {"ok": True, "pid": proc.pid, "port": p["port"], **p}
    finally:
        stop_process(proc)


def test_raw_http_edge_cases(start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-raw")
    table = make_table((ip, port, "pod-raw"))

    async def scenario(router: Router, url: str, admin: str) -> None:
        host, rport = url.removeprefix("http://").split(":")

        async def exchange(payload: bytes) -> bytes:
            r, w = await asyncio.open_connection(host, int(rport))
            w.write(payload)
            await w.drain()
            data = await r.read()  # until the router closes (HTTP/1.0 / Connection: close)
            w.close()
            return data

        # HTTP/1.0 without keep-alive: answered, then closed
        got = await exchange(f"GET /who HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        assert b" 200 " in got.split(b"\r\n")[0] and b'{"pod":"pod-raw"}' in got
        # an unknown host on a keep-alive connection does not break it; the next request works
        got = await exchange(
            b"GET /who HTTP/1.1\r\nHost: nope\r\n\r\n"
            + f"GET /who HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
        )
        assert b"404" in got and b"pipelined requests are not supported" in got
        r, w = await asyncio.open_connection(host, int(rport))
        w.write(b"GET /who HTTP/1.1\r\nHost: nope\r\n\r\n")
        first = await r.readuntil(b"}")
        assert b"404" in first and b"nope" in first
        w.write(f"GET /who HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        second = await r.read()
        assert b" 200 " in second and b'{"pod":"pod-raw"}' in second
        w.close()
        # HEAD: the answer ends with its head although it names a Content-Length
        r, w = await asyncio.open_connection(host, int(rport))
        for _ in range(2):  # twice on one connection: the pooled upstream is still usable
            w.write(f"HEAD /who HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            assert b" 200 " in head.split(b"\r\n")[0]
        w.write(f"GET /who HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        rest = await asyncio.wait_for(r.read(), 10)
        assert rest.startswith(b"HTTP/1.1 200") and b'{"pod":"pod-raw"}' in rest
        w.close()
        # garbage is a 400 JSON, not a crash
        got = await exchange(b"NOT HTTP AT ALL\r\n\r\n")
        assert b"400" in got.split(b"\r\n")[0] and b"bad request" in got

    run(scenario, table)
