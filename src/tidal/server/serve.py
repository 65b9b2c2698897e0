"""Running the API server: inside the plane's own asyncio loop (`start_api`), or
alone (`python -m tidal.server`). It binds loopback only and serves HTTPS with the home's PKI
(`$TIDAL_HOME/pki`) and token (`$TIDAL_HOME/token`), both made when missing. The kubeconfig is
written by the caller (server must not import client):
`tidal.client.kubeconfig.write_kubeconfig(home, api.url, api.ca_pem, api.token)`.

    registry = Registry.open(home)
    api = await start_api(registry, home, port=6443)   # returns once listening
    api.app.register_api("metrics.k8s.io/v1beta1", provider)
    client = InProcessClient(registry, raw=api.app.get_raw)
    ...
    await api.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from tidal.server.app import ApiServer
from tidal.server.registry import Registry
from tidal.server.tls import ensure_pki, ensure_token


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process that embeds it owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def check_loopback(host: str) -> None:
    """Refuse any address that is not loopback: the API runs user commands."""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"the API server listens on loopback only, not on {host!r}")


@dataclass
class ApiHandle:
    app: ApiServer
    host: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]
    ca_pem: bytes
    token: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 10)
        except TimeoutError:
            self.server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def start_api(
    registry: Registry,
    home: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    app: ApiServer | None = None,
    clock: Callable[[], float] = time.time,
) -> ApiHandle:
    """Listen on https://host:port (port 0: any free port) and serve until `stop()`."""
    check_loopback(host)
    home = Path(home)
    pki = ensure_pki(home)
    token = ensure_token(home)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    if app is None:
        app = ApiServer(registry, home, token, clock=clock, server_address=f"{host}:{bound}")
    else:
        app.server_address = f"{host}:{bound}"
    config = uvicorn.Config(
        app,
        ssl_certfile=str(pki.server_cert),
        ssl_keyfile=str(pki.server_key),
        lifespan="off",
        log_config=None,
        access_log=False,
        http="httptools",
        ws="none",
        timeout_keep_alive=65,
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("the API server stopped while starting")
        await asyncio.sleep(0.01)
    return ApiHandle(app, host, bound, server, task, pki.ca_pem(), token)
