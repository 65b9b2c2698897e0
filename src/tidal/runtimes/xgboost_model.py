"""XGBoost as KServe's xgbserver loads it: the one `*.bst`, `*.json` or `*.ubj` file at the top of
the model folder, read into a `Booster` with `nthread`; predict on a `DMatrix` of the rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tidal.runtimes.tabular import BoosterModel

BOOSTER_FILE_EXTENSIONS = (".bst", ".json", ".ubj")  # KServe's xgbserver


class XGBoostModel(BoosterModel):
    extensions = BOOSTER_FILE_EXTENSIONS

    def load_booster(self, path: Path) -> None:
        import xgboost as xgb  # here: keeps `python -m xgbserver --help` fast

        self._xgb = xgb
        self.booster = xgb.Booster(
            params={"nthread": self.nthread}, model_file=bytearray(path.read_bytes())
        )
        self.features = list(self.booster.feature_names or [])
        n = self.booster.num_features()
        self.n_features = int(n) if n else None

    def booster_predict(self, rows: np.ndarray) -> Any:
        dmatrix = self._xgb.DMatrix(rows, nthread=self.nthread, feature_names=self.features or None)
        return self.booster.predict(dmatrix)
