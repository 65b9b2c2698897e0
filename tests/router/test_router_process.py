"""The router process against the real API server process over HTTPS: it follows the API, keeps
serving when the API is killed, and a router restarted while the API is down serves from its
state file."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import stop_process, wait_until
from tidal.client.http import HttpClient

pytestmark = pytest.mark.process
HOST = "iris-default.example.com"


def _router(tmp_path: Path, name: str) -> tuple[subprocess.Popen, dict[str, int]]:
    ports = tmp_path / f"{name}.ports"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidal.router",
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
            "--port",
            "0",
            "--state-file",
            str(tmp_path / "router-state.json"),
            "--ports-file",
            str(ports),
        ],
        start_new_session=True,
    )
    wait_until(ports.exists, timeout_s=20, what=f"{name} ports file")
    return proc, json.loads(ports.read_text())


def _who(port: int) -> str | None:
    r = httpx.get(f"http://127.0.0.1:{port}/who", headers={"Host": HOST}, timeout=5)
    return r.json().get("pod") if r.status_code == 200 else None


def test_router_follows_api_and_outlives_it(tmp_path: Path, start_pod) -> None:  # type: ignore[no-untyped-def]
    ip, port, _ = start_pod("pod-r")
    url_file = tmp_path / "url"
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tidal.server",
            "--home",
            str(tmp_path),
            "--url-file",
            str(url_file),
        ],
        start_new_session=True,
    )
    procs = [api]
    try:
        wait_until(url_file.exists, timeout_s=30, what="API server")

        async def objects() -> None:
            client = HttpClient.from_kubeconfig(tmp_path / "kubeconfig")
            try:
                await client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "metadata": {
                            "name": "iris",
                            "namespace": "default",
                            "annotations": {"serving.tidal.dev/hosts": HOST},
                        },
                        "spec": {"ports": [{"port": 80, "targetPort": port}]},
                    }
                )
                await client.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Endpoints",
                        "metadata": {"name": "iris", "namespace": "default"},
                        "subsets": [
                            {
                                "addresses": [
                                    {"ip": ip, "targetRef": {"kind": "Pod", "name": "pod-r"}}
                                ],
                                "ports": [{"port": port}],
                            }
                        ],
                    }
                )
            finally:
                await client.close()

        router, ports = _router(tmp_path, "first")
        procs.append(router)
        asyncio.run(objects())
        wait_until(lambda: _who(ports["port"]) == "pod-r", what="route through the router")
        state = tmp_path / "router-state.json"
        wait_until(lambda: state.exists() and "pod-r" in state.read_text(), what="state file")
        api.send_signal(signal.SIGKILL)  # the control plane dies
        api.wait()
        for _ in range(5):
            assert _who(ports["port"]) == "pod-r"
        # a router started while the API is down serves what the last one knew
        stop_process(router)
        again, ports2 = _router(tmp_path, "second")
        procs.append(again)
        wait_until(lambda: _who(ports2["port"]) == "pod-r", what="restarted router serves")
        admin = f"http://127.0.0.1:{ports2['admin_port']}/stats"
        assert httpx.get(admin).status_code == 401  # the admin port needs the plane's token
        token = (tmp_path / "token").read_text().strip()  # the kubeconfig's token
        stats = httpx.get(admin, headers={"Authorization": f"Bearer {token}"}).json()
        assert stats["pods"]["default/pod-r"]["requests_total"] >= 1
    finally:
        for p in procs:
            stop_process(p)
