"""Table for `render_endpoints`: which pods are addresses, which are not ready, which are out."""

from __future__ import annotations

import pytest

from tidal.controllers.endpoints import render_endpoint_slice, render_endpoints, slice_name

SVC = {
    "metadata": {"name": "s", "namespace": "ns", "uid": "su"},
    "spec": {"selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": 8080}]},
}


def pod(name: str, *, ready: bool = True, ip: str | None = "127.1.0.2", **extra: object) -> dict:
    meta = {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"app": "a"}}
    meta.update(extra.pop("meta", {}))  # type: ignore[arg-type]
    status: dict = {
        "phase": extra.pop("phase", "Running"),
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "spec": {"nodeName": "local"}, "status": status}


CASES = {
    "ready pod is an address": ([pod("p1")], ["p1"], []),
    "unready pod is not ready": ([pod("p1", ready=False)], [], ["p1"]),
    "no ip yet: out": ([pod("p1", ip=None)], [], []),
    "terminating: out at once": (
        [pod("p1", meta={"deletionTimestamp": "2024-01-01T00:00:00Z"})],
        [],
        [],
    ),
    "other labels: out": ([pod("p1", meta={"labels": {"app": "b"}})], [], []),
    "failed: out": ([pod("p1", phase="Failed")], [], []),
    "sorted by name": ([pod("p2", ip="127.1.0.3"), pod("p1")], ["p1", "p2"], []),
}


@pytest.mark.parametrize(("pods", "ready", "not_ready"), list(CASES.values()), ids=list(CASES))
def test_render_endpoints(pods: list[dict], ready: list[str], not_ready: list[str]) -> None:
    ep = render_endpoints(SVC, pods)
    assert ep["metadata"]["name"] == "s"
    subsets = ep["subsets"]
    got_ready = [a["targetRef"]["name"] for s in subsets for a in s.get("addresses", [])]
    got_not = [a["targetRef"]["name"] for s in subsets for a in s.get("notReadyAddresses", [])]
    assert (got_ready, got_not) == (ready, not_ready)
    if subsets:
        assert subsets[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_named_target_port_resolves_from_pod() -> None:
    svc = {**SVC, "spec": {"selector": {"app": "a"}, "ports": [{"port": 80, "targetPort": "http"}]}}
    p = pod("p1")
    p["spec"]["containers"] = [{"name": "c", "ports": [{"name": "http", "containerPort": 9000}]}]
    assert render_endpoints(svc, [p])["subsets"][0]["ports"][0]["port"] == 9000


def test_endpoint_slice_carries_the_same_addresses_with_conditions() -> None:
    pods = [pod("p2", ready=False, ip="127.1.0.3"), pod("p1")]
    ep = render_endpoints(SVC, pods)
    es = render_endpoint_slice(SVC, ep)
    assert es["apiVersion"] == "discovery.k8s.io/v1" and es["addressType"] == "IPv4"
    assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "s"
    assert es["metadata"]["ownerReferences"][0]["uid"] == "su"
    assert es["metadata"]["name"] == slice_name(SVC) == "s-su"
    assert [
        (e["targetRef"]["name"], e["addresses"], e["conditions"]["ready"]) for e in es["endpoints"]
    ] == [("p1", ["127.1.0.2"], True), ("p2", ["127.1.0.3"], False)]
    assert es["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_endpoint_slice_of_a_service_without_pods_is_empty() -> None:
    es = render_endpoint_slice(SVC, render_endpoints(SVC, []))
    assert es["endpoints"] == [] and es["ports"] == []
