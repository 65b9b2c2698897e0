"""The real kubectl binary against the API server alone (no controllers), with a fresh HOME so
no discovery cache helps: each command of issue 7's list, with kubectl's own output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.apiserver import ApiServerProcess, run_api_server
from tests.support import stop_process, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: IMAGE
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: MAX
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 10}}
---
apiVersion: autoscaling.alibabacloud.com/v1beta1
kind: CronHorizontalPodAutoscaler
metadata:
  name: cron
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  jobs:
  - name: up
    schedule: "0 0 8 * * *"
    targetSize: SIZE
"""

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: NAME, labels: {app: web}}
spec:
  containers: [{name: kserve-container, image: busybox}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with run_api_server(tmp_path_factory.mktemp("home")) as s:
        yield s


@pytest.fixture(scope="module")
def env(server: ApiServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("userhome")
    return {**os.environ, "HOME": str(home), "KUBECONFIG": str(server.kubeconfig)}


def kubectl(
    env: dict[str, str], *args: str, stdin: str | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["kubectl", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    if ok:
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


def manifest(image: str = "nginx:1.26", max_replicas: int = 5, size: int = 4) -> str:
    return (
        MANIFEST.replace("IMAGE", image)
        .replace("MAX", str(max_replicas))
        .replace("SIZE", str(size))
    )


def test_version_and_api_resources(env: dict[str, str]) -> None:
    assert "Server Version: v1.32.4" in kubectl(env, "version").stdout
    out = kubectl(env, "api-resources").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["inferenceservices"][1:] == [
        "isvc",
        "serving.kserve.io/v1beta1",
        "true",
        "InferenceService",
    ]
    assert rows["horizontalpodautoscalers"][1] == "hpa"
    assert rows["cronhorizontalpodautoscalers"][1] == "cronhpa"


def test_apply_twice_get_scale_describe_delete(env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(manifest())
    out = kubectl(env, "apply", "-f", str(f)).stdout
    assert "deployment.apps/web created" in out
    assert "horizontalpodautoscaler.autoscaling/web created" in out
    assert "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com/cron created" in out
    out = kubectl(env, "apply", "-f", str(f)).stdout
    assert out.count("unchanged") == 3
    f.write_text(manifest("nginx:1.27", 8, 5))
    out = kubectl(env, "apply", "-f", str(f)).stdout
    assert out.count("configured") == 3
    # the strategic patch kept both env entries and changed the image
    dep = json.loads(kubectl(env, "get", "deploy", "web", "-o", "json").stdout)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27" and [e["name"] for e in container["env"]] == [
        "A",
        "B",
    ]
    assert dep["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]

    wide = kubectl(env, "get", "deploy", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    assert wide[1].split()[:2] == ["web", "0/2"] and wide[1].split()[-2:] == [
        "nginx:1.27",
        "app=web",
    ]
    hpa = kubectl(env, "get", "hpa").stdout.splitlines()
    assert hpa[0].split() == [
        "NAME",
        "REFERENCE",
        "TARGETS",
        "MINPODS",
        "MAXPODS",
        "REPLICAS",
        "AGE",
    ]
    assert "Deployment/web" in hpa[1] and "/10%" in hpa[1]
    assert kubectl(env, "get", "cronhpa", "-o", "name").stdout.strip() == (
        "cronhorizontalpodautoscaler.autoscaling.alibabacloud.com/cron"
    )
    assert (
        kubectl(
            env, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
        ).stdout
        == "nginx:1.27"
    )
    assert "kind: Deployment" in kubectl(env, "get", "deploy", "web", "-o", "yaml").stdout
    assert "deployment.apps/web" in kubectl(env, "get", "all").stdout

    assert (
        kubectl(env, "scale", "deploy", "web", "--replicas=3").stdout.strip()
        == "deployment.apps/web scaled"
    )
    assert kubectl(env, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    described = kubectl(env, "describe", "deploy", "web").stdout
    assert "Replicas:               3 desired" in described and "Events:" in described
    described = kubectl(env, "describe", "hpa", "web").stdout
    assert "Reference:" in described and "Max replicas:" in described and "8" in described

    out = kubectl(env, "delete", "-f", str(f)).stdout
    assert 'deployment.apps "web" deleted' in out
    missing = kubectl(env, "get", "deploy", "web", ok=False)
    assert missing.returncode != 0
    assert 'Error from server (NotFound): deployments.apps "web" not found' in missing.stderr


def test_get_watch_sees_a_new_pod(env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(POD.replace("NAME", "watched"))
    kubectl(env, "apply", "-f", str(f))
    watch = subprocess.Popen(
        ["kubectl", "get", "pods", "-w"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(watch.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        # the pod exists before the watch starts: the list prints it, the watch the change
        wait_until(
            lambda: any(line.startswith("watched") for line in lines),
            timeout_s=30,
            what="the pod in the list",
        )
        kubectl(env, "label", "pod", "watched", "tier=front")
        wait_until(
            lambda: sum(line.startswith("watched") for line in lines) >= 2,
            timeout_s=30,
            what="the change in -w",
        )
    finally:
        stop_process(watch)
        reader.join(timeout=10)
        kubectl(env, "delete", "pod", "watched", ok=False)
    rows = [line.split() for line in lines if line.startswith("watched")]
    assert rows[0][:3] == ["watched", "0/1", "Pending"]


def test_logs_and_strict_apply(
    env: dict[str, str], server: ApiServerProcess, tmp_path: Path
) -> None:
    f = tmp_path / "pod.yaml"
    f.write_text(POD.replace("NAME", "logger"))
    kubectl(env, "apply", "-f", str(f))
    logdir = server.home / "pods" / "default" / "logger"
    logdir.mkdir(parents=True)
    (logdir / "log").write_text("hello\nworld\n")
    assert kubectl(env, "logs", "logger").stdout == "hello\nworld\n"
    assert kubectl(env, "logs", "logger", "--tail=1").stdout == "world\n"
    follow = subprocess.Popen(
        ["kubectl", "logs", "-f", "logger"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(follow.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        wait_until(lambda: "world\n" in lines, timeout_s=30, what="the existing log lines")
        with (logdir / "log").open("a") as log:
            log.write("again\n")
        wait_until(lambda: "again\n" in lines, timeout_s=30, what="a line appended while following")
        kubectl(env, "delete", "pod", "logger")
        assert follow.wait(timeout=30) == 0  # the stream ends with the pod
    finally:
        stop_process(follow)
        reader.join(timeout=10)
    bad = POD.replace("NAME", "strict").replace("spec:\n", "spec:\n  foo: 1\n")
    out = kubectl(env, "apply", "-f", "-", stdin=bad, ok=False)
    assert out.returncode != 0 and 'strict decoding error: unknown field "spec.foo"' in out.stderr
    out = kubectl(env, "apply", "--server-side", "-f", str(f), ok=False)
    assert out.returncode != 0 and "server-side apply is not supported by tidal" in out.stderr
    assert kubectl(env, "create", "namespace", "team").stdout.strip() == "namespace/team created"
    assert "team" in kubectl(env, "get", "ns").stdout
    kubectl(env, "delete", "namespace", "team")
    assert "No resources found" in kubectl(env, "get", "isvc").stderr
