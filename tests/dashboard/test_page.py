"""The dashboard page in a real headless Chromium without a plane: the server on loopback fed
with frames made by `tidal.dashboard.model.frame` for a KPA service (held requests, per-pod
target) and an HPA service with a CronHPA, to show every chart and marker path renders without a
console error; live frames pushed after the page opened are drawn without a reload."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dashboard.browser import chromium, chromium_binary
from tests.support import wait_until
from tidal.dashboard import model
from tidal.dashboard.collector import Collector, sse
from tidal.dashboard.server import start_dashboard


def objects(desired: int) -> model.Inputs:
    dep = lambda name, n: {  # noqa: E731
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": n},
        "status": {"readyReplicas": n},
    }
    pa = {
        "metadata": {"name": "web", "namespace": "default", "annotations": {}},
        "spec": {"scaleTargetRef": {"name": "web"}},
    }
    hpa = {
        "metadata": {"name": "iris", "namespace": "default"},
        "spec": {"scaleTargetRef": {"name": "iris"}, "minReplicas": 1, "maxReplicas": 5},
        "status": {"currentMetrics": []},
    }
    cron = {
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"name": "iris"},
            "jobs": [{"targetSize": 2}, {"targetSize": 4}],
        },
    }
    pod = {
        "metadata": {"name": "web-1", "namespace": "default",
                     "ownerReferences": [{"kind": "Deployment", "name": "web"}]},
        "status": {"phase": "Running", "containerStatuses": [{"ready": True, "restartCount": 1}]},
    }  # fmt: skip
    return model.Inputs(
        now=time.time(),
        deployments=[dep("web", desired), dep("iris", 2)],
        hpas=[hpa],
        podautoscalers=[pa],
        cronhpas=[cron],
        pods=[pod],
        router_stats={"default/web": {"in_flight": 3, "held": 2, "buckets": []}},
        kpa_targets={"default/web": ("concurrency", 2.0)},
    )


class Served:
    """The dashboard server in a loop of its own thread, with a collector fed by hand."""

    def __init__(self) -> None:
        self.collector = Collector(client=None, admin_url="http://127.0.0.1:9")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.handle = asyncio.run_coroutine_threadsafe(
            start_dashboard(self.collector, "t0ken"), self.loop
        ).result(30)

    def push(self, desired: int, decision: dict | None = None) -> None:
        def go() -> None:
            f = model.frame(objects(desired))
            self.collector.frames.append({"t": f["t"], "services": f["services"]})
            self.collector.latest = f
            fresh = [decision] if decision else []
            self.collector.decisions.extend(fresh)
            for q in list(self.collector._subscribers):
                q.put_nowait(sse("frame", {**f, "decisions": fresh}))

        self.loop.call_soon_threadsafe(go)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.handle.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served()
    try:
        yield s
    finally:
        s.stop()


@pytest.mark.skipif(chromium_binary() is None, reason="chromium: run scripts/install-system.sh")
def test_kpa_and_cron_services_render(served: Served, tmp_path: Path) -> None:
    served.push(1)
    with chromium(tmp_path / "profile") as page:
        page.call("Page.navigate", url=served.handle.login_url)
        text = wait_until(
            lambda: page.evaluate("document.querySelector('#services tbody').innerText"),
            30,
            what="the overview",
        )
        assert "KPA web" in text and "HPA iris" in text and "concurrency" in text
        page.call("Page.navigate", url=served.handle.url + "#/default/web")
        wait_until(lambda: page.evaluate("!!tidal.charts.metrics"), 30, what="the KPA's charts")
        decision = {"id": "e#1", "t": int(time.time()), "kind": "KPA", "service": "default/web",
                    "type": "Normal", "reason": "Scaled", "message": "New size: 3"}  # fmt: skip

        def pushed_and_drawn() -> object:
            # pushed again until drawn: a frame sent while the page's event stream is still
            # (re)connecting is not replayed, and nothing else feeds this collector
            served.push(3, decision)
            return page.evaluate(
                "tidal.charts.replicas.data[1].includes(3) && tidal.charts.replicas.tidalMarkers"
            )

        drawn = wait_until(
            pushed_and_drawn, 30, interval_s=0.5, what="the pushed frame and its marker"
        )
        assert drawn[0]["reason"] == "Scaled"
        assert page.evaluate("tidal.charts.inflight.data[2].includes(2)")  # held requests
        assert "web-1" in page.evaluate("document.querySelector('#pods').innerText")
        page.call("Page.navigate", url=served.handle.url + "#/default/iris")
        series = wait_until(  # the hash change is handled after Page.navigate returns
            lambda: page.evaluate(
                "tidal.route === 'default/iris' && tidal.charts.replicas"
                " && tidal.charts.replicas.series.map((s) => s.label)"
            ),
            30,
            what="the CronHPA service's replicas chart",
        )
        assert "CronHPA largest job" in series
        assert page.errors == []
