"""Issue 10 on the real local plane: Knative's KPA with the router as activator. One plane, one
iris InferenceService scaled on concurrency with a 6 s stable window; the tests run in file
order: idle → zero (no pod process), a held request answered from zero, the hold's bounds (503
JSON on overflow and on the activation timeout), a burst scaled up in panic mode with no
error, pods removed after it while a trickle of requests goes on (none lost: the router drains)
and back to zero, and a plane killed and restarted while requests are held."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.plane import pod_processes, run_cli, running_plane, train_iris
from tests.support import free_port, stop_process, wait_until
from tidal.home import alive

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
NAME = "iris0"
PREDICTOR = f"{NAME}-predictor"
HOST = f"{NAME}-default.example.com"
INPUT = ROOT / "examples" / "iris" / "iris-input.json"
PATH = f"/v1/models/{NAME}:predict"


@dataclass
class Plane:
    home: Path
    ingress: int
    admin: int
    model: Path

    def cli(self, *argv: str) -> tuple[int, str, str]:
        return run_cli(self.home, *argv)

    def replicas(self) -> int:
        code, out, err = self.cli("get", "deploy", PREDICTOR, "-o", "jsonpath={.spec.replicas}")
        assert code == 0, err
        return int(out)

    def pods_running(self) -> int:
        return sum(1 for name in pod_processes(self.home) if name.startswith(PREDICTOR))

    def predict(self, host: str = HOST, timeout: float = 60) -> httpx.Response:
        return httpx.post(
            f"http://127.0.0.1:{self.ingress}{PATH}",
            headers={"Host": host, "Content-Type": "application/json"},
            content=INPUT.read_bytes(),
            timeout=timeout,
        )

    def held(self, service: str = PREDICTOR) -> int:
        token = (self.home / "token").read_text().strip()
        doc = httpx.get(
            f"http://127.0.0.1:{self.admin}/stats",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        return int(doc["services"].get(f"default/{service}", {}).get("held", 0))


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    ingress, admin = free_port(), free_port()
    with running_plane(home, ingress, "--admin-port", str(admin)):
        yield Plane(home, ingress, admin, model)


def in_thread(fn: Callable[[], httpx.Response]) -> Callable[[], httpx.Response | BaseException]:
    """Run `fn` now in a thread; the returned call joins it and gives its result or error."""
    box: list[httpx.Response | BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the test thread
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join() -> httpx.Response | BaseException:
        t.join(90)
        assert box, "the request thread did not finish"
        return box[0]

    return join


def at_zero(p: Plane) -> bool:
    return p.replicas() == 0 and p.pods_running() == 0


def kpa_row(p: Plane) -> list[str]:
    code, out, err = p.cli("get", "kpa", PREDICTOR)
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["NAME", "DESIREDSCALE", "ACTUALSCALE", "READY", "REASON"]
    return row.split()


def test_idle_to_zero_then_a_held_request_is_answered(plane: Plane) -> None:
    code, out, err = plane.cli(
        "serve",
        "kserve",
        f"--name={NAME}",
        "--min-replicas=0",
        "--max-replicas=5",
        "--scale-metric=concurrency",
        "--scale-target=2",
        "-a",
        "autoscaling.knative.dev/window=6s",
        f"python -m sklearnserver --model_name={NAME} --model_dir={plane.model} --http_port=8080",
    )
    assert code == 0, err
    wait_until(lambda: plane.pods_running() == 1, 60, interval_s=0.2, what="the first pod")
    wait_until(lambda: at_zero(plane), 60, interval_s=0.2, what="idle → zero replicas")
    row = kpa_row(plane)
    assert row[:3] == [PREDICTOR, "0", "0"] and row[4] == "NoTraffic"

    resp = plane.predict()
    assert resp.status_code == 200 and resp.json() == {"predictions": [1, 1]}
    assert plane.replicas() >= 1
    row = kpa_row(plane)
    assert int(row[1]) >= 1 and int(row[2]) >= 1 and row[3] == "True"


def test_hold_bounds_answer_503_json_with_the_reason(plane: Plane, tmp_path: Path) -> None:
    manifest = tmp_path / "svc.json"
    annotations = {
        "serving.tidal.dev/hosts": "cold.example.com",
        "autoscaling.tidal.dev/max-held-requests": "1",
        "autoscaling.tidal.dev/activation-timeout": "1s",
    }
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "cold", "annotations": annotations},
                "spec": {"selector": {"app": "none"}, "ports": [{"port": 80, "targetPort": 8080}]},
            }
        )
    )
    code, _, err = plane.cli("apply", "-f", str(manifest))
    assert code == 0, err
    wait_until(
        lambda: plane.predict("cold.example.com", 5).status_code == 503, 20, what="the route"
    )
    first = in_thread(lambda: plane.predict("cold.example.com"))
    wait_until(lambda: plane.held("cold") == 1, 10, what="the first request held")
    over = plane.predict("cold.example.com")
    assert over.status_code == 503
    assert over.json()["reason"] == "Overflow" and "default/cold" in over.json()["error"]
    late = first()
    assert isinstance(late, httpx.Response) and late.status_code == 503
    assert late.json()["reason"] == "Timeout" and "activation timeout" in late.json()["error"]
    assert plane.held("cold") == 0


def start_hey(plane: Plane, seconds: int, concurrency: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST", "-host", HOST]
        + ["-T", "application/json", "-D", str(INPUT), f"http://127.0.0.1:{plane.ingress}{PATH}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def all_ok(report: str) -> bool:
    return "Error distribution" not in report and re.findall(
        r"\[(\d{3})\]\s+\d+ responses", report
    ) == ["200"]


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (make system)")
def test_burst_scales_up_in_panic_then_down_while_serving_then_zero(plane: Plane) -> None:
    """A burst raises the pod count (panic mode) with no error; a trickle that keeps going while
    pods are removed after the burst loses nothing (the router drains them); then zero."""
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], plane.replicas())
            except AssertionError:
                pass
            done.wait(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    trickle = start_hey(plane, 90, 2)
    burst = start_hey(plane, 6, 20)
    try:
        report, _ = burst.communicate(timeout=60)
        assert all_ok(report), report
        assert peak[0] >= 2, f"the pod count never rose above {peak[0]}"
        top = peak[0]
        wait_until(lambda: plane.pods_running() == top, 60, interval_s=0.3, what="all pods up")
        wait_until(
            lambda: plane.replicas() < top and plane.pods_running() < top,
            60,
            interval_s=0.3,
            what="a pod removed while the trickle goes on",
        )
        trickle.send_signal(signal.SIGINT)  # hey stops and reports
        report, _ = trickle.communicate(timeout=30)
        assert all_ok(report), report
    finally:
        stop_process(burst)
        stop_process(trickle)
        done.set()
        watcher.join(5)
    wait_until(lambda: at_zero(plane), 60, interval_s=0.3, what="back to zero after the load")


def test_plane_restart_while_requests_are_held(plane: Plane) -> None:
    assert at_zero(plane)
    rec = json.loads((plane.home / "plane.pid").read_text())
    os.kill(rec["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(rec), 10, what="the plane gone")
    waiting = [in_thread(lambda: plane.predict(timeout=90)) for _ in range(2)]
    wait_until(lambda: plane.held() == 2, 10, what="both requests held by the router")

    code, _, err = plane.cli("up", "--ingress-port", str(plane.ingress))
    assert code == 0, err
    for join in waiting:
        resp = join()
        assert isinstance(resp, httpx.Response), resp
        assert resp.status_code == 200 and resp.json() == {"predictions": [1, 1]}
    assert plane.held() == 0 and plane.replicas() >= 1
