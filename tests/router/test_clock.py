"""The coarse clock is a global in each data-plane module that reads it (one global load per
chunk): the router's sweep must stamp every one of them, or a module's timeouts would measure
from zero."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil

import tidal.router
from tidal.router import proxy
from tidal.router.table import RoutingTable


def test_the_sweep_stamps_every_module_that_keeps_the_clock() -> None:
    modules = [
        importlib.import_module(f"tidal.router.{m.name}")
        for m in pkgutil.iter_modules(tidal.router.__path__)
        if m.name != "__main__"
    ]
    clocked = [m for m in modules if hasattr(m, "_now")]
    assert {m.__name__.rsplit(".", 1)[1] for m in clocked} >= {"conn", "upstream"}

    for m in clocked:
        m._now = -1.0

    async def stamp() -> float:
        router = proxy.Router(RoutingTable(), asyncio.get_running_loop())
        router._sweep()
        assert router._sweeper is not None
        router._sweeper.cancel()
        return router.loop.time()

    before = asyncio.run(stamp())
    for m in clocked:
        assert 0 < m._now <= before, m.__name__
    assert len({m._now for m in clocked}) == 1
