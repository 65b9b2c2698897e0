"""`python -m tidal.server --home DIR [--port N] [--url-file F]`: the API server alone (no
controllers), for tests and for poking at the API with kubectl. Writes `$home/kubeconfig`."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from tidal.client.kubeconfig import write_kubeconfig
from tidal.server.registry import Registry
from tidal.server.serve import start_api


async def _main(args: argparse.Namespace) -> None:
    registry = Registry.open(args.home)
    api = await start_api(registry, args.home, host=args.host, port=args.port)
    kubeconfig = write_kubeconfig(args.home, api.url, api.ca_pem, api.token)
    if args.url_file:
        tmp = Path(args.url_file + ".tmp")
        tmp.write_text(api.url)
        tmp.replace(args.url_file)
    print(f"tidal API server on {api.url}; kubeconfig {kubeconfig}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    registry.close()
    await api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tidal.server")
    parser.add_argument("--home", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url-file")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
