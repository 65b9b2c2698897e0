"""V1 decoding and encoding: pure functions, one row per rule."""

from __future__ import annotations

import numpy as np
import pytest

from tidal.runtimes import v1
from tidal.runtimes.errors import InvalidInput

BAD = {
    "not json": (b"{nope", "Unrecognized request format: "),
    "json array": (b"[1, 2]", 'Expected a JSON object with "instances" or "inputs", got list'),
    "no instances": (b'{"foo": 1}', 'Expected "instances" or "inputs" in the request body'),
    "instances not a list": (b'{"instances": 3}', 'Expected "instances" to be a list'),
    "inputs not a list": (b'{"inputs": {"a": 1}}', 'Expected "inputs" to be a list'),
    "ragged": (b'{"instances": [[1, 2], [3]]}', '"instances" is not a rectangular array'),
    "nested past numpy's dimensions": (
        b'{"instances": ' + b"[" * 100 + b"1" + b"]" * 100 + b"}",
        '"instances" is not a rectangular array',
    ),
    "nested past the JSON depth limit": (
        b'{"instances": ' + b"[" * 3000 + b"1" + b"]" * 3000 + b"}",
        "Unrecognized request format: ",
    ),
}


@pytest.mark.parametrize(("body", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_bodies_are_400_with_a_reason(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        v1.decode_predict(body)
    assert err.value.status == 400
    assert err.value.message.startswith(message)


def test_numbers_become_an_array_and_inputs_wins_over_instances() -> None:
    got = v1.decode_predict(b'{"instances": [[9]], "inputs": [[1, 2.5], [3, 4]]}')
    assert isinstance(got, np.ndarray)
    assert got.tolist() == [[1, 2.5], [3, 4]]


def test_strings_and_objects_stay_as_sent() -> None:
    assert v1.decode_predict(b'{"instances": ["a", "b"]}') == ["a", "b"]
    assert v1.decode_predict(b'{"instances": [{"x": 1}]}') == [{"x": 1}]


ENCODE = {
    "int array": (np.array([1, 1]), b'{"predictions":[1,1]}'),
    "proba rows": (np.array([[0.25, 0.75]]), b'{"predictions":[[0.25,0.75]]}'),
    "string labels": (np.array(["setosa"]), b'{"predictions":["setosa"]}'),
    "non-contiguous": (np.arange(6).reshape(2, 3)[:, 1], b'{"predictions":[1,4]}'),
    "plain list": ([1, "a"], b'{"predictions":[1,"a"]}'),
    "model's own dict": ({"predictions": [2], "x": 1}, b'{"predictions":[2],"x":1}'),
}


@pytest.mark.parametrize(("result", "body"), list(ENCODE.values()), ids=list(ENCODE))
def test_encode(result: object, body: bytes) -> None:
    assert v1.encode_predictions(result) == body
