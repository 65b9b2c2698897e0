"""What the tabular runtimes share: the checks of a 2-D batch, the 400 for a failing predict and
the FP64 v2 metadata (sklearn and the boosters); for the gradient-boosting runtimes (xgbserver,
lgbserver), finding the one model file as KServe's servers do and turning a request's instances
into the 2-D float array a booster takes (rows of numbers, or KServe's DataFrame-style objects
keyed by feature name).

KServe builds a pandas DataFrame from objects (`get_predict_input`); tidal does the same mapping
without pandas: each object holds one value, or a list, or an index→value map per feature; the
rows are read in the booster's feature order and a missing feature is NaN (as a DataFrame built
with `columns=` would hold it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tidal.runtimes.errors import InvalidInput, ModelLoadError
from tidal.runtimes.model import Model


def find_model_file(
    model_dir: str | os.PathLike[str],
    extensions: Sequence[str],
    *,
    described: str | None = None,
    full_paths: bool = True,
) -> Path:
    """The single file at the top of `model_dir` whose name ends with one of `extensions`;
    ModelLoadError says what is wrong, in the words of the runtime's KServe server (`described`
    names the expected files, `full_paths` how the clashing files are listed)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelLoadError(f"model_dir {str(folder)!r} does not exist or is not a directory")
    found = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(tuple(extensions))
    )
    if not found:
        names = described or ", ".join(f"*{e}" for e in extensions)
        raise ModelLoadError(
            f"No model file found in model_dir {str(folder)!r}: expected exactly one file named "
            f"{names} at its top level"
        )
    if len(found) > 1:
        listed = [str(p) if full_paths else p.name for p in found]
        raise ModelLoadError(
            f"More than one model file is detected, Only one is allowed within model_dir: {listed}"
        )
    return found[0]


def _column(value: Any) -> list[Any]:
    """One feature's values in an object instance: a scalar, a list, or {index: value}."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return [value]


def rows_from_objects(instances: list[Any], features: Sequence[str]) -> np.ndarray:
    """KServe's DataFrame-style instances (`[{"f1": {"0": 3.5}, ...}]`) as float rows in
    `features` order; InvalidInput names the feature that is wrong."""
    if not features:
        raise InvalidInput("this model has no feature names: send rows of numbers, not objects")
    known = set(features)
    rows: list[list[float]] = []
    for i, inst in enumerate(instances):
        objs = inst if isinstance(inst, list) else [inst]
        for obj in objs:
            if not isinstance(obj, dict):
                raise InvalidInput(f"instances[{i}]: expected an object of feature values")
            unknown = sorted(set(obj) - known)
            if unknown:
                raise InvalidInput(
                    f"instances[{i}]: unknown feature(s) {unknown}; the model has {list(features)}"
                )
            cols = {name: _column(obj[name]) for name in features if name in obj}
            n = max((len(c) for c in cols.values()), default=0)
            if n == 0:
                raise InvalidInput(f"instances[{i}]: no feature values")
            for name, col in cols.items():
                if len(col) not in (1, n):
                    raise InvalidInput(
                        f"instances[{i}]: feature {name!r} has {len(col)} values, others {n}"
                    )
            for r in range(n):
                row = []
                for name in features:
                    col = cols.get(name)
                    v = math.nan if col is None else (col[0] if len(col) == 1 else col[r])
                    if v is None:
                        v = math.nan
                    if isinstance(v, bool) or not isinstance(v, int | float):
                        raise InvalidInput(
                            f"instances[{i}]: feature {name!r} must be a number, got {v!r}"
                        )
                    row.append(float(v))
                rows.append(row)
    return np.asarray(rows, dtype=np.float64)


def check_rows(instances: np.ndarray, n_features: int | None) -> None:
    """A batch a tabular model takes: 2-D, at least one row, the model's feature count."""
    if instances.ndim != 2:
        raise InvalidInput(
            "Expected a 2-D array of instances (one list of features per instance), "
            f"got a {instances.ndim}-D array of shape {list(instances.shape)}"
        )
    if instances.shape[0] == 0:
        raise InvalidInput("Expected at least one instance, got none")
    if n_features is not None and instances.shape[1] != n_features:
        raise InvalidInput(
            f"Wrong feature count: instances have {instances.shape[1]} features, "
            f"the model expects {n_features}"
        )


def call_fixed(predict: Callable[[Any], Any], instances: Any) -> Any:
    """The loaded model is fixed, so a failure on a request is the input's fault: a 400."""
    try:
        return predict(instances)
    except Exception as exc:
        raise InvalidInput(f"{type(exc).__name__}: {exc}") from exc


def fp64_input_types(n_features: int | None) -> list[dict[str, Any]]:
    """The v2 metadata input of a model fed float64 rows of `n_features`, when that is known."""
    if n_features is None:
        return []
    return [{"name": "input-0", "datatype": "FP64", "shape": [-1, n_features]}]


class BoosterModel(Model):
    """A gradient-boosting booster behind KServe's V1/V2 protocols: micro-batched, checked before
    the booster sees a request (feature count, numbers), booster errors answered with 400."""

    batchable = True
    extensions: tuple[str, ...] = ()

    def __init__(self, name: str, model_dir: str | None = None, nthread: int = 1) -> None:
        super().__init__(name, model_dir)
        self.nthread = nthread
        self.features: list[str] = []
        self.n_features: int | None = None

    def load_booster(self, path: Path) -> None:
        raise NotImplementedError

    def booster_predict(self, rows: np.ndarray) -> Any:
        raise NotImplementedError

    def load(self) -> bool:
        path = find_model_file(self.model_dir or ".", self.extensions)
        try:
            self.load_booster(path)
        except ModelLoadError:
            raise
        except Exception as exc:  # a corrupt or foreign file: say which and why
            raise ModelLoadError(f"Failed to load model file {str(path)!r}: {exc}") from exc
        self.ready = True
        return True

    def validate(self, instances: Any) -> Any:
        if (
            isinstance(instances, list)
            and instances
            and (
                isinstance(instances[0], dict)
                or (
                    isinstance(instances[0], list)
                    and instances[0]
                    and isinstance(instances[0][0], dict)
                )
            )
        ):
            instances = rows_from_objects(instances, self.features)
        if not isinstance(instances, np.ndarray):
            raise InvalidInput("Expected a 2-D array of numbers or objects of feature values")
        check_rows(instances, self.n_features)
        if instances.dtype.kind not in "biuf":
            raise InvalidInput(f"Expected numbers, got {instances.dtype} values")
        return instances.astype(np.float64, copy=False)

    def predict(self, instances: Any) -> Any:
        return call_fixed(self.booster_predict, instances)

    def input_types(self) -> list[dict[str, Any]]:
        return fp64_input_types(self.n_features)


def nthread_flag(parser: Any) -> Any:
    """KServe's `--nthread` (default 1) for xgbserver and lgbserver; returns the reader."""
    from tidal.runtimes.server import _positive_int

    parser.add_argument(
        "--nthread", type=_positive_int, default=1, help="threads the booster uses (1)"
    )
    return lambda args: {"nthread": args.nthread}
