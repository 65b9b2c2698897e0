"""Field errors worded as apimachinery's `field.Error` (`spec.replicas: Invalid value: -1: must
be greater than or equal to 0`), and the name rules (DNS-1123/1035) with their exact messages.
Every validator (core kinds, HPA, CronHPA, KPA, InferenceService) builds its causes with these,
so a 422 reads the same whoever wrote the rule."""

from __future__ import annotations

import json
import re
from typing import Any

from tidal.api.errors import Cause
from tidal.api.quantity import QUANTITY_ERROR, parse

INT32_MAX = 2**31 - 1

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + r"(\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035 = re.compile(f"^{DNS1035_LABEL_FMT}$")

DNS1123_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    f"for validation is '{DNS1123_LABEL_FMT}')"
)
DNS1123_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{DNS1123_SUBDOMAIN_FMT}')"
)
DNS1035_LABEL_ERROR = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    f"'abc-123', regex used for validation is '{DNS1035_LABEL_FMT}')"
)


def is_int(value: Any) -> bool:
    """A JSON integer: Python's `bool` is an `int`, JSON's `true` is not."""
    return isinstance(value, int) and not isinstance(value, bool)


def fmt_value(value: Any) -> str:
    """How Go's `%#v`/`%q` shows a bad value inside the message."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause(field, f"Invalid value: {fmt_value(value)}: {detail}", "FieldValueInvalid")


def required(field: str, detail: str = "") -> Cause:
    return Cause(field, "Required value" + (f": {detail}" if detail else ""), "FieldValueRequired")


def not_supported(field: str, value: Any, valid: list[str] | tuple[str, ...]) -> Cause:
    quoted = ", ".join(json.dumps(v) for v in valid)
    return Cause(
        field,
        f"Unsupported value: {fmt_value(value)}: supported values: {quoted}",
        "FieldValueNotSupported",
    )


def object_required(field: str, value: Any) -> list[Cause]:
    """The error for a field that must hold an object: missing, or something else."""
    if value is None:
        return [required(field)]
    return [invalid(field, value, "must be an object")]


def duplicate(field: str, value: Any) -> Cause:
    return Cause(field, f"Duplicate value: {fmt_value(value)}", "FieldValueDuplicate")


def forbidden(field: str, detail: str) -> Cause:
    return Cause(field, f"Forbidden: {detail}", "FieldValueForbidden")


def dns1123_label(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str):
        return [invalid(field, value, DNS1123_LABEL_ERROR)]
    causes = []
    if len(value) > 63:
        causes.append(invalid(field, value, "must be no more than 63 characters"))
    if not _LABEL.match(value):
        causes.append(invalid(field, value, DNS1123_LABEL_ERROR))
    return causes


def dns1123_subdomain(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str):
        return [invalid(field, value, DNS1123_SUBDOMAIN_ERROR)]
    causes = []
    if len(value) > 253:
        causes.append(invalid(field, value, "must be no more than 253 characters"))
    if not _SUBDOMAIN.match(value):
        causes.append(invalid(field, value, DNS1123_SUBDOMAIN_ERROR))
    return causes


def dns1035_label(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str):
        return [invalid(field, value, DNS1035_LABEL_ERROR)]
    causes = []
    if len(value) > 63:
        causes.append(invalid(field, value, "must be no more than 63 characters"))
    if not _DNS1035.match(value):
        causes.append(invalid(field, value, DNS1035_LABEL_ERROR))
    return causes


def quantity(field: str, value: Any, *, non_negative: bool = True) -> list[Cause]:
    """Quantity syntax, and `>= 0` for requests and limits."""
    try:
        q = parse(value)
    except (ValueError, TypeError):
        return [invalid(field, value, QUANTITY_ERROR)]
    if non_negative and q < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []


def non_negative_int(field: str, value: Any) -> list[Cause]:
    if value is None:
        return []
    if not is_int(value):
        return [invalid(field, value, "must be an integer")]
    if value < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []


def invalid_message(kind: str, group: str, name: str, causes: list[Cause]) -> str:
    """The Status message of a 422: `Deployment.apps "x" is invalid: [a: m, b: n]`."""
    qualified = f"{kind}.{group}" if group else kind
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return f'{qualified} "{name}" is invalid: {body}'
