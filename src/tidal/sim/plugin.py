"""What a simulator plugin sees and returns: the `SimContext` (the API over the real Registry, virtual clock,
scenario, request flows) and one `Record` per decision. Plugins import this, not `sim.run`, so
`sim.run` can list them directly (`tidal.sim.run.PLUGINS`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tidal.sim.clock import TickClock
from tidal.sim.requests import RequestFlow
from tidal.sim.scenario import Scenario
from tidal.sim.serve import Service
from tidal.sim.world import SimApi


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
    api: SimApi
    clock: TickClock
    scenario: Scenario
    flows: dict[tuple[str, str], RequestFlow] = field(default_factory=dict)  # (ns, deployment)
    serving: dict[str, Service] = field(default_factory=dict)  # Deployments with a capacity


class SimController(Protocol):
    async def step(self) -> list[Record]: ...


Factory = Callable[[SimContext], SimController]
