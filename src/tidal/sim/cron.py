"""The CronHPA controller (`tidal.controllers.cronhpa`) as a simulator plugin: every tick each
CronHorizontalPodAutoscaler is reconciled at the virtual instant and its firings run to the end
(`drain`), so schedules fire on virtual time in the same trace as the HPA, and the HPA-aware
target rules act on the simulated HPA. The scale retries' `sleep` moves a private offset of the
controller's clock (the retries happen "inside" the tick), so a failing target ends in `Failed`
after the original's retries instead of hanging the simulation."""

from __future__ import annotations

import itertools
from typing import Any

from tidal.controllers.cronhpa import HPA, KIND, CronHPAController
from tidal.sim.plugin import Record, SimContext


class CronHPAPlugin:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self._offset = 0.0
        ids = itertools.count(1)
        self.controller = CronHPAController(
            ctx.api,
            clock=self._now,
            sleep=self._sleep,
            on_time_s=ctx.scenario.tick_s,
            new_id=lambda: f"job-{next(ids)}",  # jobIds are not printed; deterministic anyway
        )

    def _now(self) -> float:
        return self.ctx.clock.now() + self._offset

    async def _sleep(self, seconds: float) -> None:
        self._offset += seconds

    def _deployment_of(self, cron: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
        """(deployment name, namespace, HPA or None): what the firing ends up scaling."""
        ns = cron["metadata"]["namespace"]
        ref = (cron.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == HPA:
            hpa = self.ctx.api.objects.get((HPA, ns, str(ref.get("name", ""))))
            if hpa is None:
                return "", ns, None
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            return str(ref.get("name", "")), ns, hpa
        return str(ref.get("name", "")), ns, None

    def _replicas(self, name: str, ns: str) -> int:
        dep = self.ctx.api.objects.get(("Deployment", ns, name))
        return int(((dep or {}).get("spec") or {}).get("replicas") or 0)

    async def step(self) -> list[Record]:
        self._offset = 0.0
        out = []
        for cron in self.ctx.api.items(KIND):
            ns, name = cron["metadata"]["namespace"], cron["metadata"]["name"]
            seen = {
                c.get("jobId"): (c.get("lastProbeTime"), c.get("message"), c.get("state"))
                for c in (cron.get("status") or {}).get("conditions") or []
            }
            deployment, _, _ = self._deployment_of(cron)
            before = self._replicas(deployment, ns)
            await self.controller.reconcile((ns, name))
            await self.controller.drain()
            self._offset = 0.0
            now = self.ctx.api.objects.get((KIND, ns, name))
            if now is None:
                continue
            deployment, _, hpa = self._deployment_of(now)
            after = self._replicas(deployment, ns)
            for c in (now.get("status") or {}).get("conditions") or []:
                old = seen.get(c.get("jobId"))
                if old is None or old == (c.get("lastProbeTime"), c.get("message"), c.get("state")):
                    continue  # newly submitted, or nothing happened to this job
                detail = f"{c.get('name')}: size {c.get('targetSize')}"
                if hpa is not None:
                    spec = hpa.get("spec") or {}
                    detail += f", hpa {spec.get('minReplicas', 1)}/{spec.get('maxReplicas')}"
                out.append(
                    Record(
                        self.ctx.clock.elapsed_s,
                        "cron",
                        name,
                        before,
                        after,
                        detail,
                        f"{c.get('state')}: {c.get('message', '')}",
                    )
                )
                before = after  # a second job firing in the same tick starts from here
        return out
