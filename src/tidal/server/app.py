"""The HTTPS face of the API server: a raw ASGI app that maps Kubernetes REST paths onto the
`Registry` verbs and renders what kubectl 1.32 expects (kubectl.md): bearer-token auth on
every path (401 Status), `/version`, aggregated and legacy discovery, OpenAPI v3, Tables,
watch streams (one JSON event per line, flushed), `pods/NAME/log`, `/scale`, the three patch
content types, `dryRun=All`, `fieldValidation=Strict`, and the aggregated APIs the plane mounts
with `register_api` (metrics.k8s.io, custom.metrics.k8s.io, external.metrics.k8s.io).

Aggregated API providers implement `ApiProvider`:

    class PodMetricsProvider:
        def resources(self) -> list[dict]:      # APIResource entries for discovery
            return [{"name": "pods", "singularName": "", "namespaced": True,
                     "kind": "PodMetrics", "verbs": ["get", "list"]}]
        async def handle(self, path: str, params: dict[str, str]) -> dict:
            # path below /apis/<group>/<version>, e.g. "/namespaces/default/pods"
            ...                                 # raise tidal.api.errors.NotFound etc.

    app.register_api("metrics.k8s.io/v1beta1", PodMetricsProvider())

`InProcessClient(registry, raw=app.get_raw)` lets in-process components read those APIs too.

This module holds the ASGI entry (auth, body, answer, memory trim); which path goes where is
`tidal.server.routes`, the answers are `tidal.server.handlers`, the plumbing `tidal.server.asgi`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson

from tidal.api.errors import ApiError, BadRequest, ServerError, error_from_status
from tidal.pods import serviceaccount
from tidal.server import builtin, reviews, routes
from tidal.server.asgi import (
    JSON,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    Stream,
    answer,
    has_body,
    parse_headers,
    read_body,
    send_stream,
    status_error,
)
from tidal.server.body import RequestEntityTooLarge
from tidal.server.registry import Registry
from tidal.server.request_metrics import RequestMetrics

log = logging.getLogger("tidal.server")

Obj = dict[str, Any]

TRIM_AFTER_BYTES = 256 * 1024  # a body this big leaves freed heap worth giving back
TRIM_QUIET_S = 2.0  # after writes stop this long, freed heap (deleted objects) goes back too


class ApiProvider(Protocol):
    """An aggregated API group/version mounted under `/apis/<group>/<version>`."""

    def resources(self) -> list[Obj]:
        """APIResource entries (`name`, `singularName`, `namespaced`, `kind`, `verbs`)."""
        ...

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        """Answer a GET below the group/version (`/namespaces/default/pods`)."""
        ...


_DEFAULT_PROVIDERS: dict[str, ApiProvider] = {}


def register_api(group_version: str, provider: ApiProvider, app: ApiServer | None = None) -> None:
    """Mount `provider` at `/apis/<group_version>` on `app` (or on every ApiServer made after)."""
    if app is not None:
        app.register_api(group_version, provider)
    else:
        _DEFAULT_PROVIDERS[group_version] = provider


class ApiServer:
    """The ASGI application. `token` is required as `Authorization: Bearer <token>`."""

    def __init__(
        self,
        registry: Registry,
        home: Path | str,
        token: str,
        *,
        clock: Callable[[], float] = time.time,
        server_address: str = "127.0.0.1:6443",
    ) -> None:
        self.registry = registry
        self.home = Path(home)
        self.token = token
        self.service_accounts = serviceaccount.Reviewer(
            token, serviceaccount.registry_lookup(registry.get)
        )
        self.clock = clock
        self.server_address = server_address
        self.providers: dict[str, ApiProvider] = {}
        self._last_write = 0.0
        self._trim_pending = False
        self.request_metrics = RequestMetrics()

    def register_api(self, group_version: str, provider: ApiProvider) -> None:
        self.providers[group_version] = provider

    def all_providers(self) -> dict[str, ApiProvider]:
        """The providers mounted on this app, over the built-in and module-wide ones."""
        return {**_DEFAULT_PROVIDERS, **builtin.PROVIDERS, **self.providers}

    async def get_raw(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET an API path in process (what `ApiClient.get_raw` does over HTTP)."""
        req = Request(
            {
                "method": "GET",
                "path": path,
                "query_string": urlencode(params or {}).encode(),
                "headers": [],
            },
            b"",
        )
        resp = await routes.dispatch(self, req)
        if isinstance(resp, Stream):
            raise BadRequest("streams cannot be read with get_raw")
        data = orjson.loads(resp.body) if resp.content_type.startswith(JSON) else resp.body
        if resp.status >= 400:
            raise error_from_status(resp.status, data if isinstance(data, dict) else None)
        return data

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = parse_headers(scope)
        denied = self._denied(scope, headers)
        started = time.monotonic()
        if denied is not None:  # before a byte of the body is read
            self.request_metrics.observe(
                scope["method"], scope["path"], {}, denied.code, time.monotonic() - started
            )
            await answer(send, status_error(denied), close=has_body(headers))
            return
        try:
            body = await read_body(receive, headers)
        except RequestEntityTooLarge as err:
            await answer(send, status_error(err), close=True)
            release_memory()
            return
        if body is None:  # the client left
            return
        req = Request(scope, body)
        try:
            resp: Response | Stream = await routes.dispatch(self, req)
        except ApiError as err:
            resp = status_error(err)
        except Exception as exc:  # a last resort: still a Status, logged for a fix
            log.exception("internal error on %s %s", req.method, req.path)
            resp = status_error(ServerError(f"Internal error occurred: {exc!r}"))
        if isinstance(resp, Stream):
            self.request_metrics.observe(req.method, req.path, req.params, 200, 0.0)
            await send_stream(resp, receive, send)
        else:
            await answer(send, resp)
            self.request_metrics.observe(
                req.method, req.path, req.params, resp.status, time.monotonic() - started
            )
        if len(body) > TRIM_AFTER_BYTES:
            del req, body
            release_memory()
        elif req.method != "GET":
            self._trim_when_quiet()

    def _denied(self, scope: Scope, headers: dict[str, str]) -> ApiError | None:
        """None for the plane's token; else a pod's service-account token's review (its own
        namespace, read-only: tidal.pods.serviceaccount), 401 for anything else."""
        if self._authorized(headers):
            return None
        return self.service_accounts.review(
            headers.get("authorization", ""),
            scope.get("method", ""),
            scope.get("path", ""),
            scope.get("query_string", b"").decode("latin-1"),
        )

    def requester(self, headers: dict[str, str]) -> reviews.Requester:
        """Who sent an authenticated request: the admin, or a pod's service account."""
        if self._authorized(headers):
            return reviews.Requester()
        _, _, given = headers.get("authorization", "").partition(" ")
        return reviews.Requester(serviceaccount.verify(self.service_accounts.key, given.strip()))

    def _trim_when_quiet(self) -> None:
        """`release_memory` once no write has come for TRIM_QUIET_S (one timer at a time)."""
        loop = asyncio.get_running_loop()
        self._last_write = loop.time()
        if self._trim_pending:
            return
        self._trim_pending = True

        def check() -> None:
            left = self._last_write + TRIM_QUIET_S - loop.time()
            if left > 0:
                loop.call_later(left, check)
                return
            self._trim_pending = False
            release_memory()

        loop.call_later(TRIM_QUIET_S, check)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self.token.encode()
        )


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_memory() -> None:
    """Give freed heap back to the system. glibc raises its mmap threshold after freeing a large
    block, so the next multi-MiB bodies come from the heap and their pages stay resident after
    they are freed (memory "stays inflated"); `malloc_trim` returns them."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
