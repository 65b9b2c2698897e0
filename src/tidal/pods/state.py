"""A pod's saved state (`pods/<ns>/<pod>/state.json`) and its adoption by a restarted runner.

Processes outlive the plane: the record holds what a restarted runner needs to adopt them (uid,
IP, GPUs, per container pid + process start time + group, restart counts, last termination) and
to kill those whose pod is gone, so none is orphaned.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tidal.api.client import Obj
from tidal.api.meta import parse_time
from tidal.pods import process as procs
from tidal.pods.status import ContainerState, PodState

log = logging.getLogger("tidal.pods")

# names that become folders of the home (`pods/<ns>/<name>`, `volumes/<name>`)
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def record(
    uid: str,
    ns: str,
    name: str,
    state: PodState,
    gpus: Iterable[str],
    containers: Iterable[ContainerState],
    refs: Mapping[str, tuple[Any, procs.ProcessRef]],
) -> Obj:
    """What `state.json` holds for this pod (`refs`: container -> (Popen|None, ref))."""
    return {
        "uid": uid,
        "namespace": ns,
        "name": name,
        "podIP": state.pod_ip,
        "gpus": list(gpus),
        "startTime": state.start_time,
        "containers": {
            c.name: {
                "pid": refs[c.name][1].pid if c.name in refs else 0,
                "createTime": refs[c.name][1].create_time if c.name in refs else 0.0,
                "pgid": refs[c.name][1].pgid if c.name in refs else 0,
                "startedAt": c.started_at,
                "restartCount": c.restart_count,
                "failures": c.failures,
                "lastTerminated": c.last_terminated,
            }
            for c in containers
        },
    }


def write(folder: Path, rec: Obj) -> None:
    """Replace `folder/state.json` atomically (a crash leaves the old or the new one)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, folder / "state.json")


def read_all(home: Path) -> dict[str, Obj]:
    """Every pod's record under `home/pods`, by uid (`_dir`: its folder); unreadable skipped."""
    out: dict[str, Obj] = {}
    root = home / "pods"
    for f in root.glob("*/*/state.json"):
        try:
            rec = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        rec["_dir"] = str(f.parent)
        out[rec.get("uid", "")] = rec
    return out


def process_ref(rec: Obj, container: str) -> procs.ProcessRef | None:
    """The recorded process of `container`, or None where none ran."""
    r = (rec.get("containers") or {}).get(container) or {}
    if not r.get("pid"):
        return None
    return procs.ProcessRef(int(r["pid"]), float(r.get("createTime") or 0), int(r.get("pgid") or 0))


def restore(
    rec: Obj,
    pod: Obj,
    state: PodState,
    containers: Iterable[ContainerState],
    clock: Callable[[], float],
) -> tuple[str, ...]:
    """Bring an adopted pod's state back from its record; its GPUs. The transition times the
    API already shows are kept."""
    state.scheduled = True
    state.pod_ip = rec.get("podIP") or ""
    state.start_time = float(rec.get("startTime") or 0) or clock()
    gpus = tuple(rec.get("gpus") or ())
    for cond in ((pod.get("status") or {}).get("conditions")) or []:
        at = parse_time(cond.get("lastTransitionTime"))
        if at is not None:
            state.transitions[cond.get("type", "")] = (cond.get("status", ""), at)
    for c in containers:
        r = (rec.get("containers") or {}).get(c.name) or {}
        c.restart_count = int(r.get("restartCount") or 0)
        c.failures = int(r.get("failures") or 0)
        c.last_terminated = r.get("lastTerminated")
        c.started_at = float(r.get("startedAt") or 0)
    return gpus


def sweep_orphans(records: dict[str, Obj], live_uids: set[str]) -> None:
    """Kill the processes of pods that no longer exist (deleted while no runner ran)."""
    for uid, rec in records.items():
        if uid in live_uids:
            continue
        for name in rec.get("containers") or {}:
            ref = process_ref(rec, name)
            if ref is not None and procs.is_alive(ref):
                log.info(
                    "killing orphan pid %d of gone pod %s/%s",
                    ref.pid,
                    rec.get("namespace"),
                    rec.get("name"),
                )
                procs.signal_tree(ref, 9)
        shutil.rmtree(rec["_dir"], ignore_errors=True)
