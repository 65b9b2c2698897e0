"""Finding and loading the sklearn model as KServe does; validating input before the estimator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tidal.runtimes.errors import InvalidInput, ModelLoadError
from tidal.runtimes.sklearn_model import SKLearnModel, find_model_file, predict_proba_wanted


def test_the_single_model_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.joblib").write_bytes(b"deeper: ignored")
    assert find_model_file(tmp_path) == tmp_path / "model.pkl"


def test_no_model_file_names_the_folder_and_the_accepted_names(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as err:
        find_model_file(tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    assert "*.joblib, *.pkl or *.pickle" in message


def test_several_model_files_is_kserves_error(tmp_path: Path) -> None:
    for name in ("a.joblib", "b.pickle"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ModelLoadError) as err:
        find_model_file(tmp_path)
    assert str(err.value) == (
        "More than one model file is detected, Only one is allowed within model_dir: "
        "['a.joblib', 'b.pickle']"
    )


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        find_model_file(tmp_path / "nope")


def test_a_corrupt_pickle_fails_load_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="Failed to load model file .*model.joblib"):
        SKLearnModel("m", str(tmp_path)).load()


@pytest.mark.parametrize(
    ("value", "wanted"), [("true", True), ("TRUE", True), ("1", False), ("false", False)]
)
def test_predict_proba_switch(value: str, wanted: bool) -> None:
    assert predict_proba_wanted({"PREDICT_PROBA": value}) is wanted
    assert predict_proba_wanted({}) is False


@pytest.fixture(scope="module")
def iris(iris_model_dir: Path) -> SKLearnModel:
    model = SKLearnModel("iris", str(iris_model_dir))
    model.load()
    return model


SEED = [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]


def test_seed_prediction(iris: SKLearnModel) -> None:
    assert iris.ready and iris.n_features == 4
    assert iris.predict(iris.validate(np.array(SEED))).tolist() == [1, 1]


def test_predict_proba_when_asked_and_the_estimator_has_it(
    tmp_path: Path, iris_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    joblib.dump(LogisticRegression(max_iter=500).fit(data.data, data.target), tmp_path / "m.pkl")
    monkeypatch.setenv("PREDICT_PROBA", "true")
    proba = SKLearnModel("iris", str(tmp_path))
    proba.load()
    rows = proba.predict(np.array(SEED))
    assert rows.shape == (2, 3)
    assert np.allclose(rows.sum(axis=1), 1.0)
    svc = SKLearnModel("iris", str(iris_model_dir))  # SVC without probability=True: predict
    svc.load()
    assert svc.predict(np.array(SEED)).tolist() == [1, 1]


VALIDATE = {
    "1-D": (np.array([1.0, 2.0, 3.0, 4.0]), "Expected a 2-D array of instances"),
    "3-D": (np.zeros((1, 2, 4)), "got a 3-D array of shape [1, 2, 4]"),
    "empty": (np.zeros((0, 4)), "Expected at least one instance, got none"),
    "3 features": (np.zeros((2, 3)), "instances have 3 features, the model expects 4"),
}


@pytest.mark.parametrize(("array", "message"), list(VALIDATE.values()), ids=list(VALIDATE))
def test_validate(iris: SKLearnModel, array: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[")):
        iris.validate(array)


def test_ints_are_cast_so_requests_batch_together(iris: SKLearnModel) -> None:
    assert iris.validate(np.array([[7, 3, 5, 2]])).dtype == np.float64


def test_estimator_errors_on_odd_input_are_400(iris: SKLearnModel) -> None:
    with pytest.raises(InvalidInput, match="ValueError"):
        iris.predict([["a", "b", "c", "d"]])
