"""The ingress Service the seed looks up (`kube-system/nginx-ingress-lb`), pointing at the router."""

from __future__ import annotations

from tidal.api import errors
from tidal.api.client import ApiClient

INGRESS_NAMESPACE = "kube-system"
INGRESS_SERVICE = "nginx-ingress-lb"


async def ensure_ingress_service(client: ApiClient, port: int) -> None:
    """The seed finds its ingress with `kubectl -n kube-system get svc nginx-ingress-lb
    -ojsonpath='{.status.loadBalancer.ingress[0].ip}'`: the router answers that Service's role
    here, so it exists with the router's address and port."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": INGRESS_SERVICE,
            "namespace": INGRESS_NAMESPACE,
            "labels": {"app": "tidal-router"},
        },
        "spec": {
            "type": "LoadBalancer",
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
    try:
        current = await client.get("Service", INGRESS_SERVICE, INGRESS_NAMESPACE)
    except errors.NotFound:
        current = await client.create(svc)
    else:
        if current["spec"].get("ports") != svc["spec"]["ports"]:
            current["spec"]["ports"] = svc["spec"]["ports"]
            current = await client.update(current)
    status = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    if current.get("status") != status:
        current["status"] = status
        await client.update(current, subresource="status")
