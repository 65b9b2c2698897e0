"""`tidal up [--foreground]`, `tidal down`, `tidal status`, `tidal kubeconfig [--merge]`: the
local plane's lifecycle. `up` daemonises `python -m tidal.plane` in its own session (log in
`$TIDAL_HOME/plane.log`) and returns once the plane announces it is ready; it is idempotent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from tidal.cli.env import Env, tidal_home
from tidal.home import FAILED, PLANE_PID, READY, ROUTER_PID, add_plane_flags, alive, read_json


def add_parser(sub: Any) -> None:
    up = sub.add_parser("up", help="start the local plane (API, controllers, pods, router)")
    up.add_argument("--foreground", action="store_true", help="run in this terminal")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for ready")
    add_plane_flags(up)
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop the local plane, its router and its pods")
    down.add_argument("--timeout", type=float, default=60.0)
    down.set_defaults(func=cmd_down)

    st = sub.add_parser("status", help="is the local plane up? where?")
    st.set_defaults(func=cmd_status)

    kc = sub.add_parser("kubeconfig", help="print the local plane's kubeconfig path")
    kc.add_argument(
        "--merge", action="store_true", help="add the `tidal` context to ~/.kube/config"
    )
    kc.set_defaults(func=cmd_kubeconfig)


def _home(args: Any) -> Path:
    return tidal_home(getattr(args, "home", None)).resolve()


def _plane_argv(home: Path, args: Any) -> list[str]:
    argv = [sys.executable, "-m", "tidal.plane", "--home", str(home)]
    for flag, attr in (
        ("--api-port", "api_port"),
        ("--ingress-port", "ingress_port"),
        ("--admin-port", "admin_port"),
        ("--domain", "domain"),
        ("--controllers", "controllers"),
        ("--hpa-profile", "hpa_profile"),
        ("--fake-gpus", "fake_gpus"),
        ("--prometheus", "prometheus"),
        ("--prometheus-rules", "prometheus_rules"),
        ("--resync", "resync_s"),
        ("--metrics-resolution", "metrics_resolution_s"),
        ("--metrics-window", "metrics_window_s"),
        ("--dashboard-port", "dashboard_port"),
    ):
        v = getattr(args, attr, None)
        if v is not None:
            argv += [flag, str(v)]
    if getattr(args, "enforce_capacity", None):
        argv.append("--enforce-capacity")
    if getattr(args, "dashboard", None) is False:
        argv.append("--no-dashboard")
    return argv


def _print_ready(env: Env, ready: dict[str, Any]) -> None:
    env.out(
        f"tidal: local plane up (pid {ready['pid']})\n"
        f"  API:        {ready['api']}  (kubeconfig: {ready['kubeconfig']})\n"
        f"  ingress:    http://127.0.0.1:{ready['ingress_port']}\n"
    )
    if ready.get("dashboard"):
        env.out(f"  dashboard:  {ready['dashboard']}\n")
    if ready.get("router_listening") is False:
        env.err(
            f"tidal: warning: the router is not listening on :{ready['ingress_port']} (port in "
            "use? see router.log; `tidal down` then `tidal up --ingress-port N`)\n"
        )


def cmd_up(args: Any, env: Env) -> int:
    home = _home(args)
    home.mkdir(parents=True, exist_ok=True)
    running = read_json(home / PLANE_PID)
    if alive(running):
        ready = read_json(home / READY)
        if ready:
            _print_ready(env, ready)
        else:
            env.out(f"tidal: local plane already running (pid {running['pid']})\n")  # type: ignore[index]
        return 0
    if args.foreground:
        from tidal.plane.main import main  # the whole plane, in this process

        return main(_plane_argv(home, args)[3:])
    with open(home / "plane.log", "ab") as log:
        proc = subprocess.Popen(
            _plane_argv(home, args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        ready = read_json(home / READY)
        if ready and ready.get("pid") == proc.pid:
            _print_ready(env, ready)
            return 0
        if proc.poll() is not None:
            failed = read_json(home / FAILED)
            if failed and failed.get("pid") == proc.pid:
                env.err(f"tidal: {failed['error']}\n  (log: {home / 'plane.log'})\n")
                return 1
            env.err(
                f"tidal: the plane exited (code {proc.returncode}); see {home / 'plane.log'}:\n"
                + _tail(home / "plane.log")
            )
            return 1
        time.sleep(0.1)
    env.err(f"tidal: the plane did not become ready in {args.timeout:.0f}s; see {home}/plane.log\n")
    return 1


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return ""
    return "".join(f"  {line}\n" for line in lines)


def cmd_down(args: Any, env: Env) -> int:
    home = _home(args)
    rec = read_json(home / PLANE_PID)
    if not alive(rec):
        # a plane killed with -9 may have left its router and pods: stop those too
        n = _stop_leftovers(home)
        env.out(
            "tidal: local plane is not running"
            + (f"; stopped {n} process(es) it left (router, pods)\n" if n else "\n")
        )
        return 0
    pid = int(rec["pid"])  # type: ignore[index]
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(args.timeout)
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        env.err("tidal: the plane did not stop in time; killed\n")
    except psutil.NoSuchProcess:
        pass
    _stop_leftovers(home)
    env.out("tidal: local plane stopped\n")
    return 0


def _stop_leftovers(home: Path) -> int:
    """Stop the router and pod processes recorded in the home whose plane is gone."""
    stopped = 0
    rec = read_json(home / ROUTER_PID)
    if alive(rec):
        with_sig(int(rec["pid"]), signal.SIGTERM)  # type: ignore[index]
        stopped += 1
    for state in home.glob("pods/*/*/state.json"):
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        for c in (data.get("containers") or {}).values():
            r = {"pid": c.get("pid"), "create_time": c.get("createTime", 0)}
            if alive(r):
                with_sig(int(c["pid"]), signal.SIGTERM)
                stopped += 1
    return stopped


def with_sig(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def cmd_status(args: Any, env: Env) -> int:
    home = _home(args)
    rec = read_json(home / PLANE_PID)
    router = read_json(home / ROUTER_PID)
    ready = read_json(home / READY)
    up = alive(rec)
    lines = [f"home:      {home}"]
    if up and ready:
        lines.append(f"plane:     running (pid {rec['pid']})")  # type: ignore[index]
        lines.append(f"API:       {ready['api']}")
    elif up:
        lines.append(f"plane:     starting (pid {rec['pid']})")  # type: ignore[index]
    else:
        lines.append("plane:     not running")
    if alive(router):
        lines.append(f"router:    running (pid {router['pid']}) on :{router.get('port')}")  # type: ignore[index,union-attr]
    else:
        lines.append("router:    not running")
    env.out("\n".join(lines) + "\n")
    return 0 if up else 1


def cmd_kubeconfig(args: Any, env: Env) -> int:
    home = _home(args)
    path = home / "kubeconfig"
    if not path.exists():
        env.err(f"tidal: no kubeconfig at {path} yet: run `tidal up` first\n")
        return 1
    if args.merge:
        from tidal.client import kubeconfig as kc

        target = kc.merge_into(path)  # type: ignore[call-arg]
        env.out(f"merged context `tidal` into {target}\n")
        return 0
    env.out(f"{path}\n")
    return 0
