"""Open Inference Protocol V2 tensors: every datatype accepted with good data, refused with bad."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from tidal.runtimes import v2
from tidal.runtimes.errors import InvalidInput


def tensor(datatype: str, data: list[Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": "t", "datatype": datatype, "shape": shape or [len(data)], "data": data}


GOOD = {
    "BOOL": ([True, False], np.bool_),
    "UINT8": ([0, 255], np.uint8),
    "UINT16": ([0, 65535], np.uint16),
    "UINT32": ([0, 2**32 - 1], np.uint32),
    "UINT64": ([0, 2**64 - 1], np.uint64),
    "INT8": ([-128, 127], np.int8),
    "INT16": ([-(2**15), 2**15 - 1], np.int16),
    "INT32": ([-(2**31), 2**31 - 1], np.int32),
    "INT64": ([-(2**63), 2**63 - 1], np.int64),
    "FP16": ([1.5, -2], np.float16),
    "FP32": ([1.5, 3], np.float32),
    "FP64": ([1e300, -1], np.float64),
    "BF16": ([0.5, 2], np.float32),  # numpy has no bfloat16
    "BYTES": (["a", "bc"], np.object_),
}


@pytest.mark.parametrize(("datatype", "data", "dtype"), [(k, *v) for k, v in GOOD.items()])
def test_each_datatype_decodes_to_its_numpy_type(
    datatype: str, data: list[Any], dtype: Any
) -> None:
    name, array = v2.decode_tensor(tensor(datatype, data), "inputs[0]")
    assert name == "t"
    assert array.dtype == np.dtype(dtype)
    assert array.tolist() == data


BAD = {
    "BOOL given ints": (tensor("BOOL", [1, 0]), "BOOL data must be true/false values"),
    "UINT8 over 255": (tensor("UINT8", [256]), "UINT8 data out of range [0, 255]"),
    "UINT16 negative": (tensor("UINT16", [-1]), "UINT16 data out of range"),
    "UINT32 too big": (tensor("UINT32", [2**32]), "UINT32 data out of range"),
    "UINT64 float": (tensor("UINT64", [1.5]), "UINT64 data must be integers"),
    "INT8 too small": (tensor("INT8", [-129]), "INT8 data out of range [-128, 127]"),
    "INT16 too big": (tensor("INT16", [2**15]), "INT16 data out of range"),
    "INT32 strings": (tensor("INT32", ["1"]), "INT32 data must be integers"),
    "INT64 bools": (tensor("INT64", [True]), "INT64 data must be integers"),
    "FP16 overflow": (tensor("FP16", [70000.0]), "FP16 data out of range"),
    "FP32 overflow": (tensor("FP32", [1e300]), "FP32 data out of range"),
    "FP64 strings": (tensor("FP64", ["x"]), "FP64 data must be numbers"),
    "BF16 bools": (tensor("BF16", [True]), "BF16 data must be numbers"),
    "BYTES numbers": (tensor("BYTES", [1, 2]), "BYTES data must be strings"),
    "unknown datatype": (tensor("FLOAT", [1.0]), "unknown \"datatype\" 'FLOAT'"),
    "shape too big": (
        tensor("FP32", [1.0, 2.0], [2, 2]),
        "data has 2 elements but shape [2, 2] needs 4",
    ),
    "shape too small": (
        tensor("INT64", [1, 2, 3], [2]),
        "data has 3 elements but shape [2] needs 2",
    ),
    "negative dim": (
        tensor("FP32", [1.0], [-1]),
        '"shape" must be a list of non-negative integers',
    ),
    "shape not list": ({**tensor("FP32", [1.0]), "shape": 1}, '"shape" must be a list'),
    "bool dim": ({**tensor("FP32", [1.0]), "shape": [True]}, '"shape" must be a list'),
    "data not list": ({**tensor("FP32", [1.0]), "data": 1.0}, '"data" must be a list'),
    "ragged data": (tensor("FP32", [[1.0], [2.0, 3.0]], [3]), "data is not a rectangular array"),
    "no name": ({"shape": [1], "datatype": "FP32", "data": [1]}, '"name" must be a string'),
    "not an object": ([1, 2], "must be an object with name, shape, datatype and data"),
}


@pytest.mark.parametrize(("obj", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_tensors_are_400_naming_the_tensor(obj: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        v2.decode_tensor(obj, "inputs[0]")
    assert err.value.status == 400
    assert err.value.message.startswith("inputs[0]")
    assert message in err.value.message


def test_nested_data_is_reshaped_to_the_declared_shape() -> None:
    _, array = v2.decode_tensor(tensor("FP64", [[1, 2], [3, 4]], [4, 1]), "x")
    assert array.shape == (4, 1)


REQUESTS = {
    "not an object": (b"[]", "Expected a JSON object, got list"),
    "no inputs": (b'{"id": "1"}', '"inputs" must be a non-empty list of tensors'),
    "empty inputs": (b'{"inputs": []}', '"inputs" must be a non-empty list of tensors'),
    "id not a string": (b'{"id": 7, "inputs": []}', '"id" must be a string'),
    "parameters not object": (
        b'{"parameters": [], "inputs": []}',
        '"parameters" must be an object',
    ),
    "outputs not list": (b'{"outputs": {}, "inputs": []}', '"outputs" must be a list'),
    "second input bad": (
        orjson.dumps({"inputs": [tensor("FP32", [1.0]), tensor("INT8", [999])]}),
        "inputs[1] (t): INT8 data out of range",
    ),
}


@pytest.mark.parametrize(("body", "message"), list(REQUESTS.values()), ids=list(REQUESTS))
def test_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        v2.decode_infer(body)
    assert message in err.value.message


def test_id_is_echoed_or_generated() -> None:
    body = {"id": "abc", "inputs": [tensor("FP32", [1.0])]}
    assert v2.decode_infer(orjson.dumps(body)).id == "abc"
    generated = v2.decode_infer(orjson.dumps({"inputs": [tensor("FP32", [1.0])]})).id
    assert len(generated) == 36


def test_encode_one_output_tensor() -> None:
    out = orjson.loads(v2.encode_infer("m", "7", np.array([1, 1])))
    assert out == {
        "model_name": "m",
        "id": "7",
        "outputs": [{"name": "output-0", "shape": [2], "datatype": "INT64", "data": [1, 1]}],
    }
    proba = orjson.loads(v2.encode_infer("m", "7", np.array([[0.5, 0.5]])))["outputs"][0]
    assert (proba["datatype"], proba["shape"], proba["data"]) == ("FP64", [1, 2], [0.5, 0.5])
    labels = orjson.loads(v2.encode_infer("m", "7", ["a", "b"]))["outputs"][0]
    assert (labels["datatype"], labels["data"]) == ("BYTES", ["a", "b"])
