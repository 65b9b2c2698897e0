"""The wire vocabulary has one home: no other module spells out a name `tidal.api.wellknown`
holds, so the writer and the readers of a label cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from tidal.api import wellknown

SRC = Path(wellknown.__file__).resolve().parents[1]  # src/tidal
NAMES = {
    k: v
    for k, v in vars(wellknown).items()
    if k.isupper() and isinstance(v, str) and "/" in v  # labels and annotations
}


def test_names_are_spelled_once() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "wellknown.py" and path.parent.name == "api":
            continue
        text = path.read_text()
        for name, value in NAMES.items():
            if re.search(rf"[\"']{re.escape(value)}[\"'=]", text):
                found.append(f"{path.relative_to(SRC)}: {value} (use wellknown.{name})")
    assert found == []


def test_names_are_unique() -> None:
    values = list(NAMES.values())
    assert len(values) == len(set(values))
