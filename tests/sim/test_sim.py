"""`tidal simulate`: the real HPA controller on virtual time; deterministic; behavior honoured;
bad scenarios name the field."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from tidal.cli.env import Env
from tidal.cli.main import main as tidal_main
from tidal.sim.load import Expr, LoadError
from tidal.sim.run import simulate
from tidal.sim.scenario import ScenarioError, parse_scenario

EXAMPLE = Path(__file__).parents[2] / "examples" / "sim" / "iris-step.yaml"


def _scenario(**over: Any) -> dict[str, Any]:
    data = {
        "name": "t",
        "duration": 240,
        "profile": "fast",
        "deployments": [
            {
                "name": "web",
                "cpuRequest": "100m",
                "load": {"cpu": "min(0.6 / replicas, 1) if 10 <= t < 120 else 0.001"},
            }
        ],
        "objects": [
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "web",
                    },
                    "minReplicas": 1,
                    "maxReplicas": 10,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {
                                "name": "cpu",
                                "target": {"type": "Utilization", "averageUtilization": 50},
                            },
                        }
                    ],
                    "behavior": {
                        "scaleUp": {
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 10}]
                        },
                        "scaleDown": {"stabilizationWindowSeconds": 30},
                    },
                },
            }
        ],
    }
    data.update(over)
    return data


def test_behavior_policy_limits_the_scale_up_rate_and_window_holds_the_scale_down() -> None:
    records, summary = asyncio.run(simulate(parse_scenario(_scenario())))
    ups = [(r.t, r.current, r.desired) for r in records if r.desired > r.current]
    # 0.6 cores over pods of 100m at 50 %: 12 wanted, max 10; Pods policy: +1 per 10 s
    assert ups[0] == (10, 1, 2)
    assert all(b[0] - a[0] >= 10 for a, b in zip(ups, ups[1:], strict=False))
    assert all(desired - current == 1 for _, current, desired in ups)
    downs = [r for r in records if r.desired < r.current]
    # the last recommendation of 10+ is made at t=119 (the sample at 120 already averages in an
    # idle second); the 30 s window keeps the highest recommendation strictly newer than now-30
    assert downs and downs[0].t == 119 + 30
    assert records[-1].desired == 1
    assert summary.first_scale_up_s == 10
    assert summary.max_replicas["web"] == max(d for _, _, d in ups)


def _tidal(*argv: str) -> tuple[int, str, str]:
    env = Env(io.StringIO(), io.StringIO(), io.StringIO())
    code = tidal_main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


def test_simulation_is_deterministic_and_prints_a_summary() -> None:
    code, first, _ = _tidal("simulate", str(EXAMPLE), "--changes")
    assert code == 0
    assert _tidal("simulate", str(EXAMPLE), "--changes")[1] == first
    assert "cpu resource utilization (percentage of request) above target" in first
    assert "All metrics below target" in first
    assert "replica-seconds" in first and "time above target" in first


def test_trace_variables_feed_the_load(tmp_path: Path) -> None:
    (tmp_path / "trace.csv").write_text("t,demand\n0,0.05\n30,0.9\n90,0.05\n")
    data = _scenario(trace="trace.csv", duration=60)
    data["deployments"][0]["load"] = {"cpu": "demand / replicas"}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    from tidal.sim.scenario import load_scenario

    records, _ = asyncio.run(simulate(load_scenario(tmp_path / "s.yaml")))
    assert [r.t for r in records if r.desired > r.current][0] == 30


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"profile": "slow"}, "profile"),
        ({"tick": "soon"}, "tick"),
        ({"deployments": []}, "deployments"),
        ({"settings": {"colour": 1}}, "settings.colour"),
        (
            {"deployments": [{"name": "web", "load": {"cpu": "__import__('os')"}}]},
            "deployments[0].load.cpu",
        ),
        (
            {
                "objects": [
                    {
                        "kind": "HorizontalPodAutoscaler",
                        "metadata": {"name": "h"},
                        "spec": {"maxReplicas": 0},
                    }
                ]
            },
            "spec.maxReplicas",
        ),
        ({"objects": [{"kind": "Gadget", "metadata": {"name": "g"}}]}, "Gadget"),
    ],
)
def test_bad_scenarios_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError, match=field.replace("[", r"\[").replace("]", r"\]")):
        asyncio.run(simulate(parse_scenario(_scenario(**change))))


def test_cli_reports_errors_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("deployments: 3\n")
    code, _, err = _tidal("simulate", str(tmp_path / "s.yaml"))
    assert (code, err) == (1, "error: deployments: must be a list of Deployments\n")
    code, out, _ = _tidal("simulate", str(EXAMPLE), "-o", "json", "--duration", "60")
    assert code == 0 and '"first_scale_up_s": 30' in out


def test_expressions_allow_only_arithmetic() -> None:
    assert Expr("max(1, t) * 2 if replicas > 1 else 0")(t=3, replicas=2) == 6
    for bad in ("t.real", "open(1)", "'x'", "[1]"):
        with pytest.raises(LoadError):
            Expr(bad)
    with pytest.raises(LoadError, match="unknown name"):
        Expr("q + 1")(t=0, replicas=1)
