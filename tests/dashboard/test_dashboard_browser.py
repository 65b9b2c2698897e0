"""Issue 16's acceptance: the live dashboard in a real headless Chromium while `hey` loads the
iris service on a real plane. The page must show the replica chart at 2 or more, the HPA's
scaling decision drawn on it with its reason, and the service's pods, with no console error;
without the token the dashboard answers 401, and it listens on loopback only."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from tests.dashboard.browser import chromium, chromium_binary
from tests.plane import run_cli, running_plane, train_iris
from tests.support import free_port, stop_process, wait_until

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
NAME = "sklearn-iris"
KEY = f"default/{NAME}-predictor"
INPUT = ROOT / "examples" / "iris" / "iris-input.json"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    home = tmp_path_factory.mktemp("tidal-home")
    model = train_iris(tmp_path_factory.mktemp("iris-model"))
    ingress = free_port()
    with running_plane(home, ingress) as pid:
        code, _, err = run_cli(
            home,
            "serve",
            "kserve",
            f"--name={NAME}",
            "--image=kserve-sklearn-server",
            "--cpu=1",
            "--memory=200Mi",
            "--scale-metric=cpu",
            "--scale-target=10",
            "--min-replicas=1",
            "--max-replicas=3",
            f"python -m sklearnserver --model_name={NAME} --model_dir={model} --http_port=8080",
        )
        assert code == 0, err
        yield home, pid


def _ready(home: Path) -> dict:
    return json.loads((home / "plane.ready").read_text())


def test_token_and_loopback(plane: tuple[Path, int]) -> None:
    home, pid = plane
    url = _ready(home)["dashboard"]
    base, token = url.split("?token=")
    for path in ("", "events", "static/app.js", "assets/uPlot.iife.min.js", "logs/default/x"):
        assert httpx.get(base + path, timeout=10).status_code == 401, path
    assert httpx.get(f"{base}?token=wrong", timeout=10).status_code == 401
    code, out, _ = run_cli(home, "dashboard", "--no-browser")
    assert code == 0 and out == url + "\n"
    code, out, _ = run_cli(home, "up")  # `tidal up` on a running plane prints the link too
    assert code == 0 and f"dashboard:  {url}" in out
    login = httpx.get(url, timeout=10)
    assert login.status_code == 303 and "httponly" in login.headers["set-cookie"].lower()
    ok = httpx.get(base, cookies={"tidal_dashboard": token}, timeout=10)
    assert ok.status_code == 200 and "<title>tidal dashboard</title>" in ok.text
    port = int(base.rstrip("/").rsplit(":", 1)[1])
    listening = [
        c.laddr
        for c in psutil.Process(pid).net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    ]
    assert listening and all(a.ip in ("127.0.0.1", "::1") for a in listening), listening
    others = [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family.name == "AF_INET" and not a.address.startswith("127.")
    ]
    for ip in others:  # not reachable on the machine's other addresses
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://{ip}:{port}/", timeout=5)


@pytest.mark.skipif(chromium_binary() is None, reason="chromium: run scripts/install-system.sh")
@pytest.mark.skipif(shutil.which("hey") is None, reason="hey: run scripts/install-system.sh")
def test_dashboard_in_chromium_during_load(plane: tuple[Path, int], tmp_path: Path) -> None:
    home, _ = plane
    wait_until(
        lambda: (
            run_cli(
                home,
                "get",
                "isvc",
                NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            )[1]
            == "True"
        ),
        180,
        interval_s=0.3,
        what="the InferenceService Ready",
    )
    ready = _ready(home)
    hey = subprocess.Popen(
        [
            "hey", "-z", "600s", "-c", "20", "-m", "POST",
            "-host", f"{NAME}-default.example.com", "-T", "application/json",
            "-D", str(INPUT), f"http://127.0.0.1:{ready['ingress_port']}/v1/models/{NAME}:predict",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        with chromium(tmp_path / "profile") as page:
            page.call("Page.navigate", url=ready["dashboard"])
            wait_until(
                lambda: page.evaluate(f"!!document.querySelector('tr.row[data-key=\"{KEY}\"]')"),
                60,
                interval_s=0.3,
                what="the overview lists the service",
            )
            overview = page.evaluate("document.querySelector('#services').innerText")
            assert KEY in overview and "HPA" in overview
            page.call("Page.navigate", url=ready["dashboard"].split("?")[0] + f"#/{KEY}")

            def scaled() -> dict | None:
                state = page.evaluate(
                    """(() => {
                      const c = tidal.charts.replicas;
                      if (!c) return null;
                      const ready = c.data[2].filter((v) => v !== null);
                      return {ready: Math.max(0, ...ready), markers: c.tidalMarkers || [],
                              pods: document.querySelectorAll('#pods tr.pod').length,
                              podText: document.querySelector('#pods').innerText,
                              charts: Object.keys(tidal.charts)};
                    })()"""
                )
                if state and state["ready"] >= 2 and state["markers"] and state["pods"] >= 2:
                    return state
                return None

            state = wait_until(scaled, 200, interval_s=1.0, what="2+ ready replicas and a marker")
            shot = page.screenshot(tmp_path / "dashboard.png")
            errors = list(page.errors)
        assert errors == [], errors
    finally:
        stop_process(hey)
    assert set(state["charts"]) >= {"requests", "latency", "inflight", "replicas", "metrics"}
    assert "Running" in state["podText"] and f"{NAME}-predictor-" in state["podText"]
    # the marker carries the HPA's own decision: an Event of the HPA with that reason and message
    code, out, err = run_cli(home, "get", "events", "-o", "json")
    assert code == 0, err
    hpa_events = {
        (e["reason"], e["message"])
        for e in json.loads(out)["items"]
        if e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"
    }
    drawn = {(m["reason"], m["message"]) for m in state["markers"] if m["kind"] == "HPA"}
    assert drawn & hpa_events, (drawn, hpa_events)
    assert any(r == "SuccessfulRescale" and "above target" in m for r, m in drawn)
    # the run as a figure: `tidal dashboard --plot` draws what the dashboard kept
    png = tmp_path / "load.png"
    code, out, err = run_cli(home, "dashboard", "--plot", str(png), "--service", KEY)
    assert code == 0 and out == f"{png}\n", err
    assert Image.open(png).format == "PNG"
    code, _, err = run_cli(
        home, "dashboard", "--plot", str(tmp_path / "x.png"), "--service", "no/such"
    )
    assert code == 1 and "no data for no/such" in err
    # a page a person can look at: not blank
    img = Image.open(shot).convert("RGB")
    assert img.width >= 1000 and img.height >= 600
    colors = img.resize((200, 200)).getcolors(200 * 200)
    assert colors is not None and len(colors) > 50, "the screenshot looks blank"
