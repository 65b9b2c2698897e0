"""What every `tidal describe` shares with kubectl's describers: the prefix writer (levels of two
spaces, tab-separated cells, then Go's tabwriter with padding 2), multi-line labels/annotations,
the Events table (`Age` with `(xN over M)`), RFC 1123 times, and the generic describer kubectl
uses for custom resources (smart labels, sorted keys)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tidal.api.meta import human_duration, parse_time
from tidal.cli.printers import tabwrite

Obj = dict[str, Any]


class Writer:
    """kubectl's PrefixWriter: `write(level, "Key:\\t%s")` lines, aligned once at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def text(self) -> str:
        return tabwrite("\n".join(self.lines) + "\n")


def rfc1123z(ts: str | None) -> str:
    """`Sat, 11 May 2024 17:15:47 +0800`, in the local time zone, as kubectl prints times."""
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return datetime.fromtimestamp(t).astimezone().strftime("%a, %d %b %Y %H:%M:%S %z")


def write_map(w: Writer, level: int, title: str, values: dict[str, str] | None, sep: str) -> None:
    """`Labels:\\tk=v` then `\\tk2=v2` per line (sorted), `<none>` when empty."""
    items = sorted((values or {}).items())
    if not items:
        w.write(level, f"{title}:\t<none>")
        return
    for i, (k, v) in enumerate(items):
        head = f"{title}:" if i == 0 else ""
        w.write(level, f"{head}\t{k}{sep}{v}")


def write_labels(w: Writer, level: int, labels: dict[str, str] | None) -> None:
    write_map(w, level, "Labels", labels, "=")


def write_annotations(w: Writer, level: int, annotations: dict[str, str] | None) -> None:
    shown = {
        k: v
        for k, v in (annotations or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    write_map(w, level, "Annotations", shown, ": ")


def write_name(w: Writer, meta: Obj) -> None:
    """The `Name:` and `Namespace:` lines every describer opens with."""
    w.write(0, f"Name:\t{meta.get('name', '')}")
    w.write(0, f"Namespace:\t{meta.get('namespace', '')}")


def write_labels_annotations(w: Writer, meta: Obj) -> None:
    """The object's own `Labels:` then `Annotations:` blocks, at the top level."""
    write_labels(w, 0, meta.get("labels"))
    write_annotations(w, 0, meta.get("annotations"))


def write_env(w: Writer, level: int, env: list[Obj]) -> None:
    """A container's `Environment:` block (name: value), or `<none>`."""
    if not env:
        w.write(level, "Environment:\t<none>")
        return
    w.write(level, "Environment:")
    for e in env:
        w.write(level + 1, f"{e.get('name')}:\t{e.get('value', '')}")


def event_age(ev: Obj, now: float) -> str:
    first = parse_time(ev.get("firstTimestamp")) or parse_time(ev.get("eventTime"))
    last = parse_time(ev.get("lastTimestamp")) or first
    count = int(ev.get("count") or 1)
    if last is None:
        return "<unknown>"
    if count > 1 and first is not None:
        return f"{human_duration(now - last)} (x{count} over {human_duration(now - first)})"
    return human_duration(now - last)


def write_events(w: Writer, events: list[Obj] | None, now: float) -> None:
    """The Events section; `events is None` (the list failed) prints nothing, as kubectl."""
    if events is None:
        return
    if not events:
        w.write(0, "Events:\t<none>")
        return

    def key(ev: Obj) -> float:
        return parse_time(ev.get("lastTimestamp")) or parse_time(ev.get("eventTime")) or 0.0

    w.write(0, "Events:")
    w.write(1, "Type\tReason\tAge\tFrom\tMessage")
    w.write(1, "----\t------\t----\t----\t-------")
    for ev in sorted(events, key=key):
        src = (ev.get("source") or {}).get("component") or ev.get("reportingComponent") or ""
        msg = (ev.get("message") or "").strip()
        w.write(
            1,
            f"{ev.get('type', 'Normal')}\t{ev.get('reason', '')}\t{event_age(ev, now)}\t{src}\t{msg}",
        )


_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+|[^A-Za-z0-9]+")


def smart_label(field: str) -> str:
    """kubectl's `smartLabelFor`: `lastProbeTime` → `Last Probe Time`, `apiVersion` → `API Version`."""
    parts = []
    for part in _CAMEL.findall(field):
        if part == "_":
            continue
        parts.append(part.upper() if part.upper() in _ACRONYMS else part[:1].upper() + part[1:])
    return " ".join(parts) if parts else field


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    return str(v)


def write_unstructured(w: Writer, level: int, content: Obj, prefix: str, skip: set[str]) -> None:
    """kubectl's `printUnstructuredContent`: keys sorted, maps and lists nested one level deeper,
    list items of maps printed without a dash."""
    for field in sorted(content):
        value = content[field]
        path = f"{prefix}.{field}"
        if path in skip:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(field)}:")
            write_unstructured(w, level + 1, value, path, skip)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(field)}:")
            for child in value:
                if isinstance(child, dict):
                    write_unstructured(w, level + 1, child, path, skip)
                else:
                    w.write(level + 1, _scalar(child))
        else:
            w.write(level, f"{smart_label(field)}:\t{_scalar(value)}")


GENERIC_SKIP = {
    ".metadata.managedFields",
    ".metadata.name",
    ".metadata.namespace",
    ".metadata.labels",
    ".metadata.annotations",
}


def describe_generic(obj: Obj, events: list[Obj] | None, now: float) -> str:
    """The describer kubectl uses for custom resources (InferenceService, CronHPA, ...)."""
    meta = obj.get("metadata") or {}
    w = Writer()
    write_name(w, meta)
    write_labels_annotations(w, meta)
    write_unstructured(w, 0, obj, "", GENERIC_SKIP)
    write_events(w, events, now)
    return w.text()
