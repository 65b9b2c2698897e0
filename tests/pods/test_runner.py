"""The pod runner against the real in-process API, with real processes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from tests.support import stop_runner
from tidal.api.errors import NotFound
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient, open_inprocess

pytestmark = pytest.mark.process
T = TypeVar("T")
FAST = RunnerSettings(endpoint_drain_s=0.05, backoff_initial_s=0.2, unschedulable_retry_s=0.2)
SERVER = f"exec {sys.executable} -m http.server --bind $POD_IP 8080"


async def until(pred: Callable[[], Awaitable[T]], what: str, timeout_s: float = 30.0) -> T:
    """Wait for an async condition (polls; never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = await pred()
        except Exception as exc:  # not there yet
            last = exc
        else:
            if value:
                return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last error: {last!r})")


def pod(name: str, command: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "main",
        "image": "python:3.11",
        "command": ["sh", "-c", command],
    }
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [container], **spec},
    }


def cond(p: dict[str, Any], type_: str) -> str | None:
    for c in (p.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c["status"]
    return None


def cs(p: dict[str, Any]) -> dict[str, Any]:
    return ((p.get("status") or {}).get("containerStatuses") or [{}])[0]


async def reasons(client: InProcessClient, name: str) -> list[tuple[str, str, str]]:
    evs = await client.list("Event", "default", field_selector=f"involvedObject.name={name}")
    return [(e["reason"], e["source"]["component"], e["message"]) for e in evs["items"]]


def run(
    tmp_path: Path, scenario: Callable[[InProcessClient, PodRunner], Awaitable[None]], **kw: Any
) -> None:
    async def main() -> None:
        client = await open_inprocess(tmp_path)
        runner = PodRunner(client, tmp_path, settings=kw.pop("settings", FAST), **kw)
        task = asyncio.create_task(runner.run())
        try:
            await scenario(client, runner)
        finally:
            await stop_runner(runner, task)
            await client.close()

    asyncio.run(main())


def test_pod_runs_ready_with_env_ip_log_and_events(tmp_path: Path) -> None:
    cmd = 'echo "$POD_NAME $POD_NAMESPACE $POD_IP $GREETING" > env.txt; echo started; ' + SERVER

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        # someone else (another plane's pod) already listens on the first address's port
        squatter = socket.socket()
        squatter.bind((runner.ip_start, 8080))
        squatter.listen()
        await client.create(
            pod(
                "web",
                cmd,
                container={
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "GREETING", "value": "hi-$(POD_NAME)"}],
                },
            )
        )
        p = await until(lambda: _ready(client, "web"), "web Ready")
        ip = p["status"]["podIP"]
        squatter.close()
        assert ip.startswith("127.") and ip not in ("127.0.0.1", runner.ip_start)
        assert p["spec"]["nodeName"] == "tidal-node" and p["status"]["phase"] == "Running"
        assert cs(p)["ready"] is True and "running" in cs(p)["state"]
        folder = tmp_path / "pods" / "default" / "web"
        assert (folder / "work" / "env.txt").read_text().split() == ["web", "default", ip, "hi-web"]
        assert "started" in (folder / "log").read_text()
        got = [r[:2] for r in await reasons(client, "web")]
        for want in [
            ("Scheduled", "default-scheduler"),
            ("Pulled", "kubelet"),
            ("Created", "kubelet"),
            ("Started", "kubelet"),
        ]:
            assert want in got
        # a second pod gets another address
        await client.create(pod("web2", SERVER, container={"ports": [{"containerPort": 8080}]}))
        p2 = await until(lambda: _ready(client, "web2"), "web2 Ready")
        assert p2["status"]["podIP"] != ip

    run(tmp_path, scenario)


async def _ready(client: InProcessClient, name: str) -> dict[str, Any] | None:
    p = await client.get("Pod", name, "default")
    return p if cond(p, "Ready") == "True" else None


def test_kill_restarts_with_count_and_last_state(tmp_path: Path) -> None:
    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("k", SERVER, container={"ports": [{"containerPort": 8080}]}))
        p = await until(lambda: _ready(client, "k"), "k Ready")
        pid = int(cs(p)["containerID"].removeprefix("tidal://"))
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> dict[str, Any] | None:
            q = await client.get("Pod", "k", "default")
            return q if cs(q).get("restartCount") == 1 and cond(q, "Ready") == "True" else None

        q = await until(restarted, "restart")
        last = cs(q)["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (137, "Error")
        assert int(cs(q)["containerID"].removeprefix("tidal://")) != pid

    run(tmp_path, scenario)


def test_crash_loop_backs_off(tmp_path: Path) -> None:
    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("crash", "echo boom; exit 3"))

        async def looping() -> dict[str, Any] | None:
            q = await client.get("Pod", "crash", "default")
            w = cs(q).get("state", {}).get("waiting", {})
            return (
                q if w.get("reason") == "CrashLoopBackOff" and cs(q)["restartCount"] >= 2 else None
            )

        q = await until(looping, "CrashLoopBackOff")
        assert (
            "restarting failed container=main pod=crash_default("
            in cs(q)["state"]["waiting"]["message"]
        )
        assert cs(q)["lastState"]["terminated"]["exitCode"] == 3
        assert q["status"]["phase"] == "Running" and cond(q, "Ready") == "False"
        backoffs = [r for r in await reasons(client, "crash") if r[0] == "BackOff"]
        assert backoffs and backoffs[0][2].startswith(
            "Back-off restarting failed container main in pod crash_default("
        )

    run(tmp_path, scenario)


def test_delete_terms_then_kills_after_grace(tmp_path: Path) -> None:
    stubborn = "trap '' TERM; echo up; while true; do sleep 0.05; done"

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("polite", SERVER, container={"ports": [{"containerPort": 8080}]}))
        await client.create(pod("stubborn", stubborn, terminationGracePeriodSeconds=1))
        p1 = await until(lambda: _ready(client, "polite"), "polite Ready")
        p2 = await until(lambda: _ready(client, "stubborn"), "stubborn Ready")
        pids = [int(cs(p)["containerID"].removeprefix("tidal://")) for p in (p1, p2)]
        for name in ("polite", "stubborn"):
            await client.delete("Pod", name, "default")

        async def gone(name: str) -> bool:
            try:
                await client.get("Pod", name, "default")
            except NotFound:
                return True
            return False

        for name in ("polite", "stubborn"):
            await until(lambda name=name: gone(name), f"{name} deleted")
        for pid in pids:
            assert (
                not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            )
        assert ("Killing", "kubelet", "Stopping container main") in await reasons(
            client, "stubborn"
        )
        assert not (tmp_path / "pods" / "default" / "polite").exists()

    run(tmp_path, scenario)


def test_gpu_requests_scheduled_against_inventory(tmp_path: Path) -> None:
    gpu = {"resources": {"limits": {"nvidia.com/gpu": "1"}}}

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(
            pod("g1", 'echo "gpus=$CUDA_VISIBLE_DEVICES" > cuda.txt; exec sleep 60', container=gpu)
        )
        await until(lambda: _ready(client, "g1"), "g1 Ready")
        await until(lambda: _read(tmp_path / "pods/default/g1/work/cuda.txt"), "cuda.txt")
        assert (tmp_path / "pods/default/g1/work/cuda.txt").read_text().strip() == "gpus=0"
        await client.create(pod("g2", "exec sleep 60", container=gpu))

        async def pending() -> dict[str, Any] | None:
            q = await client.get("Pod", "g2", "default")
            return q if cond(q, "PodScheduled") == "False" else None

        q = await until(pending, "g2 unschedulable")
        assert q["status"]["phase"] == "Pending"
        msg = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        assert ("FailedScheduling", "default-scheduler", msg) in await reasons(client, "g2")
        # the GPU comes free: the pending pod gets it
        await client.delete("Pod", "g1", "default")
        await until(lambda: _ready(client, "g2"), "g2 Ready")

    run(tmp_path, scenario, gpus=["0"])


async def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_restarted_runner_adopts_and_kills_orphans(tmp_path: Path) -> None:
    async def main() -> None:
        client = await open_inprocess(tmp_path)
        pids: list[int] = []
        try:
            first = PodRunner(client, tmp_path, settings=FAST)
            task = asyncio.create_task(first.run())
            await client.create(pod("keep", SERVER, container={"ports": [{"containerPort": 8080}]}))
            await client.create(pod("gone", "exec sleep 60"))
            keep = await until(lambda: _ready(client, "keep"), "keep Ready")
            gone = await until(lambda: _ready(client, "gone"), "gone Ready")
            pids = [int(cs(p)["containerID"].removeprefix("tidal://")) for p in (keep, gone)]
            task.cancel()
            await first.stop()  # the plane goes away; pods keep running
            assert all(psutil.pid_exists(pid) for pid in pids)
            # while no runner runs, "gone" is deleted for good
            await client.delete("Pod", "gone", "default", grace_period_seconds=0)
            second = PodRunner(client, tmp_path, settings=FAST)
            task = asyncio.create_task(second.run())
            await asyncio.wait_for(second.started.wait(), 30)
            await until(lambda: _not_running(pids[1]), "orphan killed")
            again = await until(lambda: _ready(client, "keep"), "keep still Ready")
            assert (
                cs(again)["containerID"] == f"tidal://{pids[0]}" and cs(again)["restartCount"] == 0
            )
            assert again["status"]["podIP"] == keep["status"]["podIP"]
            task.cancel()
            await second.stop()
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            await client.close()

    asyncio.run(main())


async def _not_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def host_pid(runner: PodRunner, pod_name: str, inner: int) -> int:
    """The machine's pid of a pod's process known by its pid inside the pod (`NSpid`)."""
    for w in runner.workers.values():
        if w.name != pod_name:
            continue
        for _, ref in w.refs.values():
            for p in [psutil.Process(ref.pid), *psutil.Process(ref.pid).children(recursive=True)]:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("NSpid:") and int(line.split()[-1]) == inner:
                        return p.pid
    raise AssertionError(f"no process {inner} in pod {pod_name}")


def test_delete_leaves_no_orphan_even_outside_the_group(tmp_path: Path) -> None:
    # a child that starts its own session is out of the process group, not out of the tree
    cmd = "setsid sleep 300 & echo $! > escaped.pid; exec sleep 300"

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("esc", cmd, terminationGracePeriodSeconds=2))
        await until(lambda: _ready(client, "esc"), "esc Ready")
        pid_file = tmp_path / "pods/default/esc/work/escaped.pid"
        inner = int(await until(lambda: _read(pid_file), "escaped.pid"))
        escaped = host_pid(runner, "esc", inner)  # `$!` is a pid of the pod's namespace
        assert psutil.pid_exists(escaped)
        await client.delete("Pod", "esc", "default")
        await until(lambda: _not_running(escaped), "escaped child killed")

    run(tmp_path, scenario)


def test_resource_metrics_of_a_running_pod(tmp_path: Path) -> None:
    from tidal.metrics.resource import ResourceMetricsApi, ResourceSampler

    busy = f"exec {sys.executable} -c 'while True: pass'"

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        sampler = ResourceSampler(runner.pod_targets, resolution_s=0.2, window_s=1.0)
        api = ResourceMetricsApi(sampler)
        task = asyncio.create_task(sampler.run())
        try:
            p = pod("busy", busy)
            p["metadata"]["labels"] = {"app": "busy"}
            await client.create(p)

            async def hot() -> dict[str, Any] | None:
                got = await api.get(
                    "v1beta1", "namespaces/default/pods", {"labelSelector": "app=busy"}
                )
                items = got["items"]
                if not items:
                    return None
                cpu = items[0]["containers"][0]["usage"]["cpu"]
                return items[0] if int(cpu.removesuffix("n")) > 100_000_000 else None  # > 100m

            item = await until(hot, "busy pod's CPU in metrics.k8s.io")
            assert item["metadata"]["name"] == "busy" and item["containers"][0]["name"] == "main"
            assert int(item["containers"][0]["usage"]["memory"].removesuffix("Ki")) > 1024
        finally:
            task.cancel()

    run(tmp_path, scenario)


def test_http_readiness_probe_sets_and_clears_ready(tmp_path: Path) -> None:
    probe = {
        "httpGet": {"path": "/ready.txt", "port": "http"},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    spec = {"ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": probe}

    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("probed", SERVER, container=spec))
        folder = tmp_path / "pods/default/probed"

        async def probed_and_failed() -> bool:
            log = await _read(folder / "log")
            return '"GET /ready.txt HTTP/1.1" 404' in log

        await until(probed_and_failed, "a failed probe")
        p = await client.get("Pod", "probed", "default")
        assert cond(p, "Ready") == "False" and "running" in cs(p)["state"]
        (folder / "work" / "ready.txt").write_text("ok")
        p = await until(lambda: _ready(client, "probed"), "Ready after the probe passes")
        became_ready = next(c for c in p["status"]["conditions"] if c["type"] == "Ready")
        (folder / "work" / "ready.txt").unlink()

        async def unready() -> dict[str, Any] | None:
            q = await client.get("Pod", "probed", "default")
            return q if cond(q, "Ready") == "False" else None

        q = await until(unready, "Ready false after the probe fails again")
        again = next(c for c in q["status"]["conditions"] if c["type"] == "Ready")
        assert again["lastTransitionTime"] >= became_ready["lastTransitionTime"]
        assert again["reason"] == "ContainersNotReady"

    run(tmp_path, scenario)


def test_restart_policy_never_ends_in_phase(tmp_path: Path) -> None:
    async def scenario(client: InProcessClient, runner: PodRunner) -> None:
        await client.create(pod("ok", "echo done", restartPolicy="Never"))
        await client.create(pod("bad", "exit 4", restartPolicy="Never"))

        async def phase(name: str, want: str) -> dict[str, Any] | None:
            q = await client.get("Pod", name, "default")
            return q if q.get("status", {}).get("phase") == want else None

        ok = await until(lambda: phase("ok", "Succeeded"), "ok Succeeded")
        bad = await until(lambda: phase("bad", "Failed"), "bad Failed")
        assert cs(ok)["state"]["terminated"]["reason"] == "Completed"
        assert cs(bad)["state"]["terminated"]["exitCode"] == 4 and cs(bad)["restartCount"] == 0

    run(tmp_path, scenario)
