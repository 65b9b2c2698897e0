"""Validation and defaults of the built-in kinds (Namespace, Pod, Service, Endpoints, Event,
Deployment) and of every object's metadata, as the Kubernetes API server applies them.
`validate_*(obj) -> list[Cause]` never raises; `default_*(obj)` fills defaults in place.

Over 400 lines on purpose: one validator and one defaulter per built-in kind, side by side as
Kubernetes' `validation.go` and `defaults.go` keep them.
"""

from __future__ import annotations

import random
import re
from typing import Any

from tidal.api.errors import Cause
from tidal.api.quantity import parse
from tidal.api.selectors import from_label_selector
from tidal.validation.field import (
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    invalid,
    non_negative_int,
    not_supported,
    quantity,
    required,
)

Obj = dict[str, Any]

_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',"
    "  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB
# Kinds whose names must be DNS-1123 labels (the rest: subdomains); Services: DNS-1035 labels.
_LABEL_NAMED = {"Namespace"}
_DNS1035_NAMED = {"Service"}


def _d(obj: Any) -> Obj:
    return obj if isinstance(obj, dict) else {}


def _l(obj: Any) -> list[Any]:
    return obj if isinstance(obj, list) else []


def shape_causes(obj: Obj) -> list[Cause]:
    """Type errors every kind shares (a string where a map belongs): checked before defaults and
    kind rules run, so those can trust the shape."""
    causes: list[Cause] = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [invalid("metadata", meta, "must be an object")]
    for key in ("labels", "annotations"):
        value = meta.get(key)
        if value is not None and (
            not isinstance(value, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            causes.append(
                invalid(f"metadata.{key}", value, "must be a map of string keys to string values")
            )
    for key in ("name", "namespace", "generateName"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            causes.append(invalid(f"metadata.{key}", value, "must be a string"))
    for key in ("spec", "status", "involvedObject", "source"):
        value = obj.get(key)
        if value is not None and not isinstance(value, dict):
            causes.append(invalid(key, value, "must be an object"))
    if obj.get("subsets") is not None and not isinstance(obj["subsets"], list):
        causes.append(invalid("subsets", obj["subsets"], "must be a list"))
    return causes


def validate_labels(field: str, labels: Any) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid(field, labels, "must be a map of string keys to string values")]
    causes: list[Cause] = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if not _LABEL_KEY_NAME.match(name) or len(name) > 63:
            causes.append(invalid(field, key, QUALIFIED_NAME_ERROR))
        elif prefix:
            causes.extend(dns1123_subdomain(field, prefix))
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(invalid(f"{field}[{key}]", value, LABEL_VALUE_ERROR))
    return causes


def validate_metadata(obj: Obj, *, namespaced: bool) -> list[Cause]:
    """Name rules, namespace, labels and annotations: what every kind shares."""
    meta = _d(obj.get("metadata"))
    kind = obj.get("kind", "")
    name = meta.get("name")
    causes: list[Cause] = []
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif kind in _DNS1035_NAMED:
        causes.extend(dns1035_label("metadata.name", name))
    elif kind in _LABEL_NAMED:
        causes.extend(dns1123_label("metadata.name", name))
    else:
        causes.extend(dns1123_subdomain("metadata.name", name))
    if namespaced and meta.get("namespace"):
        causes.extend(dns1123_label("metadata.namespace", meta["namespace"]))
    causes.extend(validate_labels("metadata.labels", meta.get("labels")))
    refs = meta.get("ownerReferences")
    if refs is not None:
        if not isinstance(refs, list):
            causes.append(invalid("metadata.ownerReferences", refs, "must be a list"))
        else:
            for i, ref in enumerate(refs):
                if not isinstance(ref, dict):
                    causes.append(
                        invalid(f"metadata.ownerReferences[{i}]", ref, "must be an object")
                    )
                    continue
                for key in ("apiVersion", "kind", "name", "uid"):
                    if not isinstance(ref.get(key), str) or not ref.get(key):
                        causes.append(required(f"metadata.ownerReferences[{i}].{key}"))
    fins = meta.get("finalizers")
    if fins is not None and (
        not isinstance(fins, list) or not all(isinstance(f, str) for f in fins)
    ):
        causes.append(invalid("metadata.finalizers", fins, "must be a list of strings"))
    ann = meta.get("annotations")
    if ann is not None and (
        not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values())
    ):
        causes.append(invalid("metadata.annotations", ann, "must be a map of string to string"))
    elif ann:
        causes.extend(validate_annotations("metadata.annotations", ann))
    return causes


def validate_annotations(field: str, ann: dict[str, str]) -> list[Cause]:
    """apimachinery's ValidateAnnotations: keys are qualified names (any case), and keys plus
    values total at most 256 KiB."""
    causes: list[Cause] = []
    for key in ann:
        prefix, _, name = key.lower().rpartition("/")
        if not _LABEL_KEY_NAME.match(name) or len(name) > 63:
            causes.append(invalid(field, key, QUALIFIED_NAME_ERROR))
        elif prefix or key.startswith("/"):
            causes.extend(dns1123_subdomain(field, prefix))
    total = sum(len(k.encode("utf-8", "replace")) + len(v.encode("utf-8", "replace"))
                for k, v in ann.items())  # fmt: skip
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        causes.append(
            Cause(
                field,
                f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes",
                "FieldValueTooLong",
            )
        )
    return causes


def _resources(field: str, res: Any) -> list[Cause]:
    res = _d(res)
    causes: list[Cause] = []
    for part in ("requests", "limits"):
        for rname, value in _d(res.get(part)).items():
            causes.extend(quantity(f"{field}.{part}[{rname}]", value))
    if not causes:
        for rname, req in _d(res.get("requests")).items():
            lim = _d(res.get("limits")).get(rname)
            if lim is not None and parse(req) > parse(lim):
                causes.append(
                    invalid(
                        f"{field}.requests",
                        str(req),
                        f"must be less than or equal to {rname} limit of {lim}",
                    )
                )
    return causes


def _container(field: str, c: Any) -> list[Cause]:
    if not isinstance(c, dict):
        return [invalid(field, c, "must be an object")]
    causes: list[Cause] = []
    if not c.get("name"):
        causes.append(required(f"{field}.name"))
    else:
        causes.extend(dns1123_label(f"{field}.name", c["name"]))
    for i, port in enumerate(_l(c.get("ports"))):
        p = _d(port).get("containerPort")
        if p is None:
            causes.append(required(f"{field}.ports[{i}].containerPort"))
        elif not isinstance(p, int) or not 0 < p < 65536:
            causes.append(
                invalid(
                    f"{field}.ports[{i}].containerPort", p, "must be between 1 and 65535, inclusive"
                )
            )
    for i, env in enumerate(_l(c.get("env"))):
        if not _d(env).get("name"):
            causes.append(required(f"{field}.env[{i}].name"))
    causes.extend(_resources(f"{field}.resources", c.get("resources")))
    for key in ("command", "args"):
        value = c.get(key)
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            causes.append(invalid(f"{field}.{key}", value, "must be a list of strings"))
    return causes


def validate_pod_spec(field: str, spec: Any) -> list[Cause]:
    spec = _d(spec)
    causes: list[Cause] = []
    containers = spec.get("containers")
    if containers is not None and not isinstance(containers, list):
        causes.append(invalid(f"{field}.containers", containers, "must be a list"))
    elif not containers:
        causes.append(required(f"{field}.containers"))
    else:
        names: set[str] = set()
        for i, c in enumerate(containers):
            causes.extend(_container(f"{field}.containers[{i}]", c))
            n = _d(c).get("name")
            if n in names:
                causes.append(
                    Cause(
                        f"{field}.containers[{i}].name",
                        f'Duplicate value: "{n}"',
                        "FieldValueDuplicate",
                    )
                )
            names.add(n)
    for i, c in enumerate(_l(spec.get("initContainers"))):
        causes.extend(_container(f"{field}.initContainers[{i}]", c))
    rp = spec.get("restartPolicy")
    if rp is not None and rp not in ("Always", "OnFailure", "Never"):
        causes.append(not_supported(f"{field}.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    causes.extend(
        non_negative_int(
            f"{field}.terminationGracePeriodSeconds", spec.get("terminationGracePeriodSeconds")
        )
    )
    return causes


def validate_pod(obj: Obj) -> list[Cause]:
    return validate_pod_spec("spec", obj.get("spec"))


def validate_deployment(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    causes = non_negative_int("spec.replicas", spec.get("replicas"))
    selector = spec.get("selector")
    if not selector:
        causes.append(required("spec.selector"))
    elif not isinstance(selector, dict):
        causes.append(invalid("spec.selector", selector, "must be an object"))
    else:
        try:
            sel = from_label_selector(selector)
        except ValueError as exc:
            causes.append(invalid("spec.selector", selector, str(exc)))
            sel = None
        if sel is not None and sel.empty:
            causes.append(
                invalid("spec.selector", selector, "empty selector is invalid for deployment")
            )
        labels = _d(_d(_d(spec.get("template")).get("metadata")).get("labels"))
        if sel is not None and not sel.empty and not sel.matches(labels):
            causes.append(
                invalid(
                    "spec.template.metadata.labels",
                    labels,
                    "`selector` does not match template `labels`",
                )
            )
    template = _d(spec.get("template"))
    causes.extend(
        validate_labels("spec.template.metadata.labels", _d(template.get("metadata")).get("labels"))
    )
    causes.extend(validate_pod_spec("spec.template.spec", template.get("spec")))
    rp = _d(template.get("spec")).get("restartPolicy")
    if rp not in (None, "Always"):
        causes.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    strategy = _d(spec.get("strategy")).get("type")
    if strategy not in (None, "RollingUpdate", "Recreate"):
        causes.append(not_supported("spec.strategy.type", strategy, ["Recreate", "RollingUpdate"]))
    return causes


def validate_replicaset(obj: Obj) -> list[Cause]:
    """apps/v1 ReplicaSet: a Deployment's checks without the strategy (upstream shares them,
    the empty-selector message included)."""
    spec = {k: v for k, v in _d(obj.get("spec")).items() if k != "strategy"}
    return validate_deployment({"spec": spec})


def validate_service(obj: Obj) -> list[Cause]:
    spec = _d(obj.get("spec"))
    causes: list[Cause] = []
    stype = spec.get("type", "ClusterIP")
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    if stype not in types:
        causes.append(not_supported("spec.type", stype, types))
    ports = _l(spec.get("ports"))
    if not ports and stype != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports"))
    for i, port in enumerate(ports):
        p = _d(port).get("port")
        if p is None:
            causes.append(required(f"spec.ports[{i}].port"))
        elif not isinstance(p, int) or not 0 < p < 65536:
            causes.append(
                invalid(f"spec.ports[{i}].port", p, "must be between 1 and 65535, inclusive")
            )
        proto = _d(port).get("protocol", "TCP")
        if proto not in ("TCP", "UDP", "SCTP"):
            causes.append(not_supported(f"spec.ports[{i}].protocol", proto, ["SCTP", "TCP", "UDP"]))
    causes.extend(validate_labels("spec.selector", spec.get("selector")))
    return causes


def validate_endpoints(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for i, subset in enumerate(_l(obj.get("subsets"))):
        for j, addr in enumerate(_l(_d(subset).get("addresses"))):
            if not _d(addr).get("ip"):
                causes.append(required(f"subsets[{i}].addresses[{j}].ip"))
        for j, port in enumerate(_l(_d(subset).get("ports"))):
            p = _d(port).get("port")
            if not isinstance(p, int) or not 0 < p < 65536:
                causes.append(
                    invalid(
                        f"subsets[{i}].ports[{j}].port", p, "must be between 1 and 65535, inclusive"
                    )
                )
    return causes


def validate_event(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    involved = _d(obj.get("involvedObject"))
    ns = _d(obj.get("metadata")).get("namespace")
    if involved.get("namespace") and ns and involved["namespace"] != ns:
        causes.append(
            invalid(
                "involvedObject.namespace", involved["namespace"], "does not match event.namespace"
            )
        )
    etype = obj.get("type")
    if etype not in (None, "", "Normal", "Warning"):
        causes.append(not_supported("type", etype, ["Normal", "Warning"]))
    return causes


def validate_namespace(obj: Obj) -> list[Cause]:
    return []


# --- defaults ---------------------------------------------------------------------------------


def _default_container(c: Obj) -> None:
    c.setdefault("imagePullPolicy", "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in _l(c.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in _l(spec.get("containers")) + _l(spec.get("initContainers")):
        if isinstance(c, dict):
            _default_container(c)


def default_pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(spec if isinstance(spec, dict) else {}))


def qos_class(spec: Obj) -> str:
    """Guaranteed / Burstable / BestEffort from the containers' requests and limits."""
    containers = [c for c in _l(spec.get("containers")) if isinstance(c, dict)]
    reqs = [_d(_d(c.get("resources")).get("requests")) for c in containers]
    lims = [_d(_d(c.get("resources")).get("limits")) for c in containers]
    if not any(reqs) and not any(lims):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu")
        and lim.get("memory")
        and (not req or req == {k: lim[k] for k in req if k in lim})
        for req, lim in zip(reqs, lims, strict=True)
    )
    return "Guaranteed" if guaranteed else "Burstable"


def default_deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            if isinstance(ru, dict):
                ru.setdefault("maxUnavailable", "25%")
                ru.setdefault("maxSurge", "25%")
    _default_pod_template(spec)


def _default_pod_template(spec: Obj) -> None:
    """`spec.template` of a Deployment or ReplicaSet: its pod spec defaulted, metadata present."""
    template = spec.setdefault("template", {})
    if isinstance(template, dict):
        tspec = template.setdefault("spec", {})
        if isinstance(tspec, dict):
            default_pod_spec(tspec)
        template.setdefault("metadata", {})


def default_replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    _default_pod_template(spec)


def default_service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
        # a display address only: locally, traffic goes through the router
        ip = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in _l(spec.get("ports")):
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj.setdefault("status", {"loadBalancer": {}})


def default_namespace(obj: Obj) -> None:
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Active")
    spec = obj.setdefault("spec", {})
    if isinstance(spec, dict):
        spec.setdefault("finalizers", ["kubernetes"])


def default_event(obj: Obj) -> None:
    obj.setdefault("count", 1)
    obj.setdefault("type", "Normal")
    involved = obj.setdefault("involvedObject", {})
    ns = _d(obj.get("metadata")).get("namespace")
    if isinstance(involved, dict) and ns and "namespace" not in involved:
        involved["namespace"] = ns


def validate_controller_revision(obj: Obj) -> list[Cause]:
    if obj.get("revision") is None:
        return [required("revision")]
    return non_negative_int("revision", obj["revision"])


def _noop(obj: Obj) -> None:
    return None


CORE: dict[str, tuple[Any, Any]] = {
    "Namespace": (validate_namespace, default_namespace),
    "Pod": (validate_pod, default_pod),
    "Service": (validate_service, default_service),
    "Endpoints": (validate_endpoints, _noop),
    "Event": (validate_event, default_event),
    "Deployment": (validate_deployment, default_deployment),
    "ReplicaSet": (validate_replicaset, default_replicaset),
    "ControllerRevision": (validate_controller_revision, _noop),
}
