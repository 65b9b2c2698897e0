"""The CLI's side of the API: which kubeconfig and context, the client, the namespace, errors
worded as kubectl words them, and Tables (from the server when it sends them, else rendered with
the server's own table code so the columns have one source)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import ApiError, TidalError, TransportError
from tidal.api.resources import ResourceType, lookup
from tidal.cli.env import Env, tidal_home
from tidal.cli.printers import qualified

T = TypeVar("T")


class CliError(Exception):
    """A message for stderr and an exit code; raised by commands, printed by `run`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def kubeconfig_path(args: Any) -> str:
    if getattr(args, "kubeconfig", None):
        return args.kubeconfig
    env = os.environ.get("KUBECONFIG")
    if env:
        return env.split(os.pathsep)[0]
    return str(tidal_home(getattr(args, "home", None)) / "kubeconfig")


def _load_kubeconfig(path: str) -> Obj:
    try:
        with open(path) as f:
            return yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise CliError(
            f"error: no kubeconfig at {path}: the local plane is not up (run `tidal up`)"
        ) from None


def context_namespace(args: Any) -> str:
    if getattr(args, "namespace", None):
        return args.namespace
    try:
        cfg = _load_kubeconfig(kubeconfig_path(args))
    except CliError:
        return "default"
    name = getattr(args, "context", None) or cfg.get("current-context")
    for ctx in cfg.get("contexts") or []:
        if ctx.get("name") == name:
            return (ctx.get("context") or {}).get("namespace") or "default"
    return "default"


def connect(args: Any) -> ApiClient:
    """An HttpClient for the chosen kubeconfig and context (the `kubernetes` package's loader)."""
    from tidal.client.http import HttpClient

    explicit = getattr(args, "kubeconfig", None)
    home = tidal_home(getattr(args, "home", None))
    if not explicit and not os.environ.get("KUBECONFIG"):
        if not (home / "kubeconfig").exists() and not (Path.home() / ".kube" / "config").exists():
            raise CliError(
                f"error: no kubeconfig at {home / 'kubeconfig'}: the local plane is not up "
                "(run `tidal up`)"
            )
    try:
        return HttpClient.from_kubeconfig(explicit, getattr(args, "context", None), home=home)
    except FileNotFoundError as exc:
        raise CliError(f"error: {exc}") from None
    except Exception as exc:  # the kubernetes loader's ConfigException and friends
        raise CliError(f"error: cannot load kubeconfig: {exc}") from None


def resource(word: str) -> ResourceType:
    rt = lookup(word)
    if rt is None:
        raise CliError(f'error: the server doesn\'t have a resource type "{word}"')
    return rt


def server_error(exc: ApiError, *, action: str | None = None) -> str:
    """kubectl's `Error from server (Reason): [error when creating "f": ]message`."""
    prefix = f"{action}: " if action else ""
    return f"Error from server ({exc.reason}): {prefix}{exc.message}"


def run(env: Env, args: Any, body: Callable[[ApiClient], Awaitable[int]]) -> int:
    """Connect, run `body`, close; errors become kubectl's words on stderr and exit 1."""

    async def go() -> int:
        client = connect(args)
        try:
            return await body(client)
        finally:
            await client.close()

    try:
        return asyncio.run(go())
    except CliError as exc:
        env.err(exc.message.rstrip("\n") + "\n")
        return exc.code
    except ApiError as exc:
        env.err(server_error(exc) + "\n")
        return 1
    except TransportError as exc:
        env.err(
            f"The connection to the server was refused - is the local plane up (`tidal up`)? "
            f"({exc})\n"
        )
        return 1
    except TidalError as exc:
        env.err(f"error: {exc}\n")
        return 1


async def fetch_table(
    client: ApiClient,
    rt: ResourceType,
    namespace: str | None,
    name: str | None = None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> Obj:
    """The Table for a list or one object: the server's (`HttpClient.get_table`, Accept
    `as=Table`) when the client has `get_table`; otherwise rendered with the server's table code
    from the plain objects (the in-process client)."""
    getter = getattr(client, "get_table", None)
    if getter is not None:
        return await getter(
            rt.kind,
            namespace,
            name=name,
            label_selector=label_selector,
            field_selector=field_selector,
        )
    from tidal.server import tables

    if name:
        objs = [await client.get(rt.kind, name, namespace)]
    else:
        listed = await client.list(
            rt.kind, namespace, label_selector=label_selector, field_selector=field_selector
        )
        objs = listed.get("items", [])
    return tables.table(rt.kind, objs, time.time())


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


__all__ = [
    "CliError",
    "connect",
    "context_namespace",
    "fetch_table",
    "qualified",
    "resource",
    "run",
    "server_error",
]
