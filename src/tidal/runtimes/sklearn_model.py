"""The scikit-learn model: found and loaded as KServe's sklearnserver does, validated up front.

Loading follows KServe: exactly one `.joblib`/`.pkl`/`.pickle` file at the top of `model_dir`,
read with `joblib.load`; `PREDICT_PROBA=true` (any case) answers with `predict_proba` when the
estimator has it. Unlike KServe, wrong input is caught before the estimator sees it and answered
with 400 naming the problem (KServe wraps every estimator error into a 500).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tidal.runtimes import tabular
from tidal.runtimes.errors import ModelLoadError
from tidal.runtimes.model import Model
from tidal.runtimes.tabular import call_fixed, check_rows, fp64_input_types

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")


def find_model_file(model_dir: str | os.PathLike[str]) -> Path:
    """The single model file at the top of `model_dir`; ModelLoadError says what is wrong."""
    return tabular.find_model_file(
        model_dir,
        MODEL_EXTENSIONS,
        described="*.joblib, *.pkl or *.pickle",
        full_paths=False,
    )


def predict_proba_wanted(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """KServe's switch: env PREDICT_PROBA equal to "true", any case."""
    return environ.get("PREDICT_PROBA", "false").lower() == "true"


class SKLearnModel(Model):
    """A fitted scikit-learn estimator (or pipeline) read from `model_dir`."""

    batchable = True

    def __init__(self, name: str, model_dir: str | None = None) -> None:
        super().__init__(name, model_dir)
        self.estimator: Any = None
        self.n_features: int | None = None
        self._predict: Any = None

    def load(self) -> bool:
        import joblib  # imported here: keeps `python -m sklearnserver --help` fast

        path = find_model_file(self.model_dir or ".")
        try:
            self.estimator = joblib.load(path)
        except Exception as exc:  # a bad or incompatible pickle: say which file and why
            raise ModelLoadError(f"Failed to load model file {str(path)!r}: {exc!r}") from exc
        if not hasattr(self.estimator, "predict"):
            raise ModelLoadError(
                f"Model file {str(path)!r} holds a {type(self.estimator).__name__}, "
                "which has no predict method"
            )
        use_proba = predict_proba_wanted() and hasattr(self.estimator, "predict_proba")
        self._predict = self.estimator.predict_proba if use_proba else self.estimator.predict
        n = getattr(self.estimator, "n_features_in_", None)
        self.n_features = int(n) if n is not None else None
        self.ready = True
        return True

    def validate(self, instances: Any) -> Any:
        """Numeric input must be 2-D with the estimator's feature count; cast to float64 so
        requests batch together. Non-numeric input goes to the estimator as sent."""
        if not isinstance(instances, np.ndarray):
            return instances
        check_rows(instances, self.n_features)
        if instances.dtype.kind in "biu":
            return instances.astype(np.float64)
        return instances

    def predict(self, instances: Any) -> Any:
        return call_fixed(self._predict, instances)

    def input_types(self) -> list[dict[str, Any]]:
        return fp64_input_types(self.n_features)
