"""Request-level traces for the simulator: one row per request, a timestamp column and optional
numeric size columns (e.g. the Azure LLM trace's `TIMESTAMP,ContextTokens,GeneratedTokens`).

`load_requests(path, ...)` reads the CSV and turns it into arrivals on the scenario's clock:
`offset_s` skips the start of the trace, `speed` compresses time (2 = twice as fast), `scale`
multiplies arrivals (each request is kept `floor(scale)` times plus once more with probability
`scale - floor(scale)`, drawn from a `random.Random(seed)`: the same seed keeps the same requests,
so the run stays deterministic). Timestamps are either numbers (seconds) or ISO dates
(`2023-11-16 18:15:46.6805900`: fractions beyond microseconds are cut, no zone is UTC); the first
request of the trace is t=0. Errors name the file and its line."""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


class TraceError(ValueError):
    """A request trace that cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Arrival:
    t: float  # seconds since the start of the run
    size: dict[str, float] = field(default_factory=dict)  # the row's numeric columns


def _timestamp(raw: str) -> float:
    raw = raw.strip()
    try:
        return float(raw)
    except ValueError:
        pass
    text = raw.replace("Z", "+00:00").replace("T", " ")
    if "." in text:  # keep at most microseconds (the Azure trace has 7 digits)
        head, frac = text.split(".", 1)
        digits = ""
        rest = ""
        for i, ch in enumerate(frac):
            if not ch.isdigit():
                rest = frac[i:]
                break
            digits += ch
        text = f"{head}.{(digits + '000000')[:6]}{rest}"
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def read_rows(path: Path, timestamp: str | None = None) -> list[tuple[float, dict[str, float]]]:
    """(seconds since the first row, numeric columns) for each row, in file order."""
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            names = reader.fieldnames or []
            col = timestamp or next((c for c in ("TIMESTAMP", "timestamp", "t") if c in names), "")
            if col not in names:
                raise TraceError(
                    f"requests trace {path}: line 1: no timestamp column "
                    f"{timestamp or 'TIMESTAMP, timestamp or t'} (columns: {', '.join(names)})"
                )
            rows: list[tuple[float, dict[str, float]]] = []
            for line, rec in enumerate(reader, start=2):
                try:
                    ts = _timestamp(rec[col] or "")
                except (TypeError, ValueError):
                    raise TraceError(
                        f"requests trace {path}: line {line}: {col} {rec.get(col)!r} is not a "
                        "time (seconds or an ISO date)"
                    ) from None
                size: dict[str, float] = {}
                for k, v in rec.items():
                    if k == col or k is None or v in ("", None):
                        continue
                    try:
                        size[k] = float(v)
                    except (TypeError, ValueError):
                        raise TraceError(
                            f"requests trace {path}: line {line}: {k} {v!r} is not a number"
                        ) from None
                    if not math.isfinite(size[k]) or size[k] < 0:
                        raise TraceError(
                            f"requests trace {path}: line {line}: {k} must be a number >= 0"
                        )
                rows.append((ts, size))
    except OSError as exc:
        raise TraceError(f"requests trace {path}: {exc.strerror}") from None
    if not rows:
        raise TraceError(f"requests trace {path}: no requests")
    first = min(ts for ts, _ in rows)
    return [(ts - first, size) for ts, size in rows]


def arrivals(
    rows: list[tuple[float, dict[str, float]]],
    *,
    speed: float = 1.0,
    scale: float = 1.0,
    offset_s: float = 0.0,
    seed: int = 0,
    duration_s: float = math.inf,
) -> list[Arrival]:
    """The trace's requests on the run's clock, sorted by time (ties keep file order)."""
    if speed <= 0 or scale < 0:
        raise TraceError("requests: speed must be > 0 and scale >= 0")
    rng = random.Random(seed)
    whole = math.floor(scale)
    frac = scale - whole
    out: list[Arrival] = []
    for ts, size in sorted(rows, key=lambda r: r[0]):
        draw = rng.random()  # one draw per row whatever the scale: thinning is nested
        if ts < offset_s:
            continue
        t = (ts - offset_s) / speed
        if t > duration_s:
            break
        copies = whole + (1 if draw < frac else 0)
        out.extend(Arrival(t, size) for _ in range(copies))
    return out
