"""Server-side tables (`meta.k8s.io/v1 Table`) with Kubernetes' printer columns for every kind
(kube-apiserver's printers, KServe's CRD printer columns, our own for CronHPA), as kubectl
prints them and as tidal's own `get` prints them: one source of truth for every column.
Wide (priority 1) cells are always sent; clients hide them unless `-o wide`. Pure: `now` is
passed in.

Over 400 lines on purpose: one printer per kind tidal serves, kept together as kubectl's
`printers.go` keeps them, so every column has one home.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidal.api.hpa_format import format_targets
from tidal.api.meta import age, parse_time, rfc3339, selector_string
from tidal.autoscaling.cron.jobs import next_firing
from tidal.autoscaling.kpa.columns import KPA_COLUMNS, kpa_columns

Obj = dict[str, Any]
Column = tuple[str, str, str, int]  # name, type, format, priority

_DESC = {
    "Controller": "Controller of the object",
    "Name": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
}


def _col(name: str, type_: str = "string", fmt: str = "", priority: int = 0) -> Column:
    return (name, type_, fmt, priority)


NAME = _col("Name", fmt="name")
AGE = _col("Age")


def _d(x: Any) -> Obj:
    return x if isinstance(x, dict) else {}


def _none(value: Any) -> str:
    return str(value) if value not in (None, "", []) else "<none>"


# --- Pod ------------------------------------------------------------------------------------


def pod_status_reason(pod: Obj) -> tuple[str, int, int]:
    """(STATUS cell, ready containers, restarts) as kubectl's printPod computes them."""
    status = _d(pod.get("status"))
    reason = status.get("reason") or status.get("phase") or "Pending"
    ready = 0
    restarts = 0
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        state = _d(cs.get("state"))
        term, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
        if term and term.get("exitCode") == 0:
            continue
        initializing = True
        n = len(_d(pod.get("spec")).get("initContainers") or [])
        if term:
            reason = "Init:" + (
                term.get("reason")
                or (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode')}"
                )
            )
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{n}"
        break
    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            state = _d(cs.get("state"))
            term, waiting = _d(state.get("terminated")), _d(state.get("waiting"))
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = (
                    f"Signal:{term['signal']}"
                    if term.get("signal")
                    else f"ExitCode:{term.get('exitCode')}"
                )
            elif cs.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            reason = "Running" if ready_cond else "NotReady"
    else:
        for cs in status.get("containerStatuses") or []:
            restarts += int(cs.get("restartCount") or 0)
    if _d(pod.get("metadata")).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, restarts


def _last_restart(pod: Obj) -> float | None:
    latest = None
    for cs in _d(pod.get("status")).get("containerStatuses") or []:
        finished = parse_time(_d(_d(cs.get("lastState")).get("terminated")).get("finishedAt"))
        if finished is not None and (latest is None or finished > latest):
            latest = finished
    return latest


def pod_row(pod: Obj, now: float) -> list[Any]:
    from tidal.api.meta import human_duration

    reason, ready, restarts = pod_status_reason(pod)
    total = len(_d(pod.get("spec")).get("containers") or [])
    restarts_cell = str(restarts)
    last = _last_restart(pod)
    if restarts and last is not None:
        restarts_cell = f"{restarts} ({human_duration(now - last)} ago)"
    status, spec = _d(pod.get("status")), _d(pod.get("spec"))
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gates_cell = f"{ok}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        restarts_cell,
        age(pod, now),
        _none(status.get("podIP")),
        _none(spec.get("nodeName")),
        _none(status.get("nominatedNodeName")),
        gates_cell,
    ]


POD_COLUMNS = [
    NAME,
    _col("Ready"),
    _col("Status"),
    _col("Restarts"),
    AGE,
    _col("IP", priority=1),
    _col("Node", priority=1),
    _col("Nominated Node", priority=1),
    _col("Readiness Gates", priority=1),
]

# --- Service, Endpoints, Namespace, Event ---------------------------------------------------


def service_row(svc: Obj, now: float) -> list[Any]:
    spec = _d(svc.get("spec"))
    stype = spec.get("type", "ClusterIP")
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = ips[0] if ips else "<none>"
    external = "<none>"
    if stype == "ExternalName":
        external = spec.get("externalName") or "<none>"
    elif spec.get("externalIPs"):
        external = ",".join(spec["externalIPs"])
    elif stype == "LoadBalancer":
        ingress = _d(_d(svc.get("status")).get("loadBalancer")).get("ingress") or []
        addrs = [i.get("ip") or i.get("hostname") for i in ingress if i]
        external = ",".join(a for a in addrs if a) or "<pending>"
    ports = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        if p.get("nodePort"):
            ports.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            ports.append(f"{p.get('port')}/{proto}")
    return [
        svc["metadata"]["name"],
        stype,
        cluster_ip,
        external,
        ",".join(ports) or "<none>",
        age(svc, now),
        selector_string(spec.get("selector")) or "<none>",
    ]


SERVICE_COLUMNS = [
    NAME,
    _col("Type"),
    _col("Cluster-IP"),
    _col("External-IP"),
    _col("Port(s)"),
    AGE,
    _col("Selector", priority=1),
]


def endpoints_row(ep: Obj, now: float) -> list[Any]:
    entries = []
    for subset in ep.get("subsets") or []:
        ports = subset.get("ports") or []
        for addr in subset.get("addresses") or []:
            if ports:
                entries += [f"{addr.get('ip')}:{p.get('port')}" for p in ports]
            else:
                entries.append(str(addr.get("ip")))
    if not entries:
        cell = "<none>"
    elif len(entries) > 3:
        cell = ",".join(entries[:3]) + f" + {len(entries) - 3} more..."
    else:
        cell = ",".join(entries)
    return [ep["metadata"]["name"], cell, age(ep, now)]


ENDPOINTS_COLUMNS = [NAME, _col("Endpoints"), AGE]


def node_row(node: Obj, now: float) -> list[Any]:
    """kubectl's `printNode`: Ready condition, roles from node-role labels, kubelet version."""
    status = _d(node.get("status"))
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    state = (
        "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    )
    if _d(node.get("spec")).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = _d(_d(node.get("metadata")).get("labels"))
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = _d(status.get("nodeInfo"))
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [
        node["metadata"]["name"],
        state,
        ",".join(roles) or "<none>",
        age(node, now),
        info.get("kubeletVersion", ""),
        addrs.get("InternalIP", "<none>"),
        addrs.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


NODE_COLUMNS = [
    NAME,
    _col("Status"),
    _col("Roles"),
    AGE,
    _col("Version"),
    _col("Internal-IP", priority=1),
    _col("External-IP", priority=1),
    _col("OS-Image", priority=1),
    _col("Kernel-Version", priority=1),
    _col("Container-Runtime", priority=1),
]


def endpointslice_row(es: Obj, now: float) -> list[Any]:
    """kubectl's `printEndpointSlice`: ports and up to three addresses of every endpoint."""
    ports = [
        str(p["port"]) if p.get("port") is not None else "<unset>" for p in es.get("ports") or []
    ]
    addrs = [a for e in es.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addrs:
        cell = "<none>"
    elif len(addrs) > 3:
        cell = ",".join(addrs[:3]) + f" + {len(addrs) - 3} more..."
    else:
        cell = ",".join(addrs)
    return [
        es["metadata"]["name"],
        es.get("addressType", ""),
        ",".join(ports) or "<unset>",
        cell,
        age(es, now),
    ]


ENDPOINTSLICE_COLUMNS = [NAME, _col("AddressType"), _col("Ports"), _col("Endpoints"), AGE]


def namespace_row(ns: Obj, now: float) -> list[Any]:
    return [ns["metadata"]["name"], _d(ns.get("status")).get("phase", "Active"), age(ns, now)]


NAMESPACE_COLUMNS = [NAME, _col("Status"), AGE]


def configmap_row(cm: Obj, now: float) -> list[Any]:
    """kubectl's `printConfigMap`: keys of data and binaryData."""
    keys = len(_d(cm.get("data"))) + len(_d(cm.get("binaryData")))
    return [cm["metadata"]["name"], keys, age(cm, now)]


CONFIGMAP_COLUMNS = [NAME, _col("Data", "string"), AGE]


def secret_row(secret: Obj, now: float) -> list[Any]:
    """kubectl's `printSecret`: type and the number of keys."""
    keys = len(_d(secret.get("data")))
    return [secret["metadata"]["name"], secret.get("type") or "Opaque", keys, age(secret, now)]


SECRET_COLUMNS = [NAME, _col("Type"), _col("Data", "string"), AGE]


def event_row(ev: Obj, now: float) -> list[Any]:
    from tidal.api.meta import human_duration

    first = parse_time(ev.get("firstTimestamp")) or parse_time(ev.get("eventTime"))
    last = parse_time(ev.get("lastTimestamp")) or first
    series_last = parse_time(_d(ev.get("series")).get("lastObservedTime"))
    if series_last is not None:
        last = series_last
    involved = _d(ev.get("involvedObject"))
    source = _d(ev.get("source"))
    src = source.get("component") or ev.get("reportingController") or ""
    if source.get("host"):
        src += f", {source['host']}"
    return [
        human_duration(now - last) if last is not None else "<unknown>",
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        src,
        str(ev.get("message", "")).strip(),
        human_duration(now - first) if first is not None else "<unknown>",
        int(ev.get("count") or 1),
        ev["metadata"]["name"],
    ]


EVENT_COLUMNS = [
    _col("Last Seen"),
    _col("Type"),
    _col("Reason"),
    _col("Object"),
    _col("Subobject", priority=1),
    _col("Source", priority=1),
    _col("Message"),
    _col("First Seen", priority=1),
    _col("Count", "integer", priority=1),
    _col("Name", fmt="name", priority=1),
]

# --- Deployment, HPA ------------------------------------------------------------------------


_TEMPLATE_COLUMNS = [
    _col("Containers", priority=1),
    _col("Images", priority=1),
    _col("Selector", priority=1),
]


def _template_cells(spec: Obj) -> list[str]:
    """kubectl's wide cells of a pod-template owner: container names, images, selector."""
    containers = _d(_d(spec.get("template")).get("spec")).get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector_string(spec.get("selector")) or "<none>",
    ]


def deployment_row(d: Obj, now: float) -> list[Any]:
    spec, status = _d(d.get("spec")), _d(d.get("status"))
    return [
        d["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        int(status.get("updatedReplicas") or 0),
        int(status.get("availableReplicas") or 0),
        age(d, now),
        *_template_cells(spec),
    ]


DEPLOYMENT_COLUMNS = [
    NAME,
    _col("Ready"),
    _col("Up-to-date", "integer"),
    _col("Available", "integer"),
    AGE,
    *_TEMPLATE_COLUMNS,
]


def replicaset_row(rs: Obj, now: float) -> list[Any]:
    """kubectl's `printReplicaSet`: desired, current and ready pods."""
    spec, status = _d(rs.get("spec")), _d(rs.get("status"))
    return [
        rs["metadata"]["name"],
        int(spec.get("replicas") or 0),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        age(rs, now),
        *_template_cells(spec),
    ]


REPLICASET_COLUMNS = [
    NAME,
    _col("Desired", "integer"),
    _col("Current", "integer"),
    _col("Ready", "integer"),
    AGE,
    *_TEMPLATE_COLUMNS,
]


def hpa_row(hpa: Obj, now: float) -> list[Any]:
    spec, status = _d(hpa.get("spec")), _d(hpa.get("status"))
    ref = _d(spec.get("scaleTargetRef"))
    targets = format_targets(hpa)
    min_pods = spec.get("minReplicas")
    return [
        hpa["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        targets,
        str(min_pods) if min_pods is not None else "<unset>",
        int(spec.get("maxReplicas") or 0),
        int(status.get("currentReplicas") or 0),
        age(hpa, now),
    ]


HPA_COLUMNS = [
    NAME,
    _col("Reference"),
    _col("Targets"),
    _col("MinPods"),
    _col("MaxPods", "integer"),
    _col("Replicas", "integer"),
    AGE,
]

# --- InferenceService (KServe CRD printer columns), CronHPA, PodAutoscaler ------------------

_CRD_DESC = "Custom resource definition column (in JSONPath format): "


def isvc_row(isvc: Obj, now: float) -> list[Any]:
    status = _d(isvc.get("status"))
    ready = next(
        (c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None
    )
    traffic = _d(_d(status.get("components")).get("predictor")).get("traffic") or []
    prev = next((t for t in traffic if t.get("tag") == "prev"), {})
    latest = next((t for t in traffic if t.get("latestRevision") is True), {})
    return [
        isvc["metadata"]["name"],
        status.get("url"),
        ready,
        prev.get("percent"),
        latest.get("percent"),
        prev.get("revisionName"),
        latest.get("revisionName"),
        age(isvc, now),
    ]


ISVC_COLUMNS = [
    NAME,
    _col("URL"),
    _col("Ready"),
    _col("Prev", "integer"),
    _col("Latest", "integer"),
    _col("PrevRolledoutRevision"),
    _col("LatestReadyRevision"),
    _col("Age", "date"),
]
ISVC_PATHS = {
    "URL": ".status.url",
    "Ready": ".status.conditions[?(@.type=='Ready')].status",
    "Prev": ".status.components.predictor.traffic[?(@.tag=='prev')].percent",
    "Latest": ".status.components.predictor.traffic[?(@.latestRevision==true)].percent",
    "PrevRolledoutRevision": ".status.components.predictor.traffic[?(@.tag=='prev')].revisionName",
    "LatestReadyRevision": ".status.components.predictor.traffic[?(@.latestRevision==true)].revisionName",
    "Age": ".metadata.creationTimestamp",
}


def servingruntime_row(rt: Obj, now: float) -> list[Any]:
    """KServe's (Cluster)ServingRuntime printer columns: Disabled, ModelType, Containers, Age
    (`[*]` JSONPath cells joined by spaces, as kubectl prints them)."""
    spec = _d(rt.get("spec"))
    formats = [_d(f).get("name") for f in spec.get("supportedModelFormats") or []]
    containers = [_d(c).get("name") for c in spec.get("containers") or []]
    return [
        rt["metadata"]["name"],
        spec.get("disabled"),
        " ".join(str(f) for f in formats if f) or None,
        " ".join(str(c) for c in containers if c) or None,
        age(rt, now),
    ]


SERVINGRUNTIME_COLUMNS = [
    NAME,
    _col("Disabled", "boolean"),
    _col("ModelType"),
    _col("Containers"),
    _col("Age", "date"),
]
SERVINGRUNTIME_PATHS = {
    "Disabled": ".spec.disabled",
    "ModelType": ".spec.supportedModelFormats[*].name",
    "Containers": ".spec.containers[*].name",
    "Age": ".metadata.creationTimestamp",
}


def cronhpa_row(cron: Obj, now: float) -> list[Any]:
    spec = _d(cron.get("spec"))
    ref = _d(spec.get("scaleTargetRef"))
    jobs = spec.get("jobs") or []
    nxt = "<none>"
    try:
        at = next_firing(cron, now)
    except ValueError:  # a bad schedule shows as <none>; the controller reports it
        at = None
    if at is not None:
        nxt = rfc3339(at)
    return [
        cron["metadata"]["name"],
        f"{ref.get('kind', '')}/{ref.get('name', '')}" if ref else "<none>",
        len(jobs),
        nxt,
        age(cron, now),
    ]


CRONHPA_COLUMNS = [NAME, _col("Target"), _col("Jobs", "integer"), _col("Next Firing"), AGE]


# Knative's PodAutoscaler CRD declares its columns (and so gets no Age column).
PODAUTOSCALER_COLUMNS = [
    NAME if name == "Name" else _col(name, type_) for name, type_, _path in KPA_COLUMNS
]


def podautoscaler_row(pa: Obj, now: float) -> list[Any]:
    return kpa_columns(pa)


def predictive_row(p: Obj, now: float) -> list[Any]:
    """PredictiveHorizontalPodAutoscaler: its HPA, strategy, the floor it set, the forecast."""
    spec, status = _d(p.get("spec")), _d(p.get("status"))
    fc = _d(status.get("forecast"))
    value = fc.get("value")
    ahead = fc.get("aheadSeconds")
    cell = "<unknown>" if value is None else f"{value}" + (f" (+{ahead}s)" if ahead else "")
    return [
        _d(p.get("metadata")).get("name", ""),
        _none(_d(spec.get("hpaRef")).get("name")),
        spec.get("scaleStrategy") or "auto",
        status.get("baseMinReplicas", "<none>"),
        status.get("floor", "<none>"),
        cell,
        age(p, now),
    ]


PREDICTIVE_COLUMNS = [
    NAME,
    _col("HPA"),
    _col("Strategy"),
    _col("MinPods", "integer"),
    _col("Floor", "integer"),
    _col("Forecast"),
    AGE,
]


def controllerrevision_row(cr: Obj, now: float) -> list[Any]:
    """kubectl's `printControllerRevision`: the controller as `kind.group/name`."""
    meta = _d(cr.get("metadata"))
    ref = next(
        (
            r
            for r in meta.get("ownerReferences") or []
            if isinstance(r, dict) and r.get("controller")
        ),
        None,
    )
    controller = "<none>"
    if ref is not None:
        group = str(ref.get("apiVersion") or "").rpartition("/")[0]
        kind = str(ref.get("kind") or "")
        controller = (f"{kind}.{group}" if group else kind).lower() + f"/{ref.get('name', '')}"
    return [meta.get("name", ""), controller, cr.get("revision", 0), age(cr, now)]


CONTROLLERREVISION_COLUMNS = [NAME, _col("Controller"), _col("Revision", "integer"), AGE]


def default_row(obj: Obj, now: float) -> list[Any]:
    return [
        _d(obj.get("metadata")).get("name", ""),
        _d(obj.get("metadata")).get("creationTimestamp"),
    ]


DEFAULT_COLUMNS = [NAME, _col("Created At", "date")]

PRINTERS: dict[str, tuple[list[Column], Callable[[Obj, float], list[Any]]]] = {
    "Pod": (POD_COLUMNS, pod_row),
    "Service": (SERVICE_COLUMNS, service_row),
    "Endpoints": (ENDPOINTS_COLUMNS, endpoints_row),
    "EndpointSlice": (ENDPOINTSLICE_COLUMNS, endpointslice_row),
    "Node": (NODE_COLUMNS, node_row),
    "Namespace": (NAMESPACE_COLUMNS, namespace_row),
    "Event": (EVENT_COLUMNS, event_row),
    "ConfigMap": (CONFIGMAP_COLUMNS, configmap_row),
    "Secret": (SECRET_COLUMNS, secret_row),
    "Deployment": (DEPLOYMENT_COLUMNS, deployment_row),
    "ReplicaSet": (REPLICASET_COLUMNS, replicaset_row),
    "HorizontalPodAutoscaler": (HPA_COLUMNS, hpa_row),
    "InferenceService": (ISVC_COLUMNS, isvc_row),
    "ServingRuntime": (SERVINGRUNTIME_COLUMNS, servingruntime_row),
    "ClusterServingRuntime": (SERVINGRUNTIME_COLUMNS, servingruntime_row),
    "CronHorizontalPodAutoscaler": (CRONHPA_COLUMNS, cronhpa_row),
    "PodAutoscaler": (PODAUTOSCALER_COLUMNS, podautoscaler_row),
    "PredictiveHorizontalPodAutoscaler": (PREDICTIVE_COLUMNS, predictive_row),
    "ControllerRevision": (CONTROLLERREVISION_COLUMNS, controllerrevision_row),
}


def column_definitions(kind: str) -> list[Obj]:
    columns, _ = PRINTERS.get(kind, (DEFAULT_COLUMNS, default_row))
    out = []
    for name, type_, fmt, priority in columns:
        desc = _DESC.get(name, name)
        if kind == "InferenceService" and name in ISVC_PATHS:
            desc = _CRD_DESC + ISVC_PATHS[name]
        if kind in ("ServingRuntime", "ClusterServingRuntime") and name in SERVINGRUNTIME_PATHS:
            desc = _CRD_DESC + SERVINGRUNTIME_PATHS[name]
        out.append(
            {"name": name, "type": type_, "format": fmt, "description": desc, "priority": priority}
        )
    return out


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def row(kind: str, obj: Obj, now: float, include: str = "Metadata") -> Obj:
    _, printer = PRINTERS.get(kind, (DEFAULT_COLUMNS, default_row))
    try:
        cells = printer(obj, now)
    except Exception:  # malformed object: still list it by name rather than fail the list
        cells = default_row(obj, now)
    out: Obj = {"cells": cells}
    ro = _row_object(obj, include)
    if ro is not None:
        out["object"] = ro
    return out


def table(
    kind: str,
    objects: list[Obj],
    now: float,
    *,
    resource_version: str = "",
    include: str = "Metadata",
    headers: bool = True,
    continue_: str | None = None,
) -> Obj:
    """A Table of `objects` (a list, a single get, or one watch event)."""
    meta: Obj = {"resourceVersion": resource_version}
    if continue_:
        meta["continue"] = continue_
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(kind) if headers else None,
        "rows": [row(kind, o, now, include) for o in objects],
    }
