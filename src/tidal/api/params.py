"""Query parameters and `DeleteOptions`, read the way kube-apiserver reads them: Go's
`strconv` syntax for integers and booleans (`?limit=²` is not a number, whatever Python's
`str.isdigit` thinks), the documented enumerations, and a 400/422 `Status` naming the parameter
for anything else, never an exception that escapes as a 500. Pure functions of the request."""

from __future__ import annotations

import re
from typing import Any

from tidal.api.errors import BadRequest, Cause, Invalid

_INT = re.compile(r"[+-]?[0-9]+")  # strconv.ParseInt, base 10: ASCII digits only
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
INT64_MAX = 2**63 - 1
FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
PROPAGATION = ("Foreground", "Background", "Orphan")
INCLUDE_OBJECT = ("None", "Metadata", "Object")


def parse_int(name: str, text: str) -> int:
    """A Go int64 (`strconv.ParseInt`); 400 with Go's message otherwise."""
    if not _INT.fullmatch(text) or not -INT64_MAX - 1 <= int(text) <= INT64_MAX:
        kind = "value out of range" if _INT.fullmatch(text) else "invalid syntax"
        raise BadRequest(f'{name}: strconv.ParseInt: parsing "{text}": {kind}')
    return int(text)


def parse_bool(name: str, text: str) -> bool:
    """`strconv.ParseBool` (`1`, `t`, `true`, `0`, `f`, `false`, ...); "" is false."""
    if text in _TRUE:
        return True
    if text in _FALSE or text == "":
        return False
    raise BadRequest(f'{name}: strconv.ParseBool: parsing "{text}": invalid syntax')


def int_param(params: dict[str, str], name: str) -> int | None:
    """An optional integer parameter (absent or empty: None)."""
    text = params.get(name, "")
    return None if text == "" else parse_int(name, text)


def bool_param(params: dict[str, str], name: str) -> bool:
    return parse_bool(name, params.get(name, ""))


def choice_param(params: dict[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    """An enumerated parameter; an unknown value is a 400 listing the supported ones."""
    value = params.get(name, "") or default
    if value not in allowed:
        supported = ", ".join(f'"{a}"' for a in allowed)
        raise BadRequest(f'{name}: Unsupported value: "{value}": supported values: {supported}')
    return value


def dry_run(params: dict[str, str], values: list[str] | None = None) -> bool:
    """`dryRun=All` (the only value Kubernetes knows); anything else is a 422."""
    given = values if values is not None else ([params["dryRun"]] if params.get("dryRun") else [])
    for v in given:
        if v != "All":
            cause = Cause("dryRun", f'Unsupported value: ["{v}"]: supported values: "All"',
                          "FieldValueNotSupported")  # fmt: skip
            raise Invalid(f'Options "" is invalid: dryRun: {cause.message}', causes=[cause])
    return bool(given)


def field_validation(params: dict[str, str]) -> str:
    return choice_param(params, "fieldValidation", FIELD_VALIDATION, "Warn")


def _type_error(field: str, value: Any, want: str) -> BadRequest:
    got = {dict: "object", list: "array", str: "string", bool: "bool", type(None): "null"}.get(
        type(value), "number"
    )
    return BadRequest(
        f"json: cannot unmarshal {got} into Go struct field DeleteOptions.{field} of type {want}"
    )


def delete_options(params: dict[str, str], body: Any) -> dict[str, Any]:
    """`DeleteOptions` from the body (JSON object, or none) and the query, as `Registry.delete`
    takes them. Every field is type-checked: `{"preconditions":5}` is a 400."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest(
            "json: cannot unmarshal into Go value of type v1.DeleteOptions: the body must be a "
            "JSON object"
        )
    grace: int | None = int_param(params, "gracePeriodSeconds")
    if "gracePeriodSeconds" in body and body["gracePeriodSeconds"] is not None:
        g = body["gracePeriodSeconds"]
        if not isinstance(g, int) or isinstance(g, bool):
            raise _type_error("gracePeriodSeconds", g, "int64")
        grace = g
    if grace is not None and grace < 0:
        grace = 1  # kube-apiserver turns a negative grace period into 1 second
    pre = body.get("preconditions")
    if pre is None:
        pre = {}
    if not isinstance(pre, dict):
        raise _type_error("preconditions", pre, "v1.Preconditions")
    for key in ("uid", "resourceVersion"):
        if pre.get(key) is not None and not isinstance(pre[key], str):
            raise _type_error(f"preconditions.{key}", pre[key], "string")
    dry = body.get("dryRun")
    if dry is not None and (not isinstance(dry, list) or not all(isinstance(d, str) for d in dry)):
        raise _type_error("dryRun", dry, "[]string")
    policy = body.get("propagationPolicy")
    if policy is not None and not isinstance(policy, str):
        raise _type_error("propagationPolicy", policy, "v1.DeletionPropagation")
    orphan = body.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise _type_error("orphanDependents", orphan, "bool")
    if orphan is None and params.get("orphanDependents"):
        orphan = parse_bool("orphanDependents", params["orphanDependents"])
    policy = policy or params.get("propagationPolicy") or None
    if policy is not None and orphan is not None:
        raise Invalid(
            'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
            f'"{policy}": orphanDependents and deletionPropagation cannot be both set'
        )
    if policy is None and orphan is True:
        policy = "Orphan"
    if policy is not None and policy not in PROPAGATION:
        raise BadRequest(
            f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
        )
    return {
        "propagation_policy": policy or "Background",
        "grace_period_seconds": grace,
        "dry_run": dry_run(params, dry if dry else None),
        "precondition_uid": pre.get("uid") or None,
        "precondition_rv": pre.get("resourceVersion") or None,
    }
