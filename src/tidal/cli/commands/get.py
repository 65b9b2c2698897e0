"""`tidal get KIND [NAME...]` as kubectl: the server's Table (`-o wide` shows its priority
columns), `-o yaml|json|name|jsonpath=...`, `-l`, `--field-selector`, `-A`, `-w`, `get all`,
and `get --raw PATH`; `tidal events` lists events the same way."""

from __future__ import annotations

import json
import time
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.resources import RESOURCES, ResourceType
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, fetch_table, resource, run
from tidal.cli.printers import (
    JsonPathError,
    as_list,
    format_json,
    format_jsonpath,
    format_name,
    format_table,
    format_yaml,
    qualified,
)

OUTPUTS = ("wide", "yaml", "json", "name")


def add_parser(sub: Any) -> None:
    g = sub.add_parser("get", help="display one or many resources (kubectl get)")
    g.add_argument("kind", nargs="?", help="KIND[,KIND...] or all (short names: isvc, po, ...)")
    g.add_argument("names", nargs="*", metavar="NAME")
    _common(g)
    g.add_argument("-w", "--watch", action="store_true", help="after listing, watch for changes")
    g.add_argument("--raw", metavar="PATH", help="GET this API path and print the answer")
    g.set_defaults(func=cmd_get)

    e = sub.add_parser("events", help="list events (kubectl get events)")
    _common(e)
    e.add_argument("--for", dest="for_object", metavar="KIND/NAME", help="only about this object")
    e.set_defaults(func=cmd_events)


def _common(p: Any) -> None:
    p.add_argument("-o", "--output", help="wide|yaml|json|name|jsonpath=TEMPLATE")
    p.add_argument("-l", "--selector", help="label selector")
    p.add_argument("--field-selector", help="field selector")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--no-headers", action="store_true")


def _check_output(output: str | None) -> None:
    if output and output not in OUTPUTS and not output.startswith("jsonpath="):
        raise CliError(
            f'error: unable to match a printer suitable for the output format "{output}", '
            "allowed formats are: json,jsonpath,name,wide,yaml"
        )


def cmd_events(args: Any, env: Env) -> int:
    args.kind = "events"
    args.names = []
    args.watch = False
    args.raw = None
    if args.for_object:
        kind, _, name = args.for_object.partition("/")
        rt = resource(kind)
        extra = f"involvedObject.kind={rt.kind},involvedObject.name={name}"
        args.field_selector = ",".join(x for x in (args.field_selector, extra) if x)
    return cmd_get(args, env)


def cmd_get(args: Any, env: Env) -> int:
    try:
        _check_output(args.output)
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1
    if args.raw:

        async def raw(client: ApiClient) -> int:
            body = await client.get_raw(args.raw)
            if isinstance(body, str):  # /healthz, /metrics: text, printed as the server sent it
                env.out(body if body.endswith("\n") else body + "\n")
            else:
                env.out(json.dumps(body, separators=(",", ":")) + "\n")
            return 0

        return run(env, args, raw)
    if not args.kind:
        env.err(
            'You must specify the type of resource to get. Use "tidal api-resources" for a '
            "complete list of supported resources.\n"
        )
        return 1
    try:
        kinds = _kinds(args.kind)
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1
    ns = None if args.all_namespaces else context_namespace(args)

    async def body(client: ApiClient) -> int:
        if args.watch:
            return await _watch(client, env, args, kinds[0], ns)
        return await _get(client, env, args, kinds, ns)

    return run(env, args, body)


def _kinds(word: str) -> list[ResourceType]:
    out: list[ResourceType] = []
    for part in word.split(","):
        if part == "all":
            out += [r for r in RESOURCES if "all" in r.categories]
        else:
            out.append(resource(part))
    return out


async def _get(
    client: ApiClient, env: Env, args: Any, kinds: list[ResourceType], ns: str | None
) -> int:
    output = args.output
    multi = len(kinds) > 1
    objs: list[Obj] = []
    printed_any = False
    code = 0
    for rt in kinds:
        names = args.names or [None]
        if output in (None, "wide"):
            for name in names:
                try:
                    table = await fetch_table(
                        client,
                        rt,
                        ns,
                        name,
                        label_selector=args.selector,
                        field_selector=args.field_selector,
                    )
                except CliError:
                    raise
                except Exception as exc:
                    from tidal.api.errors import ApiError

                    if isinstance(exc, ApiError) and name:
                        env.err(f"Error from server ({exc.reason}): {exc.message}\n")
                        code = 1
                        continue
                    raise
                if not table.get("rows"):
                    continue
                if printed_any and multi:
                    env.out("\n")
                env.out(
                    format_table(
                        table,
                        wide=output == "wide",
                        no_headers=args.no_headers,
                        namespace_column=args.all_namespaces,
                        show_kind=qualified(rt) if multi else None,
                    )
                )
                printed_any = True
            continue
        for name in names:
            if name:
                objs.append(_with_kind(rt, await client.get(rt.kind, name, ns)))
            else:
                listed = await client.list(
                    rt.kind, ns, label_selector=args.selector, field_selector=args.field_selector
                )
                objs += [_with_kind(rt, o) for o in listed.get("items", [])]
    if output in (None, "wide"):
        if not printed_any and code == 0:
            where = "" if args.all_namespaces else f" in {ns} namespace"
            env.err(f"No resources found{where}.\n")
        return code
    single = len(kinds) == 1 and len(args.names) == 1
    doc: Obj = objs[0] if single and objs else as_list(objs)
    if output == "yaml":
        env.out(format_yaml(doc))
    elif output == "json":
        env.out(format_json(doc))
    elif output == "name":
        for o in objs:
            env.out(format_name(_rt_of(o, kinds), [o]))
    else:
        try:
            env.out(format_jsonpath(doc, output.split("=", 1)[1]))
        except JsonPathError as exc:
            env.err(f"error: {exc}\n")
            return 1
    return 0


def _rt_of(obj: Obj, kinds: list[ResourceType]) -> ResourceType:
    return next((k for k in kinds if k.kind == obj.get("kind")), kinds[0])


def _with_kind(rt: ResourceType, obj: Obj) -> Obj:
    return {"apiVersion": rt.api_version, "kind": rt.kind, **obj}


async def _watch(client: ApiClient, env: Env, args: Any, rt: ResourceType, ns: str | None) -> int:
    from tidal.server import tables

    name = args.names[0] if args.names else None
    field = args.field_selector
    if name:
        field = ",".join(x for x in (field, f"metadata.name={name}") if x)
    listed = await client.list(rt.kind, ns, label_selector=args.selector, field_selector=field)
    items = listed.get("items", [])
    wide = args.output == "wide"
    table = tables.table(rt.kind, items, time.time())
    first = format_table(table, wide=wide, namespace_column=args.all_namespaces)
    widths = [len(c) for c in _split_row(first.splitlines()[0])] if first else []
    env.out(first)
    rv = (listed.get("metadata") or {}).get("resourceVersion")
    async for etype, obj in client.watch(
        rt.kind, ns, resource_version=rv, label_selector=args.selector, field_selector=field
    ):
        if etype not in ("ADDED", "MODIFIED", "DELETED"):
            continue
        one = tables.table(rt.kind, [obj], time.time())
        text = format_table(one, wide=wide, no_headers=True, namespace_column=args.all_namespaces)
        env.out(_align(text, widths))
    return 0


def _split_row(line: str) -> list[str]:
    """Cells of a printed row (columns are three or more spaces apart), keeping their widths."""
    import re

    return [m.group(0) for m in re.finditer(r"\S.*?(?:   +|$)", line)]


def _align(text: str, widths: list[int]) -> str:
    """Pad a watch row to the first table's column widths, as kubectl keeps columns aligned."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in _split_row(line)]
        parts = [
            c.ljust(max(widths[i], len(c) + 3)) if i < len(widths) and i < len(cells) - 1 else c
            for i, c in enumerate(cells)
        ]
        out.append("".join(parts).rstrip())
    return "\n".join(out) + "\n"
