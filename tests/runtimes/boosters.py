"""Tiny iris boosters trained in a second (the files KServe's xgbserver / lgbserver load)."""

from __future__ import annotations

import warnings
from pathlib import Path

FEATURES = ["sepal_length_(cm)", "sepal_width_(cm)", "petal_length_(cm)", "petal_width_(cm)"]


def train_xgboost(folder: Path, name: str = "model.bst") -> Path:
    """KServe's docs' training: multi:softmax on iris, saved as `model.bst`."""
    import xgboost as xgb
    from sklearn.datasets import load_iris

    iris = load_iris()
    params = {
        "max_depth": 3,
        "eta": 0.3,
        "num_class": 3,
        "objective": "multi:softmax",
        "nthread": 1,
    }
    dtrain = xgb.DMatrix(iris["data"], label=iris["target"])
    booster = xgb.train(params, dtrain, num_boost_round=5)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # xgboost says it saves `.bst` as UBJSON: KServe reads it
        warnings.simplefilter("ignore", UserWarning)
        booster.save_model(str(folder / name))
    return folder


def train_lightgbm(folder: Path, name: str = "model.bst") -> Path:
    """KServe's docs' training: multiclass on iris with the feature names its request uses."""
    import lightgbm as lgb
    from sklearn.datasets import load_iris

    iris = load_iris()
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1}
    data = lgb.Dataset(iris["data"], label=iris["target"], feature_name=FEATURES)
    booster = lgb.train(params, data, num_boost_round=5)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / name))
    return folder
