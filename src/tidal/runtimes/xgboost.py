"""`python -m tidal.runtimes.xgboost --model_name=NAME --model_dir=DIR [--nthread N] ...`: KServe's
xgbserver command line on tidal's runtime (same protocols, batching and metrics as sklearn)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tidal.runtimes.server import run
from tidal.runtimes.tabular import nthread_flag

MODEL_FACTORY = "tidal.runtimes.xgboost_model:XGBoostModel"


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidal.runtimes.xgboost") -> int:
    return run(argv, prog, MODEL_FACTORY, nthread_flag)


if __name__ == "__main__":
    sys.exit(main())
