"""Issue 3's acceptance on the real local plane: API server, controllers, pods and router as real
processes on loopback. The tests share one plane (starting one is the slow part) and run in file
order: the seed's journey, bad input, the token, a killed pod, a killed plane under load, and
`serve delete`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.plane import pod_processes, run_cli, running_plane, train_iris
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
NAME = "sklearn-iris"
INPUT = ROOT / "examples" / "iris" / "iris-input.json"


@dataclass
class Plane:
    home: Path
    ingress: int
    model: Path

    def cli(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        return run_cli(self.home, *argv, stdin=stdin)

    def json(self, *argv: str) -> dict:
        code, out, err = self.cli(*argv, "-o", "json")
        assert code == 0, err
        return json.loads(out)

    def predict(self, host: str) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{self.ingress}/v1/models/{NAME}:predict",
            headers={"Host": host, "Content-Type": "application/json"},
            content=INPUT.read_bytes(),
            timeout=10,
        )


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    ingress = free_port()
    with running_plane(home, ingress):
        yield Plane(home, ingress, model)


def is_ready(p: Plane) -> bool:
    code, out, _ = p.cli(
        "get", "isvc", NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
    )
    return code == 0 and out == "True"


def test_seed_journey(plane: Plane) -> None:
    code, out, err = plane.cli(
        "serve",
        "kserve",
        f"--name={NAME}",
        "--image=kube-ai-registry.cn-shanghai.cr.aliyuncs.com/ai-sample/kserve-sklearn-server:v0.12.0",
        "--cpu=1",
        "--memory=200Mi",
        "--scale-metric=cpu",
        "--scale-target=10",
        "--min-replicas=1",
        "--max-replicas=10",
        f"python -m sklearnserver --model_name={NAME} --model_dir={plane.model} --http_port=8080",
    )
    assert code == 0, err
    assert out == f"inferenceservice.serving.kserve.io/{NAME} created\n"
    lines = err.splitlines()
    assert re.fullmatch(
        rf"INFO\[\d{{4}}\] The Job {NAME} has been submitted successfully ", lines[0]
    )
    assert lines[1].startswith("INFO[") and f"serve get {NAME} --type kserve -n default" in lines[1]

    wait_until(lambda: is_ready(plane), 120, interval_s=0.2, what="the InferenceService Ready")
    code, url, _ = plane.cli("get", "inferenceservice", NAME, "-o", "jsonpath={.status.url}")
    assert url == f"http://{NAME}-default.example.com"
    resp = plane.predict(url.split("/")[2])
    assert resp.status_code == 200 and resp.json() == {"predictions": [1, 1]}

    code, out, _ = plane.cli("serve", "get", NAME)
    assert code == 0
    assert "Type:       KServe" in out and "Available:  1" in out and "Running" in out
    hpa = plane.json("get", "hpa", f"{NAME}-predictor")
    assert hpa["spec"]["minReplicas"] == 1 and hpa["spec"]["maxReplicas"] == 10
    assert hpa["metadata"]["labels"]["app"] == f"isvc.{NAME}-predictor"


def test_record_from_the_router_gives_a_request_trace(plane: Plane, tmp_path: Path) -> None:
    from tidal.sim.traces import read_rows

    host = f"{NAME}-default.example.com"
    for _ in range(5):
        assert plane.predict(host).status_code == 200
    out = tmp_path / "requests.csv"
    code, _, err = plane.cli("record", "--router", NAME, "--since", "10m", "-o", str(out))
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert lines[0] == "TIMESTAMP,LatencySeconds,Status"
    assert len(lines) >= 6 and all(line.endswith(",200") for line in lines[1:])
    rows = read_rows(out)  # what a scenario's `requests:` and `tidal replay` read
    assert len(rows) == len(lines) - 1 and rows[0][0] == 0.0
    code, _, err = plane.cli("record", "--router", "nope")
    assert code == 1 and "the router has no Service default/nope" in err


@pytest.mark.parametrize(
    "flags",
    [
        ["--name=Bad_Name", "sleep 100"],
        ["--name=mem", "--memory=abc", "sleep 100"],
        ["--name=cpu", "--cpu=-1", "sleep 100"],
        ["--name=nocmd", "--image=img"],
    ],
    ids=["bad name", "bad memory", "negative cpu", "missing command"],
)
def test_bad_flags_create_nothing(plane: Plane, flags: list[str]) -> None:
    code, out, err = plane.cli("serve", "kserve", *flags)
    assert code == 1 and out == ""
    assert "failed to validate command args: --" in err or "command is required" in err
    names = [i["metadata"]["name"] for i in plane.json("get", "isvc")["items"]]
    assert names == [NAME]


def test_apply_bad_isvc_prints_422_causes(plane: Plane, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: serving.kserve.io/v1beta1\n"
        "kind: InferenceService\n"
        "metadata: {name: bad}\n"
        "spec:\n"
        "  predictor:\n"
        "    minReplicas: -1\n"
        "    containers: [{name: kserve-container, image: x, command: [sh, -c, 'sleep 1']}]\n"
    )
    code, out, err = plane.cli("apply", "-f", str(manifest))
    assert code == 1 and out == ""
    assert err.startswith(f'Error from server (Invalid): error when creating "{manifest}": ')
    assert (
        'InferenceService.serving.kserve.io "bad" is invalid: spec.predictor.minReplicas: '
        "Invalid value: -1: MinReplicas cannot be less than 0." in err
    )
    code, _, err = plane.cli("get", "isvc", "bad")
    assert code == 1 and "NotFound" in err


def test_api_requires_token(plane: Plane) -> None:
    ready = json.loads((plane.home / "plane.ready").read_text())
    resp = httpx.get(f"{ready['api']}/api/v1/namespaces/default/pods", verify=False)
    assert resp.status_code == 401
    assert resp.json()["kind"] == "Status" and resp.json()["code"] == 401


def _pod(plane: Plane) -> dict:
    items = [
        p
        for p in plane.json("get", "pods", "-l", f"serving.kserve.io/inferenceservice={NAME}")[
            "items"
        ]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(items) == 1, [p["metadata"]["name"] for p in items]
    return items[0]


def test_kill_pod_restarts_it(plane: Plane) -> None:
    pod = _pod(plane)
    name = pod["metadata"]["name"]
    [pid] = pod_processes(plane.home)[name]
    os.killpg(pid, signal.SIGKILL)

    def restarted() -> bool:
        p = plane.json("get", "pod", name)
        cs = (p.get("status") or {}).get("containerStatuses") or [{}]
        return cs[0].get("restartCount") == 1 and cs[0].get("ready") is True

    wait_until(restarted, 90, interval_s=0.2, what="the pod restarted once and Ready")
    code, out, _ = plane.cli("describe", "pod", name)
    assert code == 0
    assert "Restart Count:  1" in out
    assert "Last State:     Terminated" in out and "Exit Code:    137" in out


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (make system)")
def test_kill_plane_under_load_loses_nothing(plane: Plane) -> None:
    host = f"{NAME}-default.example.com"
    wait_until(lambda: plane.predict(host).status_code == 200, 60, what="the service answering")
    pod_before = _pod(plane)["metadata"]["name"]
    hey = subprocess.Popen(
        [
            "hey",
            "-z",
            "6s",
            "-c",
            "4",
            "-m",
            "POST",
            "-host",
            host,
            "-T",
            "application/json",
            "-D",
            str(INPUT),
            f"http://127.0.0.1:{plane.ingress}/v1/models/{NAME}:predict",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: hey.poll() is None, 5)
        rec = json.loads((plane.home / "plane.pid").read_text())
        os.kill(rec["pid"], signal.SIGKILL)
        report, _ = hey.communicate(timeout=60)
    finally:
        stop_process(hey)
    assert "Error distribution" not in report, report
    codes = re.findall(r"\[(\d{3})\]\s+\d+ responses", report)
    assert codes == ["200"], report

    code, out, err = plane.cli("up", "--ingress-port", str(plane.ingress))
    assert code == 0, err
    resp = plane.predict(host)
    assert resp.status_code == 200 and resp.json() == {"predictions": [1, 1]}
    assert _pod(plane)["metadata"]["name"] == pod_before  # adopted, not replaced
    wait_until(
        lambda: (
            pod_processes(plane.home) == {pod_before: pod_processes(plane.home)[pod_before]}
            and len(pod_processes(plane.home)[pod_before]) == 1
        ),
        30,
        what="exactly one process tree, the adopted pod's",
    )


def test_serve_delete_removes_everything(plane: Plane) -> None:
    pod = _pod(plane)["metadata"]["name"]
    code, _, err = plane.cli("serve", "delete", NAME)
    assert code == 0 and "has been deleted successfully" in err

    def gone() -> bool:
        for kind, name in (
            ("deploy", f"{NAME}-predictor"),
            ("svc", f"{NAME}-predictor"),
            ("hpa", f"{NAME}-predictor"),
            ("isvc", NAME),
            ("pod", pod),
        ):
            if plane.cli("get", kind, name)[0] == 0:
                return False
        return not pod_processes(plane.home)

    wait_until(gone, 90, interval_s=0.2, what="the service, its objects and processes gone")
