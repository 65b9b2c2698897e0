"""Issue 17's rollouts on the full local plane with the real kubectl (fresh HOME, KUBECONFIG to
the plane): Deployments own ReplicaSets, `get rs`/`get all`, `rollout status|history|undo|pause|
resume`, `set image` while paused, `describe deployment`'s ReplicaSet lines, and
`delete --cascade=foreground` (the owner outlives its pods). One plane session for all of it; the
tests run in file order and build on each other."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from tests.kubectl import Shell, user_env
from tests.plane import running_plane
from tests.support import free_port, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    kubernetes.io/change-cause: first
spec:
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: main
        image: busybox:1.36
        command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"""


@dataclass
class Session(Shell):
    files: Path

    timeout_s: ClassVar[float] = 200.0  # `rollout status --timeout=180s`


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    home = tmp_path_factory.mktemp("tidal-home")
    user = tmp_path_factory.mktemp("user-home")
    env = user_env(home, user)
    with running_plane(home, free_port(), "--no-dashboard"):
        yield Session(home, env, tmp_path_factory.mktemp("manifests"))


def images(s: Session) -> set[str]:
    pods = s.json("get", "pods", "-l", "app=web", "-o", "json")["items"]
    return {
        p["spec"]["containers"][0]["image"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    }


def rollout_status(s: Session) -> str:
    return s.out("rollout", "status", "deployment/web", "--timeout=180s")


def history(s: Session) -> dict[str, str]:
    """`rollout history`'s rows: revision -> change-cause."""
    out = s.out("rollout", "history", "deployment/web")
    assert out.splitlines()[0] == "deployment.apps/web "
    assert re.split(r"\s+", out.splitlines()[1].strip()) == ["REVISION", "CHANGE-CAUSE"]
    rows = [re.split(r"\s+", line.strip(), maxsplit=1) for line in out.splitlines()[2:] if line]
    return {r[0]: r[1] for r in rows}


def test_deployment_owns_replicasets(s: Session) -> None:
    path = s.files / "web.yaml"
    path.write_text(WEB)
    s.out("apply", "-f", str(path))
    assert 'deployment "web" successfully rolled out' in rollout_status(s)
    out = s.out("get", "rs", "-l", "app=web")
    assert re.split(r"\s{2,}", out.splitlines()[0].strip()) == [
        "NAME", "DESIRED", "CURRENT", "READY", "AGE",
    ]  # fmt: skip
    [row] = out.splitlines()[1:]
    name, desired, current, ready = row.split()[:4]
    assert re.fullmatch(r"web-[a-z0-9]+", name) and (desired, current, ready) == ("2", "2", "2")
    wide = s.out("get", "rs", name, "-o", "wide")
    assert re.split(r"\s{2,}", wide.splitlines()[0].strip())[5:] == [
        "CONTAINERS", "IMAGES", "SELECTOR",
    ]  # fmt: skip
    rs = s.json("get", "rs", name, "-o", "json")
    ann = rs["metadata"]["annotations"]
    assert ann["deployment.kubernetes.io/revision"] == "1"
    assert ann["deployment.kubernetes.io/desired-replicas"] == "2"
    assert ann["deployment.kubernetes.io/max-replicas"] == "3"
    ref = rs["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("Deployment", "web", True)
    for pod in s.json("get", "pods", "-l", "app=web", "-o", "json")["items"]:
        assert pod["metadata"]["name"].startswith(name + "-")
        assert pod["metadata"]["ownerReferences"][0]["name"] == name
    assert f"replicaset.apps/{name}" in s.out("get", "all")
    dep = s.json("get", "deploy", "web", "-o", "json")
    conds = {c["type"]: (c["status"], c["reason"]) for c in dep["status"]["conditions"]}
    assert conds == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    events = s.out("get", "events", "--field-selector", "involvedObject.name=web")
    assert f"Scaled up replica set {name} from 0 to 2" in events


def test_set_image_history_and_undo(s: Session) -> None:
    s.out("set", "image", "deployment/web", "main=busybox:1.37")
    s.out("annotate", "deployment/web", "kubernetes.io/change-cause=second", "--overwrite")
    rollout_status(s)
    wait_until(lambda: images(s) == {"busybox:1.37"}, 180, 0.5, "pods of the new image")
    assert history(s) == {"1": "first", "2": "second"}
    detail = s.out("rollout", "history", "deployment/web", "--revision=1")
    assert "busybox:1.36" in detail
    describe = s.out("describe", "deployment", "web")
    assert re.search(r"NewReplicaSet:\s+web-\S+ \(2/2 replicas created\)", describe), describe
    assert re.search(r"OldReplicaSets:\s+web-\S+ \(0/0 replicas created\)", describe), describe
    ours = s.tidal("describe", "deployment", "web")
    assert ours.returncode == 0, ours.stderr

    def rs_lines(text: str) -> list[str]:
        return [
            " ".join(line.split())
            for line in text.splitlines()
            if line.startswith(("OldReplicaSets:", "NewReplicaSet:"))
        ]

    assert rs_lines(ours.stdout) == rs_lines(describe) and len(rs_lines(describe)) == 2
    out = s.out("rollout", "undo", "deployment/web")
    assert out.strip() == "deployment.apps/web rolled back"
    rollout_status(s)
    wait_until(lambda: images(s) == {"busybox:1.36"}, 180, 0.5, "pods of the old image again")
    # the old ReplicaSet is revision 3 now, and carries its change-cause with it
    assert history(s) == {"2": "second", "3": "first"}
    assert len(s.json("get", "rs", "-l", "app=web", "-o", "json")["items"]) == 2


def test_pause_holds_a_template_change(s: Session) -> None:
    s.out("rollout", "pause", "deployment/web")
    s.out("set", "image", "deployment/web", "main=busybox:1.38")

    def paused_and_seen() -> bool:
        dep = s.json("get", "deploy", "web", "-o", "json")
        prog = next(c for c in dep["status"]["conditions"] if c["type"] == "Progressing")
        return (
            dep["status"].get("observedGeneration") == dep["metadata"]["generation"]
            and prog["reason"] == "DeploymentPaused"
            and prog["status"] == "Unknown"
        )

    wait_until(paused_and_seen, 60, 0.5, "the paused Deployment's status")
    assert len(s.json("get", "rs", "-l", "app=web", "-o", "json")["items"]) == 2
    assert images(s) == {"busybox:1.36"}
    undo = s.kubectl("rollout", "undo", "deployment/web", ok=False)
    assert undo.returncode != 0 and "paused" in undo.stderr
    s.out("rollout", "resume", "deployment/web")
    rollout_status(s)
    wait_until(lambda: images(s) == {"busybox:1.38"}, 180, 0.5, "the held change rolled out")
    assert list(history(s)) == ["2", "3", "4"]


def test_undo_to_revision_and_restart(s: Session) -> None:
    out = s.out("rollout", "undo", "deployment/web", "--to-revision=2")
    assert out.strip() == "deployment.apps/web rolled back"
    rollout_status(s)
    wait_until(lambda: images(s) == {"busybox:1.37"}, 180, 0.5, "revision 2's image")
    assert list(history(s)) == ["3", "4", "5"]
    before = {
        r["metadata"]["name"] for r in s.json("get", "rs", "-l", "app=web", "-o", "json")["items"]
    }
    assert s.out("rollout", "restart", "deployment/web").strip() == "deployment.apps/web restarted"
    rollout_status(s)
    sets = s.json("get", "rs", "-l", "app=web", "-o", "json")["items"]
    [new] = [r for r in sets if r["metadata"]["name"] not in before]
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "6"
    assert "kubectl.kubernetes.io/restartedAt" in new["spec"]["template"]["metadata"]["annotations"]
    wait_until(lambda: images(s) == {"busybox:1.37"}, 180, 0.5, "restarted pods")


def test_delete_foreground_removes_pods_first(s: Session) -> None:
    pods = {
        p["metadata"]["name"] for p in s.json("get", "pods", "-l", "app=web", "-o", "json")["items"]
    }
    assert pods
    s.out("delete", "deploy", "web", "--cascade=foreground", "--wait=false")
    dep = s.kubectl("get", "deploy", "web", "-o", "json", ok=False)
    if dep.returncode == 0:  # kept while its pods terminate
        meta = json.loads(dep.stdout)["metadata"]
        assert meta["finalizers"] == ["foregroundDeletion"] and meta["deletionTimestamp"]

    def gone() -> bool:
        return s.kubectl("get", "deploy", "web", ok=False).returncode != 0

    def owner_gone_last() -> bool:
        if gone():
            # the owner went last: no pod of it may remain once it is gone
            assert len(s.json("get", "pods", "-l", "app=web", "-o", "json")["items"]) == 0
            return True
        return False

    wait_until(owner_gone_last, 120, 0.3, "the Deployment deleted in the foreground")
    assert s.json("get", "rs", "-l", "app=web", "-o", "json")["items"] == []
