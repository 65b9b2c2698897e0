"""The API paths served beside the resource table: `autoscaling/v1` HorizontalPodAutoscalers (a
converted view of the stored v2 objects, tidal.api.hpa_v1), the self reviews that `kubectl auth
whoami|can-i` create (tidal.server.reviews) and the API server's own `/metrics`
(tidal.server.request_metrics). `tidal.server.routes` lists their handlers; `PROVIDERS` puts
the groups in discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from tidal.api import hpa_v1
from tidal.api.errors import BadRequest, Forbidden, MethodNotAllowed, NotFound
from tidal.api.patch import PatchError, apply_patch
from tidal.server import reviews
from tidal.server.asgi import JSON, Request, Response, Stream, json_response
from tidal.server.handlers.objects import PATCH_TYPES, resource

if TYPE_CHECKING:
    from tidal.server.app import ApiServer
    from tidal.server.routes import Match

Obj = dict[str, Any]
REVIEWS = {
    ("authentication.k8s.io", "v1", "selfsubjectreviews"): "SelfSubjectReview",
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews"): "SelfSubjectAccessReview",
    ("authorization.k8s.io", "v1", "selfsubjectrulesreviews"): "SelfSubjectRulesReview",
}


class _Discovery:
    """An `ApiProvider` that only lists resources: their requests are answered by `dispatch`."""

    def __init__(self, resources: list[Obj]) -> None:
        self._resources = resources

    def resources(self) -> list[Obj]:
        return self._resources

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        raise MethodNotAllowed("the server does not allow this method on the requested resource")


def _review_resource(name: str, kind: str) -> Obj:
    return {"name": name, "singularName": "", "namespaced": False, "kind": kind,
            "verbs": ["create"]}  # fmt: skip


PROVIDERS: dict[str, _Discovery] = {
    "autoscaling/v1": _Discovery(
        [
            {
                "name": "horizontalpodautoscalers",
                "singularName": "horizontalpodautoscaler",
                "namespaced": True,
                "kind": "HorizontalPodAutoscaler",
                "verbs": [
                    "create",
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "update",
                    "watch",
                ],
            }  # fmt: skip
        ]
    ),
    "authentication.k8s.io/v1": _Discovery(
        [_review_resource("selfsubjectreviews", "SelfSubjectReview")]
    ),
    "authorization.k8s.io/v1": _Discovery(
        [
            _review_resource("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
            _review_resource("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
        ]
    ),
}


def refuse_impersonation(req: Request) -> None:
    """Impersonation (`kubectl --as`) is refused: tidal has no users to act as, and answering
    as the caller would be a silently wrong answer (`auth can-i --as=bob` saying yes)."""
    asked = sorted(h for h in req.headers if h.startswith("impersonate-"))
    if asked:
        raise Forbidden(
            f"impersonation ({', '.join(asked)}) is not supported by tidal: its tokens are the "
            "plane's (admin) and pods' service accounts, there are no other users to act as"
        )


async def metrics(app: ApiServer, req: Request, m: Match) -> Response:
    """`/metrics`: the API server's request counts and latencies."""
    return Response(
        app.request_metrics.exposition().encode(),
        content_type=b"text/plain; version=0.0.4; charset=utf-8",
    )


async def review(app: ApiServer, req: Request, m: Match) -> Response:
    """A POST of a self review (`REVIEWS`), answered for whoever sent it."""
    group, version, plural = m.parts[1:4]
    kind = REVIEWS[(group, version, plural)]
    body = req.json()
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if body.get("kind", kind) != kind:
        raise BadRequest(
            f"the kind in the data ({body.get('kind')}) does not match the expected kind "
            f"({kind}) of {plural}"
        )
    return json_response(reviews.answer(app.requester(req.headers), kind, body), 201)


# --- autoscaling/v1 HorizontalPodAutoscaler ---------------------------------------------------


def _v2_request(req: Request, body: bytes | None = None) -> Request:
    headers = [(k.encode(), v.encode()) for k, v in req.headers.items()]
    if body is not None:
        headers = [(k, v) for k, v in headers if k != b"content-type"]
        headers.append((b"content-type", b"application/json"))
    scope = {
        "method": req.method,
        "path": req.path.replace("/apis/autoscaling/v1/", "/apis/autoscaling/v2/", 1),
        "query_string": urlencode(req.params).encode(),
        "headers": headers,
    }
    return Request(scope, req.body if body is None else body)


def _incoming(obj: Any) -> bytes:
    if not isinstance(obj, dict):
        raise BadRequest("the request body must be a JSON object")
    if obj.get("kind", "HorizontalPodAutoscaler") != "HorizontalPodAutoscaler":
        raise BadRequest(
            f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
            "(HorizontalPodAutoscaler) of horizontalpodautoscalers"
        )
    if obj.get("apiVersion", hpa_v1.V1) != hpa_v1.V1:
        raise BadRequest(f"apiVersion {obj.get('apiVersion')!r} sent to autoscaling/v1")
    for key in ("metadata", "spec", "status"):
        if not isinstance(obj.get(key, {}), dict):
            raise BadRequest(f"{key}: must be an object")
    return orjson.dumps(hpa_v1.to_v2(obj))


def _outgoing(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    if obj.get("kind") == "HorizontalPodAutoscaler":
        return hpa_v1.to_v1(obj)
    if obj.get("kind") == "HorizontalPodAutoscalerList":
        return {**obj, "apiVersion": hpa_v1.V1, "items": [hpa_v1.to_v1(o) for o in obj["items"]]}
    return obj


async def autoscaling_v1(app: ApiServer, req: Request, m: Match) -> Response | Stream:
    """`/apis/autoscaling/v1/...`: the stored v2 objects, converted both ways."""
    rest = m.rest
    rest_plural = rest[2] if rest[:1] == ["namespaces"] and len(rest) >= 3 else rest[0]
    if rest_plural != "horizontalpodautoscalers":
        raise NotFound("the server could not find the requested resource")
    if req.method in ("POST", "PUT"):
        v2 = _v2_request(req, _incoming(req.json()))
    elif req.method == "PATCH":
        v2 = await _patched(app, req, rest)
    else:
        v2 = _v2_request(req)
    resp = await resource(app, v2, "autoscaling", "v2", rest)
    if isinstance(resp, Stream):
        if resp.content_type != JSON:
            return resp  # tables are the same in both versions
        return Stream(_converted(resp.chunks), resp.content_type)
    if not resp.content_type.startswith(JSON) or b"as=Table" in resp.content_type:
        return resp
    out = Response(orjson.dumps(_outgoing(orjson.loads(resp.body))), resp.status, resp.content_type)
    out.headers = resp.headers
    return out


async def _patched(app: ApiServer, req: Request, rest: list[str]) -> Request:
    """A PATCH of the v1 view: applied to the v1 object, stored as an update (as the API server
    patches the version a client speaks)."""
    ctype = req.headers.get("content-type", "").split(";")[0].strip()
    patch_type = PATCH_TYPES.get(ctype)
    if patch_type is None or patch_type == "apply":
        from tidal.api.errors import UnsupportedMediaType

        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json"
        )
    get = _v2_request(req)
    get.method = "GET"
    current = await resource(app, get, "autoscaling", "v2", rest)
    v1 = hpa_v1.to_v1(orjson.loads(current.body))  # type: ignore[union-attr]
    try:
        patched = apply_patch(v1, req.json(), patch_type)
    except PatchError as err:
        raise BadRequest(f"the patch could not be applied: {err}") from None
    if isinstance(patched, dict):
        patched.setdefault("metadata", {})["resourceVersion"] = v1["metadata"].get(
            "resourceVersion"
        )
    put = _v2_request(req, _incoming(patched))
    put.method = "PUT"
    return put


async def _converted(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            lines = []
            for line in chunk.splitlines():
                if not line.strip():
                    continue
                event = orjson.loads(line)
                event["object"] = _outgoing(event.get("object"))
                lines.append(orjson.dumps(event) + b"\n")
            yield b"".join(lines)
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
