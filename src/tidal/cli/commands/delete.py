"""`tidal delete KIND NAME...` or `-f FILE`: `KIND.GROUP "NAME" deleted`, as kubectl."""

from __future__ import annotations

from typing import Any

from tidal.api.client import ApiClient
from tidal.api.errors import NotFound
from tidal.cli.commands.apply import load_documents, resource_of
from tidal.cli.env import Env
from tidal.cli.kube import CliError, context_namespace, resource, run
from tidal.cli.printers import qualified


def add_parser(sub: Any) -> None:
    d = sub.add_parser("delete", help="delete resources by name or file (kubectl delete)")
    d.add_argument("kind", nargs="?")
    d.add_argument("names", nargs="*", metavar="NAME")
    d.add_argument("-f", "--filename", action="append", help="FILE or -")
    d.add_argument("--ignore-not-found", action="store_true")
    d.set_defaults(func=cmd_delete)


def cmd_delete(args: Any, env: Env) -> int:
    ns = context_namespace(args)
    targets: list[tuple[Any, str, str | None, str | None]] = []
    try:
        if args.filename:
            for path in args.filename:
                for doc in load_documents(path, env.stdin):
                    rt = resource_of(doc, path)
                    meta = doc.get("metadata") or {}
                    targets.append((rt, meta.get("name", ""), meta.get("namespace") or ns, path))
        else:
            if not args.kind or not args.names:
                raise CliError(
                    "error: resource(s) were provided, but no name was specified"
                    if args.kind
                    else "error: You must provide one or more resources by argument or filename."
                )
            rt = resource(args.kind)
            targets = [(rt, n, ns, None) for n in args.names]
    except CliError as exc:
        env.err(exc.message + "\n")
        return 1

    async def body(client: ApiClient) -> int:
        code = 0
        for rt, name, namespace, path in targets:
            try:
                await client.delete(rt.kind, name, namespace if rt.namespaced else None)
            except NotFound as exc:
                if args.ignore_not_found:
                    continue
                where = f'error when deleting "{path}": ' if path else ""
                env.err(f"Error from server (NotFound): {where}{exc.message}\n")
                code = 1
                continue
            env.out(f'{qualified(rt)} "{name}" deleted\n')
        return code

    return run(env, args, body)
