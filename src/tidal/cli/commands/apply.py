"""`tidal apply -f FILE|-`: create what is absent, merge-patch what changed (three-way with the
`kubectl.kubernetes.io/last-applied-configuration` annotation, as kubectl's client-side apply),
and print `KIND.GROUP/NAME created|configured|unchanged`; server errors as kubectl prints them."""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, NotFound
from tidal.api.resources import ResourceType, by_kind
from tidal.cli import progress
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, run
from tidal.cli.printers import qualified

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def add_parser(sub: Any) -> None:
    a = sub.add_parser("apply", help="apply a configuration from a file or stdin (kubectl apply)")
    a.add_argument("-f", "--filename", action="append", required=True, help="FILE or - (stdin)")
    a.add_argument(
        "--wait",
        action="store_true",
        help="then show progress until each InferenceService and Deployment applied is ready",
    )
    a.add_argument("--wait-timeout", type=float, default=300.0, help="seconds (default 300)")
    a.set_defaults(func=cmd_apply)


def load_documents(path: str, stdin: Any = None) -> list[Obj]:
    """The objects in a YAML/JSON file (multi-document; `List` kinds are flattened)."""
    try:
        text = (stdin or sys.stdin).read() if path == "-" else open(path).read()
    except OSError as exc:
        raise CliError(f'error: the path "{path}" does not exist') from exc
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as exc:
        raise CliError(f"error: error parsing {path}: {exc}") from exc
    out: list[Obj] = []
    for d in docs:
        if not isinstance(d, dict):
            raise CliError(f"error: error parsing {path}: not a Kubernetes object")
        if d.get("kind", "").endswith("List") and isinstance(d.get("items"), list):
            out += d["items"]
        else:
            out.append(d)
    return out


def resource_of(obj: Obj, path: str) -> ResourceType:
    kind = obj.get("kind")
    if not kind or not obj.get("apiVersion"):
        raise CliError(
            f'error: error validating "{path}": error validating data: '
            f"[apiVersion not set, kind not set]; if you choose to ignore these errors, turn "
            f"validation off with --validate=false"
        )
    try:
        return by_kind(kind)
    except KeyError:
        raise CliError(
            f'error: resource mapping not found for name: "{(obj.get("metadata") or {}).get("name")}"'
            f' namespace: "" from "{path}": no matches for kind "{kind}" in version '
            f'"{obj.get("apiVersion")}"'
        ) from None


def merge_patch(old: Any, new: Any) -> Any:
    """RFC 7386 patch turning `old` into `new` (keys `old` had and `new` lacks become null)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: Obj = {}
    for k in old.keys() - new.keys():
        patch[k] = None
    for k, v in new.items():
        if k not in old:
            patch[k] = v
        elif old[k] != v:
            patch[k] = merge_patch(old[k], v)
    return patch


def last_applied(obj: Obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n"


def cmd_apply(args: Any, env: Env) -> int:
    ns = context_namespace(args)
    try:
        docs = [(p, d) for p in args.filename for d in load_documents(p, env.stdin)]
        rts = [resource_of(d, p) for p, d in docs]
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1

    async def body(client: ApiClient) -> int:
        code = 0
        for (path, doc), rt in zip(docs, rts, strict=True):
            meta = doc.setdefault("metadata", {})
            if rt.namespaced:
                meta["namespace"] = meta.get("namespace") or ns
            name = meta.get("name", "")
            manifest = json.loads(json.dumps(doc))
            manifest["metadata"].setdefault("annotations", {})
            manifest["metadata"]["annotations"].pop(LAST_APPLIED, None)
            applied = last_applied(manifest)
            want = json.loads(json.dumps(manifest))
            want["metadata"]["annotations"][LAST_APPLIED] = applied
            label = f"{qualified(rt)}/{name}"
            try:
                try:
                    live = await client.get(rt.kind, name, meta.get("namespace"))
                except NotFound:
                    await client.create(want, namespace=meta.get("namespace"))
                    env.out(f"{label} created\n")
                    continue
                previous = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
                if previous == applied:
                    env.out(f"{label} unchanged\n")
                    continue
                old = json.loads(previous) if previous else {}
                patch = merge_patch(old, manifest)
                patch.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = (
                    applied
                )
                if not previous:
                    patch = merge_patch({}, want)
                await client.patch(rt.kind, name, patch, meta.get("namespace"), patch_type="merge")
                env.out(f"{label} configured\n")
            except ApiError as exc:
                verb = "creating" if "live" not in locals() or exc.code == 422 else "applying"
                env.err(
                    f'Error from server ({exc.reason}): error when {verb} "{path}": {exc.message}\n'
                )
                code = 1
        if args.wait and code == 0:
            for (_, doc), rt in zip(docs, rts, strict=True):
                if rt.kind in ("InferenceService", "Deployment"):
                    meta = doc["metadata"]
                    code |= await progress.wait_ready(
                        client,
                        env,
                        meta.get("name", ""),
                        meta.get("namespace") or ns,
                        args.wait_timeout,
                        is_isvc=rt.kind == "InferenceService",
                    )
        return code

    return run(env, args, body)
