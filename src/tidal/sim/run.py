"""`tidal simulate`: the real controllers and decision code on virtual time.

Each tick: the kubelet makes pods follow the Deployments, the load gives every Running pod its
usage, the metrics APIs publish on their resolution, then every controller plugin syncs what is
due. Controllers plug in through `register(kind, factory)`: a factory gets the `SimContext`
(in-memory API, clock, profile) and returns something with `async step() -> list[Record]`.
The HPA plugin is built in; CronHPA and KPA register theirs the same way (docs/SIMULATOR.md).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from tidal.api.hpa_format import metric_targets
from tidal.api.quantity import parse
from tidal.autoscaling.hpa.spec import default_spec
from tidal.sim.clock import TickClock
from tidal.sim.metrics import SimMetrics
from tidal.sim.scenario import Scenario, ScenarioError
from tidal.sim.world import Kubelet, MemoryApi, PodTemplate


@dataclass(frozen=True, slots=True)
class Record:
    """One decision, as printed: time since start, controller, object, replicas before and
    after, the metric values it saw, and why."""

    t: float
    controller: str
    name: str
    current: int
    desired: int
    metrics: str
    reason: str

    def line(self) -> str:
        arrow = (
            f"{self.current} -> {self.desired}"
            if self.desired != self.current
            else f"{self.current}"
        )
        return f"{self.t:>7g}s  {self.controller:<6} {self.name:<24} {arrow:<9} {self.metrics:<28} {self.reason}"


@dataclass(slots=True)
class SimContext:
    api: MemoryApi
    clock: TickClock
    scenario: Scenario


class SimController(Protocol):
    async def step(self) -> list[Record]: ...


Factory = Callable[[SimContext], SimController]
PLUGINS: dict[str, Factory] = {}


def register(kind: str, factory: Factory) -> None:
    """Plug a controller in for scenarios that contain objects of `kind`."""
    PLUGINS[kind] = factory


class HPAPlugin:
    """The HPA controller (`tidal.controllers.hpa`) as a simulator plugin."""

    def __init__(self, ctx: SimContext) -> None:
        from tidal.controllers.hpa import HPAController

        self.ctx = ctx
        self.controller = HPAController(ctx.api, profile=ctx.scenario.profile, clock=ctx.clock.now)

    async def step(self) -> list[Record]:
        out = []
        for hpa, d in await self.controller.sync_due():
            spec = default_spec(hpa.get("spec") or {})
            conds = {c["type"]: c for c in d.status.get("conditions") or ()}
            if d.rescale:
                reason = d.reason
            elif conds.get("ScalingActive", {}).get("status") == "False":
                reason = f"{conds['ScalingActive']['reason']}: {conds['ScalingActive'].get('message', '')}"
            else:
                reason = conds.get("AbleToScale", {}).get("reason", "")
                limited = conds.get("ScalingLimited")
                if limited and limited.get("status") == "True":
                    reason += f", {limited['reason']}"
            out.append(
                Record(
                    self.ctx.clock.elapsed_s,
                    "hpa",
                    hpa["metadata"]["name"],
                    d.current_replicas,
                    d.replicas,
                    ", ".join(metric_targets(spec, d.status)),
                    reason,
                )
            )
        return out


register("HorizontalPodAutoscaler", HPAPlugin)


@dataclass(slots=True)
class Summary:
    replica_seconds: dict[str, float] = field(default_factory=dict)  # per deployment
    above_target_s: dict[str, float] = field(default_factory=dict)  # per HPA
    max_replicas: dict[str, int] = field(default_factory=dict)
    rescales: int = 0
    first_scale_up_s: float | None = None

    def lines(self) -> list[str]:
        out = ["summary:"]
        for name, rs in sorted(self.replica_seconds.items()):
            out.append(
                f"  deployment {name}: replica-seconds {rs:g}, max replicas {self.max_replicas.get(name, 0)}"
            )
        for name, s in sorted(self.above_target_s.items()):
            out.append(f"  hpa {name}: time above target {s:g}s")
        first = "never" if self.first_scale_up_s is None else f"{self.first_scale_up_s:g}s"
        out.append(f"  rescales {self.rescales}, first scale-up at {first}")
        return out


def _above_target(hpa: dict[str, Any], pods: list[dict[str, Any]], usage: dict[str, tuple]) -> bool:
    """Whether the load right now exceeds any of the HPA's targets (for the summary)."""
    if not pods:
        return False
    spec = default_spec(hpa.get("spec") or {})
    vals = [usage[p["metadata"]["name"]] for p in pods if p["metadata"]["name"] in usage]
    if not vals:
        return False
    for m in spec.get("metrics") or ():
        if m.get("type") == "Resource":
            src = m["resource"]
            idx = 0 if src.get("name") == "cpu" else 1
            target = src.get("target") or {}
            avg = sum(v[idx] for v in vals) / len(vals)
            if target.get("averageUtilization") is not None:
                req = [
                    float(parse(p["spec"]["containers"][0]["resources"]["requests"][src["name"]]))
                    for p in pods
                ]
                if req and avg * 100 > target["averageUtilization"] * (sum(req) / len(req)):
                    return True
            elif target.get("averageValue") is not None and avg > float(
                parse(target["averageValue"])
            ):
                return True
        elif m.get("type") == "Pods":
            name = m["pods"]["metric"]["name"]
            avg = sum(v[2].get(name, 0.0) for v in vals) / len(vals)
            if avg > float(parse(m["pods"]["target"].get("averageValue") or 0)):
                return True
    return False


async def simulate(
    scenario: Scenario, emit: Callable[[Record], None] | None = None
) -> tuple[list[Record], Summary]:
    """Run the scenario; `emit` gets every decision as it is made. Deterministic."""
    clock = TickClock(tick_s=scenario.tick_s)
    prof = scenario.profile
    api_holder: list[MemoryApi] = []

    def pods_in(ns: str) -> list[dict[str, Any]]:
        return api_holder[0].items("Pod", ns)

    metrics = SimMetrics(pods_in, prof.metric_resolution_s, prof.metric_window_s)
    api = MemoryApi(clock.now, metrics)
    api_holder.append(api)
    templates = {}
    for d in scenario.deployments:
        await api.create(d.manifest())
        templates[d.name] = PodTemplate(d.cpu_request_m, d.memory_request, d.startup_s)
    for obj in scenario.objects:
        await _apply(api, obj)
    kubelet = Kubelet(api, templates)
    ctx = SimContext(api, clock, scenario)
    kinds = {o["kind"] for o in scenario.objects}
    unknown = sorted(kinds - set(PLUGINS))
    if unknown:
        raise ScenarioError(
            f"objects: no simulator plugin for {', '.join(unknown)} (have: {', '.join(sorted(PLUGINS))})"
        )
    plugins = [PLUGINS[k](ctx) for k in sorted(kinds)]
    records: list[Record] = []
    summary = Summary()
    for _ in range(scenario.ticks + 1):
        await kubelet.step()
        now, t = clock.now(), clock.elapsed_s
        variables = scenario.trace.at(t) if scenario.trace else {}
        usage_now: dict[str, tuple] = {}
        for d in scenario.deployments:
            ready = kubelet.ready_pods(d.name, d.namespace)
            all_pods = [
                p
                for p in api.items("Pod", d.namespace)
                if p["metadata"]["name"].startswith(f"{d.name}-")
            ]
            names = dict(variables, t=t, replicas=float(len(ready)))
            for p in ready:
                cpu = d.load.cpu(**names) if d.load.cpu else 0.0
                mem = d.load.memory(**names) if d.load.memory else 0.0
                custom = {k: e(**names) for k, e in d.load.metrics.items()}
                u = (max(cpu, 0.0), max(mem, 0.0), custom)
                usage_now[p["metadata"]["name"]] = u
                metrics.record(now, d.namespace, p["metadata"]["name"], u)
            metrics.forget(
                d.namespace, {p["metadata"]["name"] for p in api.items("Pod", d.namespace)}
            )
            summary.replica_seconds[d.name] = (
                summary.replica_seconds.get(d.name, 0.0) + len(all_pods) * scenario.tick_s
            )
            summary.max_replicas[d.name] = max(summary.max_replicas.get(d.name, 0), len(all_pods))
        metrics.maybe_publish(now)
        for plugin in plugins:
            for rec in await plugin.step():
                records.append(rec)
                if rec.desired != rec.current:
                    summary.rescales += 1
                    if rec.desired > rec.current and summary.first_scale_up_s is None:
                        summary.first_scale_up_s = rec.t
                if emit:
                    emit(rec)
        for hpa in api.items("HorizontalPodAutoscaler"):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            ns = hpa["metadata"]["namespace"]
            name = hpa["metadata"]["name"]
            summary.above_target_s.setdefault(name, 0.0)
            if _above_target(hpa, kubelet.ready_pods(ref.get("name", ""), ns), usage_now):
                summary.above_target_s[name] += scenario.tick_s
        clock.advance()
    return records, summary


async def _apply(api: MemoryApi, obj: dict[str, Any]) -> None:
    obj = copy.deepcopy(obj)
    if obj.get("kind") == "HorizontalPodAutoscaler":
        from tidal.api.validation import hpa as hpa_rules

        hpa_rules.default(obj)
        causes = hpa_rules.validate(obj)
        if causes:
            name = (obj.get("metadata") or {}).get("name", "")
            detail = "; ".join(f"{c.field}: {c.message}" for c in causes)
            raise ScenarioError(f'HorizontalPodAutoscaler "{name}" is invalid: {detail}')
    if not (obj.get("metadata") or {}).get("name"):
        raise ScenarioError(f"objects: a {obj.get('kind')} without metadata.name")
    await api.create(obj)


def run_sync(scenario: Scenario, out: TextIO) -> Summary:
    """Print the header, every decision and the summary to `out`."""
    prof = scenario.profile
    out.write(
        f"scenario {scenario.name}: {scenario.duration_s:g}s of virtual time, tick {scenario.tick_s:g}s, "
        f"profile {prof.name} (sync {prof.sync_period_s:g}s, metrics every {prof.metric_resolution_s:g}s "
        f"over {prof.metric_window_s:g}s)\n"
    )
    out.write(f"{'t':>8}  {'ctrl':<6} {'name':<24} {'replicas':<9} {'metrics':<28} reason\n")

    def emit(rec: Record) -> None:
        out.write(rec.line().rstrip() + "\n")

    coro: Awaitable[tuple[list[Record], Summary]] = simulate(scenario, emit)
    _, summary = asyncio.run(coro)  # type: ignore[arg-type]
    out.write("\n".join(summary.lines()) + "\n")
    return summary
