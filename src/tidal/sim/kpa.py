"""The KPA controller (`tidal.controllers.kpa`) as a simulator plugin. The scenario's request
flows (`tidal.sim.requests`) are the router: each tick their Loads go into a
`StaticRequestStats` snapshot, a Service at zero with newly held requests pokes the controller
(Knative's activator poke: the decision is taken at once), and otherwise each PodAutoscaler is
reconciled when the controller asked to be (every 2 s, Knative's tick). A decision is printed
when the replicas, the desired scale, the Active condition or panic mode change."""

from __future__ import annotations

from typing import Any, cast

from tidal.api import gotime
from tidal.controllers.kpa import KpaController, service_name, target_name
from tidal.controllers.loop import Key, Loop
from tidal.metrics.requests import Snapshot, StaticRequestStats
from tidal.sim.plugin import Record, SimContext

KIND = "PodAutoscaler"


class _Queue:
    """The bit of `Loop` the controller uses: `enqueue` (from `poke`) makes a key due now."""

    def __init__(self, due: dict[Key, float]) -> None:
        self.due = due

    def enqueue(self, key: Key) -> None:
        self.due[key] = float("-inf")


class KPAPlugin:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.stats = StaticRequestStats()
        self.controller = KpaController(
            ctx.api, self.stats, config=ctx.scenario.kpa_config, clock=ctx.clock.now
        )
        self.due: dict[Key, float] = {}
        self.loop = cast(Loop, _Queue(self.due))
        self.last: dict[Key, tuple[Any, ...]] = {}

    def _snapshot(self) -> Snapshot:
        services = {}
        for pa in self.ctx.api.items(KIND):
            ns = pa["metadata"]["namespace"]
            flow = self.ctx.flows.get((ns, target_name(pa)))
            if flow is not None:
                load = flow.load()
                services[f"{ns}/{target_name(pa)}"] = load
                services[f"{ns}/{service_name(pa)}"] = load
        return Snapshot(self.ctx.clock.now(), services)

    async def step(self) -> list[Record]:
        now = self.ctx.clock.now()
        self.stats.current = self._snapshot()
        out = []
        for pa in self.ctx.api.items(KIND):
            ns, name = pa["metadata"]["namespace"], pa["metadata"]["name"]
            key = (ns, name)
            flow = self.ctx.flows.get((ns, target_name(pa)))
            poked = bool(flow is not None and flow.new_held and flow.ready == 0)
            if poked:
                self.controller.poke(ns, service_name(pa))
                self.due[key] = float("-inf")
            if now < self.due.get(key, float("-inf")) - 1e-9:
                continue
            dep = ("Deployment", ns, target_name(pa))
            before = int(
                ((self.ctx.api.objects.get(dep) or {}).get("spec") or {}).get("replicas") or 0
            )
            after_s = await self.controller.reconcile(key, self.loop)
            self.due[key] = now + (after_s if after_s is not None else 2.0)
            after = int(
                ((self.ctx.api.objects.get(dep) or {}).get("spec") or {}).get("replicas") or 0
            )
            rec = self._record(key, before, after, poked)
            if rec is not None:
                out.append(rec)
        return out

    def _record(self, key: Key, before: int, after: int, poked: bool) -> Record | None:
        pa = self.ctx.api.objects.get((KIND, *key))
        if pa is None:
            return None
        st = pa.get("status") or {}
        active = next((c for c in st.get("conditions") or [] if c.get("type") == "Active"), {})
        d = self.controller.deciders.get(key)
        panicking = bool(d is not None and d.state.panicking)
        state = (
            after,
            st.get("desiredScale"),
            active.get("status"),
            active.get("reason"),
            panicking,
        )
        changed = state != self.last.get(key)
        self.last[key] = state
        if not changed and before == after:
            return None
        metrics = ""
        if d is not None:
            from tidal.autoscaling.kpa.decider import make_decider
            from tidal.autoscaling.kpa.podautoscaler import from_object

            spec = make_decider(from_object(pa), self.controller.config)
            seen = d.windows.observed(
                spec.scaling_metric, int(self.ctx.clock.now() * gotime.SECOND)
            )
            if seen is not None:
                metrics = f"{spec.scaling_metric}: {seen.stable:.3g}/{spec.total_value:g}"
                if panicking:
                    metrics += f" (panic {seen.panic:.3g})"
        reason = "Active" if active.get("status") == "True" else str(active.get("reason") or "")
        if poked:
            reason += ", poked by a held request"
        if panicking:
            reason += ", panic mode"
        return Record(self.ctx.clock.elapsed_s, "kpa", key[1], before, after, metrics, reason)
