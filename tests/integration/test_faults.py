"""Issue 13's fault injection on a real plane: a port taken before `tidal up`, and kill -9 of a
pod and of the router under `hey -c 20`. Every request gets an answer: a 2xx, or a 502/503 whose
JSON names the reason; only the requests in flight in a killed router are lost. The time the
router takes to route again after its kill is printed (measured, never asserted)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from tests.plane import pod_processes, run_cli, running_plane, stop_plane, train_iris
from tests.support import free_port, stop_process, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("hey") is None, reason="hey is not installed (make system)"),
]

ROOT = Path(__file__).resolve().parents[2]
NAME = "faulty-iris"
HOST = f"{NAME}-default.example.com"
INPUT = ROOT / "examples" / "iris" / "iris-input.json"


@pytest.mark.parametrize("flag", ["--ingress-port", "--api-port", "--admin-port"])
def test_up_fails_naming_a_taken_port(tmp_path: Path, flag: str) -> None:
    with socket.socket() as other:  # another process's listener on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        ports = {
            "--ingress-port": free_port(),
            "--api-port": free_port(),
            "--admin-port": free_port(),
        }
        ports[flag] = port
        argv = [x for f, p in ports.items() for x in (f, str(p))]
        try:
            code, out, err = run_cli(tmp_path, "up", *argv)
        finally:
            stop_plane(tmp_path)
        assert code != 0, out
        assert f"port {port} is in use" in err and flag in err, err
        assert not (tmp_path / "plane.ready").exists()


@dataclass
class Plane:
    home: Path
    ingress: int

    def url(self) -> str:
        return f"http://127.0.0.1:{self.ingress}/v1/models/{NAME}:predict"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    ingress = free_port()
    with running_plane(home, ingress):
        code, _, err = run_cli(
            home,
            "serve",
            "kserve",
            f"--name={NAME}",
            "--cpu=1",
            "--memory=200Mi",
            "--min-replicas=2",
            "--max-replicas=2",
            f"python -m sklearnserver --model_name={NAME} --model_dir={model} --http_port=8080",
        )
        assert code == 0, err
        p = Plane(home, ingress)
        wait_until(lambda: len(_pods(p)) == 2, 180, interval_s=0.2, what="two pods running")
        wait_until(lambda: _predict(p).status_code == 200, 120, what="the service answering")
        yield p


def _predict(p: Plane) -> httpx.Response:
    return httpx.post(p.url(), headers={"Host": HOST}, content=INPUT.read_bytes(), timeout=5)


def _pods(p: Plane) -> dict[str, list[int]]:
    return {k: v for k, v in pod_processes(p.home).items() if k.startswith(NAME)}


@dataclass
class Probe:
    """Requests one after another beside hey, keeping every answer that is not a 2xx."""

    plane: Plane
    stop: threading.Event = field(default_factory=threading.Event)
    bad: list[tuple[int, str]] = field(default_factory=list)
    ok: int = 0
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(timeout=5) as c:
            while not self.stop.is_set():
                try:
                    r = c.post(self.plane.url(), headers={"Host": HOST}, content=INPUT.read_bytes())
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                    continue
                if r.status_code < 300:
                    self.ok += 1
                else:
                    self.bad.append((r.status_code, r.text))


def _hey(p: Plane, duration: str = "5s") -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["hey", "-z", duration, "-c", "20", "-t", "5", "-m", "POST", "-host", HOST]
        + ["-T", "application/json", "-D", str(INPUT), p.url()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _outcomes(report: str) -> tuple[dict[str, int], int]:
    codes = {c: int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", report)}
    tail = report.split("Error distribution:", 1)[1] if "Error distribution:" in report else ""
    errors = sum(int(n) for n in re.findall(r"^\s+\[(\d+)\]\s+\S", tail, re.M))
    return codes, errors


def test_kill_pod_under_load_every_request_answered(plane: Plane) -> None:
    victim, pids = next(iter(_pods(plane).items()))
    probe = Probe(plane)
    hey = _hey(plane)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: probe.ok >= 5, 30, what="the load running")
        for pid in pids:
            os.killpg(pid, signal.SIGKILL)
        report, _ = hey.communicate(timeout=60)
    finally:
        probe.stop.set()
        thread.join(30)
        stop_process(hey)
    codes, errors = _outcomes(report)
    print(f"\nkill -9 of pod {victim} under hey -c 20: {codes}, probe 2xx {probe.ok}, "
          f"probe non-2xx {[c for c, _ in probe.bad]}")  # fmt: skip
    assert errors == 0 and "Error distribution" not in report, report
    assert set(codes) <= {"200", "502", "503"} and codes.get("200"), report
    assert probe.errors == [], probe.errors
    for code, body in probe.bad:
        assert code in (502, 503) and json.loads(body)["reason"], (code, body)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: unknown.example.com\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 404")
    except OSError:
        return False


def test_kill_router_under_load_loses_only_requests_in_flight(plane: Plane) -> None:
    before = json.loads((plane.home / "router.pid").read_text())["pid"]
    wait_until(lambda: _routers(plane.home, standby=True), 30, what="a spare router waiting")
    hey = _hey(plane)
    try:
        wait_until(lambda: _predict(plane).status_code == 200, 30, what="the load running")
        killed = time.monotonic()
        os.kill(before, signal.SIGKILL)
        wait_until(lambda: _answers(plane.ingress), 30, interval_s=0.005, what="routing again")
        back_s = time.monotonic() - killed
        report, _ = hey.communicate(timeout=60)
    finally:
        stop_process(hey)
    after = json.loads((plane.home / "router.pid").read_text())["pid"]
    codes, errors = _outcomes(report)
    print(f"\nkill -9 of the router under hey -c 20: routing again after {back_s * 1000:.0f} ms; "
          f"hey: {codes}, {errors} lost")  # fmt: skip
    assert after != before
    assert set(codes) == {"200"}, report
    # lost: the requests the killed router had read and not answered (connections reset, never
    # a timeout); at most one per hey worker, two when Go had just dialled a second connection
    assert "Timeout" not in report, report
    assert errors <= 40, report


def _routers(home: Path, standby: bool) -> list[int]:
    """Router processes of this home (the spare ones with `standby`)."""
    out = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "tidal.router" in cmd and any(str(home) in a for a in cmd):
            if ("--standby" in cmd) == standby:
                out.append(proc.info["pid"])
    return out


def test_crash_looping_service_fails_fast_with_the_reason(plane: Plane) -> None:
    """The issue's item 9: requests for a Service whose every pod crash-loops were held for the
    activation timeout (630 s); now they get a 503 naming CrashLoopBackOff once the pod says so."""
    code, _, err = run_cli(
        plane.home,
        "serve",
        "kserve",
        "--name=crashy",
        "--cpu=100m",
        "--memory=100Mi",
        "--min-replicas=1",
        "--max-replicas=1",
        "python -c 'raise SystemExit(3)'",
    )
    assert code == 0, err
    url = f"http://127.0.0.1:{plane.ingress}/v1/models/crashy:predict"
    started = time.monotonic()
    r = httpx.post(url, headers={"Host": "crashy-default.example.com"}, content=b"{}", timeout=120)
    took = time.monotonic() - started
    print(f"\ncrash-looping service: {r.status_code} after {took:.1f}s: {r.text}")
    assert r.status_code == 503, r.text
    assert r.json()["reason"] == "CrashLoopBackOff" and "crashy-predictor" in r.json()["error"]
