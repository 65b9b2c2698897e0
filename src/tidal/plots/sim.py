"""Panels of a simulated run: per deployment, the load (req/s and concurrency), the replicas
(desired, existing, ready) with each rescale marked, and the latency (mean and max), from the
per-tick series the simulator keeps and the decisions it printed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from tidal.plots import Axis, Line, Marker, Panel


class TickSeries(Protocol):
    t: Sequence[float]
    rps: Sequence[float]
    concurrency: Sequence[float]
    desired: Sequence[int]
    pods: Sequence[int]
    ready: Sequence[int]
    latency_mean: Sequence[float | None]
    latency_max: Sequence[float | None]


class Decision(Protocol):
    t: float
    controller: str
    name: str
    current: int
    desired: int
    reason: str


def scale_targets(
    objects: Iterable[Mapping[str, Any]], deployments: Iterable[str]
) -> dict[str, str]:
    """Autoscaler name -> the Deployment it scales (an InferenceService in KPA mode scales
    `<name>-predictor` when that Deployment exists, as the simulator expands it)."""
    have = set(deployments)
    out: dict[str, str] = {}
    for o in objects:
        name = str((o.get("metadata") or {}).get("name") or "")
        ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name"):
            out[name] = str(ref["name"])
        elif o.get("kind") == "InferenceService":
            out[name] = f"{name}-predictor" if f"{name}-predictor" in have else name
    return out


def markers(decisions: Iterable[Decision], target: str, targets: Mapping[str, str]) -> list[Marker]:
    """The rescaling decisions of the autoscalers that scale `target`."""
    out = []
    for d in decisions:
        if d.desired == d.current or targets.get(d.name, d.name) != target:
            continue
        out.append(
            Marker(
                d.t,
                f"{d.controller} {d.current}→{d.desired}",
                "up" if d.desired > d.current else "down",
                d.reason,
            )
        )
    return out


def _ms(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else v * 1000 for v in values]


def panels(
    series: Mapping[str, TickSeries],
    decisions: Sequence[Decision],
    targets: Mapping[str, str],
) -> list[Panel]:
    """One panel per deployment (sorted by name)."""
    out = []
    for name, s in sorted(series.items()):
        rows = []
        if any(s.rps) or any(s.concurrency):  # a CPU- or metric-driven load has no requests
            rows.append(
                Axis(
                    "load (req/s, in flight)",
                    [Line("requests/s", s.rps), Line("concurrency", s.concurrency, dashed=True)],
                )
            )
        rows += [
            Axis(
                "replicas (pods)",
                [
                    Line("desired", s.desired, step=True),
                    Line("pods (paid)", s.pods, step=True, dashed=True),
                    Line("ready", s.ready, step=True),
                ],
            ),
        ]
        if any(v is not None for v in s.latency_max):
            rows.append(
                Axis(
                    "latency (ms)",
                    [
                        Line("mean", _ms(s.latency_mean)),
                        Line("max", _ms(s.latency_max), dashed=True),
                    ],
                )
            )
        out.append(Panel(name, list(s.t), rows, markers(decisions, name, targets)))
    return out


def write_plot(path: str, scenario: Any, decisions: Sequence[Decision], summary: Any) -> str:
    """`tidal simulate --plot PATH`: the run's panels, titled with the scenario and profile."""
    from tidal.plots import figure, save

    targets = scale_targets(scenario.objects, (d.name for d in scenario.deployments))
    ps = panels(summary.series, decisions, targets)
    fig = figure(ps, title=f"tidal simulate: {scenario.name} (profile {scenario.profile.name})")
    return str(save(fig, path, panels=ps))
