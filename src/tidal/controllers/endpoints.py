"""Endpoints from a Service's selector and the ready pods, as the Kubernetes endpoints controller.

A pod is an address when it matches the selector, has an IP and is not terminating; it is in
`addresses` when Ready, else in `notReadyAddresses` (the router only uses `addresses`). A pod
being deleted leaves the Endpoints at once — the first step of draining it. `render_endpoints`
is pure; the controller lists and writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidal.api.client import ApiClient, Obj
from tidal.api.errors import Conflict, NotFound
from tidal.controllers.loop import Key, Loop, Watch


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _pod_ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def _resolve_port(target: Any, pods: list[Obj]) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for pod in pods:
        for c in (pod.get("spec") or {}).get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return int(p["containerPort"])
    return None


def render_endpoints(service: Obj, pods: Iterable[Obj]) -> Obj:
    """The Endpoints object for `service` given all pods of its namespace."""
    meta = service["metadata"]
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    chosen = sorted(
        (
            p
            for p in pods
            if matches(selector, (p.get("metadata") or {}).get("labels") or {})
            and not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("podIP")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ),
        key=lambda p: p["metadata"]["name"],
    )
    ready: list[Obj] = []
    not_ready: list[Obj] = []
    for p in chosen:
        pm = p["metadata"]
        addr = {
            "ip": p["status"]["podIP"],
            "targetRef": {
                "kind": "Pod",
                "namespace": pm.get("namespace") or "default",
                "name": pm["name"],
                "uid": pm.get("uid", ""),
            },
        }
        node = (p.get("spec") or {}).get("nodeName")
        if node:
            addr["nodeName"] = node
        (ready if _pod_ready(p) else not_ready).append(addr)
    ports = []
    for sp in spec.get("ports") or []:
        port = _resolve_port(sp.get("targetPort", sp.get("port")), chosen)
        if port is None:
            continue
        entry: Obj = {"port": port, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            entry["name"] = sp["name"]
        ports.append(entry)
    subsets: list[Obj] = []
    if (ready or not_ready) and ports:
        subset: Obj = {"ports": ports}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        subsets.append(subset)
    out_meta: Obj = {"name": meta["name"], "namespace": meta.get("namespace") or "default"}
    if meta.get("labels"):
        out_meta["labels"] = dict(meta["labels"])
    if meta.get("uid"):
        out_meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta["uid"]}
        ]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": out_meta, "subsets": subsets}


def _services_of_pod(pod: Obj, loop: Loop) -> Iterable[Key]:
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    for svc in loop.informer("Service").list(ns):
        yield (ns, svc["metadata"]["name"])


class EndpointsController:
    name = "endpoints"
    watches = (Watch("Service"), Watch("Pod", _services_of_pod))

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    async def reconcile(self, key: Key, loop: Loop) -> float | None:
        ns, name = key
        svc = loop.informer("Service").get(ns, name)
        if svc is None:
            try:
                await self.client.delete("Endpoints", name, ns)
            except NotFound:
                pass
            return None
        if not (svc.get("spec") or {}).get("selector"):
            return None  # endpoints of a selector-less Service are the user's
        pods = loop.informer("Pod").list(ns)
        want = render_endpoints(svc, pods)
        try:
            have = await self.client.get("Endpoints", name, ns)
        except NotFound:
            try:
                await self.client.create(want)
            except Conflict:
                return 0.0
            return None
        if have.get("subsets") == want["subsets"]:
            return None
        have = dict(have)
        have["subsets"] = want["subsets"]
        try:
            await self.client.update(have)
        except Conflict:
            return 0.0
        return None
