"""A real Prometheus (Debian's package) discovers a pod through the plane's `/sd` endpoint, scrapes
it and the GPU exporter, and the external metrics API answers PromQL over what it scraped."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, stop_process, wait_until
from tidal.api import errors
from tidal.metrics.exporter import build_app, sd_targets, server
from tidal.metrics.external_api import ExternalMetricsApi, load_rules
from tidal.metrics.prometheus import PrometheusProcess

POD_SERVER = textwrap.dedent(
    """
    import http.server, sys
    BODY = b'# TYPE queue_depth gauge\\nqueue_depth{model="iris"} 7\\n'
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        def log_message(self, *a):
            pass
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def pod(port: int) -> dict:
    return {
        "metadata": {"name": "iris-abc", "namespace": "default", "labels": {"app": "isvc.iris"}},
        "spec": {"containers": [{"name": "kserve-container", "ports": [{"containerPort": port}]}]},
        "status": {"podIP": "127.0.0.1"},
    }


def test_sd_targets_label_pods() -> None:
    groups = sd_targets([pod(8080)])
    assert groups == [
        {
            "targets": ["127.0.0.1:8080"],
            "labels": {
                "app": "isvc.iris",
                "namespace": "default",
                "pod": "iris-abc",
                "container": "kserve-container",
                "__metrics_path__": "/metrics",
            },
        }
    ]


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[str, int]]:
    pod_port, exp_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", POD_SERVER, str(pod_port)], start_new_session=True
    )
    app = build_app(lambda: "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n", lambda: [pod(pod_port)])
    srv = server(app, "127.0.0.1", exp_port)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: srv.started, timeout_s=10, what="exporter up")
        yield f"http://127.0.0.1:{exp_port}", pod_port
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        stop_process(proc)


@pytest.mark.process
def test_real_prometheus_scrapes_pods_and_answers_external_metric(
    tmp_path: Path, exporter: tuple[str, int]
) -> None:
    if not shutil.which("prometheus"):
        pytest.skip("Debian's prometheus is not installed (make system installs it)")
    exp_url, _ = exporter
    prom = PrometheusProcess(
        binary=PrometheusProcess.find_binary("prometheus"),
        home=tmp_path,
        port=free_port(),
        sd_url=f"{exp_url}/sd",
        exporter_target=exp_url.split("://")[1],
        scrape_interval_s=1,
    )
    prom.start()
    try:

        def pod_target_up() -> bool:
            r = httpx.get(f"{prom.url}/api/v1/targets", timeout=2)
            active = r.json()["data"]["activeTargets"]
            return any(t["labels"].get("pod") == "iris-abc" and t["health"] == "up" for t in active)

        wait_until(pod_target_up, timeout_s=60, interval_s=0.5, what="pod target up in Prometheus")
        rules = load_rules(
            {
                "externalRules": [
                    {
                        "seriesQuery": 'queue_depth{namespace!=""}',
                        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})",
                    }
                ]
            }
        )

        async def ask(selector: str) -> dict:
            api = ExternalMetricsApi(
                prometheus_url=prom.url, rules=rules, get_object=_no_objects, clock=lambda: 0.0
            )
            try:
                return await api.get("namespaces/default/queue_depth", {"labelSelector": selector})
            finally:
                await api.aclose()

        got = wait_until(
            lambda: asyncio.run(ask("model=iris"))["items"] or None, timeout_s=30, what="a value"
        )
        assert got[0]["value"] == "7" and got[0]["metricName"] == "queue_depth"
        assert asyncio.run(ask("model=other"))["items"] == []
    finally:
        prom.stop()


async def _no_objects(kind: str, namespace: str, name: str) -> dict:
    raise errors.NotFound(f"{kind} {name} not found")


def test_unknown_external_metric_is_404() -> None:
    api = ExternalMetricsApi(prometheus_url=None, rules=[], get_object=_no_objects, clock=lambda: 0)

    async def go() -> None:
        try:
            with pytest.raises(errors.NotFound):
                await api.get("namespaces/default/nope", {})
        finally:
            await api.aclose()

    asyncio.run(go())


def test_prometheus_down_is_an_api_error_not_a_crash() -> None:
    rules = load_rules({"externalRules": [{"seriesQuery": "x"}]})
    api = ExternalMetricsApi(
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        rules=rules,
        get_object=_no_objects,
        clock=lambda: 0,
    )

    async def go() -> None:
        try:
            with pytest.raises(errors.ApiError):
                await api.get("namespaces/default/x", {})
        finally:
            await api.aclose()

    asyncio.run(go())
