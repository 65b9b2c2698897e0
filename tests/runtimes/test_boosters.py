"""xgbserver and lgbserver: model files as KServe loads them, KServe's requests over V1/V2 (the
docs' iris examples), input checks, and the processes' command lines and start errors."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runtimes.boosters import FEATURES, train_lightgbm, train_xgboost
from tests.runtimes.conftest import runtime
from tidal.runtimes.app import RuntimeApp
from tidal.runtimes.errors import ModelLoadError
from tidal.runtimes.lightgbm_model import LightGBMModel
from tidal.runtimes.tabular import rows_from_objects
from tidal.runtimes.xgboost_model import XGBoostModel

ROOT = Path(__file__).resolve().parents[2]
IRIS = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


def call(app: RuntimeApp, path: str, body: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            return await client.post(path, json=body)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def xgb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_xgboost(tmp_path_factory.mktemp("xgb"))


@pytest.fixture(scope="module")
def lgb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_lightgbm(tmp_path_factory.mktemp("lgb"))


@pytest.mark.parametrize("name", ["model.bst", "model.json", "model.ubj"])
def test_xgboost_loads_each_of_kserves_extensions(tmp_path: Path, name: str) -> None:
    model = XGBoostModel("x", str(train_xgboost(tmp_path, name)))
    assert model.load() and model.n_features == 4
    assert model.predict(model.validate(__import__("numpy").array(IRIS))).tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("cls", "files", "text"),
    [
        (XGBoostModel, [], "expected exactly one file named *.bst, *.json, *.ubj"),
        (LightGBMModel, [], "expected exactly one file named *.bst, *.txt"),
        (XGBoostModel, ["a.bst", "b.json"], "More than one model file is detected"),
        (XGBoostModel, ["a.bst"], "Failed to load model file"),
        (LightGBMModel, ["a.bst"], "Failed to load model file"),
    ],
)
def test_load_errors(tmp_path: Path, cls: type, files: list[str], text: str) -> None:
    for f in files:
        (tmp_path / f).write_text("not a booster")
    with pytest.raises(ModelLoadError, match=text.replace("*", r"\*").replace(".", r"\.")):
        cls("m", str(tmp_path)).load()


def test_xgboost_v1_and_v2_as_kserves_docs(xgb_dir: Path) -> None:
    model = XGBoostModel("xgboost-iris", str(xgb_dir))
    model.load()
    app = RuntimeApp([model])
    r = call(app, "/v1/models/xgboost-iris:predict", {"instances": IRIS})
    assert r.json() == {"predictions": [1.0, 1.0]}
    body = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS}]}
    out = call(app, "/v2/models/xgboost-iris/infer", body).json()
    assert out["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "FP32", "data": [1.0, 1.0]}
    ]
    r = call(app, "/v1/models/xgboost-iris:predict", {"instances": [[1, 2, 3]]})
    assert (r.status_code, r.json()) == (
        400,
        {"error": "Wrong feature count: instances have 3 features, the model expects 4"},
    )


def test_lightgbm_dataframe_style_objects_as_kserves_docs(lgb_dir: Path) -> None:
    model = LightGBMModel("lightgbm-iris", str(lgb_dir))
    model.load()
    assert model.features == FEATURES
    app = RuntimeApp([model])
    docs = {  # the request of KServe's LightGBM page, both spellings it shows
        "inputs": [
            {
                "sepal_length_(cm)": [5.1],
                "sepal_width_(cm)": [3.5],
                "petal_length_(cm)": [1.4],
                "petal_width_(cm)": [0.2],
            }
        ]
    }
    local = {
        "inputs": [
            {
                "sepal_width_(cm)": {"0": 3.5},
                "petal_length_(cm)": {"0": 1.4},
                "petal_width_(cm)": {"0": 0.2},
                "sepal_length_(cm)": {"0": 5.1},
            }
        ]
    }
    a = call(app, "/v1/models/lightgbm-iris:predict", docs).json()["predictions"]
    b = call(app, "/v1/models/lightgbm-iris:predict", local).json()["predictions"]
    rows = call(app, "/v1/models/lightgbm-iris:predict", {"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert a == b == rows.json()["predictions"]
    assert len(a) == 1 and len(a[0]) == 3 and max(a[0]) == a[0][0]  # setosa, 3 probabilities
    r = call(app, "/v1/models/lightgbm-iris:predict", {"inputs": [{"petal": [1.0]}]})
    assert r.status_code == 400 and "unknown feature(s) ['petal']" in r.json()["error"]


OBJECTS = [
    ([{"a": 1, "b": 2}], [[1.0, 2.0]]),
    ([{"a": [1, 3], "b": [2, 4]}], [[1.0, 2.0], [3.0, 4.0]]),
    ([{"b": {"0": 2}, "a": {"0": 1}}], [[1.0, 2.0]]),
    ([[{"a": 1, "b": 2}, {"a": 5, "b": 6}]], [[1.0, 2.0], [5.0, 6.0]]),
]


@pytest.mark.parametrize(("instances", "rows"), OBJECTS)
def test_rows_from_objects(instances: list, rows: list) -> None:
    assert rows_from_objects(instances, ["a", "b"]).tolist() == rows


def test_a_missing_feature_is_nan() -> None:
    got = rows_from_objects([{"a": 1}], ["a", "b"])
    assert got[0][0] == 1.0 and got[0][1] != got[0][1]


def test_processes_take_kserves_flags(xgb_dir: Path, lgb_dir: Path) -> None:
    with runtime(
        "xgbserver", ["--model_name=xgboost-iris", f"--model_dir={xgb_dir}", "--nthread=2"]
    ) as (url, _):
        r = httpx.post(f"{url}/v1/models/xgboost-iris:predict", json={"instances": IRIS})
        assert r.json() == {"predictions": [1.0, 1.0]}
        assert (
            'tidal_requests_total{code="200",model_name="xgboost-iris"} 1.0'
            in httpx.get(f"{url}/metrics").text
        )
    with runtime("lgbserver", ["--model_name=lightgbm-iris", f"--model_dir={lgb_dir}"]) as (url, _):
        r = httpx.post(
            f"{url}/v2/models/lightgbm-iris/infer",
            json={
                "inputs": [
                    {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
                ]
            },
        )
        assert r.json()["outputs"][0]["shape"] == [1, 3]


@pytest.mark.parametrize(
    ("module", "args", "text"),
    [
        ("xgbserver", ["--nthread=0"], "argument --nthread: must be at least 1, got 0"),
        ("lgbserver", [], "the following arguments are required: --model_dir"),
    ],
)
def test_bad_flags_exit_2(module: str, args: list[str], text: str, tmp_path: Path) -> None:
    if module == "xgbserver":
        args = [*args, f"--model_dir={tmp_path}"]
    done = subprocess.run(
        [sys.executable, "-m", module, "--http_port=0", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=dict(os.environ, POD_IP="127.0.0.1", PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 2 and text in done.stderr
