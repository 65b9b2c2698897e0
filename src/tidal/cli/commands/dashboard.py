"""`tidal dashboard`: the local plane's live dashboard. Prints its login link (the plane's token
in `?token=`, as Jupyter's) and opens it in a browser when there is a display to show one."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Any

from tidal import plane as plane_mod
from tidal.cli.env import Env, tidal_home


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="open the live dashboard of the local plane")
    p.add_argument(
        "--no-browser", action="store_true", help="print the link only, even with a display"
    )
    p.set_defaults(func=cmd_dashboard)


def has_display(environ: dict[str, str] | None = None, platform: str = sys.platform) -> bool:
    """A browser can be shown: macOS/Windows, or X11/Wayland on the others."""
    environ = dict(os.environ) if environ is None else environ
    if platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def cmd_dashboard(args: Any, env: Env) -> int:
    home = tidal_home(getattr(args, "home", None)).resolve()
    rec = plane_mod.read_json(home / plane_mod.PLANE_PID)
    ready = plane_mod.read_json(home / plane_mod.READY)
    if not plane_mod.alive(rec) or not ready:
        env.err(f"tidal: the local plane is not running for {home}: run `tidal up` first\n")
        return 1
    url = ready.get("dashboard")
    if not url:
        env.err(
            "tidal: this plane serves no dashboard (started with --no-dashboard, or it failed "
            f"to start: see {home / 'plane.log'})\n"
        )
        return 1
    env.out(f"{url}\n")
    if not args.no_browser and has_display():
        try:
            webbrowser.open(url)
        except webbrowser.Error as exc:
            env.err(f"tidal: could not open a browser ({exc}); open the link above\n")
    return 0
