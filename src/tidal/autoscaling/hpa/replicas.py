"""The replica calculator (`replica_calculator.go` + `metrics/utilization.go`), one function per
metric source. Each returns a proposal and the value reported in status, or raises
`CalcError` with Kubernetes' message. Integer arithmetic where Kubernetes uses integers: the
utilization percentage is truncated before the ratio is formed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from tidal.autoscaling.hpa.model import MAX_INT32, MAX_INT64, MIN_INT32, Pod, Sample, Settings

Tolerances = tuple[float, float]  # (scale-down, scale-up)


class CalcError(Exception):
    """A metric could not be turned into a proposal; the message is Kubernetes' text."""


def is_within(ratio: float, tol: Tolerances) -> bool:
    """Inclusive band [1-down, 1+up]: a ratio on the edge means no change."""
    return (1.0 - tol[0]) <= ratio <= (1.0 + tol[1])


def i32(x: float) -> int:
    """`int32(x)` that saturates instead of wrapping (the cases expect MaxInt32)."""
    if math.isnan(x):
        return 0
    if x >= MAX_INT32:
        return MAX_INT32
    if x <= MIN_INT32:
        return MIN_INT32
    return int(x)


def i64(x: float) -> int:
    if math.isnan(x):
        return 0
    return min(int(x), MAX_INT64) if x < 2.0**63 else MAX_INT64


def ceil32(x: float) -> int:
    return i32(math.ceil(x)) if math.isfinite(x) else (MAX_INT32 if x > 0 else 0)


def div(a: float, b: float) -> float:
    """Go float division: x/0 is ±Inf, 0/0 is NaN."""
    if b == 0:
        if a == 0:
            return math.nan
        return math.inf if a > 0 else -math.inf
    return a / b


def _idiv(a: int, b: int) -> int:
    """Go integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def sat_sum(values: Iterable[int]) -> int:
    total = 0
    for v in values:
        total = min(total + v, MAX_INT64)
    return total


def group_pods(
    pods: Iterable[Pod],
    samples: Mapping[str, Sample],
    resource: str,
    now: float,
    settings: Settings,
) -> tuple[int, set[str], set[str], set[str]]:
    """(ready count, unready, missing, ignored) as `groupPods`: deleted/terminal pods are ignored,
    Pending is unready, no sample is missing; only CPU looks at readiness and start time."""
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase in ("Failed", "Succeeded"):
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        sample = samples.get(pod.name)
        if sample is None:
            missing.add(pod.name)
            continue
        if resource == "cpu":
            if pod.ready is None or pod.start_time is None:
                is_unready = True
            else:
                transition = pod.ready_transition_time
                if transition is None:
                    transition = pod.start_time
                if pod.start_time + settings.cpu_initialization_period_s > now:
                    # still initializing: skip unless ready for a whole metric window
                    is_unready = (not pod.ready) or sample.timestamp < transition + sample.window_s
                else:
                    # skip only pods that have never been ready
                    is_unready = (not pod.ready) and (
                        pod.start_time + settings.initial_readiness_delay_s > transition
                    )
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return ready, unready, missing, ignored


def pod_requests(pods: Iterable[Pod], container: str, resource: str) -> dict[str, int]:
    """Sum of the containers' requests per pod (only `container` when named)."""
    out: dict[str, int] = {}
    for pod in pods:
        total = 0
        for cname, requests in pod.requests.items():
            if container and cname != container:
                continue
            if resource not in requests:
                raise CalcError(
                    f"missing request for {resource} in container {cname} of Pod {pod.name}"
                )
            total += requests[resource]
        out[pod.name] = total
    return out


def utilization_ratio(
    values: Mapping[str, int], requests: Mapping[str, int], target: int
) -> tuple[float, int, int]:
    """(ratio, utilization %, average raw value) over pods with both a value and a request."""
    metrics_total = requests_total = entries = 0
    for name, value in values.items():
        if name not in requests:
            continue  # metrics of pods we do not know
        metrics_total += value
        requests_total += requests[name]
        entries += 1
    if requests_total == 0:
        raise CalcError("no metrics returned matched known pods")
    utilization = i32(_idiv(metrics_total * 100, requests_total))
    return div(utilization, target), utilization, _idiv(metrics_total, entries)


def usage_ratio(values: Mapping[str, int], target: int) -> tuple[float, int]:
    usage = _idiv(sat_sum(values.values()), len(values))
    return div(usage, target), usage


def _prepare(
    samples: Mapping[str, Sample],
    pods: tuple[Pod, ...],
    resource: str,
    now: float,
    settings: Settings,
) -> tuple[dict[str, int], int, set[str], set[str]]:
    if not pods:
        raise CalcError("no pods returned by selector while calculating replica count")
    ready, unready, missing, ignored = group_pods(pods, samples, resource, now, settings)
    values = {n: s.value for n, s in samples.items() if n not in ignored and n not in unready}
    if not values:
        raise CalcError("did not receive metrics for targeted pods (pods might be unready)")
    return values, ready, unready, missing


def _settle(current: int, ratio: float, new_ratio: float, count: int, tol: Tolerances) -> int:
    """After filling in missing/unready pods: no change inside the band, never reverse the
    direction, never move the wrong way."""
    if is_within(new_ratio, tol) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposal = ceil32(new_ratio * count)
    if (new_ratio < 1.0 and proposal > current) or (new_ratio > 1.0 and proposal < current):
        return current
    return proposal


def resource_replicas(
    current: int,
    target_utilization: int,
    resource: str,
    tol: Tolerances,
    pods: tuple[Pod, ...],
    samples: Mapping[str, Sample],
    container: str,
    now: float,
    settings: Settings,
) -> tuple[int, int, int]:
    """`GetResourceReplicas`: (replicas, utilization %, raw average milli). The reported values
    are those of the ready pods, before missing/unready pods are filled in."""
    values, ready, unready, missing = _prepare(samples, pods, resource, now, settings)
    requests = pod_requests(pods, container, resource)
    ratio, utilization, raw = utilization_ratio(values, requests, target_utilization)
    up_with_unready = bool(unready) and ratio > 1.0
    if not up_with_unready and not missing:
        if is_within(ratio, tol):
            return current, utilization, raw
        return ceil32(ratio * ready), utilization, raw
    if missing:
        if ratio < 1.0:  # scale-down: missing pods use 100 % (or the target if higher)
            fallback = max(100, target_utilization)
            for name in missing:
                values[name] = _idiv(requests[name] * fallback, 100)
        elif ratio > 1.0:  # scale-up: missing pods use nothing
            for name in missing:
                values[name] = 0
    if up_with_unready:
        for name in unready:
            values[name] = 0
    new_ratio, _, _ = utilization_ratio(values, requests, target_utilization)
    return _settle(current, ratio, new_ratio, len(values), tol), utilization, raw


def plain_replicas(
    current: int,
    target: int,
    resource: str,
    tol: Tolerances,
    pods: tuple[Pod, ...],
    samples: Mapping[str, Sample],
    now: float,
    settings: Settings,
) -> tuple[int, int]:
    """`calcPlainMetricReplicas` (Pods metrics and Resource AverageValue): (replicas, average)."""
    values, ready, unready, missing = _prepare(samples, pods, resource, now, settings)
    ratio, usage = usage_ratio(values, target)
    up_with_unready = bool(unready) and ratio > 1.0
    if not up_with_unready and not missing:
        if is_within(ratio, tol):
            return current, usage
        return ceil32(ratio * ready), usage
    if missing:
        fill = target if ratio < 1.0 else 0  # scale-down: exactly the target; scale-up: 0
        for name in missing:
            values[name] = fill
    if up_with_unready:
        for name in unready:
            values[name] = 0
    new_ratio, _ = usage_ratio(values, target)
    return _settle(current, ratio, new_ratio, len(values), tol), usage


def ready_pods_count(pods: tuple[Pod, ...]) -> int:
    """Running and Ready pods (Object/External Value; deletion is not checked, as upstream)."""
    if not pods:
        raise CalcError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def usage_ratio_replicas(current: int, ratio: float, tol: Tolerances, pods: tuple[Pod, ...]) -> int:
    """`getUsageRatioReplicaCount`: from zero no tolerance applies (scale-from-zero)."""
    if current != 0:
        if is_within(ratio, tol):
            return current
        try:
            ready = ready_pods_count(pods)
        except CalcError as exc:
            raise CalcError(f"unable to calculate ready pods: {exc}") from None
        return ceil32(ratio * ready)
    return ceil32(ratio)


def per_pod_replicas(
    status_replicas: int, target_average: int, usage: int, tol: Tolerances
) -> tuple[int, int]:
    """Object/External AverageValue: (replicas, per-pod usage); uses scale.status.replicas."""
    replicas = status_replicas
    ratio = div(float(usage), float(target_average) * float(status_replicas))
    if not is_within(ratio, tol):
        replicas = ceil32(div(float(usage), float(target_average)))
    per_pod = 0 if status_replicas == 0 else i64(math.ceil(usage / status_replicas))
    return replicas, per_pod
