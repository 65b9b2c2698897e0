"""What every verb of the registry shares: the resource a kind names, the errors that name a
resource the way kube-apiserver words them, and cheap copies of JSON objects."""

from __future__ import annotations

from typing import Any

import orjson

from tidal.api.errors import Conflict, NotFound
from tidal.api.resources import ResourceType, by_kind

Obj = dict[str, Any]


def qualified(r: ResourceType) -> str:
    """`deployments.apps`, `pods`: how Kubernetes names a resource in messages."""
    return f"{r.plural}.{r.group}" if r.group else r.plural


def not_found(r: ResourceType, name: str) -> NotFound:
    return NotFound(
        f'{qualified(r)} "{name}" not found',
        details={"name": name, "group": r.group, "kind": r.plural},
    )


def conflict(r: ResourceType, name: str) -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {qualified(r)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        reason="Conflict",
        details={"name": name, "group": r.group, "kind": r.plural},
    )


def resource_for(kind: Any) -> ResourceType:
    try:
        if not isinstance(kind, str):
            raise KeyError(kind)
        return by_kind(kind)
    except KeyError:
        raise NotFound(
            f"the server doesn't have a resource type {kind!r}", details={"kind": kind}
        ) from None


def json_copy(obj: Any) -> Any:
    """A deep copy of a JSON value, through orjson: several times faster than `copy.deepcopy`
    on API objects (every write copies the object it is given and the current one)."""
    return orjson.loads(orjson.dumps(obj))


def short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def spec_of(obj: Obj) -> Obj:
    """Everything a generation covers: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}
