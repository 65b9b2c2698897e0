"""Every Knative Pod Autoscaler case (../shared/acceptance/kpa/FORMAT.md) through the real KPA
decision code in `tidal.autoscaling.kpa`.

The cases live in tests/acceptance/kpa_cases/; set KPA_CASES_DIR to run another folder of cases in
the same format. Every case of every `*.json` there runs; a kind this harness does not know fails.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from tidal.api import gotime
from tidal.autoscaling.kpa import autoscaler as asc
from tidal.autoscaling.kpa import decider, scaler
from tidal.autoscaling.kpa.buckets import Buckets, round_to_n_digits, smoothing_coeff
from tidal.autoscaling.kpa.config import GO_FIELDS as CONFIG_GO_FIELDS
from tidal.autoscaling.kpa.config import Config, ConfigError, config_from_map
from tidal.autoscaling.kpa.maxwindow import MaxWindow, TimeWindow
from tidal.autoscaling.kpa.podautoscaler import Condition, PodAutoscaler

CASES_DIR = Path(os.environ.get("KPA_CASES_DIR") or Path(__file__).parent / "kpa_cases")
DEFAULT_T0 = 1700000000250000000


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            out.append((f"{path.stem}::{case['name']}", case))
    return out


CASES = _load()

# --- values -------------------------------------------------------------------------------------

_BASE = re.compile(r"(T0|ZERO|trunc\(T0,([^)]+)\))")
_TERM = re.compile(r"([+-])([^+-]+)")


def duration(text: str | int | float) -> int:
    if isinstance(text, int | float):
        return int(text)
    if text == "MAX_DURATION":
        return gotime.MAX_DURATION
    return gotime.parse_duration(text)


def instant(expr: str, t0: int) -> int:
    m = _BASE.match(expr)
    assert m, f"bad instant {expr!r}"
    if m.group(1) == "T0":
        t = t0
    elif m.group(1) == "ZERO":
        t = gotime.ZERO
    else:
        t = gotime.truncate(t0, duration(m.group(2)))
    rest = expr[m.end() :]
    for sign, d in _TERM.findall(rest):
        t += duration(d) if sign == "+" else -duration(d)
    assert _TERM.sub("", rest) == "", f"bad instant {expr!r}"
    return t


def config(d: dict[str, Any]) -> Config:
    values: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(Config)}
    for go, v in d.items():
        name = CONFIG_GO_FIELDS[go]
        if name in (
            "stable_window",
            "scale_to_zero_grace_period",
            "scale_to_zero_pod_retention_period",
            "scale_down_delay",
        ):
            v = duration(v)
        elif types[name] == "float":
            v = float(v)
        values[name] = v
    return Config(**values)


def spec(d: dict[str, Any]) -> decider.DeciderSpec:
    values: dict[str, Any] = {}
    for go, v in d.items():
        name = decider.GO_FIELDS[go]
        if name in ("stable_window", "scale_down_delay"):
            v = duration(v)
        values[name] = v
    return decider.DeciderSpec(**values)


def pa(d: dict[str, Any] | None, t0: int) -> PodAutoscaler:
    d = d or {}
    active = d.get("active")
    return PodAutoscaler(
        annotations=d.get("annotations") or {},
        container_concurrency=d.get("container_concurrency") or 0,
        reachability=d.get("reachability") or "",
        active=Condition(
            status=active["status"],
            last_transition=instant(active["ltt"], t0) if active.get("ltt") else gotime.ZERO,
            reason=active.get("reason", ""),
        )
        if active
        else None,
        scale_target_initialized=bool(d.get("scale_target_initialized")),
        service_name=d.get("service_name") or "",
        metrics_service_name=d.get("metrics_service_name") or "",
        desired_scale=d.get("desired_scale"),
        actual_scale=d.get("actual_scale"),
    )


def close(got: float, want: float, tol: float | None) -> bool:
    if tol is None:
        return got == want
    return abs(got - want) <= tol


# --- kinds --------------------------------------------------------------------------------------


def run_autoscaler(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    sp = spec(inp["spec"])
    pods = dict(inp["pod_counter"])
    metrics = dict(inp.get("metrics") or {})

    def ready() -> int | None:
        err = pods.get("error")
        if err is None:
            return int(pods.get("ready_count") or 0)
        return 0 if err == "NotFound" else None

    def observed(s: decider.DeciderSpec) -> asc.Observed | None:
        if metrics.get("error"):
            return None
        kind = "rps" if s.scaling_metric == "rps" else "concurrency"
        return asc.Observed(
            float(metrics.get(f"stable_{kind}", 0.0)), float(metrics.get(f"panic_{kind}", 0.0))
        )

    state = asc.new_state(sp, ready(), instant(inp["constructed_at"], t0))
    if inp.get("delay_window") is False:
        state = replace(state, delay_window=None)
    last = asc.ScaleResult()
    for step in case.get("steps", []):
        op = step["op"]
        where = f"step {step}"
        if op == "set_metrics":
            metrics.update({k: v for k, v in step.items() if k != "op"})
        elif op == "set_pods":
            pods = {"ready_count": step.get("ready_count"), "error": step.get("error")}
        elif op == "update_spec":
            sp = spec(step["spec"])
        elif op == "patch_spec":
            patch = spec(step["fields"])
            sp = replace(
                sp,
                **{
                    decider.GO_FIELDS[k]: getattr(patch, decider.GO_FIELDS[k])
                    for k in step["fields"]
                },
            )
        elif op == "set_state":
            pt = step.get("panic_time")
            state = replace(
                state,
                panic_time=None if pt in (None, "zero") else instant(pt, t0),
                max_panic_pods=step.get("max_panic_pods", state.max_panic_pods),
            )
        elif op == "scale":
            exp = step["expect"]
            result, state = asc.scale(sp, state, ready(), observed(sp), instant(step["now"], t0))
            if result.valid:
                last = result
            assert result.valid == exp["valid"], where
            assert result.desired == exp["desired"], (where, result)
            tol = exp.get("ebc_tolerance")
            assert close(result.excess_burst_capacity, exp["ebc"], tol or None), (where, result)
            if "panic_time" in exp:
                _check_panic_time(state, exp["panic_time"], t0, where)
        elif op == "expect_state":
            if "panic_time" in step:
                _check_panic_time(state, step["panic_time"], t0, where)
            if "max_panic_pods" in step:
                assert state.max_panic_pods == step["max_panic_pods"], (where, state)
        elif op == "expect_gauges":
            family = (
                last.metric
                if last.valid
                else ("rps" if sp.scaling_metric == "rps" else "concurrency")
            )
            got = {
                "panic_mode": 1 if state.panicking else 0,
                "desired_pods": last.desired,
                "excess_burst_capacity": float(last.excess_burst_capacity),
                "stable": last.stable,
                "panic": last.panic,
                "target": last.target,
                "metric_family": family,
            }
            for k, v in step["gauges"].items():
                assert got[k] == v, (where, k, got[k])
        elif op == "comment":
            pass
        else:
            raise AssertionError(f"unknown autoscaler step {op!r}")


def _check_panic_time(state: asc.AutoscalerState, want: str, t0: int, where: str) -> None:
    if want == "zero":
        assert state.panic_time is None, (where, state)
    else:
        assert state.panic_time == instant(want, t0), (where, state)


def run_buckets(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    b = Buckets.new(
        duration(inp["window"]), duration(inp["granularity"]), weighted=bool(inp.get("weighted"))
    )
    for step in case["steps"]:
        op = step["op"]
        where = f"step {step}"
        if op == "record":
            b = b.record(instant(step["t"], t0), float(step["value"]))
        elif op == "window_average":
            got = b.window_average(instant(step["t"], t0))
            if "expect_expr" in step:
                want = eval(step["expect_expr"], {"math": math, "m": b.smoothing})
            else:
                want = step["expect"]
            assert close(got, want, step.get("tolerance")), (where, got, want)
        elif op == "window_average_rounded":
            got = round_to_n_digits(step["digits"], b.window_average(instant(step["t"], t0)))
            assert got == step["expect"], (where, got)
        elif op == "is_empty":
            assert b.is_empty(instant(step["t"], t0)) == step["expect"], where
        elif op == "for_each_sum":
            got = sum(v for _, v in b.each_bucket(instant(step["t"], t0)))
            assert close(got, step["expect"], step.get("tolerance")), (where, got)
        elif op == "for_each_nonzero":
            got = {t: v for t, v in b.each_bucket(instant(step["t"], t0)) if v != 0}
            want = {instant(k, t0): v for k, v in step["expect"].items()}
            assert got == want, (where, got, want)
        elif op == "resize":
            before = b
            b = b.resize(duration(step["window"]), instant(step["wall_now"], t0))
            if step.get("expect_unchanged"):
                assert b == before, where
        elif op == "expect_props":
            if "bucket_count" in step:
                assert len(b.buckets) == step["bucket_count"], where
            if "window" in step:
                assert b.window == duration(step["window"]), where
            if "first_write_is_zero" in step:
                assert (b.first_write == gotime.ZERO) == step["first_write_is_zero"], where
            if "first_write_equals_last_write" in step:
                same = b.first_write == b.last_write
                assert same == step["first_write_equals_last_write"], where
        elif op == "expect_smoothing_coeff":
            want = smoothing_coeff(step["num_buckets"])
            assert close(b.smoothing, want, step.get("tolerance")), (where, b.smoothing)
        else:
            raise AssertionError(f"unknown buckets step {op!r}")


def run_kpa_scaler(case: dict[str, Any], t0: int) -> None:
    inp, exp = case["inputs"], case["expected"]
    calls = {"probe": 0}
    probe_in = inp.get("probe") or {}

    def probe() -> tuple[bool, str | None]:
        calls["probe"] += 1
        assert not probe_in.get("panic_if_called"), "the activator probe must not be called"
        return bool(probe_in.get("result")), probe_in.get("error")

    sks_in = inp.get("sks")
    sks = (
        scaler.SKS(
            sks_in["mode"],
            instant(sks_in["proxy_since"], t0) if sks_in.get("proxy_since") else None,
        )
        if sks_in
        else None
    )
    out = scaler.scale(
        pa(inp["pa"], t0),
        sks,
        int(inp["desired"]),
        inp.get("current_replicas"),
        config(inp["config"]),
        instant(inp["now"], t0),
        probe,
        progress_deadline=duration(inp.get("progress_deadline") or "600s"),
    )
    assert out.desired_scale == exp["desired_scale"], out
    assert out.patch_to == exp["patched_to"], out
    assert len(out.requeue_after) == exp["enqueue_count"], out
    assert int(out.start_async_probe) == exp["async_probe_count"], out


def _expect_config(got: Config, want: dict[str, Any]) -> None:
    assert got == config(want), (got, want)


def run_config_from_map(case: dict[str, Any], t0: int) -> None:
    exp = case["expected"]
    try:
        got = config_from_map(case["inputs"]["data"])
    except ConfigError as err:
        assert exp["error"], f"unexpected error: {err}"
        return
    assert not exp["error"], f"expected an error, got {got}"
    if "config" in exp:
        _expect_config(got, exp["config"])


def run_make_decider(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    got = decider.make_decider(pa(inp["pa"], t0), config(inp["config"]))
    assert got == spec(case["expected"]), got


def run_initial_scale(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    assert decider.initial_scale(config(inp["config"]), pa(inp["pa"], t0)) == case["expected"]


def run_make_metric(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    got = decider.make_metric(
        pa(inp["pa"], t0), config(inp["config"]), inp.get("metric_service", "")
    )
    exp = case["expected"]
    assert got.stable_window == duration(exp["StableWindow"]), got
    assert got.panic_window == duration(exp["PanicWindow"]), got


def run_stable_window(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    got = decider.stable_window(pa(inp["pa"], t0), config(inp["config"]))
    assert got == duration(case["expected"])


def run_resolve_metric_target(case: dict[str, Any], t0: int) -> None:
    inp = case["inputs"]
    target, total = decider.resolve_metric_target(pa(inp["pa"], t0), config(inp["config"]))
    tol = case.get("tolerance")
    assert close(target, case["expected"]["target"], tol), (target, total)
    assert close(total, case["expected"]["total"], tol), (target, total)


def run_same_sign(case: dict[str, Any], t0: int) -> None:
    i = case["inputs"]
    assert asc.same_sign(i["a"], i["b"]) == case["expected"]


def run_smoothing_coeff(case: dict[str, Any], t0: int) -> None:
    got = smoothing_coeff(case["inputs"]["num_buckets"])
    assert close(got, case["expected"], case.get("tolerance")), got


def run_round_to_n_digits(case: dict[str, Any], t0: int) -> None:
    i = case["inputs"]
    assert round_to_n_digits(i["n"], i["f"]) == case["expected"]


def run_max_window(case: dict[str, Any], t0: int) -> None:
    i = case["inputs"]
    w = MaxWindow(i["size"])
    got = []
    for value, index in zip(i["values"], i["indices"], strict=True):
        w = w.record(index, value)
        got.append(w.current())
    assert got == case["expected"]


def run_max_time_window(case: dict[str, Any], t0: int) -> None:
    i = case["inputs"]
    w = TimeWindow.new(duration(i["duration"]), duration(i["granularity"]))
    for e in i["entries"]:
        w = w.record(instant(e["t"], t0), e["value"])
    assert w.current() == case["expected"]


RUNNERS: dict[str, Callable[[dict[str, Any], int], None]] = {
    "autoscaler": run_autoscaler,
    "same_sign": run_same_sign,
    "buckets": run_buckets,
    "smoothing_coeff": run_smoothing_coeff,
    "round_to_n_digits": run_round_to_n_digits,
    "max_window": run_max_window,
    "max_time_window": run_max_time_window,
    "kpa_scaler": run_kpa_scaler,
    "config_from_map": run_config_from_map,
    "make_decider": run_make_decider,
    "initial_scale": run_initial_scale,
    "make_metric": run_make_metric,
    "stable_window": run_stable_window,
    "resolve_metric_target": run_resolve_metric_target,
}


def test_cases_found() -> None:
    assert CASES, f"no KPA cases in {CASES_DIR}"


@pytest.mark.parametrize(("case_id", "case"), CASES, ids=[c[0] for c in CASES])
def test_kpa_case(case_id: str, case: dict[str, Any]) -> None:
    runner = RUNNERS.get(case["kind"])
    assert runner is not None, f"{case_id}: no runner for kind {case['kind']!r}"
    runner(case, int(case.get("t0_unix_ns", DEFAULT_T0)))
