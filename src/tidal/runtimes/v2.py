"""Open Inference Protocol (V2) REST: decode and validate an infer request, encode the response.

Pure functions. Every tensor is checked against its declared datatype (all 14 of the spec),
shape (non-negative integers) and data length; any mismatch is a 400 naming the tensor and the
rule. FP16 and BF16 are accepted as JSON numbers (KServe refuses FP16 over JSON); numpy has no
bfloat16, so BF16 arrives as float32.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from tidal.runtimes.errors import InvalidInput
from tidal.runtimes.v1 import dumps, parse_json

# datatype → numpy dtype (BYTES: object array of str)
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BF16": np.float32,
    "BYTES": np.object_,
}

_FROM_NUMPY = {
    "b": {1: "BOOL"},
    "u": {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"},
    "i": {1: "INT8", 2: "INT16", 4: "INT32", 8: "INT64"},
    "f": {2: "FP16", 4: "FP32", 8: "FP64"},
}


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A validated infer request: the tensors as numpy arrays (in request order)."""

    id: str
    names: tuple[str, ...]
    tensors: tuple[np.ndarray, ...]
    parameters: dict[str, Any] | None


def decode_infer(body: bytes) -> InferRequest:
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput(f"Expected a JSON object, got {type(payload).__name__}")
    req_id = payload.get("id")
    if req_id is None:
        req_id = str(uuid.uuid4())
    elif not isinstance(req_id, str):
        raise InvalidInput('"id" must be a string')
    parameters = payload.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput('"parameters" must be an object')
    outputs = payload.get("outputs")
    if outputs is not None and not isinstance(outputs, list):
        raise InvalidInput('"outputs" must be a list')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput('"inputs" must be a non-empty list of tensors')
    names: list[str] = []
    tensors: list[np.ndarray] = []
    for i, tensor in enumerate(inputs):
        name, array = decode_tensor(tensor, f"inputs[{i}]")
        names.append(name)
        tensors.append(array)
    return InferRequest(req_id, tuple(names), tuple(tensors), parameters)


def decode_tensor(tensor: Any, where: str) -> tuple[str, np.ndarray]:
    """One `{name, shape, datatype, data}` object → (name, array of that shape and dtype)."""
    if not isinstance(tensor, dict):
        raise InvalidInput(f"{where} must be an object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f'{where}: "name" must be a string')
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not all(type(d) is int and d >= 0 for d in shape)  # bool is not a dimension
    ):
        raise InvalidInput(
            f'{where} ({name}): "shape" must be a list of non-negative integers, got {shape!r}'
        )
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise InvalidInput(
            f'{where} ({name}): unknown "datatype" {datatype!r}; expected one of '
            + ", ".join(DATATYPES)
        )
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidInput(f'{where} ({name}): "data" must be a list')
    expected = math.prod(shape)
    if datatype == "BYTES":
        array = _bytes_array(data, where, name)
    else:
        array = _numeric_array(data, datatype, where, name)
    if array.size != expected:
        raise InvalidInput(
            f"{where} ({name}): data has {array.size} elements but shape {shape} needs {expected}"
        )
    return name, array.reshape(shape)


def _numeric_array(data: list[Any], datatype: str, where: str, name: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(
            f"{where} ({name}): data is not a rectangular array of {datatype} values"
        ) from exc
    if array.size == 0:
        return array.astype(DATATYPES[datatype])
    kind = array.dtype.kind
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"{where} ({name}): BOOL data must be true/false values")
        return array
    if datatype.startswith(("INT", "UINT")):
        info = np.iinfo(DATATYPES[datatype])
        if kind in "iu":
            low, high = int(array.min()), int(array.max())
        else:  # floats, or ints past int64 that numpy turned into floats/objects: look at JSON
            values = _flatten(data)
            if not all(type(v) is int for v in values):
                raise InvalidInput(f"{where} ({name}): {datatype} data must be integers")
            low, high = min(values), max(values)
            if info.min <= low and high <= info.max:
                return np.array(values, dtype=DATATYPES[datatype])
        if low < info.min or high > info.max:
            raise InvalidInput(
                f"{where} ({name}): {datatype} data out of range [{info.min}, {info.max}]"
            )
        return array.astype(DATATYPES[datatype])
    if kind not in "iuf":  # FP16 / FP32 / FP64 / BF16
        raise InvalidInput(f"{where} ({name}): {datatype} data must be numbers")
    with np.errstate(over="ignore"):
        cast = array.astype(DATATYPES[datatype])
    if not np.isfinite(cast).all():
        raise InvalidInput(f"{where} ({name}): {datatype} data out of range")
    return cast


def _flatten(data: list[Any]) -> list[Any]:
    """Leaves of nested lists in row-major order (iterative: no recursion limit)."""
    flat: list[Any] = []
    stack: list[Any] = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    return flat


def _bytes_array(data: list[Any], where: str, name: str) -> np.ndarray:
    flat = _flatten(data)
    if not all(isinstance(v, str) for v in flat):
        raise InvalidInput(f"{where} ({name}): BYTES data must be strings")
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype for a numpy result (strings and objects are BYTES)."""
    return _FROM_NUMPY.get(array.dtype.kind, {}).get(array.dtype.itemsize, "BYTES")


def encode_infer(model_name: str, request_id: str, result: Any) -> bytes:
    """One output tensor `output-0` holding the model's result, as KServe's sklearnserver."""
    array = np.asarray(result)
    datatype = datatype_of(array)
    data: Any = array.ravel()
    if datatype == "BYTES":
        data = [x if isinstance(x, str) else str(x) for x in data.tolist()]
    return dumps(
        {
            "model_name": model_name,
            "id": request_id,
            "outputs": [
                {
                    "name": "output-0",
                    "shape": list(array.shape),
                    "datatype": datatype,
                    "data": data,
                }
            ],
        }
    )
