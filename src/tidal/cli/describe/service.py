"""`tidal describe service` in kubectl's layout, with the ready endpoints."""

from __future__ import annotations

from typing import Any

from tidal.cli.describe.common import Writer, write_events, write_labels_annotations, write_name

Obj = dict[str, Any]


def describe(svc: Obj, events: list[Obj] | None, now: float, endpoints: Obj | None = None) -> str:
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    w = Writer()
    write_name(w, meta)
    write_labels_annotations(w, meta)
    sel = spec.get("selector") or {}
    w.write(0, "Selector:\t" + (",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"))
    w.write(0, f"Type:\t{spec.get('type', 'ClusterIP')}")
    w.write(0, f"IP Family Policy:\t{spec.get('ipFamilyPolicy', 'SingleStack')}")
    w.write(0, "IP Families:\t" + ",".join(spec.get("ipFamilies") or ["IPv4"]))
    w.write(0, f"IP:\t{spec.get('clusterIP', '<none>')}")
    w.write(
        0, "IPs:\t" + (",".join(spec.get("clusterIPs") or []) or spec.get("clusterIP", "<none>"))
    )
    addrs = []
    for subset in (endpoints or {}).get("subsets") or []:
        for a in subset.get("addresses") or []:
            for p in subset.get("ports") or []:
                addrs.append(f"{a.get('ip')}:{p.get('port')}")
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        w.write(0, f"Port:\t{name}\t{p.get('port')}/{p.get('protocol', 'TCP')}")
        tp = p.get("targetPort", p.get("port"))
        w.write(0, f"TargetPort:\t{tp}/{p.get('protocol', 'TCP')}")
        w.write(0, "Endpoints:\t" + (",".join(addrs) if addrs else "<none>"))
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    w.write(0, f"Internal Traffic Policy:\t{spec.get('internalTrafficPolicy', 'Cluster')}")
    write_events(w, events, now)
    return w.text()
