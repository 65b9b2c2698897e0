"""Discovery documents built from the resource table (`tidal.api.resources`) and the mounted
aggregated APIs: aggregated discovery v2 (what kubectl 1.32 asks for, by content type) and the
legacy APIVersions / APIGroupList / APIGroup / APIResourceList documents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidal.api.resources import RESOURCES, ResourceType

Obj = dict[str, Any]
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
SUB_VERBS = ["get", "patch", "update"]


def wants_aggregated(accept: str) -> bool:
    """kubectl asks for `as=APIGroupDiscoveryList`; anything else gets the legacy documents."""
    return "as=APIGroupDiscoveryList" in accept.replace(" ", "")


def _sub_kind(r: ResourceType, sub: str) -> Obj:
    if sub == "scale":
        return {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    return {"group": r.group, "version": r.version, "kind": r.kind}


def _sub_verbs(sub: str) -> list[str]:
    return ["get"] if sub == "log" else list(SUB_VERBS)


def aggregated_resource(r: ResourceType) -> Obj:
    entry: Obj = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {"subresource": s, "responseKind": _sub_kind(r, s), "verbs": _sub_verbs(s)}
            for s in r.subresources
        ]
    return entry


def _provider_aggregated(group: str, version: str, res: Obj) -> Obj:
    return {
        "resource": res["name"],
        "responseKind": {"group": group, "version": version, "kind": res.get("kind", "")},
        "scope": "Namespaced" if res.get("namespaced") else "Cluster",
        "singularResource": res.get("singularName") or res["name"],
        "verbs": list(res.get("verbs") or ["get", "list"]),
    }


def groups() -> list[str]:
    """Named groups of the resource table, in table order."""
    seen: list[str] = []
    for r in RESOURCES:
        if r.group and r.group not in seen:
            seen.append(r.group)
    return seen


def _versions(group: str) -> list[str]:
    out: list[str] = []
    for r in RESOURCES:
        if r.group == group and r.version not in out:
            out.append(r.version)
    return out


def aggregated_core() -> Obj:
    core = [r for r in RESOURCES if not r.group]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [
            {
                "metadata": {"creationTimestamp": None},
                "versions": [
                    {
                        "version": "v1",
                        "freshness": "Current",
                        "resources": [aggregated_resource(r) for r in core],
                    }
                ],
            }
        ],
    }


def aggregated_apis(providers: dict[str, Iterable[Obj]]) -> Obj:
    """`providers`: group/version -> its APIResource entries (metrics APIs)."""
    items = []
    for g in groups():
        items.append(
            {
                "metadata": {"name": g, "creationTimestamp": None},
                "versions": [
                    {
                        "version": v,
                        "freshness": "Current",
                        "resources": [
                            aggregated_resource(r)
                            for r in RESOURCES
                            if r.group == g and r.version == v
                        ],
                    }
                    for v in _versions(g)
                ],
            }
        )
    by_group: dict[str, list[tuple[str, list[Obj]]]] = {}
    for gv, resources in providers.items():
        g, _, v = gv.partition("/")
        by_group.setdefault(g, []).append((v, list(resources)))
    named = {item["metadata"]["name"]: item for item in items}
    for g, versions in by_group.items():
        entries = [
            {
                "version": v,
                "freshness": "Current",
                "resources": [_provider_aggregated(g, v, res) for res in resources],
            }
            for v, resources in versions
        ]
        if g in named:  # another version of a table group (autoscaling/v1): after, not preferred
            named[g]["versions"] += entries
        else:
            items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": entries})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def api_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str, versions: list[str]) -> Obj:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": gvs,
        "preferredVersion": gvs[0],
    }


def api_group_list(providers: dict[str, Iterable[Obj]]) -> Obj:
    out = [api_group(g, vs) for g, vs in group_versions(providers).items()]
    for group in out:  # list entries carry no kind/apiVersion of their own
        del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def group_versions(providers: dict[str, Iterable[Obj]]) -> dict[str, list[str]]:
    """Every named group -> its versions (table and providers)."""
    out = {g: _versions(g) for g in groups()}
    for gv in providers:
        g, _, v = gv.partition("/")
        out.setdefault(g, []).append(v)
    return out


def resource_list(group: str, version: str) -> Obj | None:
    """`/api/v1` or `/apis/<g>/<v>` for the table's kinds; None when the GV is not served."""
    rows = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rows:
        return None
    resources: list[Obj] = []
    for r in rows:
        entry: Obj = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for s in r.subresources:
            sk = _sub_kind(r, s)
            sub: Obj = {
                "name": f"{r.plural}/{s}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sk["kind"],
                "verbs": _sub_verbs(s),
            }
            if s == "scale":
                sub["group"], sub["version"] = "autoscaling", "v1"
            resources.append(sub)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def provider_resource_list(group_version: str, resources: Iterable[Obj]) -> Obj:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": res["name"],
                "singularName": res.get("singularName", ""),
                "namespaced": bool(res.get("namespaced")),
                "kind": res.get("kind", ""),
                "verbs": list(res.get("verbs") or ["get", "list"]),
            }
            for res in resources
        ],
    }
