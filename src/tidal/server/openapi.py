"""A minimal OpenAPI v3: the index and one document per group/version, each declaring the PATCH
operation of every kind with its GVK and the `fieldValidation` query parameter. That is what
kubectl's apply checks before it sends `fieldValidation=Strict` (kubectl.md §4); without it,
`kubectl apply` fails to validate. Each document also carries every kind's schema, with
descriptions, under `components.schemas` (tidal.server.openapi_kinds): `kubectl explain`."""

from __future__ import annotations

from typing import Any

from tidal.api.resources import RESOURCES
from tidal.server.openapi_kinds import EXTRA_ROWS, schemas

Obj = dict[str, Any]
_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
]


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def index() -> Obj:
    paths: Obj = {}
    for r in (*RESOURCES, *EXTRA_ROWS):
        p = _gv_path(r.group, r.version)
        paths.setdefault(p, {"serverRelativeURL": f"/openapi/v3/{p}?hash=0"})
    return {"paths": paths}


def document(gv_path: str) -> Obj | None:
    """The document for `api/v1` or `apis/<g>/<v>`; None when not served."""
    rows = [r for r in (*RESOURCES, *EXTRA_ROWS) if _gv_path(r.group, r.version) == gv_path]
    if not rows:
        return None
    paths: Obj = {}
    for r in rows:
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        ns = "/namespaces/{namespace}" if r.namespaced else ""
        base = f"/{gv_path}{ns}/{r.plural}/{{name}}"
        paths[base] = {
            "patch": {
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
                "operationId": f"patch{r.kind}",
                "parameters": _PARAMS,
                "responses": {"200": {"description": "OK"}},
            },
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": schemas(rows)},
    }
