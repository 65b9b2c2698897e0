"""`InProcessClient`: the `tidal.api.client.ApiClient` protocol over the server's own verb layer,
with no sockets: the plane's controllers, the pod runner, tests and the simulator use it.
It behaves exactly as the HTTPS API (same Registry, same errors, same watch semantics).

Usage:

    from tidal.server.inprocess import open_inprocess
    client = await open_inprocess(home)          # opens/creates $home/state.db
    await client.create({"apiVersion": "apps/v1", "kind": "Deployment", ...})
    async for etype, obj in client.watch("Pod", "default"):
        ...
    await client.close()                         # closes the registry it opened

or, sharing the plane's registry with the HTTPS server:

    registry = Registry.open(home)
    client = InProcessClient(registry)           # close() then leaves the registry open
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from tidal.api.client import Obj, PatchType, WatchEvent
from tidal.api.errors import NotFound
from tidal.server.registry import Registry

# Aggregated API providers the in-process client can read through `get_raw` (set by the app).
RawGetter = Callable[[str, dict[str, str] | None], Any]


class InProcessClient:
    """ApiClient over a Registry. Objects returned are fresh copies the caller may mutate."""

    def __init__(
        self, registry: Registry, *, owns_registry: bool = False, raw: RawGetter | None = None
    ) -> None:
        self.registry = registry
        self._owns = owns_registry
        self._raw = raw

    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        return self.registry.get(kind, name, namespace, subresource=subresource)

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        return self.registry.list(
            kind, namespace, label_selector=label_selector, field_selector=field_selector
        )

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        return self.registry.create(obj, namespace=namespace)

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        if subresource == "scale":
            # a Scale names neither the kind nor (reliably) the target: Deployments only
            meta = obj.get("metadata") or {}
            return self.registry.update(
                obj,
                subresource="scale",
                kind="Deployment",
                name=meta.get("name"),
                namespace=meta.get("namespace"),
            )
        return self.registry.update(obj, subresource=subresource)

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
        return self.registry.patch(
            kind, name, patch, namespace, patch_type=patch_type, subresource=subresource
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
        obj, _ = self.registry.delete(
            kind,
            name,
            namespace,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
        )
        return obj

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        return self._watch(kind, namespace, resource_version, label_selector, field_selector)

    async def _watch(
        self,
        kind: str,
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> AsyncIterator[WatchEvent]:
        stream = self.registry.watch(
            kind,
            namespace,
            resource_version=resource_version,
            label_selector=label_selector,
            field_selector=field_selector,
        )
        try:
            async for etype, body in stream:
                yield etype, orjson.loads(body)  # type: ignore[misc]
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def get_raw(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        if self._raw is None:
            raise NotFound(f"the server could not find the requested resource ({path})")
        result = self._raw(path, params)
        if hasattr(result, "__await__"):
            result = await result
        return result

    async def get_table(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        name: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        """The `meta.k8s.io/v1 Table` the HTTPS API would answer (same printer code)."""
        from tidal.server import tables

        reg = self.registry
        if name:
            objs = [reg.get(kind, name, namespace)]
            rv = objs[0]["metadata"].get("resourceVersion", "")
        else:
            listed = reg.list(
                kind, namespace, label_selector=label_selector, field_selector=field_selector
            )
            objs, rv = listed["items"], listed["metadata"]["resourceVersion"]
        return tables.table(kind, objs, reg.clock(), resource_version=rv)

    async def close(self) -> None:
        if self._owns:
            self.registry.close()


async def open_inprocess(
    home: Path | str, *, clock: Callable[[], float] = time.time
) -> InProcessClient:
    """A client over the registry of `home` (created when missing); `close()` closes it."""
    return InProcessClient(Registry.open(home, clock=clock), owns_registry=True)
