"""`external.metrics.k8s.io/v1beta1` answered by PromQL against a Prometheus.

Two ways a metric name resolves to a query:
- **rules**, as prometheus-adapter's `externalRules` (`seriesQuery`, `name.matches`/`as`,
  `metricsQuery` with `<<.Series>>`, `<<.LabelMatchers>>`, `<<.GroupBy>>`), from the `externalRules`
  list of the adapter config (`tidal up --prometheus-rules FILE`);
- **KServe's own form**: an InferenceService `predictor.autoScaling.metrics[]` entry of type
  `External` with `backend: prometheus, serverAddress, query`. Its HPA names the metric
  `prometheus-query` with selector labels `serving.kserve.io/inferenceservice` and
  `serving.tidal.dev/metric-index`; the query and server come from the InferenceService.

The HPA sums every returned series (Kubernetes' rule); this API returns one item per series.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tidal.api import errors
from tidal.api.meta import rfc3339
from tidal.api.selectors import parse_labels
from tidal.api.wellknown import ISVC_LABEL, METRIC_INDEX_LABEL
from tidal.metrics.custom_api import quantity

GROUP_VERSION = "external.metrics.k8s.io/v1beta1"
KSERVE_METRIC = "prometheus-query"
INDEX_LABEL = METRIC_INDEX_LABEL
Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rule:
    series: str  # the metric name the rule is about (from seriesQuery)
    matches: re.Pattern[str]
    as_: str
    metrics_query: str


def load_rules(config: Mapping[str, Any] | None) -> list[Rule]:
    """prometheus-adapter's `externalRules`; raises ValueError naming the bad field."""
    rules: list[Rule] = []
    for i, r in enumerate((config or {}).get("externalRules") or []):
        sq = r.get("seriesQuery")
        if not sq:
            raise ValueError(f"externalRules[{i}].seriesQuery: required")
        m = re.match(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", sq)
        series = m.group(1) if m else ""
        name = r.get("name") or {}
        pattern = re.compile(name.get("matches") or "^(.*)$")
        if pattern.groups > 1 and not name.get("as"):
            raise ValueError(
                f"externalRules[{i}].name.as: required when matches has several groups"
            )
        as_ = name.get("as") or ("${1}" if pattern.groups == 1 else "$0")
        mq = r.get("metricsQuery") or "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"
        rules.append(Rule(series, pattern, as_, mq))
    return rules


def exposed_name(rule: Rule) -> str:
    m = rule.matches.search(rule.series)
    if not m:
        return rule.series
    out = rule.as_.replace("$0", m.group(0))
    for i in range(1, (rule.matches.groups or 0) + 1):
        out = out.replace(f"${{{i}}}", m.group(i) or "").replace(f"${i}", m.group(i) or "")
    return out


def label_matchers(selector: str, namespace: str | None) -> str:
    """PURE: a label selector as PromQL matchers (`a="x",b!="y",c=~"p|q"`)."""
    parts = []
    if namespace:
        parts.append(f'namespace="{namespace}"')
    for req in parse_labels(selector).requirements:
        key = req.key.replace(".", "_").replace("/", "_").replace("-", "_")
        if req.op == "=":
            parts.append(f'{key}="{req.values[0]}"')
        elif req.op == "!=":
            parts.append(f'{key}!="{req.values[0]}"')
        elif req.op == "in":
            parts.append(f'{key}=~"{"|".join(req.values)}"')
        elif req.op == "notin":
            parts.append(f'{key}!~"{"|".join(req.values)}"')
        elif req.op == "exists":
            parts.append(f'{key}!=""')
        elif req.op == "!":
            parts.append(f'{key}=""')
    return ",".join(parts)


def render(rule: Rule, selector: str, namespace: str | None) -> str:
    q = rule.metrics_query.replace("<<.Series>>", rule.series)
    q = q.replace("<<.LabelMatchers>>", label_matchers(selector, namespace))
    return q.replace("<<.GroupBy>>", "namespace")


async def prometheus_data(
    http: httpx.AsyncClient, server: str, path: str, params: dict[str, str]
) -> Obj:
    """GET a Prometheus query API (`/api/v1/query`, `/api/v1/query_range`); its `data`, else
    ApiError: ServerError when Prometheus cannot be reached, BadRequest when it refuses."""
    try:
        resp = await http.get(server.rstrip("/") + path, params=params)
        body = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise errors.ServerError(f"unable to query Prometheus at {server}: {exc}") from exc
    if body.get("status") != "success":
        query = params.get("query", "")
        raise errors.BadRequest(f"Prometheus rejected the query {query!r}: {body.get('error')}")
    return body.get("data") or {}


async def instant_query(http: httpx.AsyncClient, server: str, query: str) -> list[float]:
    """Run PromQL; one value per returned series. Raises ApiError when Prometheus fails."""
    data = await prometheus_data(http, server, "/api/v1/query", {"query": query})
    kind, result = data.get("resultType"), data.get("result") or []
    if kind == "scalar":
        return [float(result[1])]
    if kind == "vector":
        return [float(r["value"][1]) for r in result]
    raise errors.BadRequest(f"query {query!r} returned {kind}, not a vector")


GetObject = Callable[[str, str, str], Awaitable[Obj]]


class ExternalMetricsApi:
    def __init__(
        self,
        *,
        prometheus_url: str | None,
        rules: list[Rule],
        get_object: GetObject,
        clock: Callable[[], float],
        timeout_s: float = 5.0,
    ) -> None:
        self.prometheus_url = prometheus_url
        self.rules = {exposed_name(r): r for r in rules}
        self.get_object = get_object
        self.clock = clock
        self._http = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    def resource_list(self) -> Obj:
        names = sorted({*self.rules, KSERVE_METRIC})
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": GROUP_VERSION,
            "resources": [
                {
                    "name": n,
                    "singularName": "",
                    "namespaced": True,
                    "kind": "ExternalMetricValueList",
                    "verbs": ["get"],
                }
                for n in names
            ],
        }

    async def get(self, path: str, query: Mapping[str, str]) -> Obj:
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            return self.resource_list()
        if len(parts) != 3 or parts[0] != "namespaces":
            raise errors.NotFound(f"the server could not find the requested resource ({path})")
        _, namespace, metric = parts
        selector = query.get("labelSelector") or ""
        try:
            sel = parse_labels(selector)
        except ValueError as exc:
            raise errors.BadRequest(f"invalid labelSelector: {exc}") from exc
        if metric == KSERVE_METRIC:
            server, promql = await self._kserve_query(namespace, sel)
        elif metric in self.rules:
            if not self.prometheus_url:
                raise errors.NotFound("no Prometheus is configured (tidal up --prometheus URL)")
            server, promql = self.prometheus_url, render(self.rules[metric], selector, namespace)
        else:
            raise errors.NotFound(f"the server could not find the metric {metric}")
        values = await instant_query(self._http, server, promql)
        ts = rfc3339(self.clock())
        return {
            "kind": "ExternalMetricValueList",
            "apiVersion": GROUP_VERSION,
            "metadata": {},
            "items": [
                {"metricName": metric, "metricLabels": {}, "timestamp": ts, "value": quantity(v)}
                for v in values
            ],
        }

    async def _kserve_query(self, namespace: str, sel: Any) -> tuple[str, str]:
        wanted = {r.key: r.values[0] for r in sel.requirements if r.op in ("=", "in")}
        isvc_name = wanted.get(ISVC_LABEL)
        if not isvc_name:
            raise errors.NotFound(f"{KSERVE_METRIC} needs the label {ISVC_LABEL} in its selector")
        isvc = await self.get_object("InferenceService", namespace, isvc_name)
        metrics = ((isvc.get("spec") or {}).get("predictor") or {}).get("autoScaling", {})
        entries = (metrics or {}).get("metrics") or []
        raw_index = wanted.get(INDEX_LABEL, "0")
        if not raw_index.isdigit():
            raise errors.BadRequest(f"{INDEX_LABEL} must be a metric index, not {raw_index!r}")
        index = int(raw_index)
        if index >= len(entries):
            raise errors.NotFound(f"InferenceService {isvc_name} has no autoScaling metric {index}")
        ext = ((entries[index].get("external") or {}).get("metric")) or {}
        server = ext.get("serverAddress") or self.prometheus_url
        promql = ext.get("query")
        if not server or not promql:
            raise errors.NotFound(
                f"InferenceService {isvc_name} metric {index} has no query/serverAddress"
            )
        return server, promql

    async def aclose(self) -> None:
        await self._http.aclose()
