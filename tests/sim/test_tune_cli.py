"""`tidal tune` end to end on a small scenario: the table, the manifest, the exit statuses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tidal.cli.commands.tune import NO_POLICY_MEETS, main
from tidal.sim.scenario import parse_scenario
from tidal.validation import rules

from .test_capacity_scenario import _scenario


def _write(tmp_path: Path, data: dict[str, Any]) -> str:
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def _tune(
    tmp_path: Path, data: dict[str, Any], *extra: str, capsys: Any, jobs: int = 1
) -> tuple[int, str, str]:
    rc = main([_write(tmp_path, data), "--budget", "6", "--jobs", str(jobs), *extra])
    got = capsys.readouterr()
    return rc, got.out, got.err


SLO = {"latency": "15s", "percentile": 95}


def test_tune_prints_the_best_and_writes_a_valid_manifest(tmp_path: Path, capsys: Any) -> None:
    data = _scenario(tmp_path, duration=200, slo=SLO)
    rc, out, _ = _tune(tmp_path, data, "--output-dir", str(tmp_path / "out"), capsys=capsys)
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("tune burst: deployment llm, hpa, SLO p95 <= 15s, 6 runs")
    assert "best (#1):" in out
    assert lines[2].startswith("#1") and any(x.startswith("start") for x in lines)
    assert any(
        x.startswith("scenario") and "HorizontalPodAutoscaler llm as given" in x for x in lines
    )
    hpa = yaml.safe_load((tmp_path / "out" / "llm-hpa.yaml").read_text())
    assert hpa["kind"] == "HorizontalPodAutoscaler"
    validate, fill = rules("HorizontalPodAutoscaler")
    fill(hpa)
    assert validate(hpa) == []
    # the manifest runs in the scenario it was tuned on
    again = copy.deepcopy(data)
    again["objects"] = [hpa]
    parse_scenario(again)


def test_tune_is_deterministic_and_yaml_is_the_manifest(tmp_path: Path, capsys: Any) -> None:
    data = _scenario(tmp_path, duration=200, slo=SLO)
    a = _tune(tmp_path, data, "-o", "yaml", capsys=capsys)
    b = _tune(tmp_path, data, "-o", "yaml", capsys=capsys, jobs=2)  # in two processes
    assert a == b and a[0] == 0
    assert yaml.safe_load(a[1])["kind"] == "HorizontalPodAutoscaler"


def test_kpa_policy(tmp_path: Path, capsys: Any) -> None:
    rc, out, _ = _tune(
        tmp_path, _scenario(tmp_path, duration=200), "--policy", "kpa", "-o", "yaml", capsys=capsys
    )
    pa = yaml.safe_load(out)
    assert rc in (0, NO_POLICY_MEETS) and pa["kind"] == "PodAutoscaler"
    assert pa["metadata"]["annotations"]["autoscaling.knative.dev/window"].endswith("s")


def test_an_slo_nothing_meets_says_so_and_exits_2(tmp_path: Path, capsys: Any) -> None:
    data = _scenario(tmp_path, duration=200, slo={"latency": "10ms", "percentile": 99})
    rc, out, _ = _tune(tmp_path, data, capsys=capsys)
    assert rc == NO_POLICY_MEETS
    assert "no policy tried meets the SLO (p99 <= 0.01s: at most 1% over); the closest is #1" in out


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [
        ({"slo": None}, [], "slo: tune needs the scenario's SLO"),
        ({}, ["--deployment", "web"], "--deployment web: no Deployment of that name"),
        ({}, ["--budget", "0"], "--budget, --jobs and --top must be >= 1"),
    ],
)
def test_bad_input_exits_1_naming_it(
    tmp_path: Path, capsys: Any, change: dict[str, Any], args: list[str], message: str
) -> None:
    data = _scenario(tmp_path, duration=200)
    data.update(change)
    rc, out, err = _tune(tmp_path, data, *args, capsys=capsys)
    assert rc == 1 and message in err and out == ""
