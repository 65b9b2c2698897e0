"""`tidal describe pod` in kubectl's layout: node, times, IP, controller, container state with the
last termination (why it restarted), restart count, resources, probe, conditions, events."""

from __future__ import annotations

from typing import Any

from tidal.cli.arena import pod_status
from tidal.cli.describe.common import (
    Writer,
    rfc1123z,
    write_env,
    write_events,
    write_labels_annotations,
    write_name,
)

Obj = dict[str, Any]


def _state(w: Writer, level: int, title: str, state: Obj) -> None:
    if not state:
        w.write(level, f"{title}:\tWaiting")
        return
    if "running" in state:
        w.write(level, f"{title}:\tRunning")
        w.write(level + 1, f"Started:\t{rfc1123z((state['running'] or {}).get('startedAt'))}")
    elif "waiting" in state:
        w.write(level, f"{title}:\tWaiting")
        if (state["waiting"] or {}).get("reason"):
            w.write(level + 1, f"Reason:\t{state['waiting']['reason']}")
    elif "terminated" in state:
        t = state["terminated"] or {}
        w.write(level, f"{title}:\tTerminated")
        w.write(level + 1, f"Reason:\t{t.get('reason', '')}")
        if t.get("message"):
            w.write(level + 1, f"Message:\t{t['message']}")
        w.write(level + 1, f"Exit Code:\t{t.get('exitCode', 0)}")
        if t.get("signal"):
            w.write(level + 1, f"Signal:\t{t['signal']}")
        w.write(level + 1, f"Started:\t{rfc1123z(t.get('startedAt'))}")
        w.write(level + 1, f"Finished:\t{rfc1123z(t.get('finishedAt'))}")


def _resources(w: Writer, level: int, resources: Obj) -> None:
    for part, title in (("limits", "Limits"), ("requests", "Requests")):
        values = (resources or {}).get(part) or {}
        if values:
            w.write(level, f"{title}:")
            for k in sorted(values):
                w.write(level + 1, f"{k}:\t{values[k]}")


def _probe(p: Obj) -> str:
    if "httpGet" in p:
        g = p["httpGet"]
        what = f"http-get {g.get('scheme', 'HTTP').lower()}://{g.get('host', '')}:{g.get('port')}{g.get('path', '')}"
    elif "tcpSocket" in p:
        what = f"tcp-socket {p['tcpSocket'].get('host', '')}:{p['tcpSocket'].get('port')}"
    elif "exec" in p:
        what = "exec " + str((p["exec"] or {}).get("command"))
    else:
        what = "unknown"
    return (
        f"{what} delay={p.get('initialDelaySeconds', 0)}s timeout={p.get('timeoutSeconds', 1)}s "
        f"period={p.get('periodSeconds', 10)}s #success={p.get('successThreshold', 1)} "
        f"#failure={p.get('failureThreshold', 3)}"
    )


def _qos(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    reqs = [((c.get("resources") or {}).get("requests") or {}) for c in containers]
    lims = [((c.get("resources") or {}).get("limits") or {}) for c in containers]
    if not any(reqs) and not any(lims):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and r.get("cpu", lim["cpu"]) == lim["cpu"]
        and r.get("memory", lim["memory"]) == lim["memory"]
        for r, lim in zip(reqs, lims, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def describe(pod: Obj, events: list[Obj] | None, now: float) -> str:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    w = Writer()
    write_name(w, meta)
    w.write(0, f"Priority:\t{spec.get('priority', 0)}")
    w.write(0, f"Service Account:\t{spec.get('serviceAccountName', 'default')}")
    node = spec.get("nodeName")
    w.write(0, f"Node:\t{node}/{status.get('hostIP', '')}" if node else "Node:\t<none>")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'])}")
    write_labels_annotations(w, meta)
    if meta.get("deletionTimestamp"):
        w.write(0, f"Status:\tTerminating (lasts {meta['deletionTimestamp']})")
        w.write(0, f"Termination Grace Period:\t{meta.get('deletionGracePeriodSeconds', 30)}s")
    else:
        w.write(0, f"Status:\t{status.get('phase', 'Pending')}")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}")
    w.write(0, f"IP:\t{status.get('podIP', '')}")
    ips = status.get("podIPs") or ([{"ip": status["podIP"]}] if status.get("podIP") else [])
    if ips:
        w.write(0, "IPs:")
        for ip in ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}")
    else:
        w.write(0, "IPs:\t<none>")
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            w.write(0, f"Controlled By:\t{ref.get('kind')}/{ref.get('name')}")
    w.write(0, "Containers:")
    statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
    for c in spec.get("containers") or []:
        cs = statuses.get(c.get("name"), {})
        w.write(1, f"{c.get('name')}:")
        w.write(2, f"Container ID:\t{cs.get('containerID', '')}")
        w.write(2, f"Image:\t{c.get('image', '')}")
        w.write(2, f"Image ID:\t{cs.get('imageID', '')}")
        ports = c.get("ports") or []
        if ports:
            w.write(
                2,
                "Port:\t"
                + ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports),
            )
            w.write(
                2,
                "Host Port:\t"
                + ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports),
            )
        else:
            w.write(2, "Port:\t<none>")
            w.write(2, "Host Port:\t<none>")
        for key, title in (("command", "Command"), ("args", "Args")):
            if c.get(key):
                w.write(2, f"{title}:")
                for part in c[key]:
                    w.write(3, str(part))
        _state(w, 2, "State", cs.get("state") or {})
        if cs.get("lastState"):
            _state(w, 2, "Last State", cs["lastState"])
        w.write(2, f"Ready:\t{'True' if cs.get('ready') else 'False'}")
        w.write(2, f"Restart Count:\t{cs.get('restartCount', 0)}")
        _resources(w, 2, c.get("resources") or {})
        for key, title in (
            ("livenessProbe", "Liveness"),
            ("readinessProbe", "Readiness"),
            ("startupProbe", "Startup"),
        ):
            if c.get(key):
                w.write(2, f"{title}:\t{_probe(c[key])}")
        write_env(w, 2, c.get("env") or [])
        mounts = c.get("volumeMounts") or []
        if mounts:
            w.write(2, "Mounts:")
            for m in mounts:
                w.write(
                    3,
                    f"{m.get('mountPath')} from {m.get('name')} ({'ro' if m.get('readOnly') else 'rw'})",
                )
        else:
            w.write(2, "Mounts:\t<none>")
    conds = status.get("conditions") or []
    if conds:
        w.write(0, "Conditions:")
        w.write(1, "Type\tStatus")
        for cond in conds:
            w.write(1, f"{cond.get('type')} \t{cond.get('status')} ")
    w.write(0, f"QoS Class:\t{_qos(pod)}")
    sel = spec.get("nodeSelector") or {}
    w.write(
        0, "Node-Selectors:\t" + (",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>")
    )
    w.write(
        0,
        "Tolerations:\t<none>"
        if not spec.get("tolerations")
        else f"Tolerations:\t{spec['tolerations']}",
    )
    write_events(w, events, now)
    return w.text()


__all__ = ["describe", "pod_status"]
