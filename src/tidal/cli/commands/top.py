"""`tidal top pods`: the metrics API's PodMetrics as kubectl prints them (`CPU(cores)` in
millicores, `MEMORY(bytes)` in Mi)."""

from __future__ import annotations

from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.quantity import parse
from tidal.cli.env import Env
from tidal.cli.kube import context_namespace, run
from tidal.cli.printers import format_columns


def add_parser(sub: Any) -> None:
    t = sub.add_parser("top", help="resource usage (kubectl top)")
    tsub = t.add_subparsers(dest="top_command", metavar="pods")
    p = tsub.add_parser("pods", aliases=["pod", "po"], help="CPU and memory of pods")
    p.add_argument("name", nargs="?")
    p.add_argument("-l", "--selector")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--no-headers", action="store_true")
    p.set_defaults(func=cmd_top_pods)
    t.set_defaults(func=lambda args, env: (t.print_help(env.stdout), 2)[1])


def format_top(items: list[Obj], *, all_namespaces: bool = False, no_headers: bool = False) -> str:
    lines = []
    if not no_headers:
        lines.append(
            (["NAMESPACE"] if all_namespaces else []) + ["NAME", "CPU(cores)", "MEMORY(bytes)"]
        )
    for it in sorted(items, key=lambda i: i["metadata"]["name"]):
        cpu = sum(parse(c.get("usage", {}).get("cpu", "0")) for c in it.get("containers") or [])
        mem = sum(parse(c.get("usage", {}).get("memory", "0")) for c in it.get("containers") or [])
        row = [it["metadata"]["name"], f"{int(cpu * 1000)}m", f"{int(mem / (1024 * 1024))}Mi"]
        if all_namespaces:
            row.insert(0, it["metadata"].get("namespace", ""))
        lines.append(row)
    return format_columns(lines, gap=3)


def cmd_top_pods(args: Any, env: Env) -> int:
    ns = None if args.all_namespaces else context_namespace(args)

    async def body(client: ApiClient) -> int:
        path = "/apis/metrics.k8s.io/v1beta1/" + (f"namespaces/{ns}/pods" if ns else "pods")
        if args.name:
            path += f"/{args.name}"
        params = {"labelSelector": args.selector} if args.selector else None
        data = await client.get_raw(path, params=params)
        items = [data] if args.name else data.get("items", [])
        if not items:
            env.err(f"No resources found in {ns} namespace.\n" if ns else "No resources found.\n")
            return 0
        env.out(format_top(items, all_namespaces=args.all_namespaces, no_headers=args.no_headers))
        return 0

    return run(env, args, body)
