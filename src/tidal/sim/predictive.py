"""The PredictiveHorizontalPodAutoscaler controller (`tidal.controllers.predictive`) as a
simulator plugin: the same controller, on the virtual clock and the in-memory API. It syncs each
object when its period has passed (the HPA's sync period, at least 5 s), after the HPAs of the
same tick; the HPA sees a new floor (a spec change) on its next tick, as a live HPA does at once.

One line per forecast whose floor or forecast moved: `pred`, the object, the HPA's replicas, the
demand and forecast in replicas, and the floor it set with the reason."""

from __future__ import annotations

from tidal.autoscaling.predictive.spec import KIND as KIND  # the kind sim.run.PLUGINS maps here
from tidal.controllers.predictive import Outcome, PredictiveController
from tidal.sim.plugin import Record, SimContext


class PredictivePlugin:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.controller = PredictiveController(
            ctx.api, profile=ctx.scenario.profile, clock=ctx.clock.now
        )
        self.last: dict[str, tuple[int | None, float | None]] = {}

    async def step(self) -> list[Record]:
        out = []
        for obj, o in await self.controller.sync_due():
            name = obj["metadata"]["name"]
            floor = o.decision.floor if o.decision else None
            value = round(o.forecast.value, 1) if o.forecast else None
            if (floor, value) == self.last.get(name):
                continue
            self.last[name] = (floor, value)
            out.append(self._record(obj["metadata"].get("namespace") or "default", name, o))
        return out

    def _record(self, ns: str, name: str, o: Outcome) -> Record:
        hpa = self.ctx.api.objects.get(("HorizontalPodAutoscaler", ns, o.hpa)) or {}
        replicas = int((hpa.get("status") or {}).get("currentReplicas") or 0)
        metrics = "demand -" if o.demand is None else f"demand {o.demand:.3g}"
        if o.forecast is not None:
            metrics += f", fc {o.forecast.value:.3g}"
        reason = o.reason
        if o.decision is not None and o.previous_floor != o.decision.floor and o.applied:
            reason = f"floor {o.previous_floor} -> {o.decision.floor}: {reason}"
        return Record(self.ctx.clock.elapsed_s, "pred", name, replicas, replicas, metrics, reason)
