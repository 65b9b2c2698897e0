"""`tidal dashboard`: the local plane's live dashboard. Prints its login link (the plane's token
in `?token=`, as Jupyter's) and opens it in a browser when there is a display to show one."""

from __future__ import annotations

import os
import sys
import webbrowser
from typing import Any

from tidal.cli.env import Env, tidal_home
from tidal.home import PLANE_PID, READY, alive, read_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="open the live dashboard of the local plane")
    p.add_argument(
        "--no-browser", action="store_true", help="print the link only, even with a display"
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="instead, draw what the dashboard kept (req/s, latency, replicas, decisions) into "
        "FILE.png, .svg or .html",
    )
    p.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NS/NAME",
        help="with --plot: this service (its Deployment) only; repeatable",
    )
    p.add_argument(
        "--since", type=float, metavar="UNIX_SECONDS", help="with --plot: from this time on"
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
    rec = read_json(home / PLANE_PID)
    ready = read_json(home / READY)
    if not alive(rec) or not ready:
        env.err(f"tidal: the local plane is not running for {home}: run `tidal up` first\n")
        return 1
    url = ready.get("dashboard")
    if not url:
        env.err(
            "tidal: this plane serves no dashboard (started with --no-dashboard, or it failed "
            f"to start: see {home / 'plane.log'})\n"
        )
        return 1
    if args.plot:
        return _plot(args, env, url)
    env.out(f"{url}\n")
    if not args.no_browser and has_display():
        try:
            webbrowser.open(url)
        except webbrowser.Error as exc:
            env.err(f"tidal: could not open a browser ({exc}); open the link above\n")
    return 0


def _plot(args: Any, env: Env, url: str) -> int:
    """Draw the dashboard's kept history (`/history`) into a file; print its path."""
    import httpx

    from tidal.plots import PlotError, check_path, figure, save
    from tidal.plots.live import panels

    base, _, token = url.partition("?token=")
    try:
        check_path(args.plot)
        resp = httpx.get(
            base.rstrip("/") + "/history", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        resp.raise_for_status()
        ps = panels(resp.json(), args.service, args.since)
        if not ps:
            wanted = ", ".join(args.service) or "any service"
            raise PlotError(f"no data for {wanted} in the dashboard's history yet")
        save(figure(ps, title="tidal: load, latency and replicas (measured)"), args.plot, panels=ps)
    except (PlotError, httpx.HTTPError) as exc:
        env.err(f"tidal: {exc}\n")
        return 1
    env.out(f"{args.plot}\n")
    return 0
