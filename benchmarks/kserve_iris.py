"""KServe 0.21's python model server serving the same iris model.joblib: the benchmark's peer.

Run with the kserve venv's python (`make kserve-venv`):
    .venv-kserve/bin/python benchmarks/kserve_iris.py --model_name sklearn-iris \
        --model_dir DIR --http_port 8080 --enable_grpc false

A minimal `kserve.Model` subclass with the hot path of KServe's sklearnserver (which is not on
PyPI): `get_predict_input` → `predict` (synchronous, on the event loop) → `get_predict_response`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import joblib
import kserve
from kserve.utils.utils import get_predict_input, get_predict_response

MODEL_EXTENSIONS = (".joblib", ".pkl", ".pickle")


class SKLearnIris(kserve.Model):
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self._model: Any = None

    def load(self) -> bool:
        files = [p for p in Path(self.model_dir).iterdir() if p.suffix in MODEL_EXTENSIONS]
        self._model = joblib.load(files[0])
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> Any:
        instances = get_predict_input(payload)
        result = self._model.predict(instances)
        return get_predict_response(payload, result, self.name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    model = SKLearnIris(args.model_name, args.model_dir)
    model.load()
    kserve.ModelServer().start([model])
