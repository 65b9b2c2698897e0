"""`custom.metrics.k8s.io` (v1beta2 and v1beta1, as prometheus-adapter serves both) over tidal's
own sources: scraped pod series, GPU (NVML) values and the router's request stats.

Paths (below `/apis/custom.metrics.k8s.io/<version>/`):
  ``                                          APIResourceList of `pods/<metric>`, `services/<metric>`, ...
  `namespaces/NS/pods/*/METRIC?labelSelector=`  MetricValueList, one item per matching pod with a value
  `namespaces/NS/pods/NAME/METRIC`              MetricValueList with that pod
  `namespaces/NS/services/NAME/METRIC`          Object metric: the router's per-service value, else
                                                the sum over the Service's pods
  `namespaces/NS/deployments/NAME/METRIC`       Object metric: the sum over the Deployment's pods
`metricLabelSelector` filters series by label (an HPA's `metric.selector`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from tidal.api import errors
from tidal.api.meta import rfc3339, selector_string
from tidal.api.quantity import format_decimal
from tidal.api.selectors import parse_labels

GROUP = "custom.metrics.k8s.io"
VERSIONS = ("v1beta2", "v1beta1")
Obj = dict[str, Any]
Labels = Mapping[str, str]


class PodValues(Protocol):
    """One source of per-pod values (scrape windows, GPU snapshot, router stats)."""

    def names(self) -> set[str]: ...

    def pod_value(
        self, namespace: str, pod: str, metric: str, matches: Callable[[Labels], bool]
    ) -> float | None: ...


class ServiceValues(Protocol):
    """Per-service values the router measures itself (requests/s, concurrency, held)."""

    def service_names(self) -> set[str]: ...

    def service_value(self, namespace: str, service: str, metric: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Item:
    kind: str
    namespace: str
    name: str
    value: float
    api_version: str = "/v1"


def quantity(v: float) -> str:
    """A metric value as a Kubernetes quantity, to the milli (`16m`, `2`, `1500m`)."""
    return format_decimal(Fraction(round(v * 1000), 1000))


def metric_value_list(
    version: str,
    metric: str,
    items: list[Item],
    *,
    now: float,
    window_s: float,
    selector: str | None = None,
) -> Obj:
    """PURE: the MetricValueList document in the given API version's shape."""
    ts = rfc3339(now)
    out_items = []
    for it in items:
        entry: Obj = {
            "describedObject": {
                "kind": it.kind,
                "namespace": it.namespace,
                "name": it.name,
                "apiVersion": it.api_version,
            },
            "timestamp": ts,
            "windowSeconds": int(window_s),
            "value": quantity(it.value),
        }
        if version == "v1beta1":
            entry["metricName"] = metric
            if selector:
                entry["selector"] = selector
        else:
            entry["metric"] = {"name": metric}
            if selector:
                entry["metric"]["selector"] = _selector_obj(selector)
        out_items.append(entry)
    return {
        "kind": "MetricValueList",
        "apiVersion": f"{GROUP}/{version}",
        "metadata": {},
        "items": out_items,
    }


def _selector_obj(text: str) -> Obj:
    labels = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        if k and v and not k.endswith("!"):
            labels[k.strip()] = v.strip()
    return {"matchLabels": labels}


def resource_list(version: str, metrics: set[str], service_metrics: set[str]) -> Obj:
    resources = []
    for name in sorted(metrics):
        for kind in ("pods", "deployments", "services"):
            resources.append(_resource(f"{kind}/{name}"))
    for name in sorted(service_metrics - metrics):
        resources.append(_resource(f"services/{name}"))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{GROUP}/{version}",
        "resources": resources,
    }


def _resource(name: str) -> Obj:
    return {
        "name": name,
        "singularName": "",
        "namespaced": True,
        "kind": "MetricValueList",
        "verbs": ["get"],
    }


ListPods = Callable[[str, str], Awaitable[list[Obj]]]  # (namespace, label selector) -> pods
GetObject = Callable[[str, str, str], Awaitable[Obj]]  # (kind, namespace, name) -> object


class CustomMetricsApi:
    """Answers the custom metrics API from the sources; pod lists come from the API itself."""

    def __init__(
        self,
        sources: list[PodValues],
        services: ServiceValues | None,
        list_pods: ListPods,
        get_object: GetObject,
        *,
        clock: Callable[[], float],
        window_s: float,
    ) -> None:
        self.sources = sources
        self.services = services
        self.list_pods = list_pods
        self.get_object = get_object
        self.clock = clock
        self.window_s = window_s

    def names(self) -> set[str]:
        out: set[str] = set()
        for s in self.sources:
            out |= s.names()
        return out

    def pod_value(
        self, namespace: str, pod: str, metric: str, matches: Callable[[Labels], bool]
    ) -> float | None:
        for s in self.sources:
            v = s.pod_value(namespace, pod, metric, matches)
            if v is not None:
                return v
        return None

    async def get(self, version: str, path: str, query: Mapping[str, str]) -> Obj:
        """Answer `GET /apis/custom.metrics.k8s.io/<version>/<path>`; raises ApiError."""
        if version not in VERSIONS:
            raise errors.NotFound(
                f'the server could not find the requested resource (version "{version}")'
            )
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            svc = self.services.service_names() if self.services else set()
            return resource_list(version, self.names(), svc)
        if len(parts) != 5 or parts[0] != "namespaces":
            raise errors.NotFound(f"the server could not find the requested resource ({path})")
        _, namespace, kind, name, metric = parts
        try:
            series_sel = parse_labels(query.get("metricLabelSelector"))
            object_sel = query.get("labelSelector") or ""
            parse_labels(object_sel)
        except ValueError as exc:
            raise errors.BadRequest(f"invalid selector: {exc}") from exc
        matches = series_sel.matches
        now = self.clock()
        if kind == "pods":
            items = await self._pods(namespace, name, metric, object_sel, matches)
        elif kind in ("services", "deployments"):
            items = [await self._object(kind, namespace, name, metric, matches)]
        else:
            raise errors.NotFound(f"the server could not find the metric {metric} for {kind}")
        return metric_value_list(
            version,
            metric,
            items,
            now=now,
            window_s=self.window_s,
            selector=query.get("metricLabelSelector"),
        )

    async def _pods(
        self,
        namespace: str,
        name: str,
        metric: str,
        selector: str,
        matches: Callable[[Labels], bool],
    ) -> list[Item]:
        if name == "*":
            pods = await self.list_pods(namespace, selector)
        else:
            pods = [await self.get_object("Pod", namespace, name)]
        items = []
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            v = self.pod_value(namespace, pod_name, metric, matches)
            if v is not None:
                items.append(Item("Pod", namespace, pod_name, v))
        if not items:
            raise errors.NotFound(f"the server could not find the metric {metric} for pods")
        return items

    async def _object(
        self,
        kind: str,
        namespace: str,
        name: str,
        metric: str,
        matches: Callable[[Labels], bool],
    ) -> Item:
        obj = await self.get_object(
            "Service" if kind == "services" else "Deployment", namespace, name
        )
        item_kind = obj.get("kind") or ("Service" if kind == "services" else "Deployment")
        api_version = "/v1" if kind == "services" else "apps/v1"
        if kind == "services" and self.services is not None:
            v = self.services.service_value(namespace, name, metric)
            if v is not None:
                return Item(item_kind, namespace, name, v, api_version)
        spec = obj.get("spec") or {}
        sel = spec.get("selector") or {}
        if kind == "deployments":
            sel_text = selector_string(sel)
        else:
            sel_text = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
        if not sel_text:
            raise errors.NotFound(
                f"the server could not find the metric {metric} for {kind} {name}"
            )
        total: float | None = None
        for pod in await self.list_pods(namespace, sel_text):
            v = self.pod_value(namespace, pod["metadata"]["name"], metric, matches)
            if v is not None:
                total = v if total is None else total + v
        if total is None:
            raise errors.NotFound(
                f"the server could not find the metric {metric} for {kind} {name}"
            )
        return Item(item_kind, namespace, name, total, api_version)
