"""The three PATCH formats kubectl sends: JSON merge patch (RFC 7386; custom kinds, `/scale`),
JSON patch (RFC 6902) and Kubernetes' strategic merge patch (built-in kinds: lists merged by
their patchMergeKey, with the `$patch`, `$retainKeys`, `$setElementOrder/…` and
`$deleteFromPrimitiveList/…` directives). Pure functions on plain dicts; they never mutate their
inputs. A malformed patch raises `PatchError` (the server answers 400/422)."""

from __future__ import annotations

import copy
from typing import Any

import orjson

# kube-apiserver's bounds on JSON patches (patch.go): operations per patch, and bytes a patch may
# copy in all (`AccumulatedCopySizeLimit`, the request body limit), so `copy` cannot double a
# document until memory runs out.
MAX_JSON_PATCH_OPS = 10_000
MAX_COPIED_BYTES = 3 * 1024 * 1024


class PatchError(ValueError):
    """The patch cannot be applied (bad path, failed `test`, wrong shape)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 ------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"invalid JSON pointer {path!r}: must be a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index {token!r}")
    i = int(token)
    if i > len(container) or (i == len(container) and not allow_end):
        raise PatchError(f"array index {i} out of range")
    return i


def _parent(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError(f"path component {t!r} not found")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, allow_end=False)]
        else:
            raise PatchError(f"cannot descend into {t!r}")
    return cur


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path component {last!r} not found")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise PatchError(f"cannot read {last!r}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add at {last!r}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path component {last!r} not found")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise PatchError(f"cannot remove {last!r}")
    return doc


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 operations: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    if len(ops) > MAX_JSON_PATCH_OPS:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {len(ops)}"
        )
    doc = copy.deepcopy(target)
    copied = 0
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError("every JSON patch operation needs 'op' and 'path'")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {kind!r} needs a 'value'")
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, tokens)
        elif kind == "replace":
            _get(doc, tokens)
            doc = _add(_remove(doc, tokens) if tokens else doc, tokens, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            if kind == "move" and tokens[: len(src)] == src and len(tokens) > len(src):
                raise PatchError(f"cannot move {op.get('from')!r} into its own child")
            value = _get(doc, src)
            if kind == "copy":
                copied += len(orjson.dumps(value))
                if copied > MAX_COPIED_BYTES:
                    raise PatchError(
                        "Unable to copy: the accumulated size of the copied data exceeds the "
                        f"limit of {MAX_COPIED_BYTES} bytes"
                    )
            value = copy.deepcopy(value)
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op["value"]:
                raise PatchError(f"test operation failed at {op['path']!r}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


# --- strategic merge patch -------------------------------------------------------------------

# patchMergeKey by field name (k8s.io/api struct tags); lists not named here are replaced whole.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "readinessGates": "conditionType",
}
# Lists of scalars merged as sets (`patchStrategy:"merge"` on primitive lists).
MERGE_PRIMITIVE_LISTS = frozenset({"finalizers"})


def _ports_key(items: list[Any]) -> str:
    """Container ports merge on `containerPort`, Service ports on `port`."""
    for item in items:
        if isinstance(item, dict) and "containerPort" in item:
            return "containerPort"
    return "port"


def _merge_key(field: str, *lists: list[Any]) -> str | None:
    if field == "ports":
        return _ports_key([i for lst in lists for i in lst])
    return MERGE_KEYS.get(field)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch to `target` (both plain JSON)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _smp_map(target if isinstance(target, dict) else {}, patch)


def _smp_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    result = copy.deepcopy(original)
    if directive not in (None, "merge"):
        raise PatchError(f"Unable to find patch directive {directive!r}: $patch must be one of "
                         '"replace", "delete", "merge"')  # fmt: skip
    retain = patch.get("$retainKeys")
    if retain is not None and not isinstance(retain, list):
        raise PatchError(f"invalid patch: $retainKeys must be a list, not {retain!r}")
    orders: dict[str, list[Any]] = {}
    deletes: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            if value is not None and not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list, not {value!r}")
            orders[key.split("/", 1)[1]] = value or []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            if value is not None and not isinstance(value, list):
                raise PatchError(f"invalid patch: {key} must be a list, not {value!r}")
            deletes[key.split("/", 1)[1]] = value or []
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            cur = result.get(key)
            result[key] = _smp_map(cur if isinstance(cur, dict) else {}, value)
        elif isinstance(value, list):
            cur = result.get(key)
            result[key] = _smp_list(key, cur if isinstance(cur, list) else [], value)
        else:
            result[key] = copy.deepcopy(value)
    for key, values in deletes.items():
        if isinstance(result.get(key), list):
            result[key] = [v for v in result[key] if v not in values]
    for key, order in orders.items():
        if isinstance(result.get(key), list):
            result[key] = _reorder(key, result[key], order)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field: str, original: list[Any], patch: list[Any]) -> list[Any]:
    merge_key = _merge_key(field, original, patch)
    if field in MERGE_PRIMITIVE_LISTS and all(not isinstance(p, dict) for p in patch):
        out = list(original)
        out.extend(p for p in patch if p not in out)
        return out
    if merge_key is None:
        # replace, unless the patch carries a `$patch: replace` marker element (same result)
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"items of {field!r} must be objects with {merge_key!r}")
        key_value = item.get(merge_key)
        idx = next(
            (
                i
                for i, o in enumerate(result)
                if isinstance(o, dict) and o.get(merge_key) == key_value
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if idx is not None:
                del result[idx]
            continue
        if idx is None:
            result.append(_smp_map({}, item))
        else:
            result[idx] = _smp_map(result[idx], item)
    return result


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """`$setElementOrder`: listed elements first in the given order, the rest after."""
    key = _merge_key(field, items)
    if key is None:
        return items

    def ident(x: Any) -> Any:
        return x.get(key) if isinstance(x, dict) else x

    wanted = [ident(o) for o in order]
    if not all(isinstance(v, str | int | float | bool) for v in wanted):
        raise PatchError(f"invalid patch: $setElementOrder/{field} lists a non-scalar key")
    ranked = {v: i for i, v in enumerate(wanted)}
    if not all(isinstance(ident(i), str | int | float | bool | None) for i in items):
        return items
    listed = sorted((i for i in items if ident(i) in ranked), key=lambda i: ranked[ident(i)])
    return listed + [i for i in items if ident(i) not in ranked]


def apply_patch(target: Any, patch: Any, patch_type: str) -> Any:
    """Dispatch on `merge` / `strategic` / `json`."""
    try:
        if patch_type == "merge":
            return merge_patch(target, patch)
        if patch_type == "json":
            return json_patch(target, patch)
        if patch_type == "strategic":
            return strategic_merge_patch(target, patch)
    except RecursionError:  # a patch that nests paths deeper than any object can be
        raise PatchError("the patch nests the object too deeply") from None
    raise PatchError(f"unknown patch type {patch_type!r}")
