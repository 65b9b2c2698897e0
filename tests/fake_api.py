"""`FakeApiClient`: the real `InProcessClient` over an in-memory Registry (SQLite `:memory:`) on a
test clock, with what controller unit tests need on top and nothing reimplemented: failures
injected per (verb, kind), a log of the writes that changed something, and the events recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidal.api.client import Obj
from tidal.api.errors import ApiError
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.store import Store


class FakeApiClient(InProcessClient):
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or (lambda: 0.0)
        super().__init__(Registry(Store(":memory:"), clock=self.clock), owns_registry=True)
        self.calls: list[tuple[str, str, str]] = []
        self.fail: dict[tuple[str, str], ApiError] = {}  # (verb, kind) -> error to raise
        self.fail_once: dict[tuple[str, str], ApiError] = {}  # the same, for one call

    def _check(self, verb: str, kind: str) -> None:
        err = self.fail.get((verb, kind))
        if err is not None:
            raise err
        err = self.fail_once.pop((verb, kind), None)
        if err is not None:
            raise err

    def _log(
        self, rv_before: int, verb: str, subresource: str | None, kind: str, name: str
    ) -> None:
        if self.registry.store.rv != rv_before:  # a no-op write is not a write
            self.calls.append((f"{verb}{'/' + subresource if subresource else ''}", kind, name))

    def events(self, kind: str | None = None, name: str | None = None) -> list[Obj]:
        """The Events recorded so far, oldest first, for an involved object's kind and name."""
        items = self.registry.list("Event")["items"]
        items.sort(key=lambda o: int(o["metadata"]["resourceVersion"]))
        return [
            o
            for o in items
            if (kind is None or o["involvedObject"]["kind"] == kind)
            and (name is None or o["involvedObject"]["name"] == name)
        ]

    async def get(
        self, kind: str, name: str, namespace: str | None = None, *, subresource: str | None = None
    ) -> Obj:
        self._check("get", kind)
        return await super().get(kind, name, namespace, subresource=subresource)

    async def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        """Create; a `status` given is then written through the status subresource, as the
        object's controller would have (tests seed observed state this way)."""
        self._check("create", obj["kind"])
        rv = self.registry.store.rv
        out = await super().create(obj, namespace=namespace)
        self._log(rv, "create", None, obj["kind"], out["metadata"]["name"])
        if obj.get("status") and not out.get("status"):
            out = await super().update({**out, "status": obj["status"]}, subresource="status")
        return out

    async def update(self, obj: Obj, *, subresource: str | None = None) -> Obj:
        self._check("update", obj["kind"])
        rv = self.registry.store.rv
        out = await super().update(obj, subresource=subresource)
        self._log(rv, "update", subresource, obj["kind"], obj["metadata"]["name"])
        return out

    async def patch(
        self,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: Any = "merge",
        subresource: str | None = None,
    ) -> Obj:
        self._check("patch", kind)
        rv = self.registry.store.rv
        out = await super().patch(
            kind, name, patch, namespace, patch_type=patch_type, subresource=subresource
        )
        self._log(rv, "patch", subresource, kind, name)
        return out
