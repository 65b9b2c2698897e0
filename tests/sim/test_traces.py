"""Request-level traces: the Azure format read directly, speed/scale/offset, errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidal.sim.traces import TraceError, arrivals, read_rows

AZURE = Path(__file__).parents[3] / "shared" / "traces" / "azure_llm_conv_2023.csv"


def _csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "trace.csv"
    p.write_text(text)
    return p


def test_reads_the_azure_format(tmp_path: Path) -> None:
    p = _csv(
        tmp_path,
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n",
    )
    rows = read_rows(p)
    assert rows[0] == (0.0, {"ContextTokens": 374.0, "GeneratedTokens": 44.0})
    assert rows[1][0] == pytest.approx(4.314579, abs=1e-6)


@pytest.mark.skipif(not AZURE.exists(), reason="the shared trace is not beside this checkout")
def test_the_shared_trace_has_every_request() -> None:
    rows = read_rows(AZURE)
    assert len(rows) == 19366 and rows[0][0] == 0.0
    assert max(t for t, _ in rows) == pytest.approx(3501.72, abs=0.01)


def test_speed_offset_and_duration(tmp_path: Path) -> None:
    rows = read_rows(_csv(tmp_path, "t,n\n0,1\n10,2\n20,3\n30,4\n"))
    got = arrivals(rows, speed=2, offset_s=10, duration_s=6)
    assert [(a.t, a.size["n"]) for a in got] == [(0.0, 2.0), (5.0, 3.0)]


@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0, 2.5])
def test_scale_is_deterministic_and_close(tmp_path: Path, scale: float) -> None:
    rows = [(float(i), {}) for i in range(2000)]
    a = arrivals(rows, scale=scale, seed=7)
    assert a == arrivals(rows, scale=scale, seed=7)
    assert abs(len(a) - scale * 2000) < 0.05 * 2000 + 1
    assert [x.t for x in a] == sorted(x.t for x in a)


def test_thinning_is_nested(tmp_path: Path) -> None:
    """A smaller scale keeps a subset of a larger one's requests (one draw per row)."""
    rows = [(float(i), {}) for i in range(500)]
    small = {a.t for a in arrivals(rows, scale=0.2, seed=3)}
    large = {a.t for a in arrivals(rows, scale=0.6, seed=3)}
    assert small <= large and len(small) < len(large)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,n\n1,2\n", "line 1: no timestamp column"),
        ("t,n\n0,1\nsoon,2\n", "line 3: t 'soon' is not a time"),
        (
            "TIMESTAMP,GeneratedTokens\n2023-11-16 18:15:46,44\n2023-11-16 18:15:47,many\n",
            "line 3: GeneratedTokens 'many' is not a number",
        ),
        ("t,n\n0,-1\n", "line 2: n must be a number >= 0"),
        ("t,n\n", "no requests"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    p = _csv(tmp_path, text)
    with pytest.raises(TraceError, match=message) as exc:
        read_rows(p)
    assert str(p) in str(exc.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="No such file"):
        read_rows(tmp_path / "nope.csv")
