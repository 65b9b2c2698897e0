"""Issue 21 on a bare plane standing in for a cluster: `tidal up --controllers none` serves the API
only, and `tidal controllers` runs as separate processes that reach it through the kubeconfig
alone. The seed's CronHPA scales its Deployment at its schedule; two instances hold one Lease,
killing the leader hands over within the lease duration; a graceful stop releases the lease;
`kubectl apply --dry-run=server` of `tidal manifests controllers` succeeds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.kubectl import user_env
from tests.plane import run_cli, running_plane
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 4  # short timings keep the test quick; the defaults are kube-controller-manager's


@dataclass
class Bare:
    home: Path
    env: dict[str, str]

    def cli(self, *argv: str, stdin: str = "") -> tuple[int, str, str]:
        return run_cli(self.home, *argv, stdin=stdin)

    def get(self, *argv: str) -> dict:
        code, out, err = self.cli("get", *argv, "-o", "yaml")
        assert code == 0, err
        return yaml.safe_load(out)

    def controllers(self, identity: str, health: int) -> subprocess.Popen[bytes]:
        log = open(self.home / f"controllers-{identity}.log", "wb")
        argv = [
            sys.executable,
            "-m",
            "tidal.cli.main",
            "controllers",
            "--kubeconfig",
            str(self.home / "kubeconfig"),
            "--only",
            "cronhpa",
            "--identity",
            identity,
            "--health-port",
            str(health),
            "--leader-elect-lease-duration",
            f"{LEASE_S}s",
            "--leader-elect-renew-deadline",
            "3s",
            "--leader-elect-retry-period",
            "1s",
        ]
        try:
            return subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()

    def holder(self) -> str:
        code, out, _ = self.cli(
            "get",
            "lease",
            "tidal-controllers",
            "-n",
            "kube-system",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        )
        return out if code == 0 else ""

    def replicas(self) -> int:
        return int(self.get("deployment", "web")["spec"]["replicas"])


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bare]:
    home = tmp_path_factory.mktemp("tidal-bare")
    env = user_env(home, tmp_path_factory.mktemp("user-home"))
    with running_plane(home, free_port(), "--controllers", "none", "--no-dashboard"):
        yield Bare(home, env)


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox, command: [sleep, "3600"]}]
"""


def seed_cronhpa(every_s: int, size: int) -> str:
    """The seed's CronHPA (examples/cronhpa/cronhpa.yaml) aimed at `web`, its scale-up job
    firing every few seconds so the test need not wait for 10:30."""
    doc = yaml.safe_load((ROOT / "examples" / "cronhpa" / "cronhpa.yaml").read_text())
    doc["spec"]["scaleTargetRef"]["name"] = "web"
    for job in doc["spec"]["jobs"]:
        if job["name"] == "scale-up":
            job["schedule"] = f"*/{every_s} * * * * *"
            job["targetSize"] = size
    return yaml.safe_dump(doc)


def test_bare_plane_runs_no_controller(bare: Bare) -> None:
    code, _, err = bare.cli("apply", "-f", "-", stdin=DEPLOYMENT)
    assert code == 0, err
    code, _, err = bare.cli("apply", "-f", "-", stdin=seed_cronhpa(2, 3))
    assert code == 0, err
    # no CronHPA controller inside the plane: the job is never even submitted
    cron = bare.get("cronhpa", "qwen-cronhpa")
    assert not (cron.get("status") or {}).get("conditions")
    assert bare.replicas() == 1


def test_leader_runs_the_seed_cronhpa_and_hands_over(bare: Bare) -> None:
    ha, hb = free_port(), free_port()
    a = bare.controllers("a", ha)
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: bare.holder() == "a", 60, interval_s=0.2, what="a holds the lease")
        wait_until(lambda: bare.replicas() == 3, 60, interval_s=0.2, what="the job scales to 3")
        events = bare.cli("get", "events", "-n", "default")[1]
        assert "CronHorizontalPodAutoscaler" in events or "qwen-cronhpa" in events

        b = bare.controllers("b", hb)
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{hb}/healthz").status_code == 200,
            60,
            what="b's /healthz",
        )
        metrics_a = httpx.get(f"http://127.0.0.1:{ha}/metrics").text
        metrics_b = httpx.get(f"http://127.0.0.1:{hb}/metrics").text
        assert 'leader_election_master_status{name="tidal-controllers"} 1.0' in metrics_a
        assert 'leader_election_master_status{name="tidal-controllers"} 0.0' in metrics_b
        assert bare.holder() == "a"  # one leader

        os.killpg(a.pid, signal.SIGKILL)
        killed = time.monotonic()
        a.wait(10)
        wait_until(lambda: bare.holder() == "b", 30, interval_s=0.1, what="b takes over")
        handover = time.monotonic() - killed
        print(f"handover after the leader's kill -9: {handover:.2f} s (lease {LEASE_S} s)")
        lease = bare.get("lease", "tidal-controllers", "-n", "kube-system")
        assert lease["spec"]["leaseTransitions"] >= 1

        # the new leader acts: a changed job is carried out by b
        code, _, err = bare.cli("apply", "-f", "-", stdin=seed_cronhpa(2, 2))
        assert code == 0, err
        wait_until(lambda: bare.replicas() == 2, 60, interval_s=0.2, what="b scales to 2")

        # a graceful stop releases the lease at once (no successor waits out the duration)
        os.killpg(b.pid, signal.SIGTERM)
        assert b.wait(30) == 0
        lease = bare.get("lease", "tidal-controllers", "-n", "kube-system")
        assert not lease["spec"].get("holderIdentity")
    finally:
        stop_process(a)
        if b is not None:
            stop_process(b)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_manifests_apply_with_server_dry_run(bare: Bare, tmp_path: Path) -> None:
    code, out, err = bare.cli(
        "manifests", "controllers", "--dockerfile", str(tmp_path / "Dockerfile")
    )
    assert code == 0, err
    docs = list(yaml.safe_load_all(out))
    kinds = [d["kind"] for d in docs]
    assert kinds.count("CustomResourceDefinition") == 2
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"} <= set(kinds)
    assert "ENTRYPOINT" in (tmp_path / "Dockerfile").read_text()
    (tmp_path / "m.yaml").write_text(out)
    proc = subprocess.run(
        ["kubectl", "apply", "--dry-run=server", "-f", str(tmp_path / "m.yaml")],
        env=bare.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/" in proc.stdout
    assert "(server dry run)" in proc.stdout
    # nothing was stored
    code, _, _ = bare.cli("get", "clusterrole", "tidal-controllers")
    assert code != 0


def test_bad_flags_are_refused(bare: Bare) -> None:
    code, _, err = bare.cli("controllers", "--only", "cronhpa,nope")
    assert code == 1 and "unknown controller 'nope'" in err
    code, _, err = bare.cli(
        "controllers",
        "--leader-elect-lease-duration",
        "5s",
        "--leader-elect-renew-deadline",
        "10s",
    )
    assert code == 1 and "leaseDuration must be greater than renewDeadline" in err
