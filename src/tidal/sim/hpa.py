"""The HPA controller (`tidal.controllers.hpa`) as a simulator plugin: it syncs the HPAs that are
due on virtual time and reports each decision as a `Record` (docs/SIMULATOR.md)."""

from __future__ import annotations

from tidal.api.hpa_defaults import default_spec
from tidal.api.hpa_format import metric_targets
from tidal.sim.plugin import Record, SimContext

KIND = "HorizontalPodAutoscaler"


class HPAPlugin:
    """The HPA controller (`tidal.controllers.hpa`) as a simulator plugin."""

    def __init__(self, ctx: SimContext) -> None:
        from tidal.controllers.hpa import HPAController

        self.ctx = ctx
        self.controller = HPAController(ctx.api, profile=ctx.scenario.profile, clock=ctx.clock.now)

    async def step(self) -> list[Record]:
        now = self.ctx.clock.now()
        if not any(self.controller.due(h, now) for h in self.ctx.api.items(KIND)):
            return []  # nothing due: skip the controller's list (a copy of every HPA)
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
