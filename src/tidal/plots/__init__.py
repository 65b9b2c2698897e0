"""Figures from plain series (matplotlib, Agg: no display needed): whatever produced the numbers
(`tidal simulate`, a live load test, a benchmark), a figure is a list of `Panel`s, one column
each (one per deployment), each a stack of `Axis` rows sharing the time axis, with the scaling
decisions drawn as `Marker`s on every row. `save(fig, path)` writes PNG, SVG or a self-contained
HTML page by the file's extension. `cost_latency` draws the policies `tidal tune` tried.

    panel = Panel("web", times, [Axis("load (req/s)", [Line("req/s", rps)]), ...], markers)
    fig = figure([panel], title="kpa-vs-hpa")
    save(fig, "out.png")
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".html", ".htm")
DECISION_COLORS = {"up": "#15803d", "down": "#b45309", "warning": "#dc2626", "other": "#6b7280"}


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    values: Sequence[float | None]
    dashed: bool = False
    step: bool = False  # a count that holds until it changes (replicas)


@dataclass(frozen=True, slots=True)
class Axis:
    ylabel: str  # with its unit: "load (req/s)"
    lines: Sequence[Line]


@dataclass(frozen=True, slots=True)
class Marker:
    t: float
    label: str  # short: "1→3"
    kind: str = "other"  # up | down | warning | other (its colour)
    detail: str = ""  # the reason, for the HTML table


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    times: Sequence[float]
    axes: Sequence[Axis]
    markers: Sequence[Marker] = field(default_factory=tuple)


class PlotError(ValueError):
    """A figure that cannot be written (bad extension, nothing to plot)."""


def check_path(path: str | Path) -> Path:
    """The output path, refused early (before a long run) when its extension is not known."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise PlotError(f"--plot {path}: the file must end in .png, .svg or .html")
    if not p.parent.exists():
        raise PlotError(f"--plot {path}: folder {p.parent} does not exist")
    return p


def figure(panels: Sequence[Panel], *, title: str = "", xlabel: str = "time (s)") -> Figure:
    """One column per panel, one row per axis; decisions as vertical lines on every row and
    labelled on the row whose label starts with "replicas"."""
    if not panels:
        raise PlotError("nothing to plot: no deployment had data")
    rows = max(len(p.axes) for p in panels)
    cols = len(panels)
    fig, grid = plt.subplots(
        rows, cols, figsize=(5.2 * cols + 0.8, 2.3 * rows + 0.9), squeeze=False, sharex="col"
    )
    for c, panel in enumerate(panels):
        for r in range(rows):
            ax = grid[r][c]
            if r >= len(panel.axes):
                ax.set_visible(False)
                continue
            spec = panel.axes[r]
            for line in spec.lines:
                ys = [float("nan") if v is None else float(v) for v in line.values]
                kw = {"label": line.label, "linewidth": 1.4}
                if line.dashed:
                    kw["linestyle"] = "--"
                if line.step:
                    ax.step(panel.times, ys, where="post", **kw)
                else:
                    ax.plot(panel.times, ys, **kw)
            label_here = spec.ylabel.startswith("replicas")
            times = [t for t in panel.times] or [0.0]
            gap = (max(times) - min(times)) / 12 or 1.0  # labels closer than this would overlap
            last, n = float("-inf"), 0
            for m in panel.markers:
                color = DECISION_COLORS.get(m.kind, DECISION_COLORS["other"])
                ax.axvline(m.t, color=color, linewidth=0.8, linestyle=":", alpha=0.9)
                if label_here and m.label and m.t - last >= gap:
                    ax.annotate(
                        m.label,
                        (m.t, 1.0),
                        xycoords=("data", "axes fraction"),
                        xytext=(2, -10 - 9 * (n % 2)),
                        textcoords="offset points",
                        fontsize=7,
                        color=color,
                    )
                    last, n = m.t, n + 1
            ax.set_ylabel(spec.ylabel)
            ax.grid(True, alpha=0.3)
            ax.set_ylim(bottom=0)
            if label_here and panel.markers:  # room above the lines for the labels
                ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
            if spec.lines:
                ax.legend(loc="best", fontsize=7, framealpha=0.8)
            if r == 0:
                ax.set_title(panel.title, fontsize=10)
            if r == len(panel.axes) - 1:
                ax.set_xlabel(xlabel)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path, *, panels: Sequence[Panel] = ()) -> Path:
    """Write the figure by the file's extension; HTML embeds it as SVG with a table of the
    decisions (`panels` give their reasons). Closes the figure."""
    p = check_path(path)
    try:
        suffix = p.suffix.lower()
        if suffix in (".png", ".svg"):
            fig.savefig(p, dpi=110)
        else:
            buf = io.BytesIO()
            fig.savefig(buf, format="svg")
            p.write_text(_html(fig, buf.getvalue(), panels))
    finally:
        plt.close(fig)
    return p


def _html(fig: Figure, svg: bytes, panels: Sequence[Panel]) -> str:
    title = html.escape(fig._suptitle.get_text() if fig._suptitle else "tidal")
    rows = "".join(
        f"<tr><td>{html.escape(p.title)}</td><td>{m.t:g}</td><td>{html.escape(m.label)}</td>"
        f"<td>{html.escape(m.detail)}</td></tr>"
        for p in panels
        for m in p.markers
    )
    img = base64.b64encode(svg).decode()
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:1em}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        f"<h1>{title}</h1><img alt='{title}' src='data:image/svg+xml;base64,{img}'>"
        "<h2>Decisions</h2><table><tr><th>deployment</th><th>t (s)</th><th>replicas</th>"
        f"<th>reason</th></tr>{rows}</table></body></html>\n"
    )


@dataclass(frozen=True, slots=True)
class Point:
    """One policy `tidal tune` tried: its cost (replica-seconds) and latency (s)."""

    label: str
    cost: float
    latency_s: float
    chosen: bool = False


def distinct_labels(labels: Sequence[str]) -> list[str]:
    """Each label without the words every label shares ("target=3" rather than the whole
    policy), so the points say how they differ."""
    words = [label.split() for label in labels]
    common = set(words[0]).intersection(*words[1:]) if len(words) > 1 else set()
    return [" ".join(w for w in ws if w not in common) or "(same)" for ws in words]


def cost_latency(points: Sequence[Point], *, title: str = "", latency: str = "p99") -> Figure:
    """Cost against latency of the policies tried, each labelled; the chosen one stands out."""
    if not points:
        raise PlotError("nothing to plot: no policy was tried")
    fig, ax = plt.subplots(figsize=(7, 4.6))
    others = [p for p in points if not p.chosen]
    ax.scatter(
        [p.cost for p in others],
        [p.latency_s * 1000 for p in others],
        label="policies tried",
        color="#2563eb",
    )
    chosen = [p for p in points if p.chosen]
    if chosen:
        ax.scatter(
            [p.cost for p in chosen],
            [p.latency_s * 1000 for p in chosen],
            label="chosen",
            color="#dc2626",
            marker="*",
            s=160,
        )
    labels = distinct_labels([p.label for p in points])
    for p, label in zip(points, labels, strict=True):
        ann = ax.annotate(
            label,
            (p.cost, p.latency_s * 1000),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
        ann.set_in_layout(False)  # long labels must not squeeze the axes
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    ax.set_xlabel("cost (replica-seconds)")
    ax.set_ylabel(f"latency {latency} (ms)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
