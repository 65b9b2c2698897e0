#!/usr/bin/env python3
"""Regenerate the README's speed table from benchmarks/results/*.md (never typed by hand).

Each results file carries one hidden row (`<!-- readme-speed: {...} -->`, written by the benchmark
through `benchmarks/provenance.py`) and its revision; the table lists them in their `order`, each
linking to its file. `--check` exits 1 when the README is out of date (CI-friendly)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
ROW = re.compile(r"<!-- readme-speed: (\{.*\}) -->")
REV = re.compile(r"- revision: `([^`]+)`")


def rows(results: Path = RESULTS) -> list[dict[str, str]]:
    out = []
    for path in sorted(results.glob("*.md")):
        text = path.read_text()
        rev = REV.search(text)
        for m in ROW.finditer(text):
            row = json.loads(m.group(1))
            row["file"] = path.name
            row.setdefault("revision", rev.group(1) if rev else "?")
            out.append(row)
    return sorted(out, key=lambda r: (int(r.get("order", 99)), r["file"]))


def table(found: list[dict[str, str]]) -> str:
    lines = [
        BEGIN,
        "| what | tidal | peer (measured in the same run unless it says cited) | results |",
        "|---|---|---|---|",
    ]
    for r in found:
        link = f"[{r['file']}](benchmarks/results/{r['file']}) @ `{r['revision']}`"
        lines.append(f"| {r['what']} | {r['tidal']} | {r['peer']} | {link} |")
    lines.append(END)
    return "\n".join(lines)


def render(readme: str, found: list[dict[str, str]]) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + table(found) + tail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = ap.parse_args()
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old, rows())
    if args.check:
        if new != old:
            print("README.md's speed table is stale: run scripts/readme_speed.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    found = rows()
    print(f"README.md: {len(found)} speed rows")
    with_row = {r["file"] for r in found}
    for p in sorted(RESULTS.glob("*.md")):
        if p.name not in with_row:
            print(f"  not in the table (no readme-speed line; re-run its benchmark): {p.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
