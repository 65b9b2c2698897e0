"""Issue 13 (items 1 and 8): the router under faulty pods and hostile clients. A pod that resets
every connection or never answers, slowloris and slow-body clients, idle keep-alive connections
and oversized heads: every request gets an answer with a reason, every slow client is closed."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import stop_process, wait_until
from tidal.router.admin import serve_admin
from tidal.router.conn import MAX_HEAD, head_too_large
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable
from tidal.router.timeouts import Timeouts

from .test_proxy import HOST, make_table

pytestmark = pytest.mark.process
FAST = Timeouts(response_s=0.5, header_s=0.5, body_s=0.5, keepalive_s=0.5, tick_s=0.05)


def serve(table: RoutingTable, scenario, timeouts: Timeouts = FAST) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        router = Router(table, asyncio.get_running_loop(), timeouts=timeouts)
        port = await router.listen("127.0.0.1", 0)
        admin, admin_port = await serve_admin(table, "127.0.0.1", 0)
        try:
            await scenario(port, admin_port)
        finally:
            admin.close()
            await router.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("buffered", "want"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + b"x" * (MAX_HEAD * 2), False),  # a body follows
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEAD // 6) + b"\r\n", True),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * (MAX_HEAD // 6), True),  # not over yet, too long
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 100, False),  # not over yet, short
    ],
)
def test_head_too_large(buffered: bytes, want: bool) -> None:
    assert head_too_large(buffered) is want


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (make system)")
def test_resetting_pod_every_request_answered(tmp_path: Path, start_bad_pod) -> None:  # type: ignore[no-untyped-def]
    """The issue's reproduction: `hey -n 2000 -c 20 -t 3` against a pod that resets every
    connection gave 210 timeouts; now every request is answered 502 with a reason."""
    ip, port = start_bad_pod("reset")
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps(make_table((ip, port, "bad")).snapshot()))
    ports = tmp_path / "ports.json"
    router = subprocess.Popen(
        [sys.executable, "-m", "tidal.router", "--static", str(routes), "--port", "0"]
        + ["--ports-file", str(ports)],
        start_new_session=True,
    )
    try:
        wait_until(ports.exists, timeout_s=20, what="router ports file")
        url = f"http://127.0.0.1:{json.loads(ports.read_text())['port']}/who"
        r = httpx.get(url, headers={"Host": HOST}, timeout=10)
        assert r.status_code == 502 and r.json()["reason"] in ("ConnectFailed", "UpstreamClosed")
        assert "default/bad" in r.json()["error"]
        out = subprocess.run(
            ["hey", "-n", "2000", "-c", "20", "-t", "3", "-host", HOST, url],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        assert "Error distribution" not in out, out
        assert re.findall(r"\[(\d{3})\]\s+(\d+) responses", out) == [("502", "2000")], out
        assert router.poll() is None
    finally:
        stop_process(router)


def test_resetting_pod_beside_a_good_one(start_pod, start_bad_pod) -> None:  # type: ignore[no-untyped-def]
    """Requests spread over a resetting pod and a good one: each gets a 200, or a 502 naming
    the reason when the request had reached the bad pod (never a hang)."""
    good = start_pod("good")
    bad = start_bad_pod("reset")
    table = make_table((good[0], good[1], "good"))
    table.set_endpoints("default/iris", [(bad[0], bad[1], "bad"), (good[0], good[1], "good")])

    async def scenario(port: int, admin_port: int) -> None:
        sem = asyncio.Semaphore(20)
        async with httpx.AsyncClient(timeout=3) as c:

            async def one() -> httpx.Response:
                async with sem:
                    return await c.get(f"http://127.0.0.1:{port}/who", headers={"Host": HOST})

            answers = await asyncio.gather(*(one() for _ in range(300)))
        codes = {r.status_code for r in answers}
        assert codes <= {200, 502}, codes
        assert 200 in codes
        for r in answers:
            if r.status_code == 502:
                assert r.json()["reason"] in ("ConnectFailed", "UpstreamClosed"), r.text

    serve(table, scenario, Timeouts())


def test_silent_pod_gets_504_after_the_response_timeout(start_bad_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port = start_bad_pod("silent")

    async def scenario(rport: int, admin_port: int) -> None:
        async with httpx.AsyncClient(timeout=20) as c:
            r = await c.post(
                f"http://127.0.0.1:{rport}/predict", headers={"Host": HOST}, content=b"{}"
            )
        assert r.status_code == 504
        assert r.json()["reason"] == "UpstreamTimeout" and "default/hung" in r.json()["error"]

    serve(make_table((ip, port, "hung")), scenario)


async def closed_by_router(
    host: str, port: int, first: bytes, drip: bytes, limit_s: float = 30.0
) -> bytes:
    """Send `first`, then `drip` whenever 0.1 s pass without an answer (a slow client), until
    the router answers and closes; returns what it sent back."""
    r, w = await asyncio.open_connection(host, port)
    w.write(first)
    got = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    try:
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(r.read(65536), 0.1)
            except TimeoutError:
                w.write(drip)
                continue
            if not chunk:
                return got
            got += chunk
    except ConnectionError:
        return got
    finally:
        w.close()
    raise AssertionError(f"still open after {limit_s}s: {got!r}")


def test_slowloris_and_slow_body_clients_are_closed(start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-a")

    async def scenario(rport: int, admin_port: int) -> None:
        head = f"POST /echo HTTP/1.1\r\nHost: {HOST}\r\n".encode()
        slowloris = [closed_by_router("127.0.0.1", rport, head, b"X-a: b\r\n") for _ in range(20)]
        slow_body = [
            closed_by_router("127.0.0.1", rport, head + b"content-length: 100000\r\n\r\n", b"x")
            for _ in range(20)
        ]
        idle = [closed_by_router("127.0.0.1", rport, b"", b"") for _ in range(5)]
        answers = await asyncio.gather(*slowloris, *slow_body, *idle)
        for got in answers[:20]:
            assert b" 408 " in got and b"ClientHeaderTimeout" in got, got
        for got in answers[20:40]:
            assert b" 408 " in got and b"ClientBodyTimeout" in got, got
        assert answers[40:] == [b""] * 5  # connected, never sent a byte: closed
        # a keep-alive connection idle after its answer is closed too
        r, w = await asyncio.open_connection("127.0.0.1", rport)
        w.write(f"GET /who HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        first = await asyncio.wait_for(r.readuntil(b"}"), 10)
        assert b" 200 " in first
        while await asyncio.wait_for(r.read(65536), 30):
            pass  # the end of the chunked answer, then end of file when the router closes
        w.close()
        # an ordinary client is not hurt: a body sent at once, a request on a fresh connection
        async with httpx.AsyncClient(timeout=10) as c:
            resp = await c.post(
                f"http://127.0.0.1:{rport}/echo", headers={"Host": HOST}, content=b"y" * 500_000
            )
            assert resp.status_code == 200 and resp.content == b"y" * 500_000

    serve(make_table((ip, port, "pod-a")), scenario)


def test_head_limit_is_431_however_the_head_arrives(start_pod) -> None:  # type: ignore[no-untyped-def]
    """10,000 headers (98 KB) in one write, or dripped, to the ingress or the admin port: 431.
    A head under 64 KiB is forwarded."""
    ip, port, _ = start_pod("pod-h")
    big = b"".join(b"h%04d: v\r\n" % i for i in range(10_000))  # the issue's: 98 KB
    assert len(big) > 98_000

    async def exchange(port: int, payload: bytes, piece: int) -> bytes:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(0, len(payload), piece):
                w.write(payload[i : i + piece])
                await w.drain()
            return await asyncio.wait_for(r.read(), 20)
        except ConnectionError:
            return b"(reset)"
        finally:
            w.close()

    async def scenario(rport: int, admin_port: int) -> None:
        req = f"GET /who HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n".encode()
        for piece in (len(big) + 200, 1000):
            got = await exchange(rport, req + big + b"\r\n", piece)
            assert got.startswith(b"HTTP/1.1 431 "), got[:200]
            assert b"HeadTooLarge" in got
            got = await exchange(admin_port, b"GET /stats HTTP/1.1\r\n" + big + b"\r\n", piece)
            assert got.startswith(b"HTTP/1.1 431 "), got[:200]
        ok = b"".join(b"X-Header-%05d: v\r\n" % i for i in range(3000))  # 60 KB
        got = await exchange(rport, req + ok + b"\r\n", len(ok) + 200)
        assert got.startswith(b"HTTP/1.1 200 ") and b"pod-h" in got

    timeouts = Timeouts(header_s=30, body_s=30, keepalive_s=30, tick_s=0.1)
    serve(make_table((ip, port, "pod-h")), scenario, timeouts)
