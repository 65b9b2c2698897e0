"""LightGBM as KServe's lgbserver loads it: the one `*.bst` file at the top of the model folder
(tidal also takes LightGBM's own `*.txt` text dump), read into a `Booster` with `nthread`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tidal.runtimes.tabular import BoosterModel

MODEL_EXTENSIONS = (".bst", ".txt")  # KServe's lgbserver: .bst; .txt is LightGBM's default name


class LightGBMModel(BoosterModel):
    extensions = MODEL_EXTENSIONS

    def load_booster(self, path: Path) -> None:
        from lightgbm import Booster  # here: keeps `python -m lgbserver --help` fast

        self.booster = Booster(model_file=str(path))  # nthread applies at predict
        self.features = list(self.booster.feature_name())
        self.n_features = int(self.booster.num_feature())

    def booster_predict(self, rows: np.ndarray) -> Any:
        return self.booster.predict(rows, num_threads=self.nthread)
