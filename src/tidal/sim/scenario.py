"""The scenario file of `tidal simulate` (YAML; docs/SIMULATOR.md): virtual duration and tick,
the profile, Deployments with their pod template and load, and the objects (HPA manifests,
later CronHPA/KPA) applied at the start. Bad input raises `ScenarioError` naming the field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tidal.api.quantity import milli, parse
from tidal.autoscaling import profiles
from tidal.sim.load import Expr, LoadError, Trace


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
class Scenario:
    name: str
    duration_s: float
    tick_s: float
    profile: profiles.Profile
    deployments: list[DeploymentSpec]
    objects: list[dict[str, Any]]
    trace: Trace | None = None

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
    unknown = set(load) - {"cpu", "memory", "metrics"}
    if unknown:
        raise ScenarioError(f"{where}.load: unknown keys {sorted(unknown)} (cpu, memory, metrics)")
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
        ),
    )


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
    return Scenario(
        name=str(data.get("name") or default_name),
        duration_s=duration,
        tick_s=tick,
        profile=profile,
        deployments=deployments,
        objects=[dict(o) for o in objects],
        trace=trace,
    )
