"""Resource paths (`/api/v1/...`, `/apis/<group>/<version>/...`) onto the `Registry` verbs:
list, create and delete-collection on collections; get, update, the three patch content
types, and delete on objects and their subresources (`/scale`, `/status`); Tables and
PartialObjectMetadata when the client asks for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tidal.api import params
from tidal.api.errors import BadRequest, MethodNotAllowed, NotFound, UnsupportedMediaType
from tidal.api.resources import RESOURCES, ResourceType
from tidal.server import discovery, tables
from tidal.server.asgi import TABLE_CT, Request, Response, Stream, json_response, status_error
from tidal.server.handlers.logs import pod_log
from tidal.server.handlers.watch import watch
from tidal.server.schema import FieldCheck

if TYPE_CHECKING:
    from tidal.server.app import ApiServer

Obj = dict[str, Any]
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}
_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
_NOT_ALLOWED = "the server does not allow this method on the requested resource"


async def resource(
    app: ApiServer,
    req: Request,
    group: str,
    version: str,
    rest: list[str],
    trailing: bool = False,
) -> Response | Stream:
    """A resource path. A trailing `/` after a collection or object names no object: 404
    for every verb, so `DELETE .../deployments/` can never delete the collection."""
    if not rest:
        doc = discovery.resource_list(group, version)
        if doc is None:
            raise NotFound("the server could not find the requested resource")
        return json_response(doc)
    if trailing:
        raise NotFound("the server could not find the requested resource")
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in _BY_PATH:
        namespace, rest = rest[1], rest[2:]
    r = _BY_PATH.get((group, version, rest[0]))
    if r is None:
        raise NotFound("the server could not find the requested resource")
    if r.namespaced is False:
        namespace = None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    for what, segment in (("Namespace", namespace), ("Name", name)):
        if segment is not None and (msgs := _invalid_segment(segment)):
            raise BadRequest(f'{what} parameter invalid: "{segment}": {";".join(msgs)}')
    if len(rest) > 3 or (sub is not None and sub not in r.subresources):
        raise NotFound("the server could not find the requested resource")
    if name is None:
        return await _collection(app, req, r, namespace)
    if r.namespaced and namespace is None:
        raise NotFound("the server could not find the requested resource")
    return await _object(app, req, r, namespace, name, sub)


# --- collections -------------------------------------------------------------------------------


async def _collection(
    app: ApiServer, req: Request, r: ResourceType, namespace: str | None
) -> Response | Stream:
    p = req.params
    if req.method == "GET":
        if params.bool_param(p, "watch"):
            return watch(app, req, r, namespace)
        limit = params.int_param(p, "limit")
        include = params.choice_param(p, "includeObject", params.INCLUDE_OBJECT, "Metadata")
        listed = app.registry.list(
            r.kind,
            namespace,
            label_selector=p.get("labelSelector"),
            field_selector=p.get("fieldSelector"),
            limit=limit if limit and limit > 0 else None,
            continue_=p.get("continue") or None,
        )
        if req.wants_table:
            return json_response(
                tables.table(
                    r.kind,
                    listed["items"],
                    app.clock(),
                    resource_version=listed["metadata"]["resourceVersion"],
                    include=include,
                    continue_=listed["metadata"].get("continue"),
                ),
                content_type=TABLE_CT,
            )
        if req.wants_metadata:
            listed = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": listed["metadata"],
                "items": [_partial(o) for o in listed["items"]],
            }
        return json_response(listed)
    if req.method == "POST":
        obj = req.json()
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        obj.setdefault("kind", r.kind)
        if obj["kind"] != r.kind:
            raise BadRequest(
                f"the kind in the data ({obj['kind']}) does not match the expected kind "
                f"({r.kind}) of {r.plural}"
            )
        if r.namespaced and namespace is None:
            raise NotFound("the server could not find the requested resource")
        fields = FieldCheck(params.field_validation(req.params))
        created = app.registry.create(obj, namespace=namespace, dry_run=req.dry_run, fields=fields)
        resp = json_response(created, 201)
        resp.headers += fields.headers()
        return resp
    if req.method == "DELETE":
        opts = _delete_options(req)
        listed = app.registry.list(
            r.kind,
            namespace,
            label_selector=p.get("labelSelector"),
            field_selector=p.get("fieldSelector"),
        )
        for item in listed["items"]:
            meta = item["metadata"]
            try:
                app.registry.delete(r.kind, meta["name"], meta.get("namespace"), **opts)
            except NotFound:
                pass
        return json_response(listed)
    raise MethodNotAllowed(_NOT_ALLOWED)


# --- single objects ----------------------------------------------------------------------------


async def _object(
    app: ApiServer,
    req: Request,
    r: ResourceType,
    namespace: str | None,
    name: str,
    sub: str | None,
) -> Response | Stream:
    if sub == "log":
        if req.method != "GET":
            raise MethodNotAllowed(_NOT_ALLOWED)
        return pod_log(app, req, namespace or "default", name)
    if req.method == "GET":
        obj = app.registry.get(r.kind, name, namespace, subresource=sub)
        if req.wants_table and sub is None:
            include = params.choice_param(
                req.params, "includeObject", params.INCLUDE_OBJECT, "Metadata"
            )
            return json_response(
                tables.table(
                    r.kind,
                    [obj],
                    app.clock(),
                    resource_version=obj["metadata"].get("resourceVersion", ""),
                    include=include,
                ),
                content_type=TABLE_CT,
            )
        if req.wants_metadata and sub is None:
            return json_response(_partial(obj))
        return json_response(obj)
    if req.method == "PUT":
        obj = req.json()
        if not isinstance(obj, dict):
            raise BadRequest("the request body must be a JSON object")
        fields = FieldCheck(params.field_validation(req.params))
        out = app.registry.update(
            obj,
            subresource=sub,
            dry_run=req.dry_run,
            kind=r.kind,
            name=name,
            namespace=namespace,
            fields=fields,
        )
        resp = json_response(out)
        resp.headers += fields.headers()
        return resp
    if req.method == "PATCH":
        return _patch(app, req, r, namespace, name, sub)
    if req.method == "DELETE":
        if sub is not None:
            raise MethodNotAllowed(_NOT_ALLOWED)
        opts = _delete_options(req)
        obj, gone = app.registry.delete(r.kind, name, namespace, **opts)
        if not gone:
            return json_response(obj)
        return json_response(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": r.group,
                    "kind": r.plural,
                    "uid": obj["metadata"].get("uid", ""),
                },
            }
        )
    raise MethodNotAllowed(_NOT_ALLOWED)


def _patch(
    app: ApiServer,
    req: Request,
    r: ResourceType,
    namespace: str | None,
    name: str,
    sub: str | None,
) -> Response:
    ctype = req.headers.get("content-type", "").split(";")[0].strip()
    patch_type = PATCH_TYPES.get(ctype)
    if patch_type is None:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json"
        )
    if patch_type == "apply":
        return status_error(
            UnsupportedMediaType(
                "server-side apply is not supported by tidal: the body of the request was "
                "in an unknown format - accepted media types include: "
                "application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json (use `kubectl apply` without "
                "--server-side)"
            )
        )
    patch = req.json()
    fields = FieldCheck(params.field_validation(req.params))
    out = app.registry.patch(
        r.kind,
        name,
        patch,
        namespace,
        patch_type=patch_type,
        subresource=sub,
        dry_run=req.dry_run,
        fields=fields,
    )
    resp = json_response(out)
    resp.headers += fields.headers()
    return resp


def _delete_options(req: Request) -> dict[str, Any]:
    parsed = None
    if req.body.strip():
        try:
            parsed = req.json()
        except BadRequest as err:
            raise BadRequest(f"the DeleteOptions body is not valid: {err.message}") from None
    return params.delete_options(req.params, parsed)


def _invalid_segment(name: str) -> list[str]:
    """apimachinery's `path.IsValidPathSegmentName`: what a name in a URL may not be."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }
