"""The router's poke through the API: the `autoscaling.tidal.dev/activation-requested` stamp on
a PodAutoscaler (pure table), and a controller that reads one and scales from zero at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tidal.api.wellknown import POKE_ANNOTATION
from tidal.controllers.kpa import POKE_FRESH_S, KpaController, activation_requested
from tidal.controllers.loop import Loop
from tidal.metrics.requests import Load, Snapshot, StaticRequestStats
from tidal.server.inprocess import open_inprocess

from .test_kpa_controller import NAME, NS, Clock, deployment, podautoscaler

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("stamp", "seen", "want"),
    [
        (None, None, False),
        ("", None, False),
        (f"{NOW - 1:.3f}", None, True),  # a new stamp
        (f"{NOW - 1:.3f}", f"{NOW - 1:.3f}", False),  # already acted on
        (f"{NOW - 0.5:.3f}", f"{NOW - 1:.3f}", True),  # a newer one
        (f"{NOW - POKE_FRESH_S:.3f}", None, True),  # at the edge
        (f"{NOW - POKE_FRESH_S - 1:.3f}", None, False),  # history (read after a restart)
        ("soon", None, False),
    ],
)
def test_activation_requested(stamp: str | None, seen: str | None, want: bool) -> None:
    assert activation_requested(stamp, seen, NOW) is want


@pytest.mark.parametrize(("age_s", "replicas"), [(0.2, 1), (POKE_FRESH_S + 5, 0)])
def test_stamp_scales_from_zero_at_once(tmp_path: Path, age_s: float, replicas: int) -> None:
    async def go() -> None:
        clock = Clock(NOW)
        client = await open_inprocess(tmp_path, clock=clock)
        held = Snapshot(NOW, {f"{NS}/{NAME}": Load(in_flight=1, held=1)})
        ctl = KpaController(client, StaticRequestStats(held), clock=clock)
        try:
            await client.create(deployment(0))
            pa = podautoscaler()
            pa["metadata"]["annotations"][POKE_ANNOTATION] = f"{NOW - age_s:.3f}"
            await client.create(pa)
            await ctl.reconcile((NS, NAME), Loop(client, ctl))
            dep = await client.get("Deployment", NAME, NS)
            assert dep["spec"]["replicas"] == replicas
        finally:
            await client.close()

    asyncio.run(go())
