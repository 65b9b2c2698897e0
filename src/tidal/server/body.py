"""Request bodies, read within kube-apiserver's limits: at most 3 MiB (`MaxRequestBodyBytes`,
413 `Request entity too large: limit is 3145728`), JSON or YAML decoded into plain JSON values
only. YAML alias expansion is bounded by go-yaml's rule (a billion-laughs document is refused
before it is expanded), nesting is bounded (deeper documents cannot be stored or re-encoded),
and lone UTF-16 surrogates become U+FFFD as Go's decoder makes them. Every refusal is an
`ApiError` (4xx); nothing here raises anything else."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson
import yaml

from tidal.api.errors import ApiError, BadRequest

MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver: 3 MiB, twice etcd's 1.5 MiB request limit
MAX_DEPTH = 100  # orjson encodes at most 254 levels; a Table wraps an object in a few more
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT64 = 2**63


class RequestEntityTooLarge(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


def too_large(limit: int = MAX_BODY_BYTES) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"Request entity too large: limit is {limit}")


def too_deep() -> BadRequest:
    return BadRequest(
        f"the request body is nested more than {MAX_DEPTH} levels deep (no Kubernetes object "
        "is); refused"
    )


# --- YAML -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp type: sigs.k8s.io/yaml leaves `2024-01-01` a string."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# go-yaml v2's guard (decode.go `allowedAliasRatio`): small documents may owe 99% of their
# decoded nodes to aliases, large ones 10%, in between it scales down linearly.
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000


def allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def excessive_aliasing(decoded: int, aliased: int) -> bool:
    """go-yaml's test, on the node counts a full decode would make."""
    return aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def alias_counts(root: yaml.Node) -> tuple[int, int]:
    """(nodes a full expansion decodes, of which inside alias expansions), counted on the
    composed graph without expanding it. A node met again in document order is an alias.
    Raises BadRequest for an anchor that contains itself."""
    size: dict[int, int] = {}
    state: dict[int, int] = {}  # 1: on the path, 2: done
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order over the distinct nodes
        node, done = stack.pop()
        nid = id(node)
        if done:
            size[nid] = 1 + sum(size[id(c)] for c in _children(node))
            state[nid] = 2
            continue
        if state.get(nid) == 2:
            continue
        if state.get(nid) == 1:
            raise BadRequest("yaml: anchor value contains itself")
        state[nid] = 1
        stack.append((node, True))
        for child in reversed(_children(node)):
            if state.get(id(child)) == 1:
                raise BadRequest("yaml: anchor value contains itself")
            if state.get(id(child)) != 2:
                stack.append((child, False))
    aliased = 0
    seen: set[int] = set()
    walk = [root]
    while walk:  # document order: the first meeting is the anchor, later ones are aliases
        node = walk.pop()
        seen.add(id(node))
        for child in reversed(_children(node)):
            if id(child) in seen:
                aliased += size[id(child)]
            else:
                seen.add(id(child))
                walk.append(child)
    return size[id(root)], aliased


def load_yaml(data: bytes) -> Any:
    """One YAML document as JSON values; excessive aliasing or self-reference is a 400."""
    loader = _Loader(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        decoded, aliased = alias_counts(node)
        if excessive_aliasing(decoded, aliased):
            raise BadRequest("yaml: document contains excessive aliasing")
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"the request body is not valid YAML: {_first_line(exc)}") from None
    finally:
        loader.dispose()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# --- JSON -----------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(data: bytes) -> Any:
    """orjson first; a body it refuses only for lone surrogates (Go's decoder accepts them) is
    read by the standard library and cleaned by `plain`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


# --- plain values -----------------------------------------------------------------------------


def _clean_str(s: str) -> str:
    return _SURROGATE.sub("\ufffd", s) if _SURROGATE.search(s) else s


def _clean_key(k: Any) -> str:
    if isinstance(k, str):
        return _clean_str(k)
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    if isinstance(k, int | float):
        return str(k)
    raise BadRequest(f"the request body has a map key of type {type(k).__name__}")


def _check_scalar(v: Any) -> Any:
    if v is None or isinstance(v, bool | str):
        return _clean_str(v) if isinstance(v, str) else v
    if isinstance(v, int):
        if not -_INT64 <= v < _INT64:
            return float(v)  # as Go decodes a number too big for int64
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise BadRequest("the request body has a number that is not finite")
        return v
    raise BadRequest(f"the request body has a value of type {type(v).__name__} (YAML tags "
                     "other than JSON's types are not accepted)")  # fmt: skip


def plain(value: Any) -> Any:
    """`value` as JSON values only (str keys, no surrogates, int64 or finite floats), nested at
    most MAX_DEPTH levels; rebuilt, so YAML aliases no longer share objects. Iterative."""
    if not isinstance(value, dict | list):
        return _check_scalar(value)
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 1)]
    while stack:
        src, parent, slot, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise too_deep()
        if isinstance(src, dict):
            out: Any = {}
            parent[slot] = out
            for k, v in src.items():
                key = _clean_key(k)
                if isinstance(v, dict | list):
                    out[key] = None
                    stack.append((v, out, key, depth + 1))
                else:
                    out[key] = _check_scalar(v)
        elif isinstance(src, list | tuple):
            out = [None] * len(src)
            parent[slot] = out
            for i, v in enumerate(src):
                if isinstance(v, dict | list | tuple):
                    stack.append((v, out, i, depth + 1))
                else:
                    out[i] = _check_scalar(v)
        else:
            parent[slot] = _check_scalar(src)
    return root[0]


def depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests at most `limit` levels (iterative; for patched objects)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            if d > limit:
                return False
            stack.extend((c, d + 1) for c in v.values())
        elif isinstance(v, list):
            if d > limit:
                return False
            stack.extend((c, d + 1) for c in v)
    return True


def decode(data: bytes, content_type: str) -> Any:
    """The body as JSON values: YAML when the content type says so, JSON when it says JSON,
    else JSON and then YAML (what tidal always accepted)."""
    ctype = content_type.split(";")[0].strip().lower()
    if len(data) > MAX_BODY_BYTES:
        raise too_large()
    try:
        if ctype.endswith("yaml"):
            value = load_yaml(data)
        elif ctype.endswith("json"):
            value = load_json(data)
        else:
            try:
                value = load_json(data)
            except BadRequest:
                value = load_yaml(data)
    except RecursionError:
        raise too_deep() from None
    value = plain(value)
    if ctype.endswith("yaml") or not ctype.endswith("json"):
        # an alias expansion may be far larger than its document: measure what is stored
        if len(orjson.dumps(value)) > MAX_BODY_BYTES:
            raise too_large()
    return value
