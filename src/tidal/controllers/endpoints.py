"""Endpoints from a Service's selector and the ready pods, as the Kubernetes endpoints controller,
and the same addresses as the Service's EndpointSlice (discovery.k8s.io/v1), as the
endpointslice controller writes it (kubectl 1.32's `describe svc` reads slices, not Endpoints).

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


SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"


def slice_name(service: Obj) -> str:
    """One slice per Service here; Kubernetes names it from `generateName: <service>-`. The
    suffix comes from the Service's uid, so every reconcile finds the same slice."""
    meta = service["metadata"]
    uid = (meta.get("uid") or meta["name"]).replace("-", "")
    return f"{meta['name']}-{uid[:5]}"


def render_endpoint_slice(service: Obj, endpoints: Obj) -> Obj:
    """PURE: the EndpointSlice holding what `render_endpoints` found (ready and not-ready
    addresses, with their conditions), for `service`."""
    meta = service["metadata"]
    items: list[Obj] = []
    ports: list[Obj] = []
    for subset in endpoints.get("subsets") or []:
        ports = [dict(p) for p in subset.get("ports") or []]
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for addr in subset.get(key) or []:
                ep: Obj = {
                    "addresses": [addr["ip"]],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False},
                    "targetRef": dict(addr["targetRef"]),
                }
                if addr.get("nodeName"):
                    ep["nodeName"] = addr["nodeName"]
                items.append(ep)
    items.sort(key=lambda e: e["targetRef"]["name"])
    out_meta: Obj = {
        "name": slice_name(service),
        "namespace": meta.get("namespace") or "default",
        "labels": {
            **(meta.get("labels") or {}),
            SERVICE_NAME_LABEL: meta["name"],
            MANAGED_BY_LABEL: MANAGED_BY,
        },
    }
    if meta.get("uid"):
        out_meta["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": meta["name"],
                "uid": meta["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": out_meta,
        "addressType": "IPv4",
        "endpoints": items,
        "ports": ports,
    }


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
        if not await self._write(want, ("subsets",)):
            return 0.0
        if not await self._write(render_endpoint_slice(svc, want), ("endpoints", "ports")):
            return 0.0
        return None

    async def _write(self, want: Obj, fields: tuple[str, ...]) -> bool:
        """Create `want`, or update the stored object's `fields`; False on a conflict (retry)."""
        meta = want["metadata"]
        try:
            have = await self.client.get(want["kind"], meta["name"], meta["namespace"])
        except NotFound:
            try:
                await self.client.create(want)
            except Conflict:
                return False
            return True
        if all(have.get(f) == want[f] for f in fields):
            return True
        have = dict(have)
        for f in fields:
            have[f] = want[f]
        try:
            await self.client.update(have)
        except Conflict:
            return False
        return True
