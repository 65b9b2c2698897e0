"""The simulator's output for every example scenario (examples/sim/*.yaml), byte for byte: the
decisions and the summary of `tidal simulate -o json`, against files recorded in
tests/sim/golden/. A change of the simulator's plumbing (its API, its stores) must not change one
decision. A deliberate change of behaviour re-records them:
`TIDAL_GOLDEN_UPDATE=1 pytest tests/sim/test_golden.py`, and the diff is reviewed."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from tidal.cli.commands import simulate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
# example -> `--duration` (None: the scenario's own, the full run)
EXAMPLES: dict[str, str | None] = {
    "iris-step": None,
    "cron-and-hpa": None,
    "kpa-vs-hpa": None,
    "gpu-metric": None,
    "azure-llm": None,
}


def _simulate(name: str, duration: str | None) -> str:
    parser = argparse.ArgumentParser(prog="tidal")
    simulate.add_parser(parser.add_subparsers(dest="command"))
    argv = ["simulate", str(ROOT / "examples" / "sim" / f"{name}.yaml"), "-o", "json"]
    if duration:
        argv += ["--duration", duration]
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    rc = simulate.run(args, SimpleNamespace(stdout=out, stderr=err))
    assert rc == 0, err.getvalue()
    return out.getvalue()


def test_every_example_has_a_golden_case() -> None:
    assert sorted(EXAMPLES) == sorted(p.stem for p in (ROOT / "examples" / "sim").glob("*.yaml"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_output_is_unchanged(name: str) -> None:
    got = _simulate(name, EXAMPLES[name])
    path = GOLDEN / f"{name}.json"
    if os.environ.get("TIDAL_GOLDEN_UPDATE") == "1":
        path.write_text(got)
    want = path.read_text()
    assert '"decisions"' in want and '"summary"' in want
    assert got == want, f"{name}: the simulator's output changed (diff against {path})"
