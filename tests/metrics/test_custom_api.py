"""The custom metrics API end to end on the real API server code: pods in the Registry whose
`/metrics` are real HTTP servers on loopback, `MetricsPipeline.tick()` with an injected clock, and
`custom.metrics.k8s.io` read through the ApiServer app's `get_raw` (what `kubectl get --raw` and the
HPA controller read), plus the GPU path on the named fake NVML."""

from __future__ import annotations

import asyncio
import http.server
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, stop_process, wait_until
from tidal.api import errors
from tidal.api.meta import rfc3339
from tidal.metrics.pipeline import MetricsPipeline, MetricsSettings
from tidal.server.app import ApiServer
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.serve import start_api

T0 = 1_800_000_000.0
V2 = "/apis/custom.metrics.k8s.io/v1beta2"
V1 = "/apis/custom.metrics.k8s.io/v1beta1"


class MetricsServer:
    """A real HTTP server on 127.0.0.1 whose `/metrics` (or `path`) answers `body`."""

    def __init__(self, path: str = "/metrics") -> None:
        self.body = ""
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != path:
                    self.send_error(404)
                    return
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def exposition(queue_depth: float, requests: float, inflight: dict[str, float]) -> str:
    lines = [
        "# HELP queue_depth Requests waiting.",
        "# TYPE queue_depth gauge",
        f"queue_depth {queue_depth}",
        "# HELP requests Requests served.",
        "# TYPE requests counter",
        f'requests_total{{code="200"}} {requests}',
        "# TYPE inflight gauge",
        *(f'inflight{{model="{m}"}} {v}' for m, v in inflight.items()),
    ]
    return "\n".join(lines) + "\n"


def pod_doc(name: str, port: int, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "x", "ports": [{"containerPort": port}]}
    if extra.get("gpu"):
        container["resources"] = {"limits": {"nvidia.com/gpu": "1"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels,
            "annotations": extra.get("annotations", {}),
        },
        "spec": {"containers": [container]},
    }


async def create_ready_pod(client: InProcessClient, doc: dict[str, Any]) -> None:
    pod = await client.create(doc)
    pod["status"] = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "startTime": rfc3339(T0 - 60),
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(T0 - 60)}],
    }
    await client.update(pod, subresource="status")


class Plane:
    """Registry + ApiServer app + InProcessClient + MetricsPipeline, with a settable clock."""

    def __init__(self, home: Path, **settings: Any) -> None:
        self.now = T0
        self.registry = Registry.open(home, clock=lambda: self.now)
        self.app = ApiServer(self.registry, home, "token", clock=lambda: self.now)
        self.client = InProcessClient(self.registry, raw=self.app.get_raw)
        self.pod_roots: dict[tuple[str, str], int] = {}
        self.pipeline = MetricsPipeline(
            self.client,
            home,
            MetricsSettings(resolution_s=1.0, window_s=10.0, **settings),
            pod_roots=lambda: self.pod_roots,
            clock=lambda: self.now,
        )
        for gv, provider in self.pipeline.providers().items():
            self.app.register_api(gv, provider)

    async def tick(self, advance_s: float = 1.0) -> None:
        self.now += advance_s
        await self.pipeline.tick()

    async def close(self) -> None:
        await self.pipeline.scraper.aclose()
        await self.pipeline.router.aclose()
        await self.pipeline.external.aclose()
        await self.client.close()
        self.registry.close()


@pytest.fixture
def servers() -> Iterator[list[MetricsServer]]:
    made = [MetricsServer(), MetricsServer(), MetricsServer(path="/custom/metrics")]
    try:
        yield made
    finally:
        for s in made:
            s.close()


def test_pods_services_and_deployments_through_the_api_server(
    tmp_path: Path, servers: list[MetricsServer]
) -> None:
    web0, web1, annotated = servers

    async def go() -> None:
        plane = Plane(tmp_path)
        client, get_raw = plane.client, plane.client.get_raw
        try:
            web = {"app": "web"}
            await create_ready_pod(client, pod_doc("web-0", web0.port, web))
            await create_ready_pod(client, pod_doc("web-1", web1.port, web))
            # annotations override the port and path (arena's --enable-prometheus/--metrics-port)
            await create_ready_pod(
                client,
                pod_doc(
                    "web-2",
                    1,
                    web,
                    annotations={
                        "prometheus.io/port": str(annotated.port),
                        "prometheus.io/path": "/custom/metrics",
                    },
                ),
            )
            # nothing listens on this pod's port: its scrape fails
            await create_ready_pod(client, pod_doc("web-broken", free_port(), web))
            # another app's pod: excluded by the labelSelector
            await create_ready_pod(client, pod_doc("other-0", web1.port, {"app": "other"}))
            await client.create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"selector": web, "ports": [{"port": 80}]},
                }
            )
            await client.create(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web", "namespace": "default"},
                    "spec": {
                        "replicas": 3,
                        "selector": {"matchLabels": web},
                        "template": {
                            "metadata": {"labels": web},
                            "spec": {"containers": [{"name": "main", "image": "x"}]},
                        },
                    },
                }
            )
            # three scrapes, one second apart: web-0's counter grows 10/s, web-1's 4/s
            for i in range(3):
                web0.body = exposition(0.016, 100 + 10 * i, {"a": 2, "b": 3})
                web1.body = exposition(2, 50 + 4 * i, {"a": 1})
                annotated.body = exposition(1.5, 7, {})
                await plane.tick()

            # discovery lists pods/<metric> for gauges, counters and counters' _per_second
            disc = await get_raw(V2)
            names = {r["name"] for r in disc["resources"]}
            for metric in ("queue_depth", "requests_total", "requests_per_second", "inflight"):
                assert f"pods/{metric}" in names
                assert f"services/{metric}" in names and f"deployments/{metric}" in names
            assert disc["groupVersion"] == "custom.metrics.k8s.io/v1beta2"

            # pods/* with a labelSelector: a gauge as a quantity; the failed pod has no item
            lst = await get_raw(
                f"{V2}/namespaces/default/pods/*/queue_depth", params={"labelSelector": "app=web"}
            )
            assert lst["kind"] == "MetricValueList"
            assert lst["apiVersion"] == "custom.metrics.k8s.io/v1beta2"
            by_pod = {it["describedObject"]["name"]: it for it in lst["items"]}
            assert sorted(by_pod) == ["web-0", "web-1", "web-2"]
            it = by_pod["web-0"]
            assert it["describedObject"] == {
                "kind": "Pod",
                "namespace": "default",
                "name": "web-0",
                "apiVersion": "/v1",
            }
            assert it["metric"] == {"name": "queue_depth"}
            assert it["value"] == "16m"
            assert it["timestamp"] == rfc3339(plane.now)
            assert it["windowSeconds"] == 10
            assert by_pod["web-1"]["value"] == "2"
            assert by_pod["web-2"]["value"] == "1500m"
            assert "web-broken" in {k[1] for k in plane.pipeline.scraper.errors}

            # a counter X_total is also X_per_second: its rate over the window
            rates = await get_raw(
                f"{V2}/namespaces/default/pods/*/requests_per_second",
                params={"labelSelector": "app=web"},
            )
            values = {i["describedObject"]["name"]: i["value"] for i in rates["items"]}
            assert values == {"web-0": "10", "web-1": "4", "web-2": "0"}

            # metricLabelSelector filters series; without it a pod's series are summed
            summed = await get_raw(f"{V2}/namespaces/default/pods/web-0/inflight")
            assert [i["value"] for i in summed["items"]] == ["5"]
            only_a = await get_raw(
                f"{V2}/namespaces/default/pods/*/inflight",
                params={"labelSelector": "app=web", "metricLabelSelector": "model=a"},
            )
            assert {i["describedObject"]["name"]: i["value"] for i in only_a["items"]} == {
                "web-0": "2",
                "web-1": "1",
            }
            assert only_a["items"][0]["metric"] == {
                "name": "inflight",
                "selector": {"matchLabels": {"model": "a"}},
            }

            # v1beta1: the same values in the older shape (metricName, no metric object)
            old = await get_raw(
                f"{V1}/namespaces/default/pods/*/queue_depth", params={"labelSelector": "app=web"}
            )
            assert old["apiVersion"] == "custom.metrics.k8s.io/v1beta1"
            assert {i["metricName"] for i in old["items"]} == {"queue_depth"}
            assert all("metric" not in i for i in old["items"])

            # Object metrics: the sum over the Service's / Deployment's pods
            svc = await get_raw(f"{V2}/namespaces/default/services/web/queue_depth")
            assert svc["items"][0]["describedObject"] == {
                "kind": "Service",
                "namespace": "default",
                "name": "web",
                "apiVersion": "/v1",
            }
            assert svc["items"][0]["value"] == "3516m"  # 0.016 + 2 + 1.5
            dep = await get_raw(f"{V2}/namespaces/default/deployments/web/requests_per_second")
            assert dep["items"][0]["describedObject"]["kind"] == "Deployment"
            assert dep["items"][0]["describedObject"]["apiVersion"] == "apps/v1"
            assert dep["items"][0]["value"] == "14"

            # unknown metric, the failed pod by name, unknown Service: 404 Status
            for path in (
                f"{V2}/namespaces/default/pods/*/no_such_metric",
                f"{V2}/namespaces/default/pods/web-broken/queue_depth",
                f"{V2}/namespaces/default/services/nope/queue_depth",
            ):
                with pytest.raises(errors.NotFound) as err:
                    await get_raw(path, params={"labelSelector": "app=web"})
                status = err.value.to_status()
                assert status["kind"] == "Status" and status["code"] == 404
            with pytest.raises(errors.BadRequest):
                await get_raw(
                    f"{V2}/namespaces/default/pods/*/queue_depth",
                    params={"labelSelector": "app in (web"},
                )

            # the pod's server stops: after the window it has no sample (nothing crashes)
            web1.close()
            for _ in range(11):
                await plane.tick()
            lst = await get_raw(
                f"{V2}/namespaces/default/pods/*/queue_depth", params={"labelSelector": "app=web"}
            )
            assert sorted(i["describedObject"]["name"] for i in lst["items"]) == [
                "web-0",
                "web-2",
            ]
        finally:
            await plane.close()

    asyncio.run(go())


def test_custom_metrics_over_https_with_the_token(
    tmp_path: Path, servers: list[MetricsServer]
) -> None:
    """The same API over the real HTTPS server, as kubectl reaches it (`*` in the path)."""
    web0 = servers[0]
    web0.body = exposition(3, 1, {})

    async def go() -> None:
        plane = Plane(tmp_path)
        api = await start_api(plane.registry, tmp_path, app=plane.app)
        try:
            await create_ready_pod(plane.client, pod_doc("web-0", web0.port, {"app": "web"}))
            await plane.tick()
            ca = tmp_path / "ca.pem"
            ca.write_bytes(api.ca_pem)
            async with httpx.AsyncClient(
                base_url=api.url,
                verify=ssl.create_default_context(cafile=str(ca)),
                # the app was built by the test, so its token is the one the test gave it
                headers={"Authorization": f"Bearer {plane.app.token}"},
                trust_env=False,
            ) as http:
                resp = await http.get(
                    f"{V2}/namespaces/default/pods/*/queue_depth",
                    params={"labelSelector": "app=web"},
                )
                assert resp.status_code == 200, resp.text
                assert [i["value"] for i in resp.json()["items"]] == ["3"]
                resp = await http.get(f"{V2}/namespaces/default/pods/*/nope")
                assert resp.status_code == 404 and resp.json()["kind"] == "Status"
                resp = await http.get("/apis")
                groups = {g["name"] for g in resp.json()["groups"]}
                assert "custom.metrics.k8s.io" in groups
        finally:
            await api.stop()
            await plane.close()

    asyncio.run(go())


BURN = "import time\nwhile True:\n    sum(range(10000))\n"


@pytest.mark.process
def test_gpu_metric_on_the_fake_nvml(tmp_path: Path) -> None:
    """A pod process with CUDA_VISIBLE_DEVICES=0 burning CPU shows SM utilization > 0."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BURN],
        env={"CUDA_VISIBLE_DEVICES": "0", "PATH": "/usr/bin:/bin"},
        start_new_session=True,
    )
    loop = asyncio.new_event_loop()
    plane: Plane | None = None
    try:
        plane = Plane(tmp_path, fake_gpus=1)
        p = plane
        assert p.pipeline.gpu is not None
        p.pod_roots[("default", "qwen-0")] = proc.pid
        loop.run_until_complete(
            create_ready_pod(p.client, pod_doc("qwen-0", free_port(), {"app": "qwen"}, gpu=True))
        )
        path = f"{V2}/namespaces/default/pods/*/DCGM_CUSTOM_PROCESS_SM_UTIL"

        async def sm_util() -> float:
            await p.tick()
            lst = await p.client.get_raw(path, params={"labelSelector": "app=qwen"})
            assert [i["describedObject"]["name"] for i in lst["items"]] == ["qwen-0"]
            v = lst["items"][0]["value"]
            return float(v[:-1]) / 1000 if v.endswith("m") else float(v)

        wait_until(
            lambda: loop.run_until_complete(sm_util()) > 0,
            what="DCGM_CUSTOM_PROCESS_SM_UTIL > 0 for the burning pod",
        )
        disc = loop.run_until_complete(p.client.get_raw(V2))
        assert "pods/DCGM_CUSTOM_PROCESS_SM_UTIL" in {r["name"] for r in disc["resources"]}

        # the plane's exporter endpoint: dcgm-exporter's text, parsed by prometheus-client
        async def exporter_get(url: str) -> httpx.Response:
            transport = httpx.ASGITransport(app=p.pipeline.exporter_server.config.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                return await http.get(url)

        text = loop.run_until_complete(exporter_get("/metrics")).text
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        assert set(fams) >= {
            "DCGM_FI_DEV_GPU_UTIL",
            "DCGM_FI_DEV_FB_USED",
            "DCGM_FI_DEV_FB_FREE",
            "DCGM_CUSTOM_PROCESS_SM_UTIL",
            "DCGM_CUSTOM_PROCESS_MEM_USED",
        }
        sm = fams["DCGM_CUSTOM_PROCESS_SM_UTIL"].samples
        assert [(s.labels["namespace"], s.labels["pod"]) for s in sm] == [("default", "qwen-0")]
        assert sm[0].labels["gpu"] == "0" and sm[0].labels["device"] == "nvidia0"
        assert sm[0].value > 0
        sd = loop.run_until_complete(exporter_get("/sd")).json()
        assert [g["labels"]["pod"] for g in sd] == ["qwen-0"]
    finally:
        stop_process(proc)
        if plane is not None:
            loop.run_until_complete(plane.close())
        loop.close()
