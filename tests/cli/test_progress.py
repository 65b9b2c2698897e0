"""Progress while waiting (`tidal serve kserve --wait`, `tidal apply --wait`): the pure status
table, the line on a terminal and off it, and on a real plane a service that becomes ready and
one that crash-loops (the error names the pod, its event and its last log lines)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidal.cli.progress import ProgressLine, Status, status

# pods are the Deployment's through its ReplicaSet `<deployment>-<pod-template-hash>`
OWNER = [{"kind": "ReplicaSet", "name": "m-predictor-abc", "controller": True}]


def dep(replicas: int | None = 2) -> dict:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": {"name": "m-predictor", "namespace": "default"}, "spec": spec}


def pod(name: str, *, scheduled: bool = True, running: bool = False, ready: bool = False,
        waiting: str = "", restarts: int = 0, exit_code: int | None = None) -> dict:  # fmt: skip
    conds = [{"type": "PodScheduled", "status": "True" if scheduled else "False"}]
    conds.append({"type": "Ready", "status": "True" if ready else "False"})
    cs: dict = {"name": "kserve-container", "restartCount": restarts, "state": {}}
    if running:
        cs["state"] = {"running": {"startedAt": "x"}}
    elif waiting:
        cs["state"] = {"waiting": {"reason": waiting}}
    if exit_code is not None:
        cs["lastState"] = {"terminated": {"exitCode": exit_code}}
    return {
        "metadata": {"name": name, "namespace": "default", "ownerReferences": OWNER,
                     "labels": {"pod-template-hash": "abc"}},
        "spec": {"nodeName": "tidal-node"} if scheduled else {},
        "status": {"phase": "Running" if running else "Pending", "conditions": conds,
                   "containerStatuses": [cs] if (running or waiting) else []},
    }  # fmt: skip


READY_ISVC = {
    "status": {"url": "http://m.example.com", "conditions": [{"type": "Ready", "status": "True"}]}
}
NOT_READY_ISVC = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}


@pytest.mark.parametrize(
    ("kwargs", "want"),
    [
        (dict(deployment=None, pods=[], isvc=None, is_isvc=True),
         Status("m: waiting for the InferenceService")),
        (dict(deployment=None, pods=[], isvc=NOT_READY_ISVC, is_isvc=True),
         Status("m: waiting for its Deployment")),
        (dict(deployment=dep(2), pods=[pod("a", scheduled=False)], isvc=NOT_READY_ISVC, is_isvc=True),
         Status("m: pods scheduled 0/2, started 0/2, ready 0/2")),
        (dict(deployment=dep(2), pods=[pod("a", running=True), pod("b")], isvc=NOT_READY_ISVC, is_isvc=True),
         Status("m: pods scheduled 2/2, started 1/2, ready 0/2 (loading the model)")),
        (dict(deployment=dep(1), pods=[pod("a", running=True, ready=True)], isvc=READY_ISVC, is_isvc=True),
         Status("m is Ready: http://m.example.com", done=True)),
        (dict(deployment=dep(1), pods=[pod("a", waiting="CrashLoopBackOff", restarts=2, exit_code=3)],
              isvc=NOT_READY_ISVC, is_isvc=True),
         Status("m: pods scheduled 1/1, started 0/1, ready 0/1",
                failed="pod a: container kserve-container CrashLoopBackOff, exit code 3, restarted 2 time(s)",
                pod="a")),
        (dict(deployment=dep(1), pods=[pod("a", scheduled=False)], isvc=NOT_READY_ISVC, is_isvc=True,
              events=[{"reason": "FailedScheduling", "message": "0/1 nodes are available: 1 Insufficient cpu.",
                       "involvedObject": {"kind": "Pod", "name": "a"}}]),
         Status("m: pods scheduled 0/1, started 0/1, ready 0/1 — a: 0/1 nodes are available: 1 Insufficient cpu.")),
        # a plain Deployment: ready when its pods are; replicas default to 1
        (dict(deployment=dep(None), pods=[pod("a", running=True, ready=True)]),
         Status("m: 1/1 pods ready", done=True)),
        (dict(deployment=dep(2), pods=[pod("a", running=True, ready=True), pod("b", running=True)]),
         Status("m: pods scheduled 2/2, started 2/2, ready 1/2 (waiting for readiness)")),
        (dict(deployment=dep(0), pods=[]), Status("m: scaled to 0", done=True)),
    ],
)  # fmt: skip
def test_status(kwargs: dict, want: Status) -> None:
    assert status("m", **kwargs) == want


def test_progress_line_on_a_terminal_and_off_it() -> None:
    tty = io.StringIO()
    line = ProgressLine(tty, tty=True)
    line.show("a")
    line.show("a")
    line.finish("done")
    assert tty.getvalue().count("\r\033[K") == 3 and tty.getvalue().endswith("\r\033[Kdone\n")
    plain = io.StringIO()
    line = ProgressLine(plain)  # a StringIO is no terminal
    for text in ("a", "a", "b"):
        line.show(text)
    line.finish("done")
    line.finish("done")  # the last line is not repeated
    assert plain.getvalue() == "a\nb\ndone\n"


# ---- on a real plane ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    from tests.plane import running_plane, train_iris
    from tests.support import free_port

    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    with running_plane(home, free_port(), "--no-dashboard"):
        yield home, model


@pytest.mark.process
def test_serve_wait_shows_progress_until_ready(plane: tuple[Path, Path]) -> None:
    from tests.plane import run_cli

    home, model = plane
    code, _, err = run_cli(
        home, "serve", "kserve", "--name=ok", "--cpu=100m", "--memory=200Mi", "--wait",
        f"python -m sklearnserver --model_name=ok --model_dir={model} --http_port=8080",
    )  # fmt: skip
    assert code == 0, err
    lines = err.splitlines()
    assert any(ln.startswith("ok: pods scheduled") for ln in lines), err
    assert lines[-1] == "ok is Ready: http://ok-default.example.com"


@pytest.mark.process
def test_apply_wait_says_why_a_service_fails(plane: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.plane import run_cli

    home, _ = plane
    crash = "import sys; print('loading model /models/missing.joblib'); print('FileNotFoundError: no model', flush=True); sys.exit(3)"
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "broken", "namespace": "default"},
        "spec": {"predictor": {"containers": [{
            "name": "kserve-container", "image": "x", "command": ["python", "-c", crash],
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}}}]}},
    }  # fmt: skip
    path = tmp_path / "broken.yaml"
    path.write_text(json.dumps(isvc))
    code, out, err = run_cli(home, "apply", "-f", str(path), "--wait", "--wait-timeout", "120")
    assert code == 1
    assert out == "inferenceservice.serving.kserve.io/broken created\n"
    assert "error: pod broken-predictor-" in err and "CrashLoopBackOff, exit code 3" in err, err
    assert "event: Pod/broken-predictor-" in err and "BackOff" in err
    assert "HorizontalPodAutoscaler" not in err  # its autoscaler's warnings are not the reason
    assert err.count("broken: pods scheduled 1/1, started 0/1, ready 0/1\n") == 1
    assert "FileNotFoundError: no model" in err  # the pod's last log lines
