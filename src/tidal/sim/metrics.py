"""The metrics APIs of the simulated world: per-tick pod usage (from the scenario's load) is
averaged over `window_s` and published every `resolution_s`, as metrics-server does, then served
as `metrics.k8s.io/v1beta1` PodMetrics and `custom.metrics.k8s.io/v1beta2` MetricValueList: Pods
metrics (`pods/*/METRIC`, `pods/NAME/METRIC`) and Object metrics (`PLURAL/NAME/METRIC`: the
values the scenario gives that object, the router's per-Service request metrics, and for a
Deployment without its own value the sum over its pods, as docs/METRICS.md says)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from tidal.api.errors import NotFound
from tidal.api.meta import rfc3339

Obj = dict[str, Any]
Usage = tuple[float, float, dict[str, float]]  # cpu cores, memory bytes, custom metrics


def _milli(v: float) -> int:
    """Thousandths, rounded up, ignoring float noise below a millionth (0.002 stays 2m)."""
    return math.ceil(round(v * 1000, 6))


def _secs(s: float) -> str:
    return f"{s:g}s"


class SimMetrics:
    """A `MetricsSource` for `SimApi.get_raw`. `pods(namespace, labelSelector)` names the pods
    that exist and match (the API's list, through its label index: no scan of every pod)."""

    def __init__(
        self,
        pods: Callable[[str, str | None], Iterable[str]],
        resolution_s: float,
        window_s: float,
        deployment_pods: Callable[[str, str], list[str]] | None = None,
    ) -> None:
        self.pods = pods
        self.deployment_pods = deployment_pods  # (namespace, deployment) -> its pods' names
        self.resolution_s = resolution_s
        self.window_s = window_s
        self.history: dict[tuple[str, str], list[tuple[float, Usage]]] = defaultdict(list)
        self.published: dict[str, dict[str, tuple[float, Usage]]] = {}  # ns -> pod -> (at, avg)
        self._last_publish: float | None = None

    def record(self, now: float, namespace: str, pod: str, usage: Usage) -> None:
        h = self.history[(namespace, pod)]
        h.append((now, usage))
        horizon = now - max(self.window_s, self.resolution_s) - 1
        while h and h[0][0] < horizon:
            h.pop(0)

    def record_object(
        self, now: float, namespace: str, plural: str, name: str, values: dict[str, float]
    ) -> None:
        """An Object metric's value at `now` (published and averaged as the pods' are)."""
        self.record(now, namespace, f"{plural}/{name}", (0.0, 0.0, values))

    def forget(self, namespace: str, live: set[str]) -> None:
        """Drop the history of pods that are gone (objects, `plural/name`, are kept)."""
        for key in [
            k for k in self.history if k[0] == namespace and "/" not in k[1] and k[1] not in live
        ]:
            del self.history[key]

    def maybe_publish(self, now: float) -> None:
        """Every `resolution_s`: the window average of each pod sampled for at least one period."""
        if self._last_publish is not None and now - self._last_publish < self.resolution_s - 1e-9:
            return
        self._last_publish = now
        out: dict[str, dict[str, tuple[float, Usage]]] = defaultdict(dict)
        for (ns, pod), h in self.history.items():
            if not h or h[0][0] > now - self.resolution_s + 1e-9:
                continue  # metrics-server reports a pod after its second scrape
            inside = [u for at, u in h if at > now - self.window_s - 1e-9]
            if not inside:
                continue
            n = len(inside)
            names = {k for _, _, c in inside for k in c}
            avg = (
                sum(u[0] for u in inside) / n,
                sum(u[1] for u in inside) / n,
                {k: sum(c.get(k, 0.0) for _, _, c in inside) / n for k in names},
            )
            out[ns][pod] = (now, avg)
        self.published = dict(out)

    def _selected(
        self, namespace: str, params: dict[str, str] | None
    ) -> list[tuple[str, tuple[float, Usage]]]:
        published = self.published.get(namespace, {})
        live = self.pods(namespace, (params or {}).get("labelSelector"))
        return [(name, published[name]) for name in sorted(set(live)) if name in published]

    def __call__(self, path: str, params: dict[str, str] | None) -> Obj:
        parts = path.strip("/").split("/")
        # apis/metrics.k8s.io/v1beta1/namespaces/NS/pods
        if (
            parts[:3] == ["apis", "metrics.k8s.io", "v1beta1"]
            and len(parts) == 6
            and parts[5] == "pods"
        ):
            ns = parts[4]
            items = [
                {
                    "metadata": {"name": name, "namespace": ns},
                    "timestamp": rfc3339(at),
                    "window": _secs(self.window_s),
                    "containers": [
                        {
                            "name": "main",
                            "usage": {
                                "cpu": f"{_milli(u[0])}m",
                                "memory": f"{_milli(u[1] / 1000)}",
                            },
                        }
                    ],
                }
                for name, (at, u) in self._selected(ns, params)
            ]
            return {
                "kind": "PodMetricsList",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "items": items,
            }
        # apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/PLURAL/NAME/METRIC
        if (
            parts[:2] == ["apis", "custom.metrics.k8s.io"]
            and len(parts) == 8
            and parts[3] == "namespaces"
            and parts[5] != "pods"
        ):
            return self._object(parts[4], parts[5], parts[6], parts[7])
        # apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/pods/*/METRIC (or pods/NAME/METRIC)
        if (
            parts[:2] == ["apis", "custom.metrics.k8s.io"]
            and len(parts) == 8
            and parts[5] == "pods"
        ):
            ns, metric, only = parts[4], parts[7], parts[6]
            items = [
                {
                    "describedObject": {
                        "kind": "Pod",
                        "namespace": ns,
                        "name": name,
                        "apiVersion": "/v1",
                    },
                    "metric": {"name": metric},
                    "timestamp": rfc3339(at),
                    "windowSeconds": int(self.window_s),
                    "value": f"{_milli(u[2][metric])}m",
                }
                for name, (at, u) in self._selected(ns, params)
                if metric in u[2] and only in ("*", name)
            ]
            return {
                "kind": "MetricValueList",
                "apiVersion": "custom.metrics.k8s.io/v1beta2",
                "items": items,
            }
        raise NotFound(f"the server could not find the requested resource ({path})")

    def _object(self, ns: str, plural: str, name: str, metric: str) -> Obj:
        """One object's metric: its own published value, else (Deployments) its pods' sum."""
        published = self.published.get(ns, {})
        own = published.get(f"{plural}/{name}")
        value: float | None = None
        at = 0.0
        if own is not None and metric in own[1][2]:
            at, value = own[0], own[1][2][metric]
        elif plural == "deployments" and self.deployment_pods is not None:
            found = [published[p] for p in self.deployment_pods(ns, name) if p in published]
            found = [f for f in found if metric in f[1][2]]
            if found:
                at, value = found[0][0], sum(f[1][2][metric] for f in found)
        if value is None:
            raise NotFound(f'the server could not find the metric {metric} for {plural} "{name}"')
        kind = plural[:-1].capitalize() if plural.endswith("s") else plural.capitalize()
        return {
            "kind": "MetricValueList",
            "apiVersion": "custom.metrics.k8s.io/v1beta2",
            "items": [
                {
                    "describedObject": {"kind": kind, "namespace": ns, "name": name},
                    "metric": {"name": metric},
                    "timestamp": rfc3339(at),
                    "windowSeconds": int(self.window_s),
                    "value": f"{_milli(value)}m",
                }
            ],
        }
