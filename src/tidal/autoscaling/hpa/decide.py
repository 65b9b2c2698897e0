"""One reconcile of one HPA (`reconcileAutoscaler` in `horizontal.go`) as a pure function:
`decide(Inputs) -> Decision`. The controller gathers the inputs and applies the decision; if the
scale write then fails it asks `rescale_failed` for the status and event to write instead.

Over 400 lines on purpose: it follows `reconcileAutoscaler` and the functions it calls
(normalisation, behaviour limits, stabilisation, conditions) one for one, in the order the Go code
reads them, which the upstream case sets pin.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from tidal.api.hpa_defaults import default_spec
from tidal.api.meta import rfc3339
from tidal.api.quantity import format_binary, format_decimal, milli
from tidal.api.selectors import parse_labels
from tidal.autoscaling.hpa import normalize
from tidal.autoscaling.hpa.model import (
    Decision,
    Event,
    History,
    Inputs,
    MetricData,
    MetricResult,
    Settings,
)
from tidal.autoscaling.hpa.replicas import (
    CalcError,
    Tolerances,
    per_pod_replicas,
    plain_replicas,
    resource_replicas,
    sat_sum,
    usage_ratio_replicas,
)
from tidal.autoscaling.hpa.spec import go_selector, has_object_or_external, tolerances

Obj = dict[str, Any]

_FAILED_REASON = {
    "Resource": "FailedGetResourceMetric",
    "ContainerResource": "FailedGetContainerResourceMetric",
    "Pods": "FailedGetPodsMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}


class _Conditions:
    """`setCondition`: existing types keep their place, new ones are appended; the transition
    time changes only when the status flips."""

    def __init__(self, existing: list[Obj] | None, now: float) -> None:
        self.items: list[Obj] = [dict(c) for c in existing or ()]
        self.now = now

    def set(self, type_: str, status: str, reason: str, message: str) -> None:
        for c in self.items:
            if c.get("type") == type_:
                break
        else:
            c = {"type": type_}
            self.items.append(c)
        if c.get("status") != status:
            c["lastTransitionTime"] = rfc3339(self.now)
        c["status"], c["reason"], c["message"] = status, reason, message

    def get(self, type_: str) -> Obj | None:
        return next((c for c in self.items if c.get("type") == type_), None)

    def remove(self, type_: str) -> None:
        self.items = [c for c in self.items if c.get("type") != type_]


def _qty(value: int, binary: bool = False) -> str:
    """`resource.NewMilliQuantity(v, DecimalSI)`; memory is shown BinarySI (`1932Mi`)."""
    v = Fraction(value, 1000)
    return (
        format_binary(v) if binary and v.denominator == 1 and abs(v) >= 1024 else format_decimal(v)
    )


class _MetricFailure(Exception):
    def __init__(self, reason: str, inner: str, outer: str) -> None:
        super().__init__(outer)
        self.reason, self.inner, self.outer = reason, inner, outer


def _one_metric(
    spec: Mapping[str, Any], data: MetricData, i: Inputs, tol: Tolerances
) -> tuple[int, Obj, str]:
    """(proposal, MetricStatus, metric name) for one metric spec, or _MetricFailure."""
    assert i.scale is not None
    kind = spec.get("type", "")
    current, status_replicas = i.scale.spec_replicas, i.scale.status_replicas
    if kind in ("Resource", "ContainerResource"):
        src = spec.get("resource" if kind == "Resource" else "containerResource") or {}
        res, container = (
            src.get("name", ""),
            (src.get("container", "") if kind == "ContainerResource" else ""),
        )
        target = src.get("target") or {}
        reason = _FAILED_REASON[kind]
        outer = (
            f"failed to get {res} resource metric value: "
            if kind == "Resource"
            else f"failed to get {res} container metric value: "
        )
        binary = res != "cpu"
        try:
            if data.error is not None or data.pods is None:
                raise CalcError(f"unable to get metrics for resource {res}: {data.error}")
            if target.get("averageValue") is not None:
                try:
                    replicas, usage = plain_replicas(
                        current,
                        milli(target["averageValue"]),
                        res,
                        tol,
                        i.pods,
                        data.pods,
                        i.now,
                        i.settings,
                    )
                except CalcError as exc:
                    raise CalcError(f"failed to get {res} usage: {exc}") from None
                body: Obj = {"name": res, "current": {"averageValue": _qty(usage, binary)}}
                name = f"{res} resource"
            else:
                if target.get("averageUtilization") is None:
                    raise CalcError(
                        "invalid resource metric source: neither an average utilization target nor an average value (usage) target was set"
                    )
                try:
                    replicas, util, raw = resource_replicas(
                        current,
                        int(target["averageUtilization"]),
                        res,
                        tol,
                        i.pods,
                        data.pods,
                        container,
                        i.now,
                        i.settings,
                    )
                except CalcError as exc:
                    raise CalcError(f"failed to get {res} utilization: {exc}") from None
                body = {
                    "name": res,
                    "current": {"averageUtilization": util, "averageValue": _qty(raw, binary)},
                }
                name = (
                    f"{res} resource utilization (percentage of request)"
                    if kind == "Resource"
                    else f"{res} container resource utilization (percentage of request)"
                )
        except CalcError as exc:
            # the "unable to get metrics" wrapping belongs inside the usage/utilization text
            msg = str(exc)
            if msg.startswith("unable to get metrics for resource"):
                which = "usage" if target.get("averageValue") is not None else "utilization"
                msg = f"failed to get {res} {which}: {msg}"
            raise _MetricFailure(reason, msg, outer + msg) from None
        if kind == "ContainerResource":
            body = {"name": res, "container": container, "current": body["current"]}
            return replicas, {"type": kind, "containerResource": body}, name
        return replicas, {"type": kind, "resource": body}, name

    if kind == "Pods":
        src = spec.get("pods") or {}
        metric = src.get("metric") or {}
        mname = metric.get("name", "")
        target = src.get("target") or {}
        try:
            if data.error is not None or data.pods is None:
                raise CalcError(f"unable to get metric {mname}: {data.error}")
            replicas, usage = plain_replicas(
                current,
                milli(target.get("averageValue") or 0),
                "",
                tol,
                i.pods,
                data.pods,
                i.now,
                i.settings,
            )
        except CalcError as exc:
            raise _MetricFailure(
                "FailedGetPodsMetric", str(exc), f"failed to get pods metric value: {exc}"
            ) from None
        return (
            replicas,
            {"type": "Pods", "pods": {"metric": metric, "current": {"averageValue": _qty(usage)}}},
            f"pods metric {mname}",
        )

    if kind == "Object":
        src = spec.get("object") or {}
        metric, obj = src.get("metric") or {}, src.get("describedObject") or {}
        mname = metric.get("name", "")
        target = src.get("target") or {}
        where = f"{obj.get('kind', '')} {i.namespace}/{obj.get('name', '')}"
        if data.error is not None or data.value is None:
            inner = f"unable to get metric {mname}: {data.error} on {where}"
            if target.get("type") == "AverageValue":
                inner_outer = f"failed to get {mname} object metric: {inner}"
                raise _MetricFailure(
                    "FailedGetObjectMetric",
                    inner_outer,
                    f"failed to get object metric value: {inner_outer}",
                )
            raise _MetricFailure(
                "FailedGetObjectMetric", inner, f"failed to get object metric value: {inner}"
            )
        status: Obj = {"describedObject": obj, "metric": metric}
        if target.get("type") == "Value" and target.get("value") is not None:
            try:
                replicas = usage_ratio_replicas(
                    current, data.value / milli(target["value"]), tol, i.pods
                )
            except (CalcError, ZeroDivisionError) as exc:
                raise _MetricFailure(
                    "FailedGetObjectMetric", str(exc), f"failed to get object metric value: {exc}"
                ) from None
            status["current"] = {"value": _qty(data.value)}
            return (
                replicas,
                {"type": "Object", "object": status},
                f"{obj.get('kind', '')} metric {mname}",
            )
        if target.get("type") == "AverageValue" and target.get("averageValue") is not None:
            replicas, usage = per_pod_replicas(
                status_replicas, milli(target["averageValue"]), data.value, tol
            )
            status["current"] = {"averageValue": _qty(usage)}
            return (
                replicas,
                {"type": "Object", "object": status},
                (f"external metric {mname}({go_selector(metric.get('selector'))})"),
            )
        msg = "invalid object metric source: neither a value target nor an average value target was set"
        raise _MetricFailure(
            "FailedGetObjectMetric", msg, f"failed to get object metric value: {msg}"
        )

    if kind == "External":
        src = spec.get("external") or {}
        metric = src.get("metric") or {}
        mname = metric.get("name", "")
        target = src.get("target") or {}
        sel = go_selector(metric.get("selector"))
        outer = f"failed to get {mname} external metric value: "
        if data.error is not None:
            inner = f"failed to get {mname} external metric: unable to get external metric {i.namespace}/{mname}/{sel}: {data.error}"
            raise _MetricFailure("FailedGetExternalMetric", inner, outer + inner)
        usage = sat_sum(data.values)
        status = {"metric": metric}
        if target.get("type") == "AverageValue" and target.get("averageValue") is not None:
            replicas, per_pod = per_pod_replicas(
                status_replicas, milli(target["averageValue"]), usage, tol
            )
            status["current"] = {"averageValue": _qty(per_pod)}
        elif target.get("type") == "Value" and target.get("value") is not None:
            try:
                replicas = usage_ratio_replicas(
                    current, usage / milli(target["value"]), tol, i.pods
                )
            except (CalcError, ZeroDivisionError) as exc:
                inner = f"failed to get {mname} external metric: {exc}"
                raise _MetricFailure("FailedGetExternalMetric", inner, outer + inner) from None
            status["current"] = {"value": _qty(usage)}
        else:
            msg = "invalid external metric source: neither a value target nor an average value target was set"
            raise _MetricFailure("FailedGetExternalMetric", msg, outer + msg)
        return replicas, {"type": "External", "external": status}, f"external metric {mname}({sel})"

    msg = f'unknown metric source type "{kind}"'
    raise _MetricFailure("InvalidMetricSourceType", msg, msg)


def _compute_metrics(
    i: Inputs, spec: Mapping[str, Any], conds: _Conditions, events: list[Event]
) -> tuple[int, str, list[MetricResult], str | None]:
    """`computeReplicasForMetrics`: the largest proposal; -1 when nothing may be done (every
    metric failed, or one failed and the rest would scale down)."""
    assert i.scale is not None
    selector = i.scale.selector
    if not selector:
        events.append(Event("Warning", "SelectorRequired", "selector is required"))
        msg = "the HPA target's scale is missing a selector"
        conds.set("ScalingActive", "False", "InvalidSelector", msg)
        return -1, "", [], msg
    try:
        parse_labels(selector)
    except ValueError as exc:
        msg = f"couldn't convert selector into a corresponding internal selector object: {exc}"
        events.append(Event("Warning", "InvalidSelector", msg))
        conds.set("ScalingActive", "False", "InvalidSelector", msg)
        return -1, "", [], msg

    if len(i.selecting_hpas) > 1:
        msg = f"pods by selector {selector} are controlled by multiple HPAs: [{' '.join(i.selecting_hpas)}]"
        events.append(Event("Warning", "AmbiguousSelector", msg))
        conds.set("ScalingActive", "False", "AmbiguousSelector", msg)
        return -1, "", [], msg

    tol = tolerances(spec, i.settings.tolerance)
    replicas, metric = 0, ""
    results: list[MetricResult] = []
    invalid = 0
    first: _MetricFailure | None = None
    specs = spec.get("metrics") or []
    for n, mspec in enumerate(specs):
        data = i.metrics[n] if n < len(i.metrics) else MetricData(error="no metrics returned")
        try:
            proposal, status, name = _one_metric(mspec, data, i, tol)
        except _MetricFailure as exc:
            events.append(Event("Warning", exc.reason, exc.inner))
            results.append(MetricResult(None, {"type": ""}, "", exc.outer))
            if first is None:
                first = exc
            invalid += 1
            continue
        results.append(MetricResult(proposal, status, name))
        if replicas == 0 or proposal > replicas:
            replicas, metric = proposal, name
    error = None
    if first is not None:
        error = f"invalid metrics ({invalid} invalid out of {len(specs)}), first error is: {first.outer}"
    if first is not None and (invalid >= len(specs) or replicas < i.scale.spec_replicas):
        conds.set(
            "ScalingActive",
            "False",
            first.reason,
            f"the HPA was unable to compute the replica count: {first.inner}",
        )
        return -1, "", results, error
    conds.set(
        "ScalingActive",
        "True",
        "ValidMetricFound",
        f"the HPA was able to successfully calculate a replica count from {metric}",
    )
    return replicas, metric, results, error


def _status(
    i: Inputs,
    current: int,
    desired: int,
    metrics: list[MetricResult] | None,
    conds: _Conditions,
    rescale: bool,
) -> Obj:
    status: Obj = {"currentReplicas": current, "desiredReplicas": desired}
    if i.status.get("lastScaleTime") is not None:
        status["lastScaleTime"] = i.status["lastScaleTime"]
    if rescale:
        status["lastScaleTime"] = rfc3339(i.now)
    if metrics:
        status["currentMetrics"] = [copy.deepcopy(m.status) for m in metrics]
    if conds.items:
        status["conditions"] = conds.items
    return status


def decide(i: Inputs) -> Decision:
    """Everything the Kubernetes controller would do on this sync, minus the I/O."""
    spec = default_spec(i.spec)
    s: Settings = i.settings
    conds = _Conditions(list(i.status.get("conditions") or ()), i.now)
    events: list[Event] = []
    history = i.history

    if i.scale is None:
        err = i.scale_error or "unknown error"
        events.append(Event("Warning", "FailedGetScale", err))
        conds.set(
            "AbleToScale",
            "False",
            "FailedGetScale",
            f"the HPA controller was unable to get the target's current scale: {err}",
        )
        status = _status(
            i,
            int(i.status.get("currentReplicas") or 0),
            int(i.status.get("desiredReplicas") or 0),
            None,
            conds,
            False,
        )
        return Decision(0, False, "", (), status, tuple(events), history, err, 0)

    conds.set(
        "AbleToScale",
        "True",
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    )
    current = i.scale.spec_replicas
    if not history.seen:  # first sight: a scale-down waits a whole window
        history = History(
            True, ((i.now, current),), history.scale_up_events, history.scale_down_events
        )
    min_r = int(spec["minReplicas"]) if spec.get("minReplicas") is not None else 1
    max_r = int(spec.get("maxReplicas") or 0)
    behavior = spec.get("behavior")

    desired, reason, rescale = 0, "", False
    results: list[MetricResult] = []
    error: str | None = None
    metric_statuses: list[MetricResult] | None = None

    zero_allowed = True
    if current == 0:
        if s.scale_to_zero:
            scaled = conds.get("ScaledToZero")
            zero_allowed = bool(scaled and scaled.get("status") == "True") and (
                min_r != 0 or has_object_or_external(spec)
            )
        else:
            zero_allowed = min_r == 0
    if not zero_allowed:
        conds.set(
            "ScalingActive",
            "False",
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        )
    elif current > max_r:
        desired, reason = max_r, "Current number of replicas above Spec.MaxReplicas"
    elif current < min_r:
        desired, reason = min_r, "Current number of replicas below Spec.MinReplicas"
    else:
        if i.recommendation is not None:
            proposed, metric = i.recommendation, ""
        else:
            proposed, metric, results, error = _compute_metrics(i, spec, conds, events)
            metric_statuses = results
            if proposed == -1:
                status = _status(
                    i, current, int(i.status.get("desiredReplicas") or 0), results, conds, False
                )
                assert error is not None
                events.append(Event("Warning", "FailedComputeMetricsReplicas", error))
                return Decision(
                    current,
                    False,
                    "",
                    tuple(results),
                    status,
                    tuple(events),
                    history,
                    error,
                    current,
                )
        rescale_metric = ""
        if proposed > desired:
            desired, rescale_metric = proposed, metric
        if desired > current:
            reason = f"{rescale_metric} above target"
        if desired < current:
            reason = "All metrics below target"
        if behavior is None:
            norm = normalize.legacy(current, desired, min_r, max_r, history, i.now, s)
        else:
            norm = normalize.with_behavior(
                current, desired, min_r, max_r, behavior, history, i.now, s
            )
        history = History(
            True, norm.recommendations, history.scale_up_events, history.scale_down_events
        )
        conds.set("AbleToScale", "True", *norm.able)
        conds.set(
            "ScalingLimited", "False" if norm.replicas == norm.stabilized else "True", *norm.limited
        )
        desired = norm.replicas
    rescale = zero_allowed and desired != current

    if rescale:
        conds.set(
            "AbleToScale",
            "True",
            "SucceededRescale",
            f"the HPA controller was able to update the target scale to {desired}",
        )
        events.append(
            Event("Normal", "SuccessfulRescale", f"New size: {desired}; reason: {reason}")
        )
        history = normalize.store_scale_event(history, behavior, current, desired, i.now)
        if s.scale_to_zero:
            if desired == 0 and current > 0 and min_r == 0 and has_object_or_external(spec):
                conds.set(
                    "ScaledToZero",
                    "True",
                    "ScaledToZero",
                    "the HPA controller scaled the workload to zero",
                )
            else:
                conds.set(
                    "ScaledToZero",
                    "False",
                    "NotScaledToZero",
                    "the HPA controller did not scale the workload to zero",
                )
        else:
            conds.remove("ScaledToZero")
    else:
        desired = current
    status = _status(i, current, desired, metric_statuses, conds, rescale)
    return Decision(
        desired, rescale, reason, tuple(results), status, tuple(events), history, error, current
    )


def rescale_failed(i: Inputs, d: Decision, err: str) -> Decision:
    """The scale write failed: `FailedRescale` event, AbleToScale False, no scale event stored,
    desiredReplicas left as it was."""
    conds = _Conditions(list(d.status.get("conditions") or ()), i.now)
    conds.set(
        "AbleToScale",
        "False",
        "FailedUpdateScale",
        f"the HPA controller was unable to update the target scale: {err}",
    )
    events = [e for e in d.events if e.reason != "SuccessfulRescale"]
    events.append(
        Event(
            "Warning", "FailedRescale", f"New size: {d.replicas}; reason: {d.reason}; error: {err}"
        )
    )
    status = dict(d.status)
    status["conditions"] = conds.items
    status["desiredReplicas"] = int(i.status.get("desiredReplicas") or 0)
    if i.status.get("lastScaleTime") is not None:
        status["lastScaleTime"] = i.status["lastScaleTime"]
    else:
        status.pop("lastScaleTime", None)
    # drop the scale event just stored: the rescale did not happen
    h = d.history
    history = History(
        h.seen, h.recommendations, i.history.scale_up_events, i.history.scale_down_events
    )
    return Decision(
        d.current_replicas,
        False,
        d.reason,
        d.metrics,
        status,
        tuple(events),
        history,
        err,
        d.current_replicas,
    )
