"""ConfigMap and Secret admission, as the API server's: keys are config keys, Secret values are
base64, `stringData` is merged into `data` (and never stored), a Secret's `type` defaults to
`Opaque`, and neither may hold more than 1 MiB."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from tidal.api.errors import Cause
from tidal.validation.field import invalid

Obj = dict[str, Any]
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
KEY_ERROR = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
MAX_BYTES = 1024 * 1024


def _key_causes(field: str, key: Any) -> list[Cause]:
    if (
        not isinstance(key, str)
        or len(key) > 253
        or not CONFIG_KEY.match(key)
        or key in (".", "..")
    ):
        detail = KEY_ERROR if key not in (".", "..") else f"must not be '{key}'"
        return [invalid(field, key, detail)]
    return []


def default(obj: Obj) -> Obj:
    """A Secret's `stringData` goes into `data` (base64), `type` defaults to Opaque."""
    if obj.get("kind") == "Secret":
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    return obj


def validate(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    size = 0
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return [invalid("data", data, "must be a map of strings")]
    for k, v in data.items():
        causes += _key_causes(f"data[{k}]", k)
        if obj.get("kind") == "Secret":
            try:
                size += len(base64.b64decode(str(v), validate=True))
            except (binascii.Error, ValueError):
                causes.append(
                    invalid(f"data[{k}]", "<secret contents redacted>", "illegal base64 data")
                )
        else:
            if not isinstance(v, str):
                causes.append(invalid(f"data[{k}]", v, "must be a string"))
            size += len(str(v))
    binary = obj.get("binaryData") or {}
    if obj.get("kind") == "ConfigMap" and isinstance(binary, dict):
        for k, v in binary.items():
            causes += _key_causes(f"binaryData[{k}]", k)
            if k in data:
                causes.append(invalid(f"data[{k}]", k, "duplicate of key present in binaryData"))
            try:
                size += len(base64.b64decode(str(v), validate=True))
            except (binascii.Error, ValueError):
                causes.append(invalid(f"binaryData[{k}]", k, "illegal base64 data"))
    if size > MAX_BYTES:
        what = "Secret" if obj.get("kind") == "Secret" else "ConfigMap"
        field = "data" if what == "Secret" else ""
        causes.append(invalid(field, "", f"{what} must be no more than {MAX_BYTES} bytes"))
    return causes
