"""`python -m tidal.router`: the ingress as its own process (started and watched by the plane).

    python -m tidal.router --kubeconfig ~/.tidal/kubeconfig --port 8080 --admin-port 8081

Routes come from the API (Services and Endpoints, over HTTPS with the kubeconfig's token), or
from `--static FILE` (a table snapshot, for benchmarks and tests without an API). With
`--state-file` the table is saved on every change and loaded at start, so a router restarted
while the API is down still serves the endpoints it last knew.

The plane binds the ingress and admin ports itself and passes the listening sockets
(`--listen-fd`, `--admin-fd`): a port another process holds is then the plane's clear error, and
while a router restarts the kernel keeps queueing connections on the socket. The router listens
and loads its state file before it imports the API client, so a restart routes again quickly.
The admin port needs a bearer token: `--admin-token-file`, else the kubeconfig's token (a
`--static` router without either leaves it open, for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

from tidal.router.activation import PodCheck, Poker
from tidal.router.admin import serve_admin
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable
from tidal.router.timeouts import Timeouts

log = logging.getLogger("tidal.router")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tidal.router", description="tidal ingress router")
    p.add_argument("--kubeconfig", help="kubeconfig of the API to watch Services/Endpoints from")
    p.add_argument("--context", help="kubeconfig context (default: its current context)")
    p.add_argument("--static", help="routes from this JSON table snapshot instead of the API")
    p.add_argument("--host", default="127.0.0.1", help="ingress address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="ingress port (default 8080; 0 = any)")
    p.add_argument("--admin-host", default="127.0.0.1")
    p.add_argument("--admin-port", type=int, default=0, help="admin port for /metrics, /stats")
    p.add_argument("--state-file", help="save the table here on change; load it at start")
    p.add_argument(
        "--ports-file", help='write {"port": N, "admin_port": M, "pid": P} here once listening'
    )
    p.add_argument("--listen-fd", type=int, help="an inherited listening socket for the ingress")
    p.add_argument("--admin-fd", type=int, help="an inherited listening socket for the admin port")
    p.add_argument("--admin-token-file", help="bearer token the admin port requires")
    p.add_argument(
        "--standby", action="store_true", help="wait for a byte on stdin before starting"
    )
    d = Timeouts()
    p.add_argument("--connect-timeout", type=float, default=d.connect_s, help="seconds (3)")
    p.add_argument(
        "--response-timeout", type=float, default=d.response_s, help="pod silence, seconds (300)"
    )
    p.add_argument("--header-timeout", type=float, default=d.header_s, help="seconds (10)")
    p.add_argument("--body-timeout", type=float, default=d.body_s, help="seconds (10)")
    p.add_argument("--keepalive-timeout", type=float, default=d.keepalive_s, help="seconds (75)")
    args = p.parse_args(argv)
    if not args.kubeconfig and not args.static:
        p.error("one of --kubeconfig or --static is required")
    for name in ("connect", "response", "header", "body", "keepalive"):
        if getattr(args, f"{name}_timeout") <= 0:
            p.error(f"--{name}-timeout must be a positive number of seconds")
    return args


def timeouts_from(args: argparse.Namespace) -> Timeouts:
    return Timeouts(
        connect_s=args.connect_timeout,
        response_s=args.response_timeout,
        header_s=args.header_timeout,
        body_s=args.body_timeout,
        keepalive_s=args.keepalive_timeout,
        tick_s=min(0.5, args.header_timeout / 4, args.body_timeout / 4),
    )


def admin_token(args: argparse.Namespace) -> str | None:
    """The admin port's bearer token: the token file, else the kubeconfig user's token."""
    if args.admin_token_file:
        return Path(args.admin_token_file).read_text().strip()
    if args.kubeconfig:
        try:
            import yaml

            doc = yaml.safe_load(Path(args.kubeconfig).read_text()) or {}
            for user in doc.get("users") or []:
                token = (user.get("user") or {}).get("token")
                if token:
                    return str(token)
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("no admin token from %s: %s", args.kubeconfig, exc)
    return None


def _inherited(fd: int | None) -> socket.socket | None:
    if fd is None:
        return None
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    return sock


def _make_client(kubeconfig: str, context: str | None):  # type: ignore[no-untyped-def]
    from tidal.client.http import HttpClient

    factory = getattr(HttpClient, "from_kubeconfig", None)
    if factory is not None:
        return factory(kubeconfig, context=context)
    return HttpClient(kubeconfig=kubeconfig, context=context)  # type: ignore[call-arg]


async def _save_state(table: RoutingTable, path: Path) -> None:
    seen = -1
    while True:
        if table.version != seen:
            seen = table.version
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(table.snapshot()))
            os.replace(tmp, path)
        await asyncio.sleep(0.2)


async def amain(args: argparse.Namespace) -> None:
    table = RoutingTable()
    if args.static:
        table.load(json.loads(Path(args.static).read_text()))
    elif args.state_file and Path(args.state_file).exists():
        try:
            table.load(json.loads(Path(args.state_file).read_text()))
        except (ValueError, OSError, TypeError) as exc:
            log.warning("ignoring state file %s: %s", args.state_file, exc)
    loop = asyncio.get_running_loop()
    router = Router(table, loop, timeouts=timeouts_from(args))
    port = await router.listen(args.host, args.port, _inherited(args.listen_fd))
    ident: dict[str, object] = {"port": port}
    admin, admin_port = await serve_admin(
        table,
        args.admin_host,
        args.admin_port,
        token=admin_token(args),
        sock=_inherited(args.admin_fd),
        ident=ident,
    )
    ident["admin_port"] = admin_port
    if args.ports_file:
        tmp = Path(args.ports_file + ".tmp")
        tmp.write_text(json.dumps({"port": port, "admin_port": admin_port, "pid": os.getpid()}))
        os.replace(tmp, args.ports_file)
    log.info("router on %s:%d, admin on %s:%d", args.host, port, args.admin_host, admin_port)
    # the API client after listening, off the loop: its imports and TLS set-up are the slow
    # part of a start, and connections are accepted meanwhile
    client = (
        None
        if args.static
        else await asyncio.to_thread(_make_client, args.kubeconfig, args.context)
    )
    if client is not None:
        router.poker = Poker(client)
        router.pods = PodCheck(client)
    tasks = []
    if client is not None:
        from tidal.router.feeder import Feeder

        tasks.append(asyncio.create_task(Feeder(client, table).run()))
    if args.state_file:
        tasks.append(asyncio.create_task(_save_state(table, Path(args.state_file))))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for t in tasks:
        t.cancel()
    admin.close()
    await router.close()
    if client is not None:
        with contextlib.suppress(Exception):
            await client.close()


def standby() -> bool:
    """`--standby`: a spare the plane keeps ready (everything imported) and starts by writing a
    byte on its stdin when the router dies; end of file (the plane is gone) ends the spare."""
    import importlib

    for name in ("tidal.client.http", "tidal.router.feeder", "yaml"):  # the slow imports, now
        importlib.import_module(name)

    return bool(sys.stdin.buffer.read(1))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "httpcore"):  # a line per poke and pod check otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.standby and not standby():
        sys.exit(0)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        asyncio.run(amain(args))
    else:
        uvloop.run(amain(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
