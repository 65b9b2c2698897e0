"""PATCH before it becomes an update: which patch types a resource accepts (415 otherwise), and
the patched object checked to still be an object with a metadata map, not too deep."""

from __future__ import annotations

from typing import Any

from tidal.api.errors import BadRequest, Invalid, UnsupportedMediaType
from tidal.api.patch import PatchError, apply_patch
from tidal.api.resources import ResourceType
from tidal.server.body import depth_ok, too_deep
from tidal.server.objects import Obj, qualified, short

# Strategic merge patch needs the built-in types' patch strategies: custom resources refuse it.
BUILTIN_GROUPS = frozenset({"", "apps", "autoscaling"})


def check_patch_type(r: ResourceType, patch_type: str) -> None:
    if patch_type == "apply":
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json (server-side apply is not supported by "
            "tidal; use client-side `kubectl apply`)"
        )
    if patch_type == "strategic" and r.group not in BUILTIN_GROUPS:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
        )


def patched(r: ResourceType, name: str, current: Obj, patch: Any, patch_type: str) -> Obj:
    """`current` with `patch` applied, keeping its resourceVersion unless the patch sets one
    (a precondition); 422 (400 for a malformed merge patch) when it cannot be applied."""
    try:
        out = apply_patch(current, patch, patch_type)
    except PatchError as exc:
        if patch_type == "json":
            raise Invalid(str(exc)) from None
        raise BadRequest(str(exc)) from None
    if not isinstance(out, dict) or not isinstance(out.get("metadata", {}), dict):
        what = "object" if isinstance(out, dict) else "patched object"
        field = "metadata" if isinstance(out, dict) else "patch"
        value = out.get("metadata") if isinstance(out, dict) else out
        raise Invalid(
            f'{qualified(r)} "{name}" is invalid: {field}: Invalid value: '
            f"{short(value)}: the {what} must be a JSON object"
        )
    if not depth_ok(out):
        raise Invalid(f'{qualified(r)} "{name}" is invalid: patch: {too_deep().message}')
    if out.get("metadata", {}).get("resourceVersion") in (None, ""):
        out.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
    return out
