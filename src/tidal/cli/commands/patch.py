"""`tidal patch KIND NAME -p PATCH [--type merge|json|strategic]`: as kubectl patch."""

from __future__ import annotations

import json
from typing import Any

from tidal.api.client import ApiClient
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, resource, run
from tidal.cli.printers import qualified


def add_parser(sub: Any) -> None:
    p = sub.add_parser("patch", help="update fields of a resource (kubectl patch)")
    p.add_argument("kind")
    p.add_argument("name")
    p.add_argument("-p", "--patch", required=True, help="the patch, JSON or YAML")
    p.add_argument("--type", default="strategic", choices=("strategic", "merge", "json"))
    p.add_argument("--subresource", choices=("status", "scale"))
    p.set_defaults(func=cmd_patch)


def cmd_patch(args: Any, env: Env) -> int:
    try:
        rt = resource(args.kind)
        try:
            body = json.loads(args.patch)
        except ValueError:
            import yaml

            body = yaml.safe_load(args.patch)
        if not isinstance(body, dict | list):
            raise CliError("error: unable to parse the patch: it must be a JSON or YAML object")
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1
    ns = context_namespace(args)
    # tidal's built-in kinds take strategic merge; custom ones only merge (as kubectl says)
    ptype = args.type if args.type != "strategic" or "." not in rt.group else "merge"

    async def body_(client: ApiClient) -> int:
        before = await client.get(rt.kind, args.name, ns, subresource=args.subresource)
        after = await client.patch(
            rt.kind, args.name, body, ns, patch_type=ptype, subresource=args.subresource
        )
        same = (before.get("metadata") or {}).get("resourceVersion") == (
            after.get("metadata") or {}
        ).get("resourceVersion")
        env.out(f"{qualified(rt)}/{args.name} {'patched (no change)' if same else 'patched'}\n")
        return 0

    return run(env, args, body_)
