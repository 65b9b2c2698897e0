"""The dashboard's HTTP side: a small Starlette app on loopback only, inside the plane's loop.

Login as Jupyter does: `GET /?token=T` with the plane's token sets an HttpOnly, SameSite=Strict
cookie and redirects to `/` (so the token leaves the address bar); every other request needs
that cookie (or `Authorization: Bearer T`) and answers 401 without it. Pages: `/` (one page;
the service view is `#/ns/name`), `/events` (server-sent events: an `init` with the window,
then a `frame` a second), `/logs/{ns}/{pod}` (the pod's last lines), `/assets/...` (uPlot,
installed from npm by `make dashboard-assets`, see tidal.dashboard.assets).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from tidal.dashboard import assets
from tidal.dashboard.collector import Collector
from tidal.server.serve import check_loopback

COOKIE = "tidal_dashboard"
UNAUTHORIZED = (
    "401: the dashboard needs the plane's token. Open the link `tidal dashboard` prints "
    "(it carries ?token=...).\n"
)


def _static(name: str) -> bytes:
    return resources.files("tidal.dashboard").joinpath("static", name).read_bytes()


def authorized(request: Request, token: str) -> bool:
    given = request.cookies.get(COOKIE, "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = given or auth[7:].strip()
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def make_app(collector: Collector, token: str, logs: Any = None) -> Starlette:
    """`logs(ns, pod, lines)` is an async function returning the pod's log text."""

    def guard(request: Request) -> Response | None:
        if authorized(request, token):
            return None
        return PlainTextResponse(UNAUTHORIZED, status_code=401)

    async def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return PlainTextResponse(UNAUTHORIZED, status_code=401)
            resp = RedirectResponse("/", status_code=303)
            resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
            return resp
        if (denied := guard(request)) is not None:
            return denied
        return Response(_static("index.html"), media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        name = request.path_params["name"]
        if name not in ("app.js", "app.css"):
            return PlainTextResponse("not found\n", status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_static(name), media_type=media)

    async def asset(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        path = assets.find(request.path_params["name"])
        if path is None:
            return PlainTextResponse(
                f"{request.path_params['name']}: not installed; run `make dashboard-assets`\n",
                status_code=404,
            )
        return FileResponse(path)

    async def events(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        q = collector.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                while True:
                    try:
                        yield await asyncio.wait_for(q.get(), 15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
            finally:
                collector.unsubscribe(q)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def pod_logs(request: Request) -> Response:
        if (denied := guard(request)) is not None:
            return denied
        if logs is None:
            return PlainTextResponse("logs are not available here\n", status_code=404)
        ns, pod = request.path_params["ns"], request.path_params["pod"]
        try:
            text = await logs(ns, pod, 200)
        except Exception as exc:
            return PlainTextResponse(f"{ns}/{pod}: {exc}\n", status_code=404)
        return PlainTextResponse(text)

    async def history(request: Request) -> Response:
        """Every frame kept (up to the collector's `keep_s`): what plots of a run are drawn from."""
        if (denied := guard(request)) is not None:
            return denied
        return Response(
            orjson.dumps(collector.snapshot(collector.keep_s)), media_type="application/json"
        )

    async def favicon(request: Request) -> Response:
        return Response(b"", media_type="image/x-icon")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(
        routes=[
            Route("/", index),
            Route("/events", events),
            Route("/history", history),
            Route("/static/{name}", static),
            Route("/assets/{name}", asset),
            Route("/logs/{ns}/{pod}", pod_logs),
            Route("/favicon.ico", favicon),
            Route("/healthz", healthz),
        ]
    )


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the plane owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DashboardHandle:
    host: str
    port: int
    server: uvicorn.Server
    task: asyncio.Task[None]
    token: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def login_url(self) -> str:
        return f"{self.url}?token={self.token}"

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), 5)
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def start_dashboard(
    collector: Collector, token: str, *, host: str = "127.0.0.1", port: int = 0, logs: Any = None
) -> DashboardHandle:
    """Listen on http://host:port (loopback only; 0: a free port) until `stop()`."""
    check_loopback(host)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        make_app(collector, token, logs),
        lifespan="off",
        log_config=None,
        access_log=False,
        http="httptools",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the dashboard stopped while starting")
        await asyncio.sleep(0.01)
    return DashboardHandle(host, bound, server, task, token)
