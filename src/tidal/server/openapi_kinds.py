"""Every kind's OpenAPI v3 schema, as `components.schemas` of the `/openapi/v3` documents, each
with its `x-kubernetes-group-version-kind` (how `kubectl explain` finds it). tidal's own kinds
use their full schemas (tidal.api.openapi_schemas.SPECS, the CRDs' own); built-in kinds are
derived from the strict field validation's known fields (tidal.server.schema.SCHEMAS: the same
field names) with types and descriptions from tidal.api.openapi_schemas.FIELDS; a kind without
either is an object whose fields are kept as given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tidal.api.openapi_schemas import KIND_DOCS, SPECS, TOP_FIELDS, field_doc, top
from tidal.api.resources import ResourceType
from tidal.server.schema import ANY, SCHEMAS

Obj = dict[str, Any]
_CORE_GROUPS = ("apps", "autoscaling", "batch", "policy")
# kinds served beside the resource table (tidal.server.builtin) that `kubectl apply` validates
EXTRA_ROWS = (
    ResourceType(
        "autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
        "horizontalpodautoscaler",
    ),
)  # fmt: skip


def schema_name(r: ResourceType) -> str:
    """Kubernetes' name: io.k8s.api.apps.v1.Deployment; a CRD's reversed group otherwise."""
    if not r.group:
        return f"io.k8s.api.core.{r.version}.{r.kind}"
    if r.group in _CORE_GROUPS or r.group.endswith(".k8s.io"):
        return f"io.k8s.api.{r.group.split('.')[0]}.{r.version}.{r.kind}"
    return ".".join(reversed(r.group.split("."))) + f".{r.version}.{r.kind}"


def _derived(kind: str, node: Any, path: str) -> Obj:
    doc = field_doc(kind, path)
    frag, description = doc if doc is not None else ({}, "")
    if path in ("apiVersion", "kind", "metadata", "status") and node is ANY:
        return top(path)
    if node is ANY:
        out: Obj = dict(frag) if frag else {"x-kubernetes-preserve-unknown-fields": True}
    elif isinstance(node, list):
        out = {"type": "array", "items": _derived(kind, node[0], path)}
        out["items"].pop("description", None)
    else:
        out = {
            "type": "object",
            "properties": {k: _derived(kind, v, f"{path}.{k}" if path else k)
                           for k, v in node.items()},
        }  # fmt: skip
    if description:
        out["description"] = description
    return out


def kind_schema(r: ResourceType) -> Obj:
    """The schema of one kind, GVK extension included."""
    spec = SPECS.get((r.group, r.version, r.kind))
    if spec is not None:
        out: Obj = {
            "type": "object",
            "properties": {
                "apiVersion": top("apiVersion"),
                "kind": top("kind"),
                "metadata": top("metadata"),
                "spec": spec(),
                "status": top("status"),
            },
        }
    elif r.kind in SCHEMAS:
        out = _derived(r.kind, SCHEMAS[r.kind], "")
    else:
        out = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {k: top(k) for k in ("apiVersion", "kind", "metadata")},
        }
        if r.kind in TOP_FIELDS:
            out["properties"].update(TOP_FIELDS[r.kind])  # strict validation keeps the rest
    out["description"] = KIND_DOCS.get(r.kind, f"{r.kind} ({r.api_version}).")
    out["x-kubernetes-group-version-kind"] = [
        {"group": r.group, "version": r.version, "kind": r.kind}
    ]
    return out


def schemas(rows: Iterable[ResourceType]) -> Obj:
    return {schema_name(r): kind_schema(r) for r in rows}
