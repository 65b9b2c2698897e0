"""Admission of PredictiveHorizontalPodAutoscaler (`autoscaling.tidal.dev/v1alpha1`), tidal's own
kind (docs/PREDICTIVE.md): field errors as the API server words them, each naming its field; the
API defaults (`scaleStrategy: auto`, the `prediction` block) filled in."""

from __future__ import annotations

from typing import Any

from tidal.api.errors import Cause
from tidal.autoscaling.predictive.spec import SEASONS, STRATEGIES, default_prediction
from tidal.validation.field import (
    INT32_MAX,
    dns1123_subdomain,
    invalid,
    is_int,
    not_supported,
    object_required,
    required,
)

Obj = dict[str, Any]
MAX_FORWARD_S = 3600  # an hour: a cold start longer than that is not a cold start
MAX_TREND_WINDOW_S = 86400
_PREDICTION_FIELDS = ("quantile", "scaleUpForward", "trendWindow", "seasons")


def _is_num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _prediction(pred: Any) -> list[Cause]:
    base = "spec.prediction"
    if pred is None:
        return []
    if not isinstance(pred, dict):
        return [invalid(base, pred, "must be an object")]
    causes = [
        invalid(f"{base}.{k}", pred[k], "unknown field")
        for k in pred
        if k not in _PREDICTION_FIELDS
    ]
    q = pred.get("quantile")
    if q is not None and (not _is_num(q) or not 50 <= q < 100):
        causes.append(invalid(f"{base}.quantile", q, "must be a percentage in [50, 100)"))
    for key, top in (("scaleUpForward", MAX_FORWARD_S), ("trendWindow", MAX_TREND_WINDOW_S)):
        v = pred.get(key)
        if v is None:
            continue
        low = 0 if key == "scaleUpForward" else 1
        if not is_int(v) or not low <= v <= top:
            causes.append(invalid(f"{base}.{key}", v, f"must be whole seconds in [{low}, {top}]"))
    seasons = pred.get("seasons")
    if seasons is not None:
        if not isinstance(seasons, list):
            causes.append(invalid(f"{base}.seasons", seasons, "must be a list"))
        else:
            for i, s in enumerate(seasons):
                if s not in SEASONS:
                    causes.append(not_supported(f"{base}.seasons[{i}]", s, tuple(SEASONS)))
    return causes


def validate(obj: Obj) -> list[Cause]:
    """Every field error (empty when valid)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return object_required("spec", spec)
    causes: list[Cause] = []
    ref = spec.get("hpaRef")
    if not isinstance(ref, dict):
        causes += object_required("spec.hpaRef", ref)
    elif not ref.get("name"):
        causes.append(required("spec.hpaRef.name"))
    elif not isinstance(ref["name"], str):
        causes.append(invalid("spec.hpaRef.name", ref["name"], "must be a string"))
    else:
        causes += dns1123_subdomain("spec.hpaRef.name", ref["name"])
    strategy = spec.get("scaleStrategy")
    if strategy is not None and strategy not in STRATEGIES:
        causes.append(not_supported("spec.scaleStrategy", strategy, STRATEGIES))
    mn = spec.get("minReplicas")
    if mn is not None and (not is_int(mn) or not 0 <= mn <= INT32_MAX):
        causes.append(invalid("spec.minReplicas", mn, "must be an integer >= 0"))
    causes += _prediction(spec.get("prediction"))
    return causes


def default(obj: Obj) -> Obj:
    """`scaleStrategy: auto` and every `prediction` field, when absent."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj
    spec.setdefault("scaleStrategy", "auto")
    pred = spec.get("prediction")
    if pred is None:
        pred = spec["prediction"] = {}
    if isinstance(pred, dict):
        for k, v in default_prediction().items():
            if pred.get(k) is None:
                pred[k] = v
    return obj
