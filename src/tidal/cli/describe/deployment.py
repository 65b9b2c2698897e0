"""`tidal describe deployment` in kubectl's layout."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import (
    Writer,
    rfc1123z,
    write_env,
    write_events,
    write_labels,
    write_labels_annotations,
    write_name,
)

Obj = dict[str, Any]


def replicasets_line(rs_list: list[Obj]) -> str:
    """kubectl's `printReplicaSetsByLabels`: `name (current/desired replicas created)`."""
    parts = [
        f"{rs['metadata']['name']} ({(rs.get('status') or {}).get('replicas', 0)}/"
        f"{(rs.get('spec') or {}).get('replicas', 0)} replicas created)"
        for rs in rs_list
    ]
    return ", ".join(parts) or "<none>"


def describe(
    dep: Obj,
    events: list[Obj] | None,
    now: float,
    *,
    replicasets: tuple[list[Obj], Obj | None] | None = None,
) -> str:
    """kubectl's layout; `replicasets` (old ones, the new one) adds its OldReplicaSets and
    NewReplicaSet lines."""
    meta = dep.get("metadata") or {}
    spec = dep.get("spec") or {}
    status = dep.get("status") or {}
    w = Writer()
    write_name(w, meta)
    w.write(0, f"CreationTimestamp:\t{rfc1123z(meta.get('creationTimestamp'))}")
    write_labels_annotations(w, meta)
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    w.write(0, "Selector:\t" + (",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"))
    total = status.get("replicas", 0)
    w.write(
        0,
        f"Replicas:\t{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated"
        f" | {total} total | {status.get('availableReplicas', 0)} available"
        f" | {status.get('unavailableReplicas', 0)} unavailable",
    )
    strategy = spec.get("strategy") or {}
    w.write(0, f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        ru = strategy.get("rollingUpdate") or {}
        w.write(
            0,
            f"RollingUpdateStrategy:\t{ru.get('maxUnavailable', '25%')} max unavailable, "
            f"{ru.get('maxSurge', '25%')} max surge",
        )
    template = spec.get("template") or {}
    w.write(0, "Pod Template:")
    write_labels(w, 1, (template.get("metadata") or {}).get("labels"))
    w.write(1, "Containers:")
    for c in (template.get("spec") or {}).get("containers") or []:
        w.write(1, f" {c.get('name')}:")
        w.write(2, f"Image:\t{c.get('image', '')}")
        ports = c.get("ports") or []
        w.write(
            2,
            "Port:\t"
            + (
                ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
                or "<none>"
            ),
        )
        w.write(
            2,
            "Host Port:\t"
            + (
                ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
                or "<none>"
            ),
        )
        if c.get("command"):
            w.write(2, "Command:")
            for part in c["command"]:
                w.write(3, str(part))
        for part, title in (("limits", "Limits"), ("requests", "Requests")):
            values = (c.get("resources") or {}).get(part) or {}
            if values:
                w.write(2, f"{title}:")
                for k in sorted(values):
                    w.write(3, f"{k}:\t{values[k]}")
        write_env(w, 2, c.get("env") or [])
        w.write(2, "Mounts:\t<none>" if not c.get("volumeMounts") else "Mounts:")
        for m in c.get("volumeMounts") or []:
            w.write(3, f"{m.get('mountPath')} from {m.get('name')} (rw)")
    w.write(
        1, "Volumes:\t<none>" if not (template.get("spec") or {}).get("volumes") else "Volumes:"
    )
    for v in (template.get("spec") or {}).get("volumes") or []:
        w.write(2, f"{v.get('name')}:")
        if v.get("hostPath"):
            w.write(3, "Type:\tHostPath (bare host directory volume)")
            w.write(3, f"Path:\t{v['hostPath'].get('path')}")
    w.write(1, "Node-Selectors:\t<none>")
    w.write(1, "Tolerations:\t<none>")
    conds = status.get("conditions") or []
    if conds:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus\tReason")
        w.write(1, "----\t------\t------")
        for c in conds:
            w.write(1, f"{c.get('type')} \t{c.get('status')}\t{c.get('reason', '')}")
    if replicasets is not None:
        old, new = replicasets
        w.write(0, f"OldReplicaSets:\t{replicasets_line(old)}")
        w.write(0, f"NewReplicaSet:\t{replicasets_line([new] if new else [])}")
    write_events(w, events, now)
    return w.text()
