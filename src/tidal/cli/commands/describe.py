"""`tidal describe KIND NAME`: the object, its events (found with the field selector kubectl
uses), and the kind's describer from `tidal.cli.describe`."""

from __future__ import annotations

import time
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, NotFound
from tidal.api.meta import selector_string
from tidal.cli.describe import describer_for
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, resource, run
from tidal.controllers.deployment import find_new
from tidal.controllers.replicaset import controlled_by


def add_parser(sub: Any) -> None:
    d = sub.add_parser("describe", help="show details of a resource (kubectl describe)")
    d.add_argument("kind")
    d.add_argument("names", nargs="+", metavar="NAME")
    d.set_defaults(func=cmd_describe)


async def replicasets_of(client: ApiClient, dep: Obj) -> tuple[list[Obj], Obj | None] | None:
    """The Deployment's ReplicaSets (`GetAllReplicaSets`): the old ones and the new one; None
    when they cannot be listed (kubectl then leaves the lines out)."""
    meta = dep.get("metadata") or {}
    sel = selector_string((dep.get("spec") or {}).get("selector"))
    try:
        listed = await client.list("ReplicaSet", meta.get("namespace"), label_selector=sel or None)
    except ApiError:
        return None
    mine = [rs for rs in listed.get("items", []) if controlled_by(rs, meta.get("uid", ""))]
    new = find_new(dep, mine)
    return [rs for rs in mine if rs is not new], new


async def events_for(client: ApiClient, obj: Obj, *, with_kind: bool = True) -> list[Obj] | None:
    meta = obj.get("metadata") or {}
    terms = [
        f"involvedObject.name={meta.get('name', '')}",
        f"involvedObject.namespace={meta.get('namespace', 'default')}",
    ]
    if with_kind:
        terms.append(f"involvedObject.kind={obj.get('kind', '')}")
    if meta.get("uid"):
        terms.append(f"involvedObject.uid={meta['uid']}")
    try:
        listed = await client.list("Event", meta.get("namespace"), field_selector=",".join(terms))
    except ApiError:
        return None
    return listed.get("items", [])


def cmd_describe(args: Any, env: Env) -> int:
    try:
        rt = resource(args.kind)
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1
    ns = context_namespace(args)

    async def body(client: ApiClient) -> int:
        code = 0
        for i, name in enumerate(args.names):
            try:
                obj = await client.get(rt.kind, name, ns)
            except NotFound as exc:
                env.err(f"Error from server (NotFound): {exc.message}\n")
                code = 1
                continue
            obj = {"apiVersion": rt.api_version, "kind": rt.kind, **obj}
            events = await events_for(client, obj, with_kind=rt.kind != "Pod")
            fn = describer_for(rt.kind)
            now = time.time()
            if rt.kind == "Service":
                try:
                    ep = await client.get("Endpoints", name, ns)
                except NotFound:
                    ep = None
                text = fn(obj, events, now, endpoints=ep)
            elif rt.kind == "Deployment":
                text = fn(obj, events, now, replicasets=await replicasets_of(client, obj))
            else:
                text = fn(obj, events, now)
            if i:
                env.out("\n\n")
            env.out(text)
        return code

    return run(env, args, body)
