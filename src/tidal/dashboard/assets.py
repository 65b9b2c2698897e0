"""Where the dashboard's chart library lives: uPlot from npm, installed by
`scripts/install-dashboard-assets.sh` (`make dashboard-assets`, part of `make test` and
`make demo`) into the checkout's ignored `build/dashboard-assets/`, or wherever
`$TIDAL_DASHBOARD_ASSETS` points (a folder holding `node_modules/uplot/dist`). Never a CDN: the
dashboard works with no network."""

from __future__ import annotations

import os
from pathlib import Path

UPLOT_VERSION = "1.6.32"
FILES = ("uPlot.iife.min.js", "uPlot.min.css")


def roots() -> list[Path]:
    env = os.environ.get("TIDAL_DASHBOARD_ASSETS")
    out = [Path(env)] if env else []
    # an editable install (the repo's own): src/tidal/dashboard -> the checkout
    out.append(Path(__file__).resolve().parents[3] / "build" / "dashboard-assets")
    return out


def find(name: str) -> Path | None:
    """The installed file `name` (one of FILES), or None."""
    if name not in FILES:
        return None
    for root in roots():
        path = root / "node_modules" / "uplot" / "dist" / name
        if path.is_file():
            return path
    return None
