"""`tidal.Model` is exported lazily: `import tidal` (the CLI's first line) loads no runtime."""

from __future__ import annotations

import subprocess
import sys

import tidal
from tidal.runtimes.model import Model


def test_tidal_model_is_the_runtime_base_class() -> None:
    assert tidal.Model is Model
    assert "Model" in tidal.__all__


def test_import_tidal_stays_light() -> None:
    code = "import sys, tidal; print(sorted(m for m in ('numpy', 'tidal.runtimes') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
