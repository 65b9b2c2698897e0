"""Tables for the KPA decisions the transcribed Knative cases leave unpinned (reference kpa.md §4)
and for tidal's own additions: status, router-in-path mode, collector, annotations, config."""

from __future__ import annotations

import pytest

from tidal.api import gotime
from tidal.autoscaling.kpa import autoscaler as asc
from tidal.autoscaling.kpa import scaler, status
from tidal.autoscaling.kpa.annotations import validate_annotations
from tidal.autoscaling.kpa.collector import Stat, Windows, sample_size
from tidal.autoscaling.kpa.columns import kpa_columns
from tidal.autoscaling.kpa.config import Config, ConfigError, config_from_map
from tidal.autoscaling.kpa.decider import DeciderSpec, make_decider, make_metric
from tidal.autoscaling.kpa.golang import format_float_v, parse_float
from tidal.autoscaling.kpa.podautoscaler import Condition, PodAutoscaler, from_object

S = gotime.SECOND
T0 = 1_700_000_000_250_000_000
K = "autoscaling.knative.dev/"

SPEC = DeciderSpec(
    max_scale_up_rate=10,
    max_scale_down_rate=2,
    scaling_metric="concurrency",
    target_value=10,
    total_value=10,
    target_burst_capacity=0,
    panic_threshold=2,
    stable_window=60 * S,
    reachable=True,
)


# --- Scale: panic ends strictly after panic start + stable window ---------------------------------
@pytest.mark.parametrize(
    ("after", "still_panicking"),
    [
        (60 * S, True),  # panicTime + StableWindow == now: not Before(now), keep panicking
        (60 * S + 1, False),  # one nanosecond later: un-panic
    ],
)
def test_panic_ends_only_after_a_full_stable_window(after: int, still_panicking: bool) -> None:
    state = asc.AutoscalerState(panic_time=T0, max_panic_pods=8)
    result, new = asc.scale(SPEC, state, 4, asc.Observed(10, 10), T0 + after)
    assert new.panicking is still_panicking
    # 10/10 = 1 pod wanted; in panic the 8 pods are kept (never scale down while panicking).
    assert result.desired == (8 if still_panicking else 2)  # 2 = floor(4 / rate 2)


def test_restart_with_several_ready_pods_starts_in_panic() -> None:
    state = asc.new_state(SPEC, 7, T0)
    assert state.panicking and state.max_panic_pods == 7
    # No load yet: the 7 pods are held instead of 7 -> 4 (Knative #4795).
    result, _ = asc.scale(SPEC, state, 7, asc.Observed(0, 0), T0 + 2 * S)
    assert result.desired == 7


def test_scale_down_delay_holds_the_maximum_for_the_delay() -> None:
    spec = DeciderSpec(
        max_scale_up_rate=10,
        max_scale_down_rate=100,
        target_value=1,
        panic_threshold=100,
        scale_down_delay=10 * S,
        reachable=True,
    )
    state = asc.new_state(spec, 0, T0)
    r, state = asc.scale(spec, state, 5, asc.Observed(5, 5), T0)
    assert r.desired == 5
    r, state = asc.scale(spec, state, 5, asc.Observed(1, 1), T0 + 4 * S)
    assert r.desired == 5  # still within 10 s of the 5
    r, state = asc.scale(spec, state, 5, asc.Observed(1, 1), T0 + 12 * S)
    assert r.desired == 1  # the 5 has left the window


# --- scale-to-zero timing ---------------------------------------------------------------------
def _inactive(since: int) -> PodAutoscaler:
    return PodAutoscaler(active=Condition("False", since))


def _no_probe() -> tuple[bool, str | None]:
    raise AssertionError("probe not expected")


CFG = Config(scale_to_zero_grace_period=30 * S, stable_window=60 * S)


@pytest.mark.parametrize(
    ("activating_for", "desired", "patch"),
    [
        (600 * S + 30 * S, scaler.SCALE_UNKNOWN, None),  # exactly deadline + 30 s: not yet
        (600 * S + 30 * S + 1, 0, 0),  # past it: give up and scale to 0 (#3456)
        (600 * S + 1, scaler.SCALE_UNKNOWN, None),  # the 30 s buffer matters
    ],
)
def test_activation_timeout_is_progress_deadline_plus_30s(
    activating_for: int, desired: int, patch: int | None
) -> None:
    pa = PodAutoscaler(active=Condition("Unknown", T0 - activating_for))
    out = scaler.scale(pa, scaler.SKS(), 0, 1, CFG, T0, _no_probe)
    assert (out.desired_scale, out.patch_to) == (desired, patch)


@pytest.mark.parametrize(
    ("proxy_for", "patch"),
    [(30 * S, 0), (30 * S - 1, None)],  # `to <= 0` scales at exactly the grace period
)
def test_grace_period_counts_router_proxy_time(proxy_for: int, patch: int | None) -> None:
    pa = _inactive(T0 - 5 * S)  # inactive only 5 s, but the router took over long ago
    sks = scaler.SKS("Proxy", T0 - proxy_for)
    out = scaler.scale(pa, sks, 0, 1, CFG, T0, lambda: (True, None))
    assert out.patch_to == patch
    assert len(out.requeue_after) == (0 if patch == 0 else 1)


def test_legacy_retention_annotation_keeps_the_last_pod() -> None:
    pa = PodAutoscaler(
        annotations={K + "scaleToZeroPodRetentionPeriod": "2m"},
        active=Condition("False", T0 - 60 * S),
    )
    out = scaler.scale(pa, scaler.SKS("Proxy", T0 - 60 * S), 0, 1, CFG, T0, lambda: (True, None))
    assert out.patch_to is None and out.requeue_after == (60 * S,)


def test_router_not_answering_starts_an_async_probe() -> None:
    out = scaler.scale(_inactive(T0 - 60 * S), None, 0, 1, CFG, T0, lambda: (False, "refused"))
    assert out.start_async_probe and out.patch_to is None


# --- status -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pa", "want", "ready", "active"),
    [
        (PodAutoscaler(active=Condition("True", T0)), 0, 1, ("False", "NoTraffic")),
        (PodAutoscaler(active=Condition("Unknown", T0)), 0, 0, ("False", "TimedOut")),
        (PodAutoscaler(active=Condition("False", T0)), 3, 0, ("Unknown", "Queued")),
        (PodAutoscaler(active=Condition("False", T0)), -1, 0, ("False", "NoTraffic")),
        (PodAutoscaler(active=Condition("Unknown", T0)), 2, 1, ("True", "")),
        (PodAutoscaler(), 1, 0, ("Unknown", "Queued")),
    ],
)
def test_active_condition_reasons(
    pa: PodAutoscaler, want: int, ready: int, active: tuple[str, str]
) -> None:
    st = status.compute_status(pa, want, ready, Config(), T0 + S)
    assert (st.active.status, st.active.reason) == active
    assert st.actual_scale == ready


def test_unknown_desired_scale_keeps_the_known_one() -> None:
    pa = PodAutoscaler(active=Condition("True", T0), desired_scale=3)
    assert status.compute_status(pa, -1, 3, Config(), T0).desired_scale == 3


@pytest.mark.parametrize(
    ("want", "ebc", "active", "mode"),
    [
        (0, 5, "True", "Proxy"),
        (3, -1, "True", "Proxy"),
        (3, 0, "True", "Serve"),  # EBC 0 counts as enough capacity
        (-1, 0, "False", "Proxy"),
        (-1, 0, "True", "Serve"),
    ],
)
def test_router_in_path(want: int, ebc: int, active: str, mode: str) -> None:
    pa = PodAutoscaler(active=Condition(active, T0))  # type: ignore[arg-type]
    assert status.sks_mode(want, ebc, pa) == mode


@pytest.mark.parametrize(
    ("ready", "tbc", "n"),
    [(1, 0, 2), (1, 211, 4), (10, 211, 13), (0, -1, 2)],  # ceil((ready*100 + max(tbc,0))/100)
)
def test_num_activators(ready: int, tbc: float, n: int) -> None:
    assert status.num_activators(ready, 100, tbc, 100) == n


# --- collector --------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "size"), [(0, 0), (3, 3), (5, 4), (10, 7), (100, 14), (1000, 16)])
def test_sample_size(n: int, size: int) -> None:
    assert sample_size(n) == size


def test_windows_average_router_seconds() -> None:
    metric = make_metric(PodAutoscaler(annotations={K + "window": "6s"}), Config(), "svc")
    assert (metric.stable_window, metric.panic_window) == (6 * S, S)
    w = Windows.new(metric)
    base = gotime.truncate(T0, S)
    assert w.observed("concurrency", base) is None  # nothing yet: no decision
    for i, c in enumerate([2.0, 4.0, 6.0]):
        w = w.record(Stat(base + i * S, c, requests=c * 10))
    obs = w.observed("concurrency", base + 2 * S)
    assert obs is not None and (obs.stable, obs.panic) == (4.0, 6.0)
    rps = w.observed("rps", base + 2 * S)
    assert rps is not None and rps.stable == 40.0


# --- annotations and config -------------------------------------------------------------------
def test_new_spelling_wins_over_legacy() -> None:
    pa = PodAutoscaler(annotations={K + "min-scale": "2", K + "minScale": "5", K + "maxScale": "9"})
    assert pa.scale_bounds(Config()) == (2, 9)


def test_invalid_annotation_reads_as_absent() -> None:
    pa = PodAutoscaler(annotations={K + "target-burst-capacity": "lots"})
    assert make_decider(pa, Config()).target_burst_capacity == 211


@pytest.mark.parametrize(
    ("anns", "messages"),
    [
        ({K + "window": "5s"}, ["expected 6s <= 5s <= 1h0m0s: " + K + "window"]),
        (
            {K + "window": "7500ms"},
            ["must be specified with at most second precision: " + K + "window"],
        ),
        ({K + "minScale": "-1"}, ["expected 0 <= -1 <= 2147483647: " + K + "minScale"]),
        (
            {K + "min-scale": "5", K + "max-scale": "2"},
            [f"max-scale=2 is less than min-scale=5: {K}max-scale, {K}min-scale"],
        ),
        ({K + "metric": "cpu"}, ["invalid value: cpu: " + K + "metric"]),
        ({K + "target": "0"}, ["target 0 should be at least 0.01: " + K + "target"]),
        (
            {K + "panicThresholdPercentage": "100"},
            [f"expected 110 <= 100 <= 1000: {K}panicThresholdPercentage"],
        ),
        ({K + "initial-scale": "0"}, ["invalid value: 0: " + K + "initial-scale"]),
        (
            {K + "activation-scale": "1"},
            ["expected 2 <= 1 <= 2147483647: " + K + "activation-scale"],
        ),
        ({K + "class": "kpa.autoscaling.knative.dev", K + "metric": "rps"}, []),
    ],
)
def test_annotation_validation_messages(anns: dict[str, str], messages: list[str]) -> None:
    assert [str(e) for e in validate_annotations(Config(), anns)] == messages


@pytest.mark.parametrize(
    ("data", "fraction"),
    [
        ({"container-concurrency-target-percentage": "1"}, 1.0),
        ({"container-concurrency-target-percentage": "1.5"}, 0.015),
    ],
)
def test_target_percentage_above_one_is_a_percentage(data: dict[str, str], fraction: float) -> None:
    assert config_from_map(data).container_concurrency_target_fraction == fraction


def test_config_error_names_the_key() -> None:
    with pytest.raises(
        ConfigError, match='failed to parse "stable-window": time: invalid duration'
    ):
        config_from_map({"stable-window": "soon"})


@pytest.mark.parametrize(
    ("f", "text"), [(0.01, "0.01"), (1e6, "1e+06"), (140.0, "140"), (1.001, "1.001")]
)
def test_go_float_printing(f: float, text: str) -> None:
    assert format_float_v(f) == text


@pytest.mark.parametrize("text", ["1_0", " 1", "0x10", ""])
def test_go_float_parsing_rejects_what_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_float(text)


def test_from_object_and_columns() -> None:
    obj = {
        "metadata": {"name": "iris0", "annotations": {K + "window": "10s"}},
        "spec": {"containerConcurrency": 2, "reachability": "Reachable"},
        "status": {
            "desiredScale": 0,
            "actualScale": 0,
            "conditions": [
                {
                    "type": "Active",
                    "status": "False",
                    "lastTransitionTime": "2023-11-14T22:13:20Z",
                    "reason": "NoTraffic",
                },
                {"type": "Ready", "status": "False", "reason": "NoTraffic"},
            ],
        },
    }
    pa = from_object(obj)
    assert pa.is_inactive() and pa.active is not None
    assert pa.active.last_transition == 1_700_000_000 * S
    assert pa.window() == 10 * S and pa.container_concurrency == 2
    assert kpa_columns(obj) == ["iris0", 0, 0, "False", "NoTraffic"]
