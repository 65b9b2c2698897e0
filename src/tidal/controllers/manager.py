"""Which controllers run, by name: one table for the plane (`tidal up --controllers`) and for
`tidal controllers` against any Kubernetes API (kube-controller-manager's `--controllers`).

Each entry builds a reconciler from the client and the few settings controllers need; the
manager runs each on its own `Loop` (informers, work queue, resync). Nothing here decides."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tidal.api.client import ApiClient
from tidal.autoscaling import profiles
from tidal.controllers.cronhpa import CronHPAController
from tidal.controllers.deployment import DeploymentController
from tidal.controllers.endpoints import EndpointsController
from tidal.controllers.hpa import HPAController
from tidal.controllers.inferenceservice import InferenceServiceController
from tidal.controllers.kpa import KpaController
from tidal.controllers.loop import Loop, Reconciler
from tidal.controllers.predictive import PredictiveController
from tidal.controllers.replicaset import ReplicaSetController

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the controllers are built with (the plane's config, or `tidal controllers`' flags)."""

    domain: str = "example.com"
    hpa_profile: str | None = None
    router_stats: Any = None  # the local plane's router statistics (the KPA reads them)
    resync_s: float = 10.0


def _kpa(client: ApiClient, s: Settings) -> Reconciler:
    if s.router_stats is None:
        raise ValueError("kpa: needs the local plane's router (its request statistics)")
    return KpaController(client, s.router_stats)


Factory = Callable[[ApiClient, Settings], Reconciler]

# The plane's controllers, in the order they start (the HPA after the objects it scales exist).
CONTROLLERS: dict[str, Factory] = {
    "inferenceservice": lambda c, s: InferenceServiceController(c, domain=s.domain),
    "deployment": lambda c, s: DeploymentController(c),
    "replicaset": lambda c, s: ReplicaSetController(c),
    "endpoints": lambda c, s: EndpointsController(c),
    "cronhpa": lambda c, s: CronHPAController(c),
    "predictive": lambda c, s: PredictiveController(c, profile=profiles.get(s.hpa_profile)),
    "kpa": _kpa,
    "hpa": lambda c, s: HPAController(c, profile=s.hpa_profile),
}

# What tidal adds to a real cluster, whose own controllers (kube-controller-manager, KServe,
# Knative) already do the rest; the default of `tidal controllers`.
CLUSTER_CONTROLLERS = ("cronhpa", "predictive")


def _rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, list[str]]:
    return {"apiGroups": [group], "resources": resources, "verbs": verbs}


_EVENTS = _rule("", ["events"], ["create", "get", "patch"])
_CRON = "autoscaling.alibabacloud.com"
_PREDICTIVE = "autoscaling.tidal.dev"

# The least a cluster must grant each controller meant for one (`tidal manifests controllers`
# builds the ClusterRole from these): exactly the reads and writes its reconcile makes.
PERMISSIONS: dict[str, list[dict[str, list[str]]]] = {
    "cronhpa": [
        _rule(_CRON, ["cronhorizontalpodautoscalers"], ["get", "list", "watch", "update"]),
        _rule(_CRON, ["cronhorizontalpodautoscalers/status"], ["get", "update"]),
        _rule("autoscaling", ["horizontalpodautoscalers"], ["get", "list", "patch"]),
        # any scale target: its scale subresource, else the object itself
        _rule("apps", ["deployments/scale", "statefulsets/scale"], ["get", "patch", "update"]),
        _rule("apps", ["deployments", "statefulsets"], ["get", "patch"]),
        _EVENTS,
    ],
    "predictive": [
        _rule(_PREDICTIVE, ["predictivehorizontalpodautoscalers"], ["get", "list", "watch"]),
        _rule(_PREDICTIVE, ["predictivehorizontalpodautoscalers/status"], ["get", "update"]),
        _rule("autoscaling", ["horizontalpodautoscalers"], ["get", "list", "patch"]),
        _rule("apps", ["controllerrevisions"], ["get", "create", "update"]),  # its history
        _EVENTS,
    ],
}


def election_permissions() -> list[dict[str, list[str]]]:
    """What leader election needs, in the Lease's namespace only."""
    return [_rule("coordination.k8s.io", ["leases"], ["get", "create", "update"]), _EVENTS]


def parse_names(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """`all`, `none`, or a comma list of names from `allowed` (ValueError naming a stranger)."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words in (["all"], ["*"]):
        return tuple(allowed)
    if words == ["none"]:
        return ()
    if not words:
        raise ValueError("no controllers named (use a comma list, all or none)")
    unknown = [w for w in words if w not in allowed]
    if unknown:
        raise ValueError(
            f"unknown controller {unknown[0]!r}: choose from {', '.join(allowed)}, all or none"
        )
    return tuple(n for n in allowed if n in words)


class Manager:
    """Runs the named controllers on one client until stopped."""

    def __init__(self, client: ApiClient, names: Sequence[str], settings: Settings) -> None:
        self.client = client
        self.names = tuple(names)
        self.settings = settings
        self.loops: list[Loop] = []
        self.reconcilers: dict[str, Reconciler] = {}

    async def start(self) -> None:
        for name in self.names:
            reconciler = CONTROLLERS[name](self.client, self.settings)
            self.reconcilers[name] = reconciler
            resync = self.settings.resync_s
            if isinstance(reconciler, HPAController):  # its sync period is the profile's
                resync = reconciler.profile.sync_period_s
            loop = Loop(self.client, reconciler, resync_s=resync)
            self.loops.append(loop)
            await loop.start()
            log.info("controller %s started", name)

    async def stop(self) -> None:
        for loop in reversed(self.loops):
            await loop.stop()
        self.loops.clear()
