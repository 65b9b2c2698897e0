"""Property: random JSON (and random bytes) at both protocols never gets a 5xx or kills the server."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.process

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=40,
)
datatypes = st.sampled_from(
    ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
     "FP16", "FP32", "FP64", "BF16", "BYTES", "int", ""]
)  # fmt: skip
numbers = (
    st.integers(min_value=-(2**65), max_value=2**65) | st.floats(allow_nan=False) | st.booleans()
)
rows = st.lists(st.lists(numbers, min_size=0, max_size=6), max_size=5)
tensors = st.fixed_dictionaries(
    {
        "name": st.text(max_size=5) | st.integers(),
        "shape": st.lists(st.integers(min_value=-2, max_value=6), max_size=4) | json_values,
        "datatype": datatypes,
        "data": rows
        | st.lists(numbers, max_size=30)
        | st.lists(st.text(max_size=3), max_size=8)
        | json_values,
    }
)
v1_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": rows | json_values}),
    st.fixed_dictionaries({"inputs": rows | json_values}),
)
v2_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"inputs": st.lists(tensors, max_size=3) | json_values},
        optional={"id": json_values, "parameters": json_values, "outputs": json_values},
    ),
)


@pytest.fixture(scope="module")
def client(iris_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=iris_server, timeout=30) as c:
        yield c
    # the server survived everything
    assert httpx.get(iris_server + "/v2/health/live").status_code == 200


def check(client: httpx.Client, path: str, content: bytes) -> None:
    r = client.post(path, content=content, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, (content, r.text)
    body: Any = r.json()
    if r.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"]


fuzz = settings(
    max_examples=int(os.environ.get("TIDAL_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@fuzz
@given(body=v1_bodies)
def test_v1_random_json(client: httpx.Client, body: Any) -> None:
    check(client, "/v1/models/sklearn-iris:predict", json.dumps(body).encode())


@fuzz
@given(body=v2_bodies)
def test_v2_random_json(client: httpx.Client, body: Any) -> None:
    check(client, "/v2/models/sklearn-iris/infer", json.dumps(body).encode())


@fuzz
@given(
    content=st.binary(max_size=64),
    path=st.sampled_from(["/v1/models/sklearn-iris:predict", "/v2/models/sklearn-iris/infer"]),
)
def test_random_bytes(client: httpx.Client, content: bytes, path: str) -> None:
    check(client, path, content)
