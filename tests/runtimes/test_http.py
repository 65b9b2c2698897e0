"""The sklearn runtime over real HTTP: the seed's request, both protocols, every bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.runtimes.conftest import SEED_INPUT

pytestmark = pytest.mark.process

JSON_HEADERS = {"Content-Type": "application/json"}
SEED_V2 = {
    "id": "req-1",
    "inputs": [
        {
            "name": "input-0",
            "shape": [2, 4],
            "datatype": "FP32",
            "data": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]],
        }
    ],
}
PREDICT = "/v1/models/sklearn-iris:predict"
INFER = "/v2/models/sklearn-iris/infer"


def test_seed_curl_returns_exactly_the_seed_answer(iris_server: str) -> None:
    r = httpx.post(iris_server + PREDICT, content=SEED_INPUT.read_bytes(), headers=JSON_HEADERS)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == b'{"predictions":[1,1]}'


def test_curl_default_form_content_type_still_works(iris_server: str) -> None:
    # curl -d without -H sends application/x-www-form-urlencoded; KServe then fails (kserve#3117)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = httpx.post(iris_server + PREDICT, content=SEED_INPUT.read_bytes(), headers=headers)
    assert r.json() == {"predictions": [1, 1]}


def test_v1_inputs_key(iris_server: str) -> None:
    r = httpx.post(iris_server + PREDICT, json={"inputs": [[6.8, 2.8, 4.8, 1.4]]})
    assert r.json() == {"predictions": [1]}


def test_v2_infer_returns_one_output_tensor(iris_server: str) -> None:
    r = httpx.post(iris_server + INFER, json=SEED_V2)
    assert r.status_code == 200
    body = r.json()
    assert body["model_name"] == "sklearn-iris"
    assert body["id"] == "req-1"
    assert body["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 1]}
    ]


@pytest.mark.parametrize("datatype", ["FP64", "FP16", "BF16", "INT32", "UINT8"])
def test_v2_numeric_datatypes_predict(iris_server: str, datatype: str) -> None:
    data = [7, 3, 5, 2] if datatype.startswith(("INT", "UINT")) else [6.8, 2.8, 4.8, 1.4]
    tensor = {"name": "x", "shape": [1, 4], "datatype": datatype, "data": data}
    r = httpx.post(iris_server + INFER, json={"inputs": [tensor]})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [1]


READS = {
    "/": {"status": "alive"},
    "/v1/models": {"models": ["sklearn-iris"]},
    "/v1/models/": {"models": ["sklearn-iris"]},
    "/v1/models/sklearn-iris": {"name": "sklearn-iris", "ready": True},
    "/v2/health/live": {"live": True},
    "/v2/health/ready": {"ready": True},
    "/v2/models/sklearn-iris/ready": {"name": "sklearn-iris", "ready": True},
    "/v2/models": {"models": ["sklearn-iris"]},
}


@pytest.mark.parametrize(("path", "body"), list(READS.items()), ids=list(READS))
def test_read_endpoints(iris_server: str, path: str, body: dict[str, Any]) -> None:
    r = httpx.get(iris_server + path)
    assert (r.status_code, r.json()) == (200, body)


def test_v2_metadata(iris_server: str) -> None:
    server = httpx.get(iris_server + "/v2").json()
    assert server["name"] == "tidal" and server["extensions"] == []
    model = httpx.get(iris_server + "/v2/models/sklearn-iris").json()
    assert model["name"] == "sklearn-iris"
    assert model["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]


def v2_body(**tensor: Any) -> dict[str, Any]:
    base = {"name": "input-0", "shape": [1, 4], "datatype": "FP32", "data": [1.0, 2.0, 3.0, 4.0]}
    return {"inputs": [{**base, **tensor}]}


# (method, path, body (bytes or JSON), status, error message or its start)
BAD: dict[str, tuple[str, str, Any, int, str]] = {
    "v1 unknown model": (
        "POST",
        "/v1/models/nope:predict",
        {"instances": [[1, 2, 3, 4]]},
        404,
        "Model with name nope does not exist.",
    ),
    "v1 unknown model GET": (
        "GET",
        "/v1/models/nope",
        None,
        404,
        "Model with name nope does not exist.",
    ),
    "v2 unknown model infer": (
        "POST",
        "/v2/models/nope/infer",
        v2_body(),
        404,
        "Model with name nope does not exist.",
    ),
    "v2 unknown model ready": (
        "GET",
        "/v2/models/nope/ready",
        None,
        404,
        "Model with name nope does not exist.",
    ),
    "v2 unknown model metadata": (
        "GET",
        "/v2/models/nope",
        None,
        404,
        "Model with name nope does not exist.",
    ),
    "v1 body not JSON": ("POST", PREDICT, b"instances=1", 400, "Unrecognized request format: "),
    "v2 body not JSON": ("POST", INFER, b"{", 400, "Unrecognized request format: "),
    "v1 no instances": (
        "POST",
        PREDICT,
        {"data": [1]},
        400,
        'Expected "instances" or "inputs" in the request body',
    ),
    "v1 instances not a list": (
        "POST",
        PREDICT,
        {"instances": "abc"},
        400,
        'Expected "instances" to be a list',
    ),
    "v1 wrong shape 1-D": (
        "POST",
        PREDICT,
        {"instances": [6.8, 2.8, 4.8, 1.4]},
        400,
        "Expected a 2-D array of instances",
    ),
    "v1 ragged rows": (
        "POST",
        PREDICT,
        {"instances": [[1, 2, 3, 4], [1]]},
        400,
        '"instances" is not a rectangular array',
    ),
    "v1 empty instances": (
        "POST",
        PREDICT,
        {"instances": []},
        400,
        "Expected a 2-D array of instances",
    ),
    "v1 wrong feature count": (
        "POST",
        PREDICT,
        {"instances": [[1, 2, 3]]},
        400,
        "Wrong feature count: instances have 3 features, the model expects 4",
    ),
    "v1 strings": ("POST", PREDICT, {"instances": [["a", "b", "c", "d"]]}, 400, "ValueError: "),
    "v2 wrong feature count": (
        "POST",
        INFER,
        v2_body(shape=[2, 2]),
        400,
        "Wrong feature count: instances have 2 features, the model expects 4",
    ),
    "v2 wrong datatype": (
        "POST",
        INFER,
        v2_body(datatype="INT8"),
        400,
        "inputs[0] (input-0): INT8 data must be integers",
    ),
    "v2 unknown datatype": (
        "POST",
        INFER,
        v2_body(datatype="DOUBLE"),
        400,
        "inputs[0] (input-0): unknown \"datatype\" 'DOUBLE'",
    ),
    "v2 wrong shape": ("POST", INFER, v2_body(shape=[4]), 400, "Expected a 2-D array of instances"),
    "v2 bad shape value": (
        "POST",
        INFER,
        v2_body(shape=[1, "4"]),
        400,
        'inputs[0] (input-0): "shape" must be a list of non-negative integers',
    ),
    "v2 data length": (
        "POST",
        INFER,
        v2_body(data=[1.0, 2.0]),
        400,
        "inputs[0] (input-0): data has 2 elements but shape [1, 4] needs 4",
    ),
    "v2 no inputs": (
        "POST",
        INFER,
        {"id": "x"},
        400,
        '"inputs" must be a non-empty list of tensors',
    ),
    "body over the limit": (
        "POST",
        PREDICT,
        {"instances": [[1.0, 2.0, 3.0, 4.0]] * 10000},
        413,
        "Request body is larger than the limit of 100000 bytes",
    ),
    "explain": (
        "POST",
        "/v1/models/sklearn-iris:explain",
        {"instances": [[1, 2, 3, 4]]},
        501,
        "Could not find explainer_host.",
    ),
    "model versions": (
        "GET",
        "/v2/models/sklearn-iris/versions/1",
        None,
        501,
        "Model versioning not supported yet.",
    ),
    "GET predict": ("GET", PREDICT, None, 405, "Method Not Allowed"),
    "unknown path": ("GET", "/v3/anything", None, 404, "Not Found"),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"), list(BAD.values()), ids=list(BAD)
)
def test_bad_input_gets_4xx_error_json(
    iris_server: str, method: str, path: str, body: Any, status: int, message: str
) -> None:
    content = (
        body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
    )
    r = httpx.request(method, iris_server + path, content=content, headers=JSON_HEADERS)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"].startswith(message)  # the full text, or its fixed start


def test_body_over_the_limit_without_content_length_is_413(iris_server: str) -> None:
    def chunks() -> Iterator[bytes]:  # streamed: no Content-Length header
        for _ in range(50):
            yield b" " * 4096

    r = httpx.post(iris_server + PREDICT, content=chunks(), headers=JSON_HEADERS)
    assert r.status_code == 413
    assert httpx.get(iris_server + "/").status_code == 200


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) or (
            name.endswith("}") and line.startswith(name)
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_concurrent_requests_are_all_answered_right_and_batched(iris_server: str) -> None:
    before = httpx.get(iris_server + "/metrics").text
    rows = [[6.8, 2.8, 4.8, 1.4], [5.1, 3.5, 1.4, 0.2], [7.7, 3.0, 6.1, 2.3]]  # 1, 0, 2

    with httpx.Client(limits=httpx.Limits(max_connections=16)) as client:

        def one(i: int) -> list[int]:
            if i % 2:  # V1 and V2 requests share batches
                tensor = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": rows[i % 3]}
                out = client.post(iris_server + INFER, json={"inputs": [tensor]}).json()
                return out["outputs"][0]["data"]
            body = {"instances": [rows[i % 3]]}
            return client.post(iris_server + PREDICT, json=body).json()["predictions"]

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(200)))
    expected = [[1], [0], [2]]
    assert answers == [expected[i % 3] for i in range(200)]
    after = httpx.get(iris_server + "/metrics").text
    ok = 'tidal_requests_total{code="200",model_name="sklearn-iris"}'
    assert _metric(after, ok) - _metric(before, ok) == 200
    calls = _metric(after, "tidal_predict_batch_rows_count") - _metric(
        before, "tidal_predict_batch_rows_count"
    )
    rows_seen = _metric(after, "tidal_predict_batch_rows_sum") - _metric(
        before, "tidal_predict_batch_rows_sum"
    )
    assert rows_seen == 200
    assert 0 < calls <= 200


def test_metrics_have_kserve_names_and_ours(iris_server: str) -> None:
    httpx.post(iris_server + PREDICT, json={"instances": [[1, 2, 3, 4]]})
    r = httpx.get(iris_server + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for name in (
        'request_preprocess_seconds_count{model_name="sklearn-iris"}',
        'request_predict_seconds_count{model_name="sklearn-iris"}',
        'request_postprocess_seconds_count{model_name="sklearn-iris"}',
        'request_explain_seconds_count{model_name="sklearn-iris"}',
        'tidal_requests_in_flight{model_name="sklearn-iris"}',
        'tidal_requests_total{code="200",model_name="sklearn-iris"}',
        "# TYPE request_predict_seconds histogram",
        "# TYPE tidal_requests_in_flight gauge",
        "# TYPE tidal_requests_total counter",
    ):
        assert name in r.text, name
