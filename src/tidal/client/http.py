"""`HttpClient`: the `tidal.api.client.ApiClient` protocol over HTTPS with httpx, for the CLI,
the router and anything outside the plane. Works against the local plane and a real cluster
alike: the connection (server, CA, token / client certificate / exec plugin) comes from a
kubeconfig loaded by the official `kubernetes` package (`tidal.client.kubeconfig.load`).

    client = HttpClient.from_kubeconfig()                 # $KUBECONFIG / $TIDAL_HOME/kubeconfig
    client = HttpClient.from_kubeconfig(context="my-cluster", namespace="prod")
    deploy = await client.get("Deployment", "web")
    async for etype, obj in client.watch("Pod", "default"):
        ...

Errors are the server's Status mapped by `tidal.api.errors.error_from_status`; a server that
cannot be reached raises `TransportError`. `namespace=None` means the context's namespace for
single objects and all namespaces for `list`/`watch`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from tidal.api.client import Obj, PatchType, WatchEvent
from tidal.api.errors import ApiError, Gone, TransportError, error_from_status
from tidal.api.resources import ResourceType, by_kind
from tidal.client.kubeconfig import Connection, load

TABLE_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


def _resource(kind: str) -> ResourceType:
    try:
        return by_kind(kind)
    except KeyError:
        raise ApiError(f"unknown kind {kind!r}", reason="NotFound") from None


class HttpClient:
    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        verify: Any = True,
        namespace: str = "default",
        connection: Connection | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.namespace = namespace
        self._token = token
        self._connection = connection
        self._http = httpx.AsyncClient(
            base_url=self.server,
            verify=verify,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            headers={"Accept": "application/json", "User-Agent": "tidal/0.1"},
        )

    @classmethod
    def from_kubeconfig(
        cls,
        kubeconfig: str | Path | None = None,
        context: str | None = None,
        *,
        namespace: str | None = None,
        home: str | Path | None = None,
        timeout_s: float = 30.0,
    ) -> HttpClient:
        conn = load(kubeconfig, context, home=home, namespace=namespace)
        return cls(
            conn.server,
            verify=conn.verify,
            namespace=conn.namespace,
            connection=conn,
            timeout_s=timeout_s,
        )

    # --- plumbing ------------------------------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        auth = self._connection.auth_header() if self._connection else None
        if auth is None and self._token:
            auth = f"Bearer {self._token}"
        if auth:
            headers["Authorization"] = auth
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        content = None if body is None else orjson.dumps(body)
        headers = self._headers({"Content-Type": content_type} if content is not None else None)
        try:
            resp = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {self.server}{path}: {exc}") from exc
        return self._decode(resp)

    @staticmethod
    def _decode(resp: httpx.Response) -> Any:
        data: Any = None
        if resp.content:
            try:
                data = orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                data = resp.text
        if resp.status_code >= 400:
            raise error_from_status(
                resp.status_code, data if isinstance(data, dict) else {"message": str(data or "")}
            )
        return data

    def _ns(self, r: ResourceType, namespace: str | None, obj: Obj | None = None) -> str | None:
        if not r.namespaced:
            return None
        if namespace:
            return namespace
        if obj is not None and (obj.get("metadata") or {}).get("namespace"):
            return obj["metadata"]["namespace"]
        return self.namespace

    @staticmethod
    def _sub(path: str, subresource: str | None) -> str:
        return f"{path}/{subresource}" if subresource else path

    # --- verbs ---------------------------------------------------------------------------------

    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        r = _resource(kind)
        return await self._request(
            "GET", self._sub(r.path(self._ns(r, namespace), name), subresource)
        )

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        r = _resource(kind)
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return await self._request(
            "GET", r.path(namespace if r.namespaced else None), params=params
        )

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        r = _resource(obj.get("kind", ""))
        return await self._request("POST", r.path(self._ns(r, namespace, obj)), body=obj)

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        kind = (
            "Deployment"
            if subresource == "scale" and obj.get("kind") == "Scale"
            else obj.get("kind", "")
        )
        r = _resource(kind)
        meta = obj.get("metadata") or {}
        path = self._sub(r.path(self._ns(r, None, obj), meta.get("name", "")), subresource)
        return await self._request("PUT", path, body=obj)

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> Obj:
        r = _resource(kind)
        path = self._sub(r.path(self._ns(r, namespace), name), subresource)
        return await self._request(
            "PATCH", path, body=patch, content_type=CONTENT_TYPES[patch_type]
        )

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> Obj:
        r = _resource(kind)
        body: Obj = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation_policy,
        }
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        return await self._request("DELETE", r.path(self._ns(r, namespace), name), body=body)

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        r = _resource(kind)
        params = {"watch": "true"}
        if resource_version:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return self._watch(r.path(namespace if r.namespaced else None), params)

    async def _watch(self, path: str, params: dict[str, str]) -> AsyncIterator[WatchEvent]:
        timeout = httpx.Timeout(None, connect=10.0)
        try:
            async with self._http.stream(
                "GET", path, params=params, headers=self._headers(), timeout=timeout
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    self._decode(resp)
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        code = int(obj.get("code") or 500)
                        if code == 410:
                            raise Gone(obj.get("message") or "resource version too old")
                        raise error_from_status(code, obj)
                    yield etype, obj
        except httpx.HTTPError as exc:
            raise TransportError(f"watch {self.server}{path}: {exc}") from exc

    async def get_raw(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        return await self._request("GET", path, params=params)

    async def get_table(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        """The server's `meta.k8s.io/v1 Table` for a list (namespace None: all namespaces) or
        for one object, with every column (wide ones have priority 1)."""
        r = _resource(kind)
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        ns = (namespace or (self.namespace if name else None)) if r.namespaced else None
        headers = self._headers({"Accept": TABLE_ACCEPT})
        try:
            resp = await self._http.get(r.path(ns, name), params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {self.server}{r.path(ns, name)}: {exc}") from exc
        return self._decode(resp)

    async def stream_raw(
        self, path: str, *, params: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """Stream any GET (`pods/NAME/log?follow=true`) as raw chunks."""
        try:
            async with self._http.stream(
                "GET",
                path,
                params=params,
                headers=self._headers(),
                timeout=httpx.Timeout(None, connect=10.0),
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    self._decode(resp)
                async for chunk in resp.aiter_raw():
                    yield chunk
        except httpx.HTTPError as exc:
            raise TransportError(f"GET {self.server}{path}: {exc}") from exc

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
