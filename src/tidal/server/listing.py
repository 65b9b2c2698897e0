"""Reading a collection: label and field selectors (400 when malformed), the label index for
`=`/`in` selectors, and `limit`/`continue` pages whose token names the last key returned."""

from __future__ import annotations

import base64

import orjson

from tidal.api.errors import BadRequest
from tidal.api.resources import ResourceType
from tidal.api.selectors import FieldSelector, LabelSelector, parse_fields, parse_labels
from tidal.server.index import Indexes
from tidal.server.objects import Obj
from tidal.server.store import Store


def selectors(
    label_selector: str | None, field_selector: str | None
) -> tuple[LabelSelector, FieldSelector]:
    try:
        return parse_labels(label_selector), parse_fields(field_selector)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def list_objects(
    store: Store,
    indexes: Indexes,
    r: ResourceType,
    namespace: str | None,
    labels: LabelSelector,
    fields: FieldSelector,
    *,
    limit: int | None,
    continue_: str | None,
) -> Obj:
    """The `<Kind>List` of what the selectors match in `namespace` (None: all), a page of at most
    `limit` items after the `continue_` token."""
    start: tuple[str, str] | None = None
    if continue_:
        try:
            tok = orjson.loads(base64.urlsafe_b64decode(continue_.encode()))
            start = (tok["ns"], tok["name"])
        except (ValueError, KeyError, TypeError):
            raise BadRequest("invalid continue token") from None
    pinned = fields.value_of("metadata.name")
    keys = indexes.labelled(r.kind, namespace, labels)
    if keys is None:
        keys = store.keys(r.kind, namespace)
    items: list[Obj] = []
    more = False
    for key in keys:
        if start is not None and (key[1], key[2]) <= start:
            continue
        if pinned is not None and key[2] != pinned:
            continue
        obj = store.get(key)
        if obj is None or not labels.matches(obj["metadata"].get("labels")):
            continue
        if not fields.matches(obj):
            continue
        if limit and len(items) >= limit:
            more = True
            break
        items.append(obj)
    meta: Obj = {"resourceVersion": str(store.rv)}
    if more and items:
        last = items[-1]["metadata"]
        tok = {"ns": last.get("namespace", ""), "name": last["name"]}
        meta["continue"] = base64.urlsafe_b64encode(orjson.dumps(tok)).decode()
        meta["remainingItemCount"] = sum(1 for _ in keys) - len(items)  # upper bound
    return {
        "kind": r.list_kind_name,
        "apiVersion": r.api_version,
        "metadata": meta,
        "items": items,
    }
