"""`python -m tidal.runtimes.custom --model-class pkg.mod:Class --model_name NAME [...]`.

Serves any `tidal.Model` subclass with the same server, protocols and flags as the sklearn
runtime; `--model_dir` is optional and handed to the class as `model_dir`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tidal.runtimes.server import run


def main(argv: Sequence[str] | None = None) -> int:
    return run(argv, "python -m tidal.runtimes.custom")


if __name__ == "__main__":
    sys.exit(main())
