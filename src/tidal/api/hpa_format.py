"""How an HPA's metrics read in kubectl: the TARGETS cell of `get hpa` (`formatHPAMetrics` in
printers.go) and the `Metrics:` lines of `describe hpa` (kubectl's describe.go). Pure; shared by
the API server's Table and the CLI's describe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tidal.api.meta import age
from tidal.api.quantity import format_binary, format_decimal, parse

Obj = dict[str, Any]
_BINARY_SUFFIXES = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def _utilization_goal(target: Obj) -> str:
    """A Resource target as kubectl shows it: `80%`, or `<auto>` when no utilization is set."""
    u = target.get("averageUtilization")
    return f"{u}%" if u is not None else "<auto>"


def qty(text: Any) -> str:
    """`Quantity.String()`: the canonical form in the quantity's own format (`4Gi`, `500m`, `2k`)."""
    if text is None:
        return "<nil>"
    s = str(text)
    try:
        v = parse(s)
    except ValueError:
        return s
    if s.endswith(_BINARY_SUFFIXES) and v.denominator == 1 and abs(v) >= 1024:
        return format_binary(v)
    return format_decimal(v)


def _status(statuses: Sequence[Obj], i: int, key: str) -> Obj | None:
    if i < len(statuses) and isinstance(statuses[i], Mapping) and statuses[i].get(key) is not None:
        return statuses[i][key]
    return None


def _current(st: Obj | None, field: str) -> str:
    if st is None:
        return "<unknown>"
    value = (st.get("current") or {}).get(field)
    return qty(value) if value is not None else "<unknown>"


def metric_targets(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    """One `current/target` text per metric, as the TARGETS cell lists them."""
    statuses = list(status.get("currentMetrics") or ())
    out: list[str] = []
    for i, m in enumerate(spec.get("metrics") or ()):
        kind = m.get("type")
        if kind == "External" or kind == "Object":
            src = m.get(kind.lower()) or {}
            target = src.get("target") or {}
            st = _status(statuses, i, kind.lower())
            if target.get("averageValue") is not None:
                out.append(f"{_current(st, 'averageValue')}/{qty(target['averageValue'])} (avg)")
            else:
                out.append(f"{_current(st, 'value')}/{qty(target.get('value'))}")
        elif kind == "Pods":
            src = m.get("pods") or {}
            st = _status(statuses, i, "pods")
            out.append(
                f"{_current(st, 'averageValue')}/{qty((src.get('target') or {}).get('averageValue'))}"
            )
        elif kind in ("Resource", "ContainerResource"):
            key = "resource" if kind == "Resource" else "containerResource"
            src = m.get(key) or {}
            target = src.get("target") or {}
            st = _status(statuses, i, key)
            name = src.get("name", "")
            if target.get("averageValue") is not None:
                out.append(f"{name}: {_current(st, 'averageValue')}/{qty(target['averageValue'])}")
            else:
                util = (st or {}).get("current", {}).get("averageUtilization") if st else None
                current = f"{util}%" if util is not None else "<unknown>"
                goal = _utilization_goal(target)
                out.append(f"{name}: {current}/{goal}")
        else:
            out.append("<unknown type>")
    return out


def format_targets(hpa: Mapping[str, Any], limit: int = 2) -> str:
    """The TARGETS cell: `cpu: 0%/10%`, at most two then ` + N more...`, `<none>` without metrics."""
    items = metric_targets(hpa.get("spec") or {}, hpa.get("status") or {})
    if not items:
        return "<none>"
    if len(items) > limit:
        return f"{', '.join(items[:limit])} + {len(items) - limit} more..."
    return ", ".join(items)


def table_row(hpa: Mapping[str, Any], now: float) -> list[str]:
    """NAME, REFERENCE, TARGETS, MINPODS, MAXPODS, REPLICAS, AGE (kubectl get hpa)."""
    meta, spec, status = hpa.get("metadata") or {}, hpa.get("spec") or {}, hpa.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    minpods = spec.get("minReplicas")
    return [
        meta.get("name", ""),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        format_targets(hpa),
        "<unset>" if minpods is None else str(minpods),
        str(spec.get("maxReplicas", 0)),
        str(status.get("currentReplicas", 0)),
        age(dict(hpa), now),
    ]


def describe_metric_lines(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[str]:
    """The lines under `Metrics:` (without indentation), cells separated by a tab."""
    statuses = list(status.get("currentMetrics") or ())
    lines: list[str] = []
    for i, m in enumerate(spec.get("metrics") or ()):
        kind = m.get("type")
        if kind == "External":
            src = m.get("external") or {}
            name = (src.get("metric") or {}).get("name", "")
            target = src.get("target") or {}
            st = _status(statuses, i, "external")
            if target.get("averageValue") is not None:
                lines.append(
                    f'"{name}" (target average value):\t{_current(st, "averageValue")} / {qty(target["averageValue"])}'
                )
            else:
                lines.append(
                    f'"{name}" (target value):\t{_current(st, "value")} / {qty(target.get("value"))}'
                )
        elif kind == "Pods":
            src = m.get("pods") or {}
            name = (src.get("metric") or {}).get("name", "")
            st = _status(statuses, i, "pods")
            target = (src.get("target") or {}).get("averageValue")
            lines.append(f'"{name}" on pods:\t{_current(st, "averageValue")} / {qty(target)}')
        elif kind == "Object":
            src = m.get("object") or {}
            obj = src.get("describedObject") or {}
            head = f'"{(src.get("metric") or {}).get("name", "")}" on {obj.get("kind", "")}/{obj.get("name", "")} '
            target = src.get("target") or {}
            st = _status(statuses, i, "object")
            if target.get("type") == "AverageValue":
                lines.append(
                    f"{head}(target average value):\t{_current(st, 'averageValue')} / {qty(target.get('averageValue'))}"
                )
            else:
                lines.append(
                    f"{head}(target value):\t{_current(st, 'value')} / {qty(target.get('value'))}"
                )
        elif kind in ("Resource", "ContainerResource"):
            key = "resource" if kind == "Resource" else "containerResource"
            src = m.get(key) or {}
            res = src.get("name", "")
            head = (
                f"resource {res} on pods"
                if kind == "Resource"
                else f'resource {res} of container "{src.get("container", "")}" on pods'
            )
            target = src.get("target") or {}
            st = _status(statuses, i, key)
            if target.get("averageValue") is not None:
                lines.append(
                    f"{head}:\t{_current(st, 'averageValue')} / {qty(target['averageValue'])}"
                )
            else:
                cur = (st or {}).get("current") or {}
                current = "<unknown>"
                if st is not None and cur.get("averageUtilization") is not None:
                    current = f"{cur['averageUtilization']}% ({qty(cur.get('averageValue'))})"
                goal = _utilization_goal(target)
                lines.append(f"{head}  (as a percentage of request):\t{current} / {goal}")
        else:
            lines.append(f'<unknown metric type "{kind}">')
    return lines
