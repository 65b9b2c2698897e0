"""Pure formatters of the CLI (`format_* -> str`), kubectl's output forms: the Table the server
sends (one source of truth for columns), yaml, json, name, jsonpath; and Go's text/tabwriter,
which both kubectl and arena print through."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse

from tidal.api.resources import ResourceType

Obj = dict[str, Any]


# ---- Go's text/tabwriter ------------------------------------------------------------------------
def tabwrite(text: str, *, padding: int = 2, minwidth: int = 0) -> str:
    """Align tab-separated cells as Go's `text/tabwriter` (flags 0, pad ' '): a column block is
    a run of consecutive lines that have a tab-terminated cell in that column; the text after a
    line's last tab is not aligned."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, c in enumerate(cells):
                if j < len(cells) - 1 and j < len(widths):
                    parts.append(c.ljust(widths[j]))
                else:
                    parts.append(c)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out)


# ---- tables -------------------------------------------------------------------------------------
def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list | dict):
        return json.dumps(v)
    return str(v).split("\n", 1)[0]


def format_table(
    table: Obj,
    *,
    wide: bool = False,
    no_headers: bool = False,
    namespace_column: bool = False,
    show_kind: str | None = None,
) -> str:
    """A `meta.k8s.io/v1 Table` as kubectl prints it: upper-cased headers, priority-0 columns
    unless `wide`, three spaces between columns, NAMESPACE first with `-A`."""
    cols = table.get("columnDefinitions") or []
    keep = [i for i, c in enumerate(cols) if wide or not c.get("priority")]
    rows = table.get("rows") or []
    lines: list[list[str]] = []
    if not no_headers:
        header = [str(cols[i].get("name", "")).upper() for i in keep]
        if namespace_column:
            header.insert(0, "NAMESPACE")
        lines.append(header)
    for row in rows:
        cells = row.get("cells") or []
        line = [_cell(cells[i]) if i < len(cells) else "" for i in keep]
        if show_kind and line:
            line[0] = f"{show_kind}/{line[0]}"
        if namespace_column:
            ns = (((row.get("object") or {}).get("metadata")) or {}).get("namespace", "")
            line.insert(0, ns)
        lines.append(line)
    return format_columns(lines, gap=3)


def format_columns(lines: Sequence[Sequence[str]], *, gap: int = 3) -> str:
    """Left-aligned columns, `gap` spaces apart, no trailing spaces (kubectl's table printer)."""
    if not lines:
        return ""
    n = max(len(line) for line in lines)
    widths = [max((len(line[i]) for line in lines if i < len(line)), default=0) for i in range(n)]
    out = []
    for line in lines:
        parts = [c.ljust(widths[i]) if i < len(line) - 1 else c for i, c in enumerate(line)]
        out.append((" " * gap).join(parts).rstrip())
    return "\n".join(out) + "\n"


# ---- objects ------------------------------------------------------------------------------------
def strip_managed(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def as_list(items: Iterable[Obj]) -> Obj:
    return {
        "apiVersion": "v1",
        "items": [strip_managed(i) for i in items],
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def format_yaml(obj: Obj) -> str:
    return yaml.safe_dump(strip_managed(obj), default_flow_style=False, sort_keys=True)


def format_json(obj: Obj) -> str:
    return json.dumps(strip_managed(obj), indent=4, sort_keys=False) + "\n"


def qualified(rt: ResourceType) -> str:
    """`deployment.apps`, `pod`, `inferenceservice.serving.kserve.io` — kubectl's `-o name`."""
    return f"{rt.singular}.{rt.group}" if rt.group else rt.singular


def format_name(rt: ResourceType, objs: Iterable[Obj]) -> str:
    return "".join(f"{qualified(rt)}/{o['metadata']['name']}\n" for o in objs)


class JsonPathError(ValueError):
    pass


def _split_template(template: str) -> list[tuple[bool, str]]:
    """kubectl's jsonpath template: literal text and `{expr}` parts."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            parts.append((False, template[i:]))
            break
        if j > i:
            parts.append((False, template[i:j]))
        k = template.find("}", j)
        if k < 0:
            raise JsonPathError(f"unclosed action in template {template!r}")
        parts.append((True, template[j + 1 : k].strip()))
        i = k + 1
    return parts


def format_jsonpath(obj: Any, template: str) -> str:
    """`-o jsonpath=...` without a trailing newline, as kubectl prints it; several results of one
    expression are joined with spaces."""
    out: list[str] = []
    for is_expr, text in _split_template(template):
        if not is_expr:
            out.append(text.replace("\\n", "\n").replace("\\t", "\t"))
            continue
        if text.startswith("range") or text == "end":
            raise JsonPathError(f"jsonpath {text!r} is not supported by tidal get")
        expr = text[1:] if text.startswith(".") else text
        expr = expr.replace("[*]", "[*]")
        try:
            matches = jsonpath_parse("$." + expr if expr else "$").find(obj)
        except (JsonPathParserError, Exception) as exc:
            raise JsonPathError(f"error parsing jsonpath {{{text}}}: {exc}") from exc
        vals = []
        for m in matches:
            v = m.value
            vals.append(
                v
                if isinstance(v, str)
                else json.dumps(v)
                if isinstance(v, dict | list)
                else _cell(v)
            )
        out.append(" ".join(vals))
    return "".join(out)
