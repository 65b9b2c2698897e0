"""The plane's metrics endpoint (plain HTTP on loopback, read-only): the GPU exporter in
dcgm-exporter's format at `/metrics`, and Prometheus HTTP service discovery of the pods at `/sd`,
so a Prometheus scrapes tidal's pods and GPUs as it would on a cluster with dcgm-exporter. Pod
addresses and labels are not for every local process: with the plane's token both paths need
`Authorization: Bearer <token>` (Prometheus's `authorization.credentials_file`), else 401."""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidal.metrics.scrape import scrape_target

Obj = dict[str, Any]
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]")


def label_name(key: str) -> str:
    """A Kubernetes label key as a Prometheus label name (`app.kubernetes.io/name` ->
    `app_kubernetes_io_name`)."""
    name = _BAD_LABEL.sub("_", key)
    return name if not name[:1].isdigit() else "_" + name


def sd_targets(pods: Iterable[Obj]) -> list[Obj]:
    """PURE: Prometheus `http_sd` groups, one per scrapable pod, labelled namespace/pod/container
    and with the pod's own labels."""
    groups = []
    for pod in pods:
        t = scrape_target(pod)
        if t is None:
            continue
        meta = pod["metadata"]
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        labels = {label_name(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels.update(
            {
                "namespace": t.namespace,
                "pod": t.pod,
                "container": containers[0].get("name", ""),
                "__metrics_path__": t.path,
            }
        )
        groups.append({"targets": [t.address], "labels": labels})
    return groups


def authorized(header: str | None, token: str | None) -> bool:
    """PURE: the Authorization header carries `token` (no token configured: anyone)."""
    if not token:
        return True
    return hmac.compare_digest((header or "").strip().encode(), f"Bearer {token}".encode())


_UNAUTHORIZED = Response(
    orjson.dumps({"error": "the plane's bearer token is required"}),
    status_code=401,
    media_type="application/json",
    headers={"www-authenticate": "Bearer"},
)


def build_app(
    exporter_text: Callable[[], str],
    pods: Callable[[], list[Obj]],
    *,
    token: str | None = None,
) -> Starlette:
    async def metrics(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), token):
            return _UNAUTHORIZED
        return Response(exporter_text(), media_type="text/plain; version=0.0.4")

    async def sd(request: Request) -> Response:
        if not authorized(request.headers.get("authorization"), token):
            return _UNAUTHORIZED
        return Response(orjson.dumps(sd_targets(pods())), media_type="application/json")

    return Starlette(routes=[Route("/metrics", metrics), Route("/sd", sd)])


def server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the plane's own loop (`await server.serve()`)."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
    )
    return uvicorn.Server(config)
