"""Every top-level package of tidal has its place in the import contracts (`.importlinter`):
import-linter only checks the packages a contract names, so a new one would go unchecked."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_in_a_contract() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".importlinter")
    named: set[str] = set()
    for section in cfg.sections():
        for key in ("layers", "source_modules"):
            for name in re.findall(r"[\w.]+", cfg.get(section, key, fallback="")):
                named.add(name.removeprefix("tidal.").split(".")[0])
    packages = {
        p.stem if p.suffix == ".py" else p.name
        for p in (ROOT / "src" / "tidal").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert packages - named == set()
