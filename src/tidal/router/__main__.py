"""`python -m tidal.router`: the ingress as its own process (started and watched by the plane).

    python -m tidal.router --kubeconfig ~/.tidal/kubeconfig --port 8080 --admin-port 8081

Routes come from the API (Services and Endpoints, over HTTPS with the kubeconfig's token), or
from `--static FILE` (a table snapshot, for benchmarks and tests without an API). With
`--state-file` the table is saved on every change and loaded at start, so a router restarted
while the API is down still serves the endpoints it last knew.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from tidal.router.activation import Poker
from tidal.router.admin import serve_admin
from tidal.router.proxy import Router
from tidal.router.table import RoutingTable

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
    p.add_argument("--ports-file", help='write {"port": N, "admin_port": M} here once listening')
    args = p.parse_args(argv)
    if not args.kubeconfig and not args.static:
        p.error("one of --kubeconfig or --static is required")
    return args


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
    client = None if args.static else _make_client(args.kubeconfig, args.context)
    router = Router(table, asyncio.get_running_loop(), Poker(client) if client else None)
    port = await router.listen(args.host, args.port)
    admin, admin_port = await serve_admin(table, args.admin_host, args.admin_port)
    if args.ports_file:
        tmp = Path(args.ports_file + ".tmp")
        tmp.write_text(json.dumps({"port": port, "admin_port": admin_port}))
        os.replace(tmp, args.ports_file)
    log.info("router on %s:%d, admin on %s:%d", args.host, port, args.admin_host, admin_port)
    tasks = []
    if client is not None:
        from tidal.router.feeder import Feeder

        tasks.append(asyncio.create_task(Feeder(client, table).run()))
    if args.state_file:
        tasks.append(asyncio.create_task(_save_state(table, Path(args.state_file))))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        asyncio.run(amain(args))
    else:
        uvloop.run(amain(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
