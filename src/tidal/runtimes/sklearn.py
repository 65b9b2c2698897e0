"""`python -m tidal.runtimes.sklearn --model_name=NAME --model_dir=DIR --http_port=PORT [--workers N]`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tidal.runtimes.server import run

MODEL_FACTORY = "tidal.runtimes.sklearn_model:SKLearnModel"


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidal.runtimes.sklearn") -> int:
    return run(argv, prog, MODEL_FACTORY)


if __name__ == "__main__":
    sys.exit(main())
