"""`tidal logs POD [-f] [--tail N]`: the pod's log through the API (`pods/NAME/log`)."""

from __future__ import annotations

from typing import Any

from tidal.api.client import ApiClient
from tidal.api.resources import by_kind
from tidal.cli.env import Env
from tidal.cli.kube import context_namespace, run


def add_parser(sub: Any) -> None:
    lg = sub.add_parser("logs", help="print a pod's log (kubectl logs)")
    lg.add_argument("pod")
    lg.add_argument("-f", "--follow", action="store_true")
    lg.add_argument("--tail", type=int, default=-1, help="last N lines")
    lg.add_argument("-c", "--container")
    lg.add_argument("--timestamps", action="store_true")
    lg.set_defaults(func=cmd_logs)


def cmd_logs(args: Any, env: Env) -> int:
    ns = context_namespace(args)
    name = args.pod.split("/", 1)[1] if args.pod.startswith(("pod/", "pods/", "po/")) else args.pod

    async def body(client: ApiClient) -> int:
        pod = await client.get("Pod", name, ns)
        containers = (pod.get("spec") or {}).get("containers") or []
        params = {"container": args.container or (containers[0]["name"] if containers else "")}
        if args.follow:
            params["follow"] = "true"
        if args.tail >= 0:
            params["tailLines"] = str(args.tail)
        if args.timestamps:
            params["timestamps"] = "true"
        path = by_kind("Pod").path(ns, name) + "/log"
        stream = getattr(client, "stream_raw", None)
        if stream is not None:
            async for chunk in stream(path, params=params):
                env.stdout.write(chunk.decode(errors="replace"))
                env.stdout.flush()
            return 0
        data = await client.get_raw(path, params=params)
        env.out(data if isinstance(data, str) else str(data))
        return 0

    return run(env, args, body)
