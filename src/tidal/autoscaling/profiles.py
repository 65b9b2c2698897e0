"""Autoscaling profiles: how often the HPA controller syncs and how fresh and how smoothed its
resource metrics are. `kubernetes` reproduces a cluster's defaults (kube-controller-manager
flags, metrics-server as upstream deploys it); `fast` is the same algorithm reacting in seconds.
Data only: the plane, the metrics pipeline, the HPA controller and the simulator read it.

Select per HPA with the annotation `autoscaling.tidal.dev/profile: fast|kubernetes`
(`tidal.api.wellknown.PROFILE_ANNOTATION`); the plane's default comes from
`tidal up --hpa-profile` (docs/HPA.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tidal.api import gotime
from tidal.autoscaling.hpa.model import Settings


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    sync_period_s: float  # --horizontal-pod-autoscaler-sync-period
    metric_resolution_s: (
        float  # how often pod CPU/memory is sampled (metrics-server --metric-resolution)
    )
    metric_window_s: float  # the window a CPU rate is computed over (PodMetrics.window)
    settings: Settings  # the decision's flags (tolerance, windows, CPU initialization)
    description: str = ""


KUBERNETES = Profile(
    name="kubernetes",
    sync_period_s=15.0,
    metric_resolution_s=15.0,
    metric_window_s=15.0,
    settings=Settings(),
    description="kube-controller-manager and metrics-server defaults: 15 s sync, 15 s samples",
)

FAST = Profile(
    name="fast",
    sync_period_s=1.0,
    metric_resolution_s=1.0,
    metric_window_s=2.0,
    settings=Settings(),
    description="same algorithm and windows, 1 s sync on 1 s samples over a 2 s window",
)

PROFILES: dict[str, Profile] = {p.name: p for p in (KUBERNETES, FAST)}
DEFAULT_PROFILE = "fast"


def get(name: str | None) -> Profile:
    """The named profile; ValueError naming the choices for an unknown name."""
    if name is None:
        return PROFILES[DEFAULT_PROFILE]
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown autoscaling profile {name!r} (choose from: {', '.join(PROFILES)})"
        ) from None


def with_settings(profile: Profile, **changes: float | bool) -> Profile:
    """A copy with some decision flags changed (`downscale_stabilization_s=30` for a demo)."""
    return replace(profile, settings=replace(profile.settings, **changes))  # type: ignore[arg-type]


def parse_duration(text: str | float | int) -> float:
    """Seconds from `15`, `1.5` or a Go duration (`15s`, `500ms`, `1m30s`); ValueError unless
    positive."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError(f"duration must be positive: {text}")
        return float(text)
    s = str(text).strip()
    try:
        value = float(s)
    except ValueError:
        try:
            value = gotime.parse_duration(s) / gotime.SECOND
        except gotime.DurationError:
            raise ValueError(f"invalid duration {text!r} (use seconds or 1m30s, 500ms)") from None
    if value <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return value
