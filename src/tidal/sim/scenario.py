"""The scenario file of `tidal simulate` (YAML; docs/SIMULATOR.md): virtual duration and tick,
the profile, the start instant, Deployments with their pod template and load (usage, Pods
metrics, requests), Object metric values, the KPA's cluster settings, and the objects (HPAs,
CronHPAs, PodAutoscalers, KPA InferenceServices) applied at the start. Bad input raises
`ScenarioError` naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tidal.api.quantity import milli, parse
from tidal.autoscaling import profiles
from tidal.autoscaling.kpa.config import Config, ConfigError, config_from_map
from tidal.sim.clock import EPOCH
from tidal.sim.load import Expr, LoadError, Trace
from tidal.sim.report import Slo
from tidal.sim.serve import ServiceModel
from tidal.sim.traces import Arrival, TraceError, arrivals, read_rows


class ScenarioError(ValueError):
    """The scenario cannot be run; the message names the field."""


_SETTINGS = {
    "tolerance": "tolerance",
    "cpuInitializationPeriodSeconds": "cpu_initialization_period_s",
    "initialReadinessDelaySeconds": "initial_readiness_delay_s",
    "downscaleStabilizationSeconds": "downscale_stabilization_s",
    "scaleUpLimitFactor": "scale_up_limit_factor",
    "scaleUpLimitMinimum": "scale_up_limit_minimum",
    "scaleToZero": "scale_to_zero",
}


@dataclass(slots=True)
class Load:
    cpu: Expr | None = None  # cores per ready pod
    memory: Expr | None = None  # bytes per ready pod
    metrics: dict[str, Expr] = field(default_factory=dict)  # Pods-metric value per pod
    rps: Expr | None = None  # requests/s arriving at the Deployment's Service (total)
    concurrency: Expr | None = None  # requests in flight while served (total)
    from_trace: bool = False  # `requests: trace`: the scenario's request-level trace arrives

    @property
    def has_requests(self) -> bool:
        return self.rps is not None or self.concurrency is not None or self.from_trace


@dataclass(slots=True)
class DeploymentSpec:
    name: str
    namespace: str = "default"
    replicas: int = 1
    cpu_request_m: int = 100
    memory_request: str = "128Mi"
    startup_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    load: Load = field(default_factory=Load)
    request_s: float = 0.1  # a request's service time: concurrency = rps × this when not given
    hold_timeout_s: float | None = None  # held longer than this: the router's 503
    max_concurrency: int | None = None  # set: pods have a capacity, requests queue (sim.serve)
    service: ServiceModel | None = None  # the service time with a capacity (requestSeconds else)

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": dict(self.labels),
            },
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": dict(self.labels)},
                "template": {"metadata": {"labels": dict(self.labels)}},
            },
        }


@dataclass(slots=True)
class ObjectMetrics:
    """Object metric values over time for one described object (custom.metrics.k8s.io)."""

    kind: str
    name: str
    namespace: str
    plural: str
    metrics: dict[str, Expr]


@dataclass(slots=True)
class Scenario:
    name: str
    duration_s: float
    tick_s: float
    profile: profiles.Profile
    deployments: list[DeploymentSpec]
    objects: list[dict[str, Any]]
    trace: Trace | None = None
    start_s: float = EPOCH  # the instant of t=0 (Unix seconds)
    kpa_config: Config = field(default_factory=Config)
    object_metrics: list[ObjectMetrics] = field(default_factory=list)
    requests: list[Arrival] | None = None  # the request-level trace, on the run's clock
    slo: Slo | None = None
    node_concurrency: float | None = None  # pods share one machine (sim.serve)

    @property
    def ticks(self) -> int:
        return int(math.floor(self.duration_s / self.tick_s + 1e-9))


def _seconds(value: Any, where: str) -> float:
    try:
        return profiles.parse_duration(value)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _expr(value: Any, where: str) -> Expr:
    try:
        return Expr(value, where)
    except LoadError as exc:
        raise ScenarioError(str(exc)) from None


def _deployment(d: Any, i: int) -> DeploymentSpec:
    where = f"deployments[{i}]"
    if not isinstance(d, Mapping) or not d.get("name"):
        raise ScenarioError(f"{where}.name: required")
    name = str(d["name"])
    try:
        cpu_m = milli(str(d.get("cpuRequest", "100m")))
        memory = str(d.get("memoryRequest", "128Mi"))
        parse(memory)
    except ValueError as exc:
        raise ScenarioError(f"{where}: cpuRequest/memoryRequest: {exc}") from None
    load = d.get("load") or {}
    if not isinstance(load, Mapping):
        raise ScenarioError(f"{where}.load: must be a map with cpu, memory, metrics")
    known = ("cpu", "memory", "metrics", "rps", "concurrency", "requests")
    unknown = set(load) - set(known)
    if unknown:
        raise ScenarioError(f"{where}.load: unknown keys {sorted(unknown)} ({', '.join(known)})")
    if not isinstance(load.get("metrics") or {}, Mapping):
        raise ScenarioError(f"{where}.load.metrics: must be a map of metric name to expression")
    if load.get("requests") not in (None, "trace"):
        raise ScenarioError(f"{where}.load.requests: must be `trace` (the scenario's requests)")
    hold = d.get("holdTimeoutSeconds")
    max_conc = d.get("maxConcurrency")
    if max_conc is not None and (
        isinstance(max_conc, bool) or not isinstance(max_conc, int) or max_conc < 1
    ):
        raise ScenarioError(f"{where}.maxConcurrency: must be an integer >= 1")
    if load.get("requests") == "trace" and max_conc is None:
        raise ScenarioError(
            f"{where}.maxConcurrency: required with load.requests (a pod's capacity)"
        )
    service = _service(d.get("service"), f"{where}.service") if d.get("service") else None
    if service is not None and max_conc is not None:
        try:
            service.decode_rates(max_conc)  # > 0 for every batch size the pod can run
        except LoadError as exc:
            raise ScenarioError(str(exc)) from None
    if service is not None and max_conc is None:
        raise ScenarioError(f"{where}.maxConcurrency: required with service (a pod's capacity)")
    if max_conc is not None and load.get("concurrency") is not None:
        raise ScenarioError(
            f"{where}.load.concurrency: not with maxConcurrency (in flight is then measured)"
        )
    replicas = d.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        raise ScenarioError(f"{where}.replicas: must be an integer >= 0")
    return DeploymentSpec(
        name=name,
        namespace=str(d.get("namespace", "default")),
        replicas=replicas,
        cpu_request_m=cpu_m,
        memory_request=memory,
        startup_s=_seconds(d["startupSeconds"], f"{where}.startupSeconds")
        if d.get("startupSeconds")
        else 0.0,
        labels={str(k): str(v) for k, v in (d.get("labels") or {"app": name}).items()},
        load=Load(
            cpu=_expr(load["cpu"], f"{where}.load.cpu") if load.get("cpu") is not None else None,
            memory=_expr(load["memory"], f"{where}.load.memory")
            if load.get("memory") is not None
            else None,
            metrics={
                str(k): _expr(v, f"{where}.load.metrics.{k}")
                for k, v in (load.get("metrics") or {}).items()
            },
            rps=_expr(load["rps"], f"{where}.load.rps") if load.get("rps") is not None else None,
            concurrency=_expr(load["concurrency"], f"{where}.load.concurrency")
            if load.get("concurrency") is not None
            else None,
            from_trace=load.get("requests") == "trace",
        ),
        request_s=_seconds(d.get("requestSeconds", 0.1), f"{where}.requestSeconds"),
        hold_timeout_s=None if hold is None else _seconds(hold, f"{where}.holdTimeoutSeconds"),
        max_concurrency=max_conc,
        service=service,
    )


def _number(value: Any, where: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value <= minimum):
        raise ScenarioError(f"{where}: must be a number {'>' if strict else '>='} {minimum:g}")
    return float(value)


def _service(raw: Any, where: str) -> ServiceModel:
    """`service: {seconds: EXPR}` or the LLM's `{prefillTokensPerSecond, decodeTokensPerSecond,
    promptTokens, outputTokens}`."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: must be a map (seconds, or prefillTokensPerSecond ...)")
    known = (
        "seconds",
        "prefillTokensPerSecond",
        "decodeTokensPerSecond",
        "promptTokens",
        "outputTokens",
    )
    unknown = set(raw) - set(known)
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)} ({', '.join(known)})")
    if "seconds" in raw:
        if set(raw) != {"seconds"}:
            raise ScenarioError(f"{where}: seconds excludes the LLM keys (give one or the other)")
        return ServiceModel(seconds=_expr(raw["seconds"], f"{where}.seconds"))
    if "decodeTokensPerSecond" not in raw:
        raise ScenarioError(f"{where}.decodeTokensPerSecond: required (or give seconds)")
    model = ServiceModel(
        prefill_rate=_number(
            raw.get("prefillTokensPerSecond", 0), f"{where}.prefillTokensPerSecond"
        ),
        decode_rate=_expr(raw["decodeTokensPerSecond"], f"{where}.decodeTokensPerSecond"),
        prompt_column=str(raw.get("promptTokens", "ContextTokens")),
        output_column=str(raw.get("outputTokens", "GeneratedTokens")),
    )
    try:
        model.decode_rates(1)
    except LoadError as exc:
        raise ScenarioError(str(exc)) from None
    return model


def _slo(raw: Any) -> Slo:
    if not isinstance(raw, Mapping) or "latency" not in raw:
        raise ScenarioError("slo.latency: required (e.g. slo: {latency: 2s, percentile: 99})")
    unknown = set(raw) - {"latency", "percentile", "metric"}
    if unknown:
        raise ScenarioError(f"slo: unknown keys {sorted(unknown)} (latency, percentile, metric)")
    metric = raw.get("metric", "latency")
    if metric not in ("latency", "ttft"):
        raise ScenarioError("slo.metric: must be latency (to the last byte) or ttft (first token)")
    latency = _seconds(raw["latency"], "slo.latency")
    if latency <= 0:
        raise ScenarioError("slo.latency: must be > 0")
    pct = _number(raw.get("percentile", 99), "slo.percentile", minimum=0, strict=True)
    if pct > 100:
        raise ScenarioError("slo.percentile: must be in (0, 100]")
    return Slo(latency, pct, str(metric))


def _requests(raw: Any, base: Path, duration_s: float) -> list[Arrival]:
    """`requests: {file, timestamp, speed, scale, seed, offset}`: a request-level trace."""
    if isinstance(raw, str):
        raw = {"file": raw}
    if not isinstance(raw, Mapping) or not raw.get("file"):
        raise ScenarioError("requests.file: required (a CSV with one row per request)")
    known = ("file", "timestamp", "speed", "scale", "seed", "offset")
    unknown = set(raw) - set(known)
    if unknown:
        raise ScenarioError(f"requests: unknown keys {sorted(unknown)} ({', '.join(known)})")
    speed = _number(raw.get("speed", 1), "requests.speed", strict=True)
    scale = _number(raw.get("scale", 1), "requests.scale")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("requests.seed: must be an integer")
    offset = _seconds(raw["offset"], "requests.offset") if raw.get("offset") else 0.0
    try:
        rows = read_rows(base / str(raw["file"]), raw.get("timestamp"))
        return arrivals(
            rows, speed=speed, scale=scale, offset_s=offset, seed=seed, duration_s=duration_s
        )
    except TraceError as exc:
        raise ScenarioError(str(exc)) from None


def _object_metrics(raw: Any) -> list[ObjectMetrics]:
    from tidal.api.resources import by_kind

    if not isinstance(raw, list):
        raise ScenarioError("objectMetrics: must be a list of {kind, name, metrics}")
    out = []
    for i, o in enumerate(raw):
        where = f"objectMetrics[{i}]"
        if not isinstance(o, Mapping):
            raise ScenarioError(f"{where}: must be a map with kind, name, metrics")
        for key in ("kind", "name"):
            if not o.get(key):
                raise ScenarioError(f"{where}.{key}: required")
        metrics = o.get("metrics")
        if not isinstance(metrics, Mapping) or not metrics:
            raise ScenarioError(f"{where}.metrics: a map of metric name to expression is required")
        kind = str(o["kind"])
        try:
            plural = by_kind(kind).plural
        except KeyError:
            plural = kind.lower() + "s"  # as the HPA controller names an unknown kind
        out.append(
            ObjectMetrics(
                kind=kind,
                name=str(o["name"]),
                namespace=str(o.get("namespace") or "default"),
                plural=plural,
                metrics={str(k): _expr(v, f"{where}.metrics.{k}") for k, v in metrics.items()},
            )
        )
    return out


def _kpa_config(raw: Any) -> Config:
    if raw is None:
        return Config()
    if not isinstance(raw, Mapping):
        raise ScenarioError("kpa: must be a map of config-autoscaler keys")
    try:
        return config_from_map(
            {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()}
        )
    except ConfigError as exc:
        raise ScenarioError(f"kpa: {exc}") from None


def _start(raw: Any) -> float:
    """`start:` as Unix seconds; a time without a zone is UTC (never the machine's zone)."""
    if raw is None:
        return EPOCH
    if isinstance(raw, datetime):
        at = raw
    else:
        try:
            at = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"start: {raw!r} is not an RFC 3339 time (e.g. 2026-01-05T10:00:00Z)"
            ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def load_scenario(path: Path | str) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse_scenario(data, base=path.parent, default_name=path.stem)


def parse_scenario(
    data: Any, *, base: Path = Path("."), default_name: str = "scenario"
) -> Scenario:
    if not isinstance(data, Mapping):
        raise ScenarioError("scenario: must be a YAML map")
    try:
        profile = profiles.get(data.get("profile") or "kubernetes")
    except ValueError as exc:
        raise ScenarioError(f"profile: {exc}") from None
    overrides = data.get("settings") or {}
    if not isinstance(overrides, Mapping):
        raise ScenarioError("settings: must be a map")
    changes: dict[str, Any] = {}
    for k, v in overrides.items():
        if k not in _SETTINGS:
            raise ScenarioError(f"settings.{k}: unknown (known: {', '.join(_SETTINGS)})")
        want_bool = k == "scaleToZero"
        if (
            isinstance(v, bool) != want_bool
            or not isinstance(v, int | float)
            or (not want_bool and v < 0)
        ):
            raise ScenarioError(
                f"settings.{k}: must be {'true or false' if want_bool else 'a number >= 0'}"
            )
        changes[_SETTINGS[k]] = v
    if changes:
        profile = profiles.with_settings(profile, **changes)
    if data.get("syncPeriod") is not None:
        profile = replace(profile, sync_period_s=_seconds(data["syncPeriod"], "syncPeriod"))
    raw_deployments = data.get("deployments") or []
    if not isinstance(raw_deployments, list):
        raise ScenarioError("deployments: must be a list of Deployments")
    deployments = [_deployment(d, i) for i, d in enumerate(raw_deployments)]
    if not deployments:
        raise ScenarioError("deployments: at least one Deployment is required")
    objects = data.get("objects") or []
    if not isinstance(objects, list) or not all(
        isinstance(o, Mapping) and o.get("kind") for o in objects
    ):
        raise ScenarioError("objects: must be a list of manifests, each with a kind")
    trace = None
    if data.get("trace"):
        try:
            trace = Trace.from_csv(base / str(data["trace"]))
        except LoadError as exc:
            raise ScenarioError(str(exc)) from None
    tick = _seconds(data.get("tick", 1), "tick")
    duration = _seconds(data.get("duration", 600), "duration")
    requests = _requests(data["requests"], base, duration) if data.get("requests") else None
    for i, d in enumerate(deployments):
        if d.load.from_trace and requests is None:
            raise ScenarioError(f"deployments[{i}].load.requests: the scenario has no requests")
    node = data.get("node")
    node_conc = None
    if node is not None:
        if not isinstance(node, Mapping) or set(node) != {"concurrency"}:
            raise ScenarioError("node: must be {concurrency: N} (requests one machine serves)")
        node_conc = _number(node["concurrency"], "node.concurrency", strict=True)
    return Scenario(
        name=str(data.get("name") or default_name),
        duration_s=duration,
        tick_s=tick,
        profile=profile,
        deployments=deployments,
        objects=[dict(o) for o in objects],
        trace=trace,
        start_s=_start(data.get("start")),
        kpa_config=_kpa_config(data.get("kpa")),
        object_metrics=_object_metrics(data.get("objectMetrics") or []),
        requests=requests,
        slo=_slo(data["slo"]) if data.get("slo") is not None else None,
        node_concurrency=node_conc,
    )
