"""KServe V1 protocol: decode a predict body into instances, encode predictions. Pure functions."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from tidal.runtimes.errors import InvalidInput

_NUMERIC = "biuf"


def parse_json(body: bytes) -> Any:
    """The body as JSON, or 400 with KServe's message."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"Unrecognized request format: {exc}") from exc


def decode_predict(body: bytes) -> Any:
    """`{"instances": [...]}` or `{"inputs": [...]}` → a numpy array when the instances are a
    rectangular array of numbers, else the list as sent (strings, objects: the model decides)."""
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput(
            f'Expected a JSON object with "instances" or "inputs", got {type(payload).__name__}'
        )
    key = "inputs" if "inputs" in payload else "instances"
    if key not in payload:
        raise InvalidInput('Expected "instances" or "inputs" in the request body')
    instances = payload[key]
    if not isinstance(instances, list):
        raise InvalidInput(f'Expected "{key}" to be a list')
    return to_array(instances, key)


def to_array(instances: list[Any], key: str = "instances") -> Any:
    """A numeric ndarray for rectangular numbers; the list itself for anything else."""
    try:
        array = np.asarray(instances)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(
            f'"{key}" is not a rectangular array (instances of different lengths?): {exc}'
        ) from exc
    if array.dtype.kind in _NUMERIC:
        return array
    return instances


def _default(obj: Any) -> Any:
    """orjson fallback for what it does not serialize natively (object arrays, numpy scalars)."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """JSON bytes; numpy arrays are written natively (no tolist) where orjson can."""
    return orjson.dumps(obj, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_predictions(result: Any) -> bytes:
    """`{"predictions": result}`, or the model's own dict as the whole body (as KServe)."""
    if isinstance(result, dict):
        return dumps(result)
    return dumps({"predictions": result})
