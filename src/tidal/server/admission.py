"""Admission of a written object: nulls dropped, unknown fields pruned, shape check, defaults and
validation, each failure a 422 naming its fields (never a 500)."""

from __future__ import annotations

import logging
from typing import Any

from tidal import validation
from tidal.api.errors import BadRequest, Cause, Invalid
from tidal.api.resources import ResourceType
from tidal.server.objects import Obj
from tidal.server.schema import FieldCheck, prune
from tidal.validation.field import invalid_message

log = logging.getLogger("tidal.server")


def admit(r: ResourceType, obj: Obj, fields: FieldCheck | None = None) -> Obj:
    """Nulls dropped (an explicit null is "unset", then defaulted), unknown fields pruned
    (`fields` says whether that warns or refuses), shape check, defaults, validation; any
    failure is a 422 (never a 500, even when a kind's rules trip over a malformed object)."""
    obj = drop_nulls(obj)
    pruned = prune(r.kind, obj)
    if pruned and fields is not None:
        fields.found(pruned)
    causes = validation.shape(obj)
    if not causes:
        try:
            obj = validation.default(obj)
            causes = validation.validate(obj, namespaced=r.namespaced)
        except Exception as exc:  # a rule that could not read the object: still the user's
            log.warning("admission of %s failed: %r", r.kind, exc)
            causes = [
                Cause("", f"Invalid value: the object is malformed ({exc})", "FieldValueInvalid")
            ]
    if causes:
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = meta.get("name", "") if isinstance(meta.get("name"), str) else ""
        raise Invalid(
            invalid_message(r.kind, r.group, name, causes),
            causes=causes,
            details={"name": name, "group": r.group, "kind": r.kind},
        )
    return obj


def check_api_version(r: ResourceType, obj: Obj) -> None:
    """The body's apiVersion must be the resource's (400 otherwise); a missing one is set."""
    av = obj.get("apiVersion")
    if av and av != r.api_version:
        raise BadRequest(
            f"the API version in the data ({av}) does not match the expected API version "
            f"({r.api_version})"
        )
    obj["apiVersion"] = r.api_version


def drop_nulls(obj: Obj) -> Obj:
    """Map entries whose value is null removed, at every depth (list items stay): JSON null in a
    typed field or a non-nullable CRD field means "unset" to kube-apiserver, which then
    defaults it (`spec.replicas: null` is stored as 1)."""
    stack: list[Any] = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k in [k for k, x in v.items() if x is None]:
                del v[k]
            stack.extend(x for x in v.values() if isinstance(x, dict | list))
        elif isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, dict | list))
    return obj
