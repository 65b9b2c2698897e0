"""Scenarios with a capacity: request traces, the latency report, errors naming the field."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tidal.sim.run import simulate
from tidal.sim.scenario import ScenarioError, parse_scenario

HPA = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "llm"},
    "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": "router_concurrency"},
                    "target": {"type": "AverageValue", "averageValue": "2"},
                },
            }
        ],
    },
}


def _trace(tmp_path: Path) -> Path:
    """A burst: 1 request/s for 60 s, then 6/s for 60 s, then 1/s; sizes vary."""
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    t = 0.0
    i = 0
    while t < 240:
        lines.append(f"{1700000000 + t:.3f},{100 + 37 * (i % 5)},{20 + 13 * (i % 7)}")
        t += 1 / 6 if 60 <= t < 120 else 1.0
        i += 1
    p = tmp_path / "burst.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def _scenario(tmp_path: Path, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "burst",
        "duration": 300,
        "profile": "fast",
        "requests": {"file": str(_trace(tmp_path)), "scale": 1, "seed": 1},
        "slo": {"latency": "5s", "percentile": 95},
        "deployments": [
            {
                "name": "llm",
                "replicas": 1,
                "startupSeconds": 5,
                "maxConcurrency": 2,
                "service": {
                    "prefillTokensPerSecond": 1000,
                    "decodeTokensPerSecond": "30 / (1 + 0.2 * (running - 1))",
                },
                "load": {"requests": "trace"},
            }
        ],
        "objects": [copy.deepcopy(HPA)],
    }
    data.update(over)
    return data


def _run(data: dict[str, Any]) -> Any:
    _, summary = asyncio.run(simulate(parse_scenario(data)))
    return summary


def test_the_report_and_its_lower_bound(tmp_path: Path) -> None:
    s = _run(_scenario(tmp_path))
    (row,) = s.report
    assert row.name == "llm" and row.requests == s.requests["llm"].requests > 400
    assert row.ok + row.errors_503 <= row.requests
    assert 0 < row.p50_s <= row.p95_s <= row.p99_s
    assert row.bound_replica_seconds > 0 and row.ratio > 1.0
    assert row.replica_seconds == s.replica_seconds["llm"]
    text = "\n".join(s.lines())
    assert "latency report (SLO: p95 <= 5s):" in text and f"{row.ratio:.2f}x" in text
    series = s.series["llm"]
    assert len(series.t) == len(series.pods) == len(series.latency_max) == 301
    assert max(series.desired) > 1  # the burst scaled it up
    assert any(v is not None for v in series.latency_mean)


def test_same_scenario_same_lines(tmp_path: Path) -> None:
    a = _run(_scenario(tmp_path)).lines()
    b = _run(_scenario(tmp_path)).lines()
    assert a == b


def test_more_capacity_means_less_latency(tmp_path: Path) -> None:
    tight = _run(_scenario(tmp_path)).report[0]
    data = _scenario(tmp_path)
    data["objects"][0]["spec"]["metrics"][0]["pods"]["target"]["averageValue"] = "1"
    roomy = _run(data).report[0]
    assert roomy.p99_s < tight.p99_s and roomy.replica_seconds > tight.replica_seconds
    assert roomy.over_slo <= tight.over_slo


def test_a_rate_with_a_capacity(tmp_path: Path) -> None:
    data = _scenario(tmp_path)
    del data["requests"]
    data["deployments"][0].update(
        load={"rps": "6 if 60 <= t < 120 else 1"}, requestSeconds=0.5, service=None
    )
    data["deployments"][0].pop("service")
    s = _run(data)
    (row,) = s.report
    assert row.requests == s.requests["llm"].requests == 60 * 6 + 240 * 1 + 1
    assert row.p50_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slo": {"percentile": 99}}, "slo.latency: required"),
        ({"slo": {"latency": "2s", "percentile": 120}}, r"slo.percentile: must be in \(0, 100\]"),
        ({"slo": {"latency": "2s", "pct": 9}}, "slo: unknown keys"),
        ({"requests": {"file": "nope.csv"}}, "requests trace .*nope.csv: No such file"),
        ({"requests": {"file": "x.csv", "speed": 0}}, "requests.speed: must be a number > 0"),
        ({"requests": {"file": "x.csv", "colour": 1}}, "requests: unknown keys"),
        ({"node": {"cores": 2}}, "node: must be"),
        (
            {"deployments": [{"name": "llm", "maxConcurrency": 0}]},
            "deployments\\[0\\].maxConcurrency",
        ),
        (
            {"deployments": [{"name": "llm", "load": {"requests": "trace"}}]},
            "deployments\\[0\\].maxConcurrency: required with load.requests",
        ),
        (
            {"deployments": [{"name": "llm", "maxConcurrency": 2, "service": {"speed": 1}}]},
            "deployments\\[0\\].service: unknown keys",
        ),
        (
            {"deployments": [{"name": "llm", "maxConcurrency": 2, "service": {"seconds": "x("}}]},
            "deployments\\[0\\].service.seconds: invalid expression",
        ),
        (
            {
                "deployments": [
                    {
                        "name": "llm",
                        "maxConcurrency": 2,
                        "service": {"decodeTokensPerSecond": "10 - 5 * running"},
                    }
                ]
            },
            "decodeTokensPerSecond: must be > 0",
        ),
        (
            {"deployments": [{"name": "llm", "maxConcurrency": 2, "load": {"requests": "all"}}]},
            "deployments\\[0\\].load.requests: must be `trace`",
        ),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = _scenario(tmp_path)
    if "deployments" in change and "requests" not in change:
        data.pop("requests")
        if change["deployments"][0].get("load", {}).get("requests") == "trace":
            data["requests"] = {"file": str(_trace(tmp_path))}
    data.update(change)
    (tmp_path / "x.csv").write_text("t\n0\n")
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data, base=tmp_path)


def test_load_requests_without_a_trace(tmp_path: Path) -> None:
    data = _scenario(tmp_path)
    data.pop("requests")
    with pytest.raises(
        ScenarioError, match="deployments\\[0\\].load.requests: the scenario has no"
    ):
        parse_scenario(data)


def test_a_bad_line_in_the_trace_names_it(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("TIMESTAMP,GeneratedTokens\n1,5\n2,five\n")
    data = _scenario(tmp_path, requests={"file": "bad.csv"})
    with pytest.raises(ScenarioError, match="bad.csv: line 3: GeneratedTokens 'five'"):
        parse_scenario(data, base=tmp_path)
