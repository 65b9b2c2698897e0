"""The client protocol every component programs against: controllers, the pod runner, the router
and the CLI. Two implementations: `tidal.client.http.HttpClient` (real HTTPS, kubeconfig) and
`tidal.server.inprocess.InProcessClient` (the same handlers without sockets, for the control
plane's own controllers, tests and the simulator).

Objects are plain JSON dicts shaped exactly as Kubernetes serialises them; `kind` arguments are
kind names (`Deployment`) resolved through `tidal.api.resources`. Errors raise `tidal.api.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

Obj = dict[str, Any]
PatchType = Literal["merge", "strategic", "json"]
WatchEvent = tuple[Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"], Obj]


class ApiClient(Protocol):
    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj: ...

    async def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Obj:
        """The `XList` object: `items` and `metadata.resourceVersion` (to watch from)."""
        ...

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj: ...

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        """PUT; 409 Conflict when `metadata.resourceVersion` is stale. `subresource="status"`
        writes only the status, `"scale"` takes an autoscaling/v1 Scale."""
        ...

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
    ) -> Obj: ...

    async def delete(
        self,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> Obj:
        """A Pod bound to a node (`spec.nodeName`) is only marked (`deletionTimestamp`) and
        returned; its runner stops the process, then deletes it with `grace_period_seconds=0`.
        Objects with `metadata.finalizers` stay until the finalizers are removed."""
        ...

    def watch(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Events after `resource_version` (all current objects as ADDED when it is None).
        Raises `Gone` when the version is too old: relist and watch again."""
        ...

    async def get_raw(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        """GET any API path (`/apis/metrics.k8s.io/v1beta1/namespaces/default/pods`), decoded
        JSON; as `kubectl get --raw`. Aggregated APIs (metrics) are read through this."""
        ...

    async def close(self) -> None: ...
