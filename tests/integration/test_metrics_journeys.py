"""Issue 9's acceptance on the real local plane: custom, GPU (fake NVML) and Prometheus metrics
driving HPAs. One plane (`tidal up --fake-gpus 2 --hpa-profile fast --metrics-resolution 1`,
with the Debian `prometheus` when installed) serves the journeys in file order; the no-GPU case
gets its own small plane. Pods run `metric_server.py`, a stdlib OpenAI-shaped server that burns
CPU per request (the fake NVML's SM utilization is a pod's CPU use) and exports a gauge read from
a file and a request counter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.plane import run_cli, start_plane, stop_plane
from tests.support import free_port, stop_process, wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.process

SERVER = Path(__file__).resolve().with_name("metric_server.py")
SM_UTIL = "DCGM_CUSTOM_PROCESS_SM_UTIL"
HAS_PROMETHEUS = shutil.which("prometheus") is not None
NEEDS_PROMETHEUS = pytest.mark.skipif(
    not HAS_PROMETHEUS, reason="the prometheus binary is not installed (make system installs it)"
)
NEEDS_HEY = pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed")
FAST = ("--hpa-profile", "fast", "--metrics-resolution", "1", "--metrics-window", "3")


@dataclass
class Plane:
    home: Path
    ingress: int
    work: Path

    def cli(self, *argv: str) -> tuple[int, str, str]:
        return run_cli(self.home, *argv)

    def json(self, *argv: str) -> dict:
        code, out, err = self.cli(*argv, "-o", "json")
        assert code == 0, err
        return json.loads(out)

    def apply(self, manifest: str) -> None:
        path = self.work / f"m{abs(hash(manifest))}.yaml"
        path.write_text(manifest)
        code, _, err = self.cli("apply", "-f", str(path))
        assert code == 0, err

    def describe_hpa(self, name: str) -> str:
        code, out, err = self.cli("describe", "hpa", name)
        assert code == 0, err
        return out

    def raw(self, path: str) -> dict:
        code, out, err = self.cli("get", "--raw", path)
        assert code == 0, err
        return json.loads(out)

    def replicas(self, deployment: str) -> int:
        return int(self.json("get", "deploy", deployment)["spec"]["replicas"])

    def condition(self, hpa: str, type_: str) -> dict:
        status = self.json("get", "hpa", hpa).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == type_), {})

    def events(self, name: str) -> list[str]:
        items = self.json("get", "events", "--field-selector", f"involvedObject.name={name}")
        return [f"{e.get('reason')}: {e.get('message')}" for e in items.get("items", [])]

    def prometheus_url(self) -> str:
        return (self.home / "prometheus" / "url").read_text().strip()


def up(tmp: Path, *flags: str) -> Plane:
    """A plane with short periods in a fresh home under `tmp`."""
    plane = Plane(tmp / "home", free_port(), tmp)
    start_plane(plane.home, plane.ingress, *FAST, *flags)
    return plane


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    tmp = tmp_path_factory.mktemp("metrics-plane")
    rules = tmp / "rules.yaml"
    rules.write_text(
        "externalRules:\n"
        "- seriesQuery: 'demo_queue_depth{namespace!=\"\"}'\n"
        '  name: {matches: "^demo_(.*)$", as: "total_${1}"}\n'
        "  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>})'\n"
    )
    flags = ["--fake-gpus", "2", "--prometheus-rules", str(rules)]
    if HAS_PROMETHEUS:
        flags += ["--prometheus", "prometheus"]
    p = up(tmp, *flags)
    try:
        yield p
    finally:
        stop_plane(p.home)


def hey(plane: Plane, host: str, *flags: str) -> subprocess.Popen:
    body = '{"model": "qwen", "messages": [{"role": "user", "content": "Perform a text."}]}'
    return subprocess.Popen(
        [
            "hey",
            *flags,
            "-m",
            "POST",
            "-host",
            host,
            "-T",
            "application/json",
            "-d",
            body,
            f"http://127.0.0.1:{plane.ingress}/v1/chat/completions",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def serve_qwen(plane: Plane, *extra: str) -> tuple[int, str, str]:
    return plane.cli(
        "serve",
        "kserve",
        "--name=qwen",
        "--gpus=1",
        "--cpu=4",
        "--memory=12Gi",
        f"--scale-metric={SM_UTIL}",
        "--scale-target=50",
        "--min-replicas=1",
        "--max-replicas=2",
        *extra,
        f"python {SERVER} --port 8080 --burn-ms 100",
    )


# the seed's `kubectl describe hpa qwen-hpa`, letter for letter
SEED_CONDITIONS = f"""Conditions:
  Type            Status  Reason            Message
  ----            ------  ------            -------
  AbleToScale     True    ReadyForNewScale  recommended size matches current size
  ScalingActive   True    ValidMetricFound  the HPA was able to successfully calculate a replica count from pods metric {SM_UTIL}
  ScalingLimited  True    TooFewReplicas    the desired replica count is less than the minimum replica count
"""


# ---- 1. the seed's GPU journey ----------------------------------------------------------------
@NEEDS_HEY
def test_seed_gpu_journey_scales_on_sm_util(plane: Plane) -> None:
    code, out, err = serve_qwen(plane)
    assert code == 0, err
    assert out == (
        "inferenceservice.serving.kserve.io/qwen created\n"
        "horizontalpodautoscaler.autoscaling/qwen-hpa created\n"
    )
    hpa = plane.json("get", "hpa", "qwen-hpa")
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": SM_UTIL},
                "target": {"type": "Utilization", "averageValue": "50"},
            },
        }
    ]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "qwen-predictor"
    # The seed waits out Kubernetes' 5-minute downscale stabilization; the test does not.
    code, _, err = plane.cli(
        "patch",
        "hpa",
        "qwen-hpa",
        "--type=merge",
        "-p",
        '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}',
    )
    assert code == 0, err

    def idle_as_seed() -> bool:
        out = plane.describe_hpa("qwen-hpa")
        return f'"{SM_UTIL}" on pods:  0 / 50' in out and SEED_CONDITIONS in out

    wait_until(idle_as_seed, 60, interval_s=0.3, what="qwen-hpa reading 0 / 50 as the seed")
    out = plane.describe_hpa("qwen-hpa")
    assert re.search(r"^Reference:\s+Deployment/qwen-predictor$", out, re.M), out
    assert re.search(r"^Min replicas:\s+1$", out, re.M) and re.search(
        r"^Max replicas:\s+2$", out, re.M
    )
    assert re.search(r"^Deployment pods:\s+1 current / 1 desired$", out, re.M), out
    assert re.search(
        rf'^Metrics:\s+\( current / target \)\n  "{SM_UTIL}" on pods:  0 / 50$', out, re.M
    )

    host = plane.json("get", "isvc", "qwen")["status"]["url"].split("/")[2]
    load = hey(plane, host, "-z", "60s", "-c", "4")
    try:
        up = f"New size: 2; reason: pods metric {SM_UTIL} above target"
        wait_until(
            lambda: f"SuccessfulRescale: {up}" in plane.events("qwen-hpa"),
            60,
            interval_s=0.3,
            what="qwen-hpa scaled to 2",
        )
        assert plane.replicas("qwen-predictor") == 2
    finally:
        stop_process(load)
    down = "New size: 1; reason: All metrics below target"
    wait_until(
        lambda: f"SuccessfulRescale: {down}" in plane.events("qwen-hpa"),
        60,
        interval_s=0.3,
        what="qwen-hpa back to 1",
    )
    out = plane.describe_hpa("qwen-hpa")
    assert re.search(
        r"Normal\s+SuccessfulRescale\s+\S+\s+horizontal-pod-autoscaler\s+" + re.escape(up), out
    ), out
    assert re.search(
        r"Normal\s+SuccessfulRescale\s+\S+\s+horizontal-pod-autoscaler\s+" + re.escape(down), out
    ), out
    code, _, err = plane.cli("serve", "delete", "qwen")
    assert code == 0, err


# ---- 2. a gauge and a counter from the pods' own /metrics -------------------------------------
def serve_demo(plane: Plane, name: str, metric: str, target: int, *extra: str) -> None:
    code, _, err = plane.cli(
        "serve",
        "kserve",
        f"--name={name}",
        f"--scale-metric={metric}",
        f"--scale-target={target}",
        "--min-replicas=1",
        "--max-replicas=2",
        *extra,
        f"python {SERVER} --port 8080 --burn-ms 1 --gauge-file {plane.work / (name + '.gauge')}",
    )
    assert code == 0, err
    code, _, err = plane.cli(
        "patch",
        "hpa",
        f"{name}-hpa",
        "--type=merge",
        "-p",
        '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}',
    )
    assert code == 0, err


def rescaled_to(plane: Plane, hpa: str, size: int, reason: str) -> bool:
    return f"SuccessfulRescale: New size: {size}; reason: {reason}" in plane.events(hpa)


def test_gauge_drives_pods_metric_up_and_down(plane: Plane) -> None:
    gauge = plane.work / "gauge.gauge"
    gauge.write_text("0")
    serve_demo(
        plane, "gauge", "demo_queue_depth", 5, "--enable-prometheus=true", "--metrics-port=8080"
    )
    try:
        pod = wait_until(
            lambda: plane.json("get", "pods", "-l", "serving.kserve.io/inferenceservice=gauge")[
                "items"
            ],
            30,
            what="the gauge pod",
        )[0]
        ann = pod["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true"
        assert (ann["prometheus.io/port"], ann["prometheus.io/path"]) == ("8080", "/metrics")

        def served() -> dict:
            got = plane.raw(
                "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/demo_queue_depth"
                "?labelSelector=serving.kserve.io%2Finferenceservice%3Dgauge"
            )
            return got if got["items"] else {}

        got = wait_until(served, 30, interval_s=0.3, what="demo_queue_depth served")
        assert got["kind"] == "MetricValueList"
        assert got["items"][0]["metric"] == {"name": "demo_queue_depth"}
        assert got["items"][0]["value"] == "0"
        assert got["items"][0]["describedObject"]["name"] == pod["metadata"]["name"]

        gauge.write_text("12")
        wait_until(
            lambda: rescaled_to(plane, "gauge-hpa", 2, "pods metric demo_queue_depth above target"),
            30,
            interval_s=0.3,
            what="gauge-hpa scaled up on the gauge",
        )
        gauge.write_text("0")
        wait_until(
            lambda: rescaled_to(plane, "gauge-hpa", 1, "All metrics below target"),
            30,
            interval_s=0.3,
            what="gauge-hpa scaled down",
        )
    finally:
        plane.cli("serve", "delete", "gauge")


@NEEDS_HEY
def test_counter_drives_per_second_metric(plane: Plane) -> None:
    serve_demo(plane, "counter", "demo_requests_per_second", 4)
    try:
        wait_until(
            lambda: "ValidMetricFound" in plane.describe_hpa("counter-hpa"),
            30,
            interval_s=0.3,
            what="counter-hpa reading demo_requests_per_second",
        )
        load = hey(plane, "counter-default.example.com", "-z", "30s", "-c", "2", "-q", "10")
        try:
            wait_until(
                lambda: rescaled_to(
                    plane, "counter-hpa", 2, "pods metric demo_requests_per_second above target"
                ),
                30,
                interval_s=0.3,
                what="counter-hpa scaled up on the request rate",
            )
        finally:
            stop_process(load)
        wait_until(
            lambda: rescaled_to(plane, "counter-hpa", 1, "All metrics below target"),
            30,
            interval_s=0.3,
            what="counter-hpa scaled down",
        )
    finally:
        plane.cli("serve", "delete", "counter")


# ---- 3. a real Prometheus: targets, externalRules, KServe's External form ---------------------
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: server
        command: [sh, -c, "python {server} --port 8080 --burn-ms 1 --gauge-file {gauge}"]
        ports: [{{containerPort: 8080}}]
"""


@NEEDS_PROMETHEUS
def test_prometheus_external_rule_scales_and_targets_show_pods(plane: Plane) -> None:
    gauge = plane.work / "promq.gauge"
    gauge.write_text("0")
    plane.apply(DEPLOYMENT.format(name="promq", server=SERVER, gauge=gauge))
    plane.apply(
        """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: promq}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: promq}
  minReplicas: 1
  maxReplicas: 2
  behavior: {scaleDown: {stabilizationWindowSeconds: 0}}
  metrics:
  - type: External
    external:
      metric: {name: total_queue_depth, selector: {matchLabels: {app: promq}}}
      target: {type: AverageValue, averageValue: "5"}
"""
    )
    try:
        prom = plane.prometheus_url()

        def pod_targets() -> list[dict]:
            body = httpx.get(f"{prom}/api/v1/targets", timeout=5).json()
            return [
                t
                for t in body["data"]["activeTargets"]
                if t["labels"].get("app") == "promq" and t["health"] == "up"
            ]

        [target] = wait_until(pod_targets, 30, interval_s=0.3, what="Prometheus scraping the pod")
        assert target["labels"]["namespace"] == "default"
        assert target["labels"]["pod"].startswith("promq-")
        assert target["labels"]["container"] == "server"
        wait_until(
            lambda: "ValidMetricFound" in plane.describe_hpa("promq"),
            30,
            interval_s=0.3,
            what="promq reading total_queue_depth from Prometheus",
        )
        got = plane.raw(
            "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/total_queue_depth"
            "?labelSelector=app%3Dpromq"
        )
        assert got["kind"] == "ExternalMetricValueList" and got["items"][0]["value"] == "0"

        gauge.write_text("12")
        reason = "external metric total_queue_depth(&LabelSelector{MatchLabels:map[string]string{app: promq,},MatchExpressions:[]LabelSelectorRequirement{},}) above target"
        wait_until(
            lambda: rescaled_to(plane, "promq", 2, reason),
            30,
            interval_s=0.3,
            what="promq scaled up on the PromQL rule",
        )
        gauge.write_text("0")
        wait_until(
            lambda: rescaled_to(plane, "promq", 1, "All metrics below target"),
            30,
            interval_s=0.3,
            what="promq scaled down",
        )
    finally:
        plane.cli("delete", "hpa", "promq")
        plane.cli("delete", "deploy", "promq")


ISVC_EXTERNAL = """apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {{name: {name}}}
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 2
    autoScaling:
      metrics:
      - type: Resource
        resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 90}}}}
      - type: External
        external:
          metric: {{backend: prometheus, serverAddress: "{server}", query: '{query}'}}
          target: {{type: Value, value: "5"}}
    containers:
    - name: kserve-container
      command: [sh, -c, "python {script} --port 8080 --burn-ms 1 --gauge-file {gauge}"]
      resources: {{requests: {{cpu: 100m}}}}
"""


@NEEDS_PROMETHEUS
def test_kserve_autoscaling_external_form(plane: Plane) -> None:
    gauge = plane.work / "kq.gauge"
    gauge.write_text("0")
    query = 'sum(demo_queue_depth{serving_kserve_io_inferenceservice="kq"})'
    plane.apply(
        ISVC_EXTERNAL.format(
            name="kq", server=plane.prometheus_url(), query=query, script=SERVER, gauge=gauge
        )
    )
    try:
        hpa = wait_until(
            lambda: plane.json("get", "hpa", "kq-predictor"), 30, what="the KServe HPA"
        )
        assert hpa["spec"]["metrics"] == [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 90},
                },
            },
            {
                "type": "External",
                "external": {
                    "metric": {
                        "name": "prometheus-query",
                        "selector": {
                            "matchLabels": {
                                "serving.kserve.io/inferenceservice": "kq",
                                "serving.tidal.dev/metric-index": "1",
                            }
                        },
                    },
                    "target": {"type": "Value", "value": "5"},
                },
            },
        ]
        plane.cli(
            "patch",
            "hpa",
            "kq-predictor",
            "--type=merge",
            "-p",
            '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":0}}}}',
        )

        def reading_zero() -> bool:
            out = plane.describe_hpa("kq-predictor")
            return "ValidMetricFound" in out and bool(
                re.search(r'"prometheus-query" \(target value\):\s+0 / 5', out)
            )

        wait_until(reading_zero, 40, interval_s=0.3, what="kq-predictor reading its query")
        gauge.write_text("12")
        wait_until(
            lambda: any(
                "New size: 2; reason: external metric prometheus-query(" in e
                for e in plane.events("kq-predictor")
            ),
            30,
            interval_s=0.3,
            what="kq-predictor scaled up on the query",
        )
        assert plane.replicas("kq-predictor") == 2
        gauge.write_text("0")
        wait_until(
            lambda: plane.replicas("kq-predictor") == 1,
            30,
            interval_s=0.3,
            what="kq-predictor scaled down",
        )
    finally:
        plane.cli("delete", "isvc", "kq")


# ---- 4. failures: the HPA shows Kubernetes' condition and keeps its replicas -------------------
FAILING_HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - {metric}
"""


def failing_deployment(name: str, port_annotation: str = "") -> str:
    ann = f"annotations: {{prometheus.io/port: '{port_annotation}'}}, " if port_annotation else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{{ann}labels: {{app: {name}}}}}
    spec:
      containers:
      - name: server
        command: [sh, -c, "python {SERVER} --port 8080 --burn-ms 1"]
        ports: [{{containerPort: 8080}}]
"""


def keeps_replicas_with(
    plane: Plane, hpa: str, reason: str, message: str, replicas: int, deployment: str = ""
) -> None:
    """The HPA reports `reason` (and `message`) and its Deployment keeps `replicas`."""

    def failing() -> bool:
        c = plane.condition(hpa, "ScalingActive")
        return c.get("status") == "False" and c.get("reason") == reason

    wait_until(failing, 40, interval_s=0.3, what=f"{hpa} ScalingActive False {reason}")
    c = plane.condition(hpa, "ScalingActive")
    assert c["message"].startswith(f"the HPA was unable to compute the replica count: {message}"), c
    # as Kubernetes: currentReplicas is recorded, desiredReplicas stays what it was (never set)
    status = plane.json("get", "hpa", hpa)["status"]
    assert status["currentReplicas"] == replicas and not status.get("desiredReplicas"), status
    assert plane.replicas(deployment or hpa) == replicas
    assert any(e.startswith(f"{reason}: ") for e in plane.events(hpa)), plane.events(hpa)


def test_scrape_failure_and_unknown_object_metric_keep_replicas(plane: Plane) -> None:
    closed = free_port()  # nothing listens there: every scrape fails
    plane.apply(failing_deployment("scrapefail", str(closed)))
    plane.apply(
        FAILING_HPA.format(
            name="scrapefail",
            metric="{type: Pods, pods: {metric: {name: demo_queue_depth}, "
            "target: {type: AverageValue, averageValue: '5'}}}",
        )
    )
    plane.apply(failing_deployment("objfail"))
    plane.apply(
        FAILING_HPA.format(
            name="objfail",
            metric="{type: Object, object: {metric: {name: no_such_metric}, describedObject: "
            "{apiVersion: apps/v1, kind: Deployment, name: objfail}, "
            "target: {type: Value, value: '1'}}}",
        )
    )
    try:

        def scrape_event() -> bool:
            pods = plane.json("get", "pods", "-l", "app=scrapefail")["items"]
            return any(
                any(
                    e.startswith(f"FailedScrape: scraping http://{p['status']['podIP']}:{closed}")
                    for e in plane.events(p["metadata"]["name"])
                )
                for p in pods
            )

        wait_until(scrape_event, 40, interval_s=0.3, what="a FailedScrape event on the pod")
        keeps_replicas_with(
            plane,
            "scrapefail",
            "FailedGetPodsMetric",
            "unable to get metric demo_queue_depth: unable to fetch metrics from custom metrics "
            "API: the server could not find the metric demo_queue_depth for pods",
            2,
        )
        keeps_replicas_with(
            plane,
            "objfail",
            "FailedGetObjectMetric",
            "unable to get metric no_such_metric: unable to fetch metrics from custom metrics API: ",
            2,
        )
    finally:
        for name in ("scrapefail", "objfail"):
            plane.cli("delete", "hpa", name)
            plane.cli("delete", "deploy", name)


def test_prometheus_down_keeps_replicas(plane: Plane) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    plane.apply(
        ISVC_EXTERNAL.format(
            name="pdown", server=down, query="sum(demo_queue_depth)", script=SERVER, gauge="x"
        )
        .replace("minReplicas: 1", "minReplicas: 2")
        .replace("maxReplicas: 2", "maxReplicas: 3")
    )
    try:
        keeps_replicas_with(
            plane,
            "pdown-predictor",
            "FailedGetExternalMetric",
            "failed to get prometheus-query external metric: unable to get external metric "
            "default/prometheus-query/",
            2,
        )
        msg = plane.condition("pdown-predictor", "ScalingActive")["message"]
        assert f"unable to query Prometheus at {down}" in msg, msg
    finally:
        plane.cli("delete", "isvc", "pdown")


@NEEDS_PROMETHEUS
def test_query_returning_nothing_keeps_replicas(plane: Plane) -> None:
    plane.apply(
        ISVC_EXTERNAL.format(
            name="pempty",
            server=plane.prometheus_url(),
            query="sum(no_such_series_anywhere) by (pod)",
            script=SERVER,
            gauge="x",
        )
        .replace("minReplicas: 1", "minReplicas: 2")
        .replace("maxReplicas: 2", "maxReplicas: 3")
    )
    try:
        keeps_replicas_with(
            plane,
            "pempty-predictor",
            "FailedGetExternalMetric",
            "failed to get prometheus-query external metric: unable to get external metric "
            "default/prometheus-query/",
            2,
        )
        msg = plane.condition("pempty-predictor", "ScalingActive")["message"]
        assert msg.endswith("no metrics returned from external metrics API"), msg
    finally:
        plane.cli("delete", "isvc", "pempty")


# ---- 1b. the same serve without the fake and without a GPU -------------------------------------
def test_without_gpu_pod_pending_and_hpa_keeps_replicas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tidal.metrics.gpu import FAKE_GPUS_ENV, open_backend

    monkeypatch.delenv(FAKE_GPUS_ENV, raising=False)
    if open_backend(None) is not None:
        pytest.skip("this machine has a GPU (NVML answers): the no-GPU case cannot be shown")
    p = up(tmp_path)
    try:
        code, _, err = serve_qwen(p)
        assert code == 0, err

        def pending_pod() -> dict:
            pods = p.json("get", "pods", "-l", "serving.kserve.io/inferenceservice=qwen")["items"]
            return pods[0] if pods and pods[0]["status"].get("phase") == "Pending" else {}

        pod = wait_until(pending_pod, 30, interval_s=0.3, what="the qwen pod Pending")
        name = pod["metadata"]["name"]
        wait_until(
            lambda: (
                "FailedScheduling: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
                in p.events(name)
            ),
            30,
            interval_s=0.3,
            what="FailedScheduling on the qwen pod",
        )
        keeps_replicas_with(
            p,
            "qwen-hpa",
            "FailedGetPodsMetric",
            f"unable to get metric {SM_UTIL}: ",
            1,
            "qwen-predictor",
        )
        assert p.json("get", "pod", name)["status"]["phase"] == "Pending"
    finally:
        stop_plane(p.home)


# ---- 5. tidal get --raw, as kubectl get --raw ---------------------------------------------------
def test_get_raw_prints_any_api_path(plane: Plane) -> None:
    assert plane.cli("get", "--raw", "/healthz") == (0, "ok\n", "")
    code, out, err = plane.cli("get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2")
    assert code == 0, err
    listing = json.loads(out)
    assert listing["kind"] == "APIResourceList"
    assert f"pods/{SM_UTIL}" in {r["name"] for r in listing["resources"]}
    code, out, err = plane.cli(
        "get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/*/nope"
    )
    assert code == 1 and out == ""
    assert err.startswith("Error from server (NotFound): "), err


# ---- 6. tidal record: a service's history from Prometheus as a trace simulate reads -------------
@NEEDS_PROMETHEUS
def test_record_from_prometheus_feeds_simulate(plane: Plane) -> None:
    prom = plane.prometheus_url()
    query = "sum(up)"  # the targets Prometheus scraped (the GPU exporter is always one)

    def samples() -> int:
        now = time.time()
        params = {"query": query, "start": now - 120, "end": now, "step": "1"}
        body = httpx.get(f"{prom}/api/v1/query_range", params=params, timeout=5).json()
        return sum(len(r["values"]) for r in body["data"]["result"]) >= 3

    wait_until(samples, 60, interval_s=0.5, what="three seconds of Prometheus samples")
    trace = plane.work / "recorded.csv"
    end = round(time.time(), 3)
    start = end - 120
    code, _, err = plane.cli(
        "record", "--prometheus", prom, "--query", query, "--start", f"{start}",
        "--end", f"{end}", "--step", "1s", "-o", str(trace),
    )  # fmt: skip
    assert code == 0, err
    rows = [r.split(",") for r in trace.read_text().splitlines()]
    assert rows[0] == ["t", "rps"] and len(rows) > 2
    body = httpx.get(
        f"{prom}/api/v1/query_range",
        params={"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "1"},
        timeout=5,
    ).json()["data"]["result"][0]["values"]
    # the file holds Prometheus' own samples, t counted from --start
    assert [(round(t - start, 3), float(v)) for t, v in body] == [
        (round(float(t), 3), float(v)) for t, v in rows[1:]
    ]

    scenario = (ROOT / "examples" / "sim" / "kpa-vs-hpa.yaml").read_text()
    scenario = scenario.replace("trace: requests.csv", f"trace: {trace}").replace(
        "duration: 10m", "duration: 2m"
    )
    (plane.work / "recorded.yaml").write_text(scenario)
    code, out, err = plane.cli("simulate", str(plane.work / "recorded.yaml"))
    assert code == 0, err
    assert "web-hpa-predictor" in out

    code, _, err = plane.cli("record", "--prometheus", prom, "--query", "sum(", "--since", "1m")
    assert code == 1 and "Prometheus rejected the query 'sum('" in err
