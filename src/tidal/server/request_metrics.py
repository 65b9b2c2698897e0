"""The API server's own `/metrics`, in Prometheus' text format, with kube-apiserver's names:
`apiserver_request_total` (a counter per verb, group, version, resource, subresource, scope and
code) and `apiserver_request_duration_seconds` (a histogram, kube-apiserver's buckets; WATCH is
left out, as its duration is the watch's). `attributes` names a request as kube-apiserver's
RequestInfo does (pure); `RequestMetrics` counts."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tidal.api.resources import RESOURCES

BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
           6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)  # fmt: skip
_CLUSTER = {(r.group, r.plural) for r in RESOURCES if not r.namespaced}
# label values come from this closed set only, so that made-up paths cannot grow the series
_KNOWN = {r.plural for r in RESOURCES} | {
    "selfsubjectreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews",
}  # fmt: skip
_GROUPS = {r.group for r in RESOURCES} | {
    "authentication.k8s.io", "authorization.k8s.io", "metrics.k8s.io",
    "custom.metrics.k8s.io", "external.metrics.k8s.io",
}  # fmt: skip
_SUBS = {"status", "scale", "log", "exec", "attach", "portforward", "eviction", "binding"}


@dataclass(frozen=True, slots=True)
class Attributes:
    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    scope: str = ""
    dry_run: str = ""

    def labels(self) -> str:
        pairs = (
            ("component", "apiserver"),
            ("dry_run", self.dry_run),
            ("group", self.group),
            ("resource", self.resource),
            ("scope", self.scope),
            ("subresource", self.subresource),
            ("verb", self.verb),
            ("version", self.version),
        )
        return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def attributes(method: str, path: str, params: dict[str, str]) -> Attributes:
    """kube-apiserver's verb and resource of a request. PURE."""
    parts = [p for p in path.split("/") if p]
    dry = "All" if params.get("dryRun") == "All" else ""
    if not parts or parts[0] not in ("api", "apis"):
        return Attributes(verb=method.upper(), dry_run=dry)
    if parts[0] == "api":
        group, rest = "", parts[1:]
    else:
        group, rest = (parts[1] if len(parts) > 1 else ""), parts[2:]
    version, rest = (rest[0] if rest else ""), rest[1:]
    if group not in _GROUPS or len(version) > 8:
        group, version, rest = "", "", []
    if not rest:
        return Attributes(verb=method.upper(), group=group, version=version, dry_run=dry)
    namespaced = rest[0] == "namespaces" and len(rest) >= 3
    if namespaced:
        rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if resource not in _KNOWN:
        resource = sub = ""
    elif sub not in _SUBS:
        sub = ""
    if namespaced:
        scope = "namespace"
    elif (group, resource) in _CLUSTER or resource == "namespaces":
        scope = "resource" if name else "cluster"
    else:
        scope = "cluster"
    if scope == "namespace" and name:
        scope = "resource"
    if method == "GET":
        if name:
            verb = "GET"
        else:
            watch = params.get("watch") in ("true", "1")
            verb = "WATCH" if watch else "LIST"
    elif method == "DELETE" and not name:
        verb = "DELETECOLLECTION"
    elif method == "POST" and sub:
        verb = "CREATE" if sub not in ("exec", "attach", "portforward") else "CONNECT"
    else:
        verb = {"POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE"}.get(
            method, method
        )
    if sub == "log":
        verb = "CONNECT"
    return Attributes(verb, group, version, resource, sub, scope, dry)


class RequestMetrics:
    """Counts and durations of the requests the API server answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total: dict[tuple[str, str], int] = {}
        self._hist: dict[str, list[float]] = {}  # labels -> bucket counts + [sum, count]

    def observe(
        self, method: str, path: str, params: dict[str, str], code: int, seconds: float
    ) -> None:
        attrs = attributes(method, path, params)
        labels = attrs.labels()
        with self._lock:
            key = (labels, str(code))
            self._total[key] = self._total.get(key, 0) + 1
            if attrs.verb in ("WATCH", "CONNECT"):
                return
            hist = self._hist.setdefault(labels, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    hist[i] += 1
            hist[-2] += seconds
            hist[-1] += 1

    def exposition(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        out = [
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out "
            "for each verb, dry run value, group, version, resource, scope, component, and HTTP "
            "response code.",
            "# TYPE apiserver_request_total counter",
        ]
        with self._lock:
            total = sorted(self._total.items())
            hists = sorted((k, list(v)) for k, v in self._hist.items())
        for (labels, code), n in total:
            out.append(f'apiserver_request_total{{code="{code}",{labels}}} {n}')
        out += [
            "# HELP apiserver_request_duration_seconds [STABLE] Response latency distribution "
            "in seconds for each verb, dry run value, group, version, resource, subresource, "
            "scope and component.",
            "# TYPE apiserver_request_duration_seconds histogram",
        ]
        for labels, hist in hists:
            for i, bound in enumerate(BUCKETS):
                out.append(
                    f'apiserver_request_duration_seconds_bucket{{{labels},le="{bound:g}"}} '
                    f"{int(hist[i])}"
                )
            out.append(
                f'apiserver_request_duration_seconds_bucket{{{labels},le="+Inf"}} {int(hist[-1])}'
            )
            out.append(f"apiserver_request_duration_seconds_sum{{{labels}}} {hist[-2]:.6f}")
            out.append(f"apiserver_request_duration_seconds_count{{{labels}}} {int(hist[-1])}")
        return "\n".join(out) + "\n"
