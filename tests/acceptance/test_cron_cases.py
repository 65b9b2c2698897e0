"""Every CronHPA case (../shared/acceptance/cron/FORMAT.md) through the real code: schedules
through the parser and next-firing search, excludeDates through the whole-day match, HPA cases
through the compatibility rules the controller applies.

The cases live in tests/acceptance/cron_cases/; set CRON_CASES_DIR to run another folder of
cases in the same format. A case is told apart by its keys: `schedule`, `excludeDates`, `hpa`."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tidal.autoscaling.cron import ScheduleError, firings, load_zone, parse_schedule
from tidal.autoscaling.cron.exclude import excluded_by
from tidal.autoscaling.cron.target import hpa_step

CASES_DIR = Path(os.environ.get("CRON_CASES_DIR") or Path(__file__).parent / "cron_cases")


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for n, case in enumerate(json.loads(path.read_text())):
            out.append((f"{path.stem}[{n}] {case.get('name', '')}", case))
    return out


CASES = _load()


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_cases_found() -> None:
    assert CASES, f"no *.json cases in {CASES_DIR}"


def _schedule_case(case: dict[str, Any]) -> None:
    if case.get("error"):
        with pytest.raises(ScheduleError):
            parse_schedule(case["schedule"])
            load_zone(case.get("timeZone", "UTC"))
        return
    schedule = parse_schedule(case["schedule"])
    tz = load_zone(case.get("timeZone", "UTC"))
    want = case["next"]
    got = firings(schedule, _instant(case["from"]), tz, len(want) or 1)  # [] = never fires
    assert [_iso(t) for t in got] == want


def _exclude_case(case: dict[str, Any]) -> None:
    tz = load_zone(case.get("timeZone", "UTC"))
    entry = excluded_by(case["excludeDates"], _instant(case["at"]), tz)
    assert (entry is not None) == case["excluded"], entry


def _hpa_case(case: dict[str, Any]) -> None:
    hpa, cur, size = case["hpa"], case["currentReplicas"], case["targetSize"]
    step = hpa_step(hpa["minReplicas"], hpa["maxReplicas"], cur, size)
    expect = case["expect"]
    assert {"minReplicas": step.min_replicas, "maxReplicas": step.max_replicas} == expect["hpa"]
    assert (step.scale_to if step.scale_to is not None else cur) == expect["replicas"]


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_case(case: dict[str, Any]) -> None:
    if "schedule" in case:
        _schedule_case(case)
    elif "excludeDates" in case:
        _exclude_case(case)
    elif "hpa" in case:
        _hpa_case(case)
    else:
        pytest.fail(f"case of unknown kind (keys {sorted(case)})")
