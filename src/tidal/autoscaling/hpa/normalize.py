"""From the metrics' proposal to the replica count written: stabilization windows, the legacy
scale-up cap or the behavior policies, and min/max (`horizontal.go` normalizeDesiredReplicas*).
Each step returns the new count with the condition reason and message it justifies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tidal.autoscaling.hpa.model import MAX_INT32, MIN_INT32, History, ScaleEvent, Settings
from tidal.autoscaling.hpa.replicas import i32

SCALE_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)
SCALE_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
READY_FOR_NEW_SCALE = ("ReadyForNewScale", "recommended size matches current size")
WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
SCALE_UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
SCALE_DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)


@dataclass(frozen=True, slots=True)
class Normalized:
    replicas: int
    stabilized: int
    able: tuple[str, str]  # AbleToScale reason/message
    limited: tuple[str, str]  # ScalingLimited reason/message
    recommendations: tuple[tuple[float, int], ...]


def _store(
    recs: tuple[tuple[float, int], ...], old_index: int | None, now: float, desired: int
) -> tuple[tuple[float, int], ...]:
    """Record the unstabilized recommendation, reusing an expired slot when there is one."""
    if old_index is None:
        return (*recs, (now, desired))
    out = list(recs)
    out[old_index] = (now, desired)
    return tuple(out)


def legacy(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    history: History,
    now: float,
    settings: Settings,
) -> Normalized:
    """No `behavior`: max over the downscale window, then `max(2*current, 4)` and min/max."""
    cutoff = now - settings.downscale_stabilization_s
    stabilized, old = desired, None
    for i, (at, n) in enumerate(history.recommendations):
        if at < cutoff:
            old = i
        elif n > stabilized:
            stabilized = n
    recs = _store(history.recommendations, old, now, desired)
    able = SCALE_DOWN_STABILIZED if stabilized != desired else READY_FOR_NEW_SCALE
    limit = i32(max(settings.scale_up_limit_factor * current, settings.scale_up_limit_minimum))
    cap, capped = (limit, SCALE_UP_LIMIT) if max_replicas > limit else (max_replicas, TOO_MANY)
    if stabilized < min_replicas:
        replicas, limited = min_replicas, TOO_FEW
    elif stabilized > cap:
        replicas, limited = cap, capped
    else:
        replicas, limited = stabilized, WITHIN_RANGE
    return Normalized(replicas, stabilized, able, limited, recs)


def _changes(period_s: float, events: tuple[ScaleEvent, ...], now: float) -> int:
    cutoff = now - period_s
    return sum(e.change for e in events if e.at > cutoff)


def _period_start(current: int, history: History, period_s: float, now: float) -> int:
    """The replica count at the start of a policy's period: `current` less the changes in it."""
    return (
        current
        - _changes(period_s, history.scale_up_events, now)
        + _changes(period_s, history.scale_down_events, now)
    )


def scale_up_limit(current: int, history: History, rules: Mapping[str, Any], now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick, result = (min, MAX_INT32) if select == "Min" else (max, MIN_INT32)
    for p in rules.get("policies") or ():
        start = _period_start(current, history, p["periodSeconds"], now)
        if p["type"] == "Pods":
            proposed = start + int(p["value"])
        else:  # Percent: rounded up, or a small target would never grow
            proposed = i32(math.ceil(start * (1 + p["value"] / 100)))
        result = pick(result, proposed)
    return result


def scale_down_limit(current: int, history: History, rules: Mapping[str, Any], now: float) -> int:
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    pick, result = (max, MIN_INT32) if select == "Min" else (min, MAX_INT32)
    for p in rules.get("policies") or ():
        start = _period_start(current, history, p["periodSeconds"], now)
        if p["type"] == "Pods":
            proposed = start - int(p["value"])
        else:  # Percent: truncated, as int32(float)
            proposed = i32(start * (1 - p["value"] / 100))
        result = pick(result, proposed)
    return result


def with_behavior(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: Mapping[str, Any],
    history: History,
    now: float,
    settings: Settings,
) -> Normalized:
    """`behavior` set (defaults applied): both stabilization windows, then the policies."""
    up_rules = behavior.get("scaleUp") or {}
    down_rules = behavior.get("scaleDown") or {}
    up_window = up_rules.get("stabilizationWindowSeconds") or 0
    down_window = down_rules.get("stabilizationWindowSeconds")
    if down_window is None:
        down_window = settings.downscale_stabilization_s
    up_cutoff, down_cutoff = now - up_window, now - down_window
    up_rec = down_rec = desired
    old = None
    for i, (at, n) in enumerate(history.recommendations):
        if at > up_cutoff:
            up_rec = min(n, up_rec)
        if at > down_cutoff:
            down_rec = max(n, down_rec)
        if at < up_cutoff and at < down_cutoff:
            old = i
    stabilized = current
    if stabilized < up_rec:
        stabilized = up_rec
    if stabilized > down_rec:
        stabilized = down_rec
    recs = _store(history.recommendations, old, now, desired)
    if stabilized != desired:
        able = SCALE_UP_STABILIZED if desired >= current else SCALE_DOWN_STABILIZED
    else:
        able = READY_FOR_NEW_SCALE

    replicas, limited = stabilized, WITHIN_RANGE
    if stabilized > current:
        limit = max(scale_up_limit(current, history, up_rules, now), current)
        cap, capped = (limit, SCALE_UP_LIMIT) if max_replicas > limit else (max_replicas, TOO_MANY)
        if stabilized > cap:
            replicas, limited = cap, capped
    elif stabilized < current:
        limit = min(scale_down_limit(current, history, down_rules, now), current)
        floor, floored = (
            (limit, SCALE_DOWN_LIMIT) if min_replicas < limit else (min_replicas, TOO_FEW)
        )
        if stabilized < floor:
            replicas, limited = floor, floored
    return Normalized(replicas, stabilized, able, limited, recs)


def longest_period(rules: Mapping[str, Any]) -> float:
    return max((p.get("periodSeconds", 0) for p in rules.get("policies") or ()), default=0)


def store_scale_event(
    history: History, behavior: Mapping[str, Any] | None, before: int, after: int, now: float
) -> History:
    """Remember a rescale for the rate policies (behavior only); events older than the longest
    policy period of their direction can never count again and are dropped."""
    if behavior is None:
        return history
    if after > before:
        cutoff = now - longest_period(behavior.get("scaleUp") or {})
        kept = tuple(e for e in history.scale_up_events if not e.at < cutoff)
        return History(
            True,
            history.recommendations,
            (*kept, ScaleEvent(after - before, now)),
            history.scale_down_events,
        )
    cutoff = now - longest_period(behavior.get("scaleDown") or {})
    kept = tuple(e for e in history.scale_down_events if not e.at < cutoff)
    return History(
        True,
        history.recommendations,
        history.scale_up_events,
        (*kept, ScaleEvent(before - after, now)),
    )
