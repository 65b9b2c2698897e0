"""Issue 13 (item 7): the router's admin port and the plane's metrics endpoint (`/sd` with pod
addresses and labels, the GPU `/metrics`) answer only with the plane's bearer token."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.testclient import TestClient

from tidal.metrics.exporter import authorized, build_app
from tidal.metrics.prometheus import config
from tidal.pods.backoff import supervised_restart
from tidal.router.admin import serve_admin
from tidal.router.table import RoutingTable

TOKEN = "s3cret-token"


def test_admin_port_needs_the_token() -> None:
    async def main() -> None:
        server, port = await serve_admin(RoutingTable(), "127.0.0.1", 0, token=TOKEN)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=10) as c:
                for path in ("/stats", "/metrics", "/routes", "/healthz", "/nope"):
                    for headers in (
                        {},
                        {"Authorization": "Bearer wrong"},
                        {"Authorization": TOKEN},
                    ):
                        r = await c.get(base + path, headers=headers)
                        assert r.status_code == 401, (path, headers)
                        assert "token" in r.json()["error"]
                        assert r.headers["www-authenticate"] == "Bearer"
                good = {"Authorization": f"Bearer {TOKEN}"}
                assert (await c.get(base + "/stats", headers=good)).status_code == 200
                health = (await c.get(base + "/healthz", headers=good)).json()
                assert health["ok"] is True and isinstance(health["pid"], int)
        finally:
            server.close()

    asyncio.run(main())


def test_exporter_sd_and_metrics_need_the_token() -> None:
    pods = [
        {
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
            "status": {"podIP": "127.0.0.9"},
        }
    ]
    client = TestClient(build_app(lambda: "gpu 1\n", lambda: pods, token=TOKEN))
    for path in ("/sd", "/metrics"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer no"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize(
    ("header", "token", "want"),
    [
        (None, None, True),  # no token configured
        (None, "t", False),
        ("Bearer t", "t", True),
        ("Bearer  t ", "t", False),
        ("bearer t", "t", False),
        ("t", "t", False),
    ],
)
def test_authorized(header: str | None, token: str | None, want: bool) -> None:
    assert authorized(header, token) is want


def test_prometheus_config_carries_the_token_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = config("http://127.0.0.1:1/sd", "127.0.0.1:1", 1.0, tmp_path / "token")
    want = {"type": "Bearer", "credentials_file": str(tmp_path / "token")}
    sd, gpu = cfg["scrape_configs"]
    assert sd["http_sd_configs"][0]["authorization"] == want
    assert gpu["authorization"] == want
    assert "authorization" not in str(config("http://x/sd", "x:1", 1.0))


@pytest.mark.parametrize(
    ("failures", "ran_s", "want"),
    [
        (0, 5.0, (1, 0.0)),  # the first exit: restart at once
        (1, 120.0, (1, 0.0)),  # after a stable run: at once again
        (1, 3.0, (2, 0.5)),  # a quick second exit: back off
        (2, 1.0, (3, 1.0)),
        (5, 1.0, (6, 8.0)),
        (6, 1.0, (7, 10.0)),  # capped
        (30, 1.0, (31, 10.0)),
        (30, 20.0, (1, 0.0)),  # ran 2 x the cap: the sequence starts again
    ],
)
def test_supervised_restart(failures: int, ran_s: float, want: tuple[int, float]) -> None:
    assert supervised_restart(failures, ran_s) == want
