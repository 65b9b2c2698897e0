"""`tidal simulate --plot`: a readable figure drawn from the run's own data (read back from the
figure object, and a different run gives a different image); the panels' pure helpers; the
cost-vs-latency figure of `tidal tune`."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

import tidal.plots as plots
from tidal.cli.env import Env
from tidal.cli.main import main
from tidal.plots.sim import markers, panels, scale_targets
from tidal.sim.run import simulate
from tidal.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "examples" / "sim" / "kpa-vs-hpa.yaml"


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(out, err, io.StringIO()))
    return code, out.getvalue(), err.getvalue()


def test_simulate_plot_is_drawn_from_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list = []
    real = plots.figure

    def keep(*a, **kw):  # the Figure as saved, to read its data back
        fig = real(*a, **kw)
        drawn.append(fig)
        return fig

    monkeypatch.setattr(plots, "figure", keep)
    png = tmp_path / "out.png"
    code, out, err = cli("simulate", str(SCENARIO), "--plot", str(png), "--changes")
    assert code == 0, err
    assert out.rstrip().endswith(f"plot: {png}")
    img = Image.open(png)
    assert img.format == "PNG" and img.width >= 800 and img.height >= 400
    assert len(img.convert("RGB").resize((100, 100)).getcolors(10000) or []) > 20

    scenario = load_scenario(str(SCENARIO))
    records, summary = asyncio.run(simulate(scenario))
    targets = scale_targets(scenario.objects, summary.series)
    (fig,) = drawn
    titles = {
        ax.get_subplotspec().colspan.start: ax.get_title() for ax in fig.axes if ax.get_title()
    }
    by_title: dict[str, dict[str, list]] = {}
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        title = titles[ax.get_subplotspec().colspan.start]
        lines = {
            ln.get_label(): list(ln.get_ydata())
            for ln in ax.get_lines()
            if not ln.get_label().startswith("_")
        }
        by_title.setdefault(title, {}).update(
            {f"{ax.get_ylabel()}|{k}": v for k, v in lines.items()}
        )
        assert ax.get_ylabel() and "(" in ax.get_ylabel()  # every axis says its unit
        if lines:
            assert ax.get_legend() is not None
    assert set(by_title) == set(summary.series) == {"web-hpa-predictor", "web-kpa-predictor"}
    for name, s in summary.series.items():
        assert by_title[name]["replicas (pods)|ready"] == [float(v) for v in s.ready]
        assert by_title[name]["replicas (pods)|desired"] == [float(v) for v in s.desired]
        assert by_title[name]["load (req/s, in flight)|requests/s"] == [float(v) for v in s.rps]
    # every rescale of the run is a vertical marker line on its deployment's replicas axis
    for ax in fig.axes:
        if ax.get_ylabel() != "replicas (pods)":
            continue
        name = titles[ax.get_subplotspec().colspan.start]
        vertical = {
            float(ln.get_xdata()[0])
            for ln in ax.get_lines()
            if ln.get_label().startswith("_") and ln.get_xdata()[0] == ln.get_xdata()[1]
        }
        rescales = {
            r.t for r in records if r.desired != r.current and targets.get(r.name, r.name) == name
        }
        assert rescales and vertical == rescales, (name, sorted(vertical ^ rescales))
    assert any(ax.get_xlabel() == "time (s)" for ax in fig.axes)


def test_another_run_draws_another_image(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli("simulate", str(SCENARIO), "--plot", str(a))[0] == 0
    assert cli("simulate", str(SCENARIO), "--duration", "5m", "--plot", str(b))[0] == 0
    assert a.read_bytes() != b.read_bytes()


def test_html_plot_embeds_the_figure_and_the_decisions(tmp_path: Path) -> None:
    page = tmp_path / "out.html"
    code, _, err = cli("simulate", str(SCENARIO), "--duration", "3m", "--plot", str(page))
    assert code == 0, err
    text = page.read_text()
    assert "data:image/svg+xml;base64," in text and "<h2>Decisions</h2>" in text
    assert "hpa 1→" in text and "kpa 0→" in text


@pytest.mark.parametrize("name", ["out.jpg", "missing-folder/out.png"])
def test_bad_plot_path_fails_before_running(tmp_path: Path, name: str) -> None:
    code, out, err = cli("simulate", str(SCENARIO), "--plot", str(tmp_path / name))
    assert code == 1 and out == "" and "--plot" in err
    assert not (tmp_path / name).exists()


def _d(t: float, name: str, cur: int, des: int) -> SimpleNamespace:
    return SimpleNamespace(t=t, controller="hpa", name=name, current=cur, desired=des, reason="why")


def test_scale_targets_and_markers() -> None:
    objs = [
        {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
         "spec": {"scaleTargetRef": {"name": "dep-a"}}},
        {"kind": "InferenceService", "metadata": {"name": "web"}, "spec": {}},
        {"kind": "InferenceService", "metadata": {"name": "bare"}, "spec": {}},
    ]  # fmt: skip
    targets = scale_targets(objs, ["dep-a", "web-predictor", "bare"])
    assert targets == {"h": "dep-a", "web": "web-predictor", "bare": "bare"}
    ms = markers(
        [_d(1, "h", 1, 3), _d(2, "h", 3, 3), _d(3, "h", 3, 1), _d(4, "web", 0, 1)], "dep-a", targets
    )
    assert [(m.t, m.label, m.kind) for m in ms] == [(1, "hpa 1→3", "up"), (3, "hpa 3→1", "down")]


def test_panels_skip_an_empty_load_row() -> None:
    s = SimpleNamespace(t=[0, 1], rps=[0, 0], concurrency=[0, 0], desired=[1, 2], pods=[1, 2],
                        ready=[1, 1], latency_mean=[None, None], latency_max=[None, None])  # fmt: skip
    (p,) = panels({"d": s}, [], {})
    assert [a.ylabel for a in p.axes] == ["replicas (pods)"]
    s.rps, s.latency_max, s.latency_mean = [1, 2], [0.1, 0.2], [0.05, 0.1]
    (p,) = panels({"d": s}, [], {})
    assert [a.ylabel for a in p.axes] == [
        "load (req/s, in flight)",
        "replicas (pods)",
        "latency (ms)",
    ]
    assert p.axes[2].lines[1].values == [100.0, 200.0]


def test_cost_latency_plots_each_policy(tmp_path: Path) -> None:
    pts = [
        plots.Point("a", 100, 0.2),
        plots.Point("b", 50, 0.9),
        plots.Point("c", 70, 0.3, chosen=True),
    ]
    fig = plots.cost_latency(pts, title="tune")
    ax = fig.axes[0]
    offsets = [tuple(o) for coll in ax.collections for o in coll.get_offsets()]
    assert offsets == [(100, 200), (50, 900), (70, 300)]
    assert ax.get_xlabel() == "cost (replica-seconds)" and "ms" in ax.get_ylabel()
    out = plots.save(fig, tmp_path / "tune.png")
    assert Image.open(out).format == "PNG"
    with pytest.raises(plots.PlotError):
        plots.cost_latency([])


def test_live_panels_from_the_dashboard_history() -> None:
    from tidal.plots.live import panels as live_panels

    def row(desired: int, ready: int, rps: float | None) -> dict:
        return {"desired": desired, "ready": ready, "rps": rps, "errors": 0.0, "p50": 5.0,
                "p99": 9.0, "max": 4}  # fmt: skip

    history = {
        "frames": [
            {"t": 99.0, "services": {"ns/a": row(1, 1, 0.0)}},
            {"t": 100.0, "services": {"ns/a": row(1, 1, 10.0), "ns/b": row(2, 2, None)}},
            {"t": 101.0, "services": {"ns/a": row(3, 1, 30.0)}},
            {"t": 102.0, "services": {"ns/a": row(3, 3, 30.0)}},
            {"t": 103.0, "services": {"ns/a": row(1, 1, 0.0)}},
        ],
        "decisions": [
            {"service": "ns/a", "t": 100.5, "kind": "HPA", "type": "Normal",
             "reason": "SuccessfulRescale", "message": "New size: 3; reason: cpu above target"},
            {"service": "ns/a", "t": 102.5, "kind": "HPA", "type": "Normal",
             "reason": "SuccessfulRescale", "message": "New size: 1; reason: All metrics below target"},
            {"service": "ns/a", "t": 101.0, "kind": "HPA", "type": "Warning",
             "reason": "FailedGetResourceMetric", "message": "no metrics"},
            {"service": "ns/b", "t": 101.0, "kind": "KPA", "type": "Normal", "reason": "X", "message": ""},
            {"service": "ns/a", "t": 98.0, "kind": "HPA", "type": "Normal", "reason": "Old", "message": ""},
        ],
    }  # fmt: skip
    (a,) = live_panels(history, ["ns/a"], since=100.0)
    assert a.times == [0.0, 1.0, 2.0, 3.0]
    assert [ax.ylabel for ax in a.axes] == ["load (req/s)", "latency (ms)", "replicas (pods)"]
    assert a.axes[0].lines[0].values == [10.0, 30.0, 30.0, 0.0]
    assert a.axes[2].lines[0].values == [1, 3, 3, 1] and a.axes[2].lines[2].label == "max"
    assert [(m.t, m.label, m.kind) for m in a.markers] == [
        (0.5, "HPA 1→3", "up"),
        (2.5, "HPA 3→1", "down"),
        (1.0, "", "warning"),
    ]
    both = live_panels(history)
    assert [p.title for p in both] == ["ns/a", "ns/b"] and both[1].markers[0].label == "X"
    assert live_panels(history, since=200.0) == []


def test_tune_plot_draws_every_policy_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    seen: list[list[plots.Point]] = []
    real = plots.cost_latency

    def keep(points, **kw):  # type: ignore[no-untyped-def]
        seen.append(list(points))
        return real(points, **kw)

    monkeypatch.setattr(plots, "cost_latency", keep)
    png = tmp_path / "tune.png"
    scenario = ROOT / "examples" / "sim" / "azure-llm.yaml"
    code, out, err = cli("tune", str(scenario), "--budget", "3", "--jobs", "1", "--plot", str(png))
    assert code in (0, 2), err  # 2: no policy tried meets the SLO (the plot is drawn all the same)
    assert f"plot: {png}" in err and Image.open(png).format == "PNG"
    runs = int(re.search(r"(\d+) runs of", out).group(1))  # type: ignore[union-attr]
    (points,) = seen
    assert len(points) == runs and sum(p.chosen for p in points) == 1
    assert all(p.cost > 0 and p.latency_s > 0 for p in points)


def test_distinct_labels() -> None:
    assert plots.distinct_labels(["a=1 b=2", "a=1 b=3"]) == ["b=2", "b=3"]
    assert plots.distinct_labels(["a=1", "a=1"]) == ["(same)", "(same)"]
    assert plots.distinct_labels(["only one"]) == ["only one"]


def test_replay_panel_bins_the_run_by_second() -> None:
    from tidal.plots.replay import panel

    o = SimpleNamespace
    outcomes = [o(arrival_s=0.1, status=200, latency_s=0.010), o(arrival_s=0.5, status=200, latency_s=0.030),
                o(arrival_s=1.2, status=503, latency_s=1.0), o(arrival_s=2.9, status=200, latency_s=0.020)]  # fmt: skip
    replicas = [o(t_s=0.0, pods=1, ready=1, desired=1), o(t_s=1.5, pods=3, ready=1, desired=3),
                o(t_s=2.0, pods=3, ready=3, desired=3)]  # fmt: skip
    p = panel("iris", outcomes, replicas, elapsed_s=3.0)
    assert p.times == [0, 1, 2]
    load, latency, reps = p.axes
    assert load.lines[0].values == [2, 1, 1] and load.lines[1].values == [0, 1, 0]
    assert latency.lines[0].values == [10.0, None, 20.0] and latency.lines[1].values == [
        30.0,
        None,
        20.0,
    ]
    assert reps.lines[0].values == [1, 1, 3] and reps.lines[2].values == [1, 1, 3]
    assert [(m.t, m.label, m.kind) for m in p.markers] == [(1.5, "desired 1→3", "up")]


def test_replay_bad_plot_path_fails_before_sending(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("TIMESTAMP\n0\n1\n")
    code, out, err = cli(
        "replay", str(trace), "--service", "iris", "--url", "http://127.0.0.1:9",
        "--plot", str(tmp_path / "out.gif"),
    )  # fmt: skip
    assert code == 1 and out == "" and "--plot" in err
