"""The metrics APIs of the simulated world: per-tick pod usage (from the scenario's load) is
averaged over `window_s` and published every `resolution_s`, as metrics-server does, then served
as `metrics.k8s.io/v1beta1` PodMetrics and `custom.metrics.k8s.io/v1beta2` MetricValueList."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from tidal.api.errors import NotFound
from tidal.api.meta import rfc3339
from tidal.api.selectors import parse_labels

Obj = dict[str, Any]
Usage = tuple[float, float, dict[str, float]]  # cpu cores, memory bytes, custom metrics


def _milli(v: float) -> int:
    """Thousandths, rounded up, ignoring float noise below a millionth (0.002 stays 2m)."""
    return math.ceil(round(v * 1000, 6))


def _secs(s: float) -> str:
    return f"{s:g}s"


class SimMetrics:
    """A `MetricsSource` for `MemoryApi.get_raw`."""

    def __init__(
        self, pods: Callable[[str], list[Obj]], resolution_s: float, window_s: float
    ) -> None:
        self.pods = pods  # namespace -> pod objects (labels needed for selectors)
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

    def forget(self, namespace: str, live: set[str]) -> None:
        for key in [k for k in self.history if k[0] == namespace and k[1] not in live]:
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
        sel = parse_labels((params or {}).get("labelSelector"))
        live = {p["metadata"]["name"]: p for p in self.pods(namespace)}
        return [
            (name, v)
            for name, v in sorted(self.published.get(namespace, {}).items())
            if name in live and sel.matches(live[name]["metadata"].get("labels"))
        ]

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
        # apis/custom.metrics.k8s.io/v1beta2/namespaces/NS/pods/*/METRIC
        if (
            parts[:2] == ["apis", "custom.metrics.k8s.io"]
            and len(parts) == 8
            and parts[5] == "pods"
        ):
            ns, metric = parts[4], parts[7]
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
                if metric in u[2]
            ]
            return {
                "kind": "MetricValueList",
                "apiVersion": "custom.metrics.k8s.io/v1beta2",
                "items": items,
            }
        raise NotFound(f"the server could not find the requested resource ({path})")
