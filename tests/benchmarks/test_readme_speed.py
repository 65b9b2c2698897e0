"""The README's speed table comes from the results files (issue 20, honest benchmarks): the rows
a benchmark writes through benchmarks/provenance.py, and the script that renders them."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


provenance = _load("provenance", ROOT / "benchmarks" / "provenance.py")
readme_speed = _load("readme_speed", ROOT / "scripts" / "readme_speed.py")


def _prov(revision: str = "abc123", wrapper: str = "") -> object:
    return provenance.Provenance(revision, 0.0, ".venv/bin/python b.py --x 1", 0.5, wrapper)


def test_header_records_revision_date_machine_load_and_command() -> None:
    text = _prov().header("Title")
    assert text.startswith("# Title\n\n")
    assert "- revision: `abc123`" in text
    assert "- date: 1970-01-01 00:00 UTC" in text
    assert f"{os.cpu_count()} CPUs" in text and "load average 0.5 before" in text
    assert "- command: `.venv/bin/python b.py --x 1`" in text


def test_header_of_a_section_and_of_a_wrapper() -> None:
    text = _prov(wrapper="benchmarks/predict --duration 5").header("Part", level=2)
    assert text.startswith("## Part\n\n")
    assert "- command: `benchmarks/predict --duration 5` (which runs `.venv/bin/python b.py" in text


def test_rows_come_from_files_in_order_with_each_rows_revision(tmp_path: Path) -> None:
    one, two = _prov("rev1"), _prov("rev2")
    (tmp_path / "b.md").write_text(
        one.header("B") + one.readme_row(20, "second", "2 s", "peer, same run: 3 s")
    )
    (tmp_path / "a.md").write_text(
        "# A\n\n## one\n\n- revision: `old`\n"
        + two.readme_row(10, "first", "1 s", "cited: x")
        + "\n## two\n"
        + one.readme_row(11, "first too", "1.5 s", "—")
    )
    (tmp_path / "c.md").write_text("# C, never re-run\n\n- revision: `x`\n")
    rows = readme_speed.rows(tmp_path)
    assert [(r["what"], r["file"], r["revision"]) for r in rows] == [
        ("first", "a.md", "rev2"),
        ("first too", "a.md", "rev1"),
        ("second", "b.md", "rev1"),
    ]


def test_render_replaces_only_the_block_between_the_markers() -> None:
    readme = f"intro\n{readme_speed.BEGIN}\nold table\n{readme_speed.END}\nafter\n"
    row = {"what": "w", "tidal": "t", "peer": "p", "file": "f.md", "revision": "r"}
    out = readme_speed.render(readme, [row])
    assert out.startswith("intro\n" + readme_speed.BEGIN) and out.endswith(
        readme_speed.END + "\nafter\n"
    )
    assert "old table" not in out
    assert "| w | t | p | [f.md](benchmarks/results/f.md) @ `r` |" in out
    with pytest.raises(SystemExit):
        readme_speed.render("no markers", [row])


def test_write_section_keeps_the_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    provenance.write_section(path, "File", "one", "## one\n\nfirst\n")
    provenance.write_section(path, "File", "two", "## two\n\nsecond\n")
    provenance.write_section(path, "File", "one", "## one\n\nfirst again\n")
    text = path.read_text()
    assert text == "# File\n\n## one\n\nfirst again\n\n## two\n\nsecond\n"
