"""The tidal home (`$TIDAL_HOME`) as the plane and the CLI share it: its file names, the pid
records of the plane and the router (pid + process start time), `plane.ready`, and the plane's
settings (`config.yaml`, the flags `tidal up` and `python -m tidal.plane` take). Small, so
`tidal up/down/status` need not import the plane itself."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psutil
import yaml

from tidal.controllers.manager import CONTROLLERS, parse_names

CONFIG = "config.yaml"
PLANE_PID = "plane.pid"
ROUTER_PID = "router.pid"
READY = "plane.ready"
FAILED = "plane.failed"  # {"pid", "error"}: why the last start failed (`tidal up` prints it)


@dataclass
class PlaneConfig:
    """What `tidal up` sets; persisted in config.yaml (ports chosen once are kept)."""

    api_port: int = 0
    ingress_port: int = 8080
    admin_port: int = 0
    domain: str = "example.com"
    hpa_profile: str | None = None
    fake_gpus: int | None = None
    prometheus: str | None = None
    prometheus_rules: str | None = None
    enforce_capacity: bool = False
    resync_s: float = 10.0
    metrics_resolution_s: float | None = None
    metrics_window_s: float | None = None
    dashboard_port: int = 0
    controllers: str = "all"  # comma list of tidal.controllers.manager names, all, or none
    dashboard: bool = True


def load_config(home: Path) -> PlaneConfig:
    try:
        raw = yaml.safe_load((home / CONFIG).read_text()) or {}
    except FileNotFoundError:
        raw = {}
    known = {f.name for f in fields(PlaneConfig)}
    return PlaneConfig(**{k: v for k, v in raw.items() if k in known})


def save_config(home: Path, cfg: PlaneConfig) -> None:
    tmp = home / (CONFIG + ".tmp")
    tmp.write_text(yaml.safe_dump(asdict(cfg), sort_keys=True))
    tmp.replace(home / CONFIG)


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def pid_record(pid: int) -> dict[str, Any]:
    return {"pid": pid, "create_time": psutil.Process(pid).create_time()}


def alive(record: dict[str, Any] | None) -> bool:
    """The recorded process (pid and start time) still runs."""
    if not record or not record.get("pid"):
        return False
    try:
        p = psutil.Process(int(record["pid"]))
        return (
            abs(p.create_time() - float(record.get("create_time", 0))) < 0.05
            and p.status() != psutil.STATUS_ZOMBIE
        )
    except psutil.Error:
        return False


def _controller_list(text: str) -> str:
    try:
        parse_names(text, tuple(CONTROLLERS))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def add_plane_flags(p: argparse.ArgumentParser) -> None:
    """The flags `tidal up` and `python -m tidal.plane` share (None: keep config.yaml's)."""
    p.add_argument("--api-port", type=int, help="API server port (default: a free port, kept)")
    p.add_argument("--ingress-port", type=int, help="router port (default 8080)")
    p.add_argument("--admin-port", type=int, help="router admin port (default: free, kept)")
    p.add_argument("--domain", help="ingress domain of service URLs (default example.com)")
    p.add_argument(
        "--controllers",
        type=_controller_list,
        help="controllers to run: a comma list of "
        f"{','.join(CONTROLLERS)}; all (default); none (a bare API server)",
    )
    p.add_argument("--hpa-profile", help="HPA profile: fast (default) or kubernetes")
    p.add_argument("--fake-gpus", type=int, help="pretend this many GPUs exist (CI only)")
    p.add_argument("--prometheus", help="a Prometheus URL, or the binary to run")
    p.add_argument("--prometheus-rules", help="prometheus-adapter style externalRules file")
    p.add_argument(
        "--enforce-capacity",
        action="store_const",
        const=True,
        help="refuse pods whose CPU/memory requests exceed the machine",
    )
    p.add_argument("--dashboard-port", type=int, help="dashboard port (default: free, kept)")
    p.add_argument(
        "--no-dashboard",
        dest="dashboard",
        action="store_const",
        const=False,
        help="do not serve the live dashboard",
    )
    p.add_argument("--resync", dest="resync_s", type=float, help=argparse.SUPPRESS)
    p.add_argument("--metrics-resolution", dest="metrics_resolution_s", type=float)
    p.add_argument("--metrics-window", dest="metrics_window_s", type=float)


def config_from(home: Path, args: argparse.Namespace) -> PlaneConfig:
    cfg = load_config(home)
    for f in fields(PlaneConfig):
        v = getattr(args, f.name, None)
        if v is not None:
            setattr(cfg, f.name, v)
    return cfg
