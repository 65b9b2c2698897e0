"""The plane's process: `main` parses the flags and runs `amain`, which records the plane's pid,
picks free ports, starts `Plane`, announces readiness (or the failure) in the home, and stops
everything on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from tidal.home import (
    FAILED,
    PLANE_PID,
    READY,
    PlaneConfig,
    add_plane_flags,
    alive,
    config_from,
    pid_record,
    read_json,
    save_config,
    write_json,
)
from tidal.plane.compose import Plane
from tidal.plane.ports import PortInUse, free_port

log = logging.getLogger("tidal.plane")


async def amain(home: Path, cfg: PlaneConfig) -> int:
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    other = read_json(home / PLANE_PID)
    if alive(other) and other is not None and other.get("pid") != os.getpid():
        print(f"tidal: a plane already runs for {home} (pid {other['pid']})", file=sys.stderr)
        return 1
    with contextlib.suppress(FileNotFoundError):
        (home / READY).unlink()
    if not cfg.api_port:
        cfg.api_port = free_port()
    if not cfg.admin_port:
        cfg.admin_port = free_port()
    if not cfg.ingress_port:
        cfg.ingress_port = free_port()
    if not cfg.dashboard_port:
        cfg.dashboard_port = free_port()
    save_config(home, cfg)
    write_json(home / PLANE_PID, pid_record(os.getpid()))

    plane = Plane(home, cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(FileNotFoundError):
        (home / FAILED).unlink()
    try:
        await plane.start()
    except Exception as exc:
        if isinstance(exc, PortInUse):
            log.error("the plane cannot start: %s", exc)
        else:
            log.exception("the plane failed to start")
        write_json(home / FAILED, {"pid": os.getpid(), "error": str(exc) or repr(exc)})
        await plane.stop(everything=False)
        plane.router.abandon()
        with contextlib.suppress(FileNotFoundError):
            (home / PLANE_PID).unlink()
        return 2 if isinstance(exc, PortInUse) else 1
    write_json(
        home / READY,
        {
            "pid": os.getpid(),
            "api": plane.api.url,
            "ingress_port": cfg.ingress_port,
            "admin_port": cfg.admin_port,
            "kubeconfig": str(home / "kubeconfig"),
            "router_listening": plane.router_listening,
            "dashboard": plane.dashboard.login_url if plane.dashboard is not None else None,
        },
    )
    log.info("plane ready: api %s, ingress :%s", plane.api.url, cfg.ingress_port)
    await stop.wait()
    log.info("stopping")
    with contextlib.suppress(FileNotFoundError):
        (home / READY).unlink()
    await plane.stop(everything=True)
    with contextlib.suppress(FileNotFoundError):
        (home / PLANE_PID).unlink()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tidal.plane")
    p.add_argument("--home", required=True)
    add_plane_flags(p)
    args = p.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("TIDAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "httpcore"):  # one line per scrape otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home = Path(args.home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    cfg = config_from(home, args)
    # Pods inherit this environment: `python` in a pod's command is the plane's Python (the
    # venv tidal is installed in), as a container image would bring its own.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(amain(home, cfg))
