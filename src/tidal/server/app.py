"""The HTTPS face of the API server: a raw ASGI app that maps Kubernetes REST paths onto the
`Registry` verbs and renders what kubectl 1.32 expects (kubectl.md): bearer-token auth on
every path (401 Status), `/version`, aggregated and legacy discovery, OpenAPI v3, Tables,
watch streams (one JSON event per line, flushed), `pods/NAME/log`, `/scale`, the three patch
content types, `dryRun=All`, `fieldValidation=Strict`, and the aggregated APIs the plane mounts
with `register_api` (metrics.k8s.io, custom.metrics.k8s.io, external.metrics.k8s.io).

Aggregated API providers implement `ApiProvider`:

    class PodMetricsProvider:
        def resources(self) -> list[dict]:      # APIResource entries for discovery
            return [{"name": "pods", "singularName": "", "namespaced": True,
                     "kind": "PodMetrics", "verbs": ["get", "list"]}]
        async def handle(self, path: str, params: dict[str, str]) -> dict:
            # path below /apis/<group>/<version>, e.g. "/namespaces/default/pods"
            ...                                 # raise tidal.api.errors.NotFound etc.

    app.register_api("metrics.k8s.io/v1beta1", PodMetricsProvider())

`InProcessClient(registry, raw=app.get_raw)` lets in-process components read those APIs too.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlencode

import orjson

from tidal.api import params
from tidal.api.errors import (
    ApiError,
    BadRequest,
    Gone,
    MethodNotAllowed,
    NotFound,
    ServerError,
    UnsupportedMediaType,
)
from tidal.api.resources import RESOURCES, ResourceType
from tidal.pods import logs as pod_logs
from tidal.pods import serviceaccount
from tidal.server import builtin, discovery, openapi, protobuf, reviews, tables
from tidal.server.body import MAX_BODY_BYTES, RequestEntityTooLarge, decode, plain, too_large
from tidal.server.registry import Registry
from tidal.server.request_metrics import RequestMetrics
from tidal.server.schema import FieldCheck

log = logging.getLogger("tidal.server")

Obj = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON = b"application/json"
TABLE_CT = b"application/json;as=Table;v=v1;g=meta.k8s.io"
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "tidal",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}
TRIM_AFTER_BYTES = 256 * 1024  # a body this big leaves freed heap worth giving back
TRIM_QUIET_S = 2.0  # after writes stop this long, freed heap (deleted objects) goes back too
WATCH_TIMEOUT_MAX_S = 365 * 24 * 3600  # a longer `timeoutSeconds` is as good as none
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "apply",
}


class ApiProvider(Protocol):
    """An aggregated API group/version mounted under `/apis/<group>/<version>`."""

    def resources(self) -> list[Obj]:
        """APIResource entries (`name`, `singularName`, `namespaced`, `kind`, `verbs`)."""
        ...

    async def handle(self, path: str, params: dict[str, str]) -> Obj:
        """Answer a GET below the group/version (`/namespaces/default/pods`)."""
        ...


_DEFAULT_PROVIDERS: dict[str, ApiProvider] = {}


def register_api(group_version: str, provider: ApiProvider, app: ApiServer | None = None) -> None:
    """Mount `provider` at `/apis/<group_version>` on `app` (or on every ApiServer made after)."""
    if app is not None:
        app.register_api(group_version, provider)
    else:
        _DEFAULT_PROVIDERS[group_version] = provider


_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}


class _Request:
    __slots__ = ("method", "path", "segments", "params", "headers", "body")

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.segments = _segments(scope)
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self.params = {k: v[-1] for k, v in qs.items()}
        self.headers = _headers(scope)
        self.body = body

    def json(self) -> Any:
        ctype = self.headers.get("content-type", "")
        if "protobuf" in ctype:
            try:
                return protobuf.decode(self.body)
            except protobuf.ProtobufError as exc:
                raise UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: application/json, application/yaml ({exc}; `kubectl apply -f` "
                    "sends JSON)"
                ) from None
        if "cbor" in ctype:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json, application/yaml"
            )
        if not self.body:
            raise BadRequest("the request body is empty")
        return decode(self.body, ctype)

    @property
    def wants_table(self) -> bool:
        return "as=Table" in self.headers.get("accept", "")

    @property
    def wants_metadata(self) -> bool:
        """`as=PartialObjectMetadata[List]`: metadata-only clients (garbage collectors)."""
        return "as=PartialObjectMetadata" in self.headers.get("accept", "") and not self.wants_table

    @property
    def dry_run(self) -> bool:
        return params.dry_run(self.params)


class _Response:
    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: bytes = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.headers = headers or []


class _Stream:
    """A streamed answer (watch, `logs -f`): chunks from `chunks`, until it ends or the
    client goes away."""

    def __init__(self, chunks: AsyncIterator[bytes], content_type: bytes = JSON) -> None:
        self.chunks, self.content_type = chunks, content_type


def _json(obj: Any, status: int = 200, content_type: bytes = JSON) -> _Response:
    return _Response(orjson.dumps(obj), status, content_type)


def _status_error(err: ApiError) -> _Response:
    try:
        return _json(err.to_status(), err.code)
    except TypeError:  # a message quoting text orjson refuses (a lone surrogate): U+FFFD
        return _json(plain(err.to_status()), err.code)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _segments(scope: Scope) -> list[str]:
    """The path's segments, each percent-decoded on its own (so `%2F` stays inside a name and
    an empty name stays visible as ""); the leading "" is dropped."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    raw = raw.split(b"?", 1)[0]
    return [unquote(seg.decode("latin-1"), errors="replace") for seg in raw.split(b"/")][1:]


def _has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


async def _read_body(receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole body, refused (413) as soon as it exceeds MAX_BODY_BYTES: by its declared
    length before reading, or while reading a chunked one. None when the client left."""
    length = headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return None
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large()
        chunks.append(chunk)
        if not msg.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, resp: _Response, *, close: bool = False) -> None:
    """Send a whole answer. `close`: the request's body was not read, so the connection is
    closed after the answer (as Go's server does) instead of reading on."""
    headers = [(b"content-type", resp.content_type), *resp.headers]
    headers.append((b"content-length", str(len(resp.body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    await send({"type": "http.response.body", "body": resp.body})


class ApiServer:
    """The ASGI application. `token` is required as `Authorization: Bearer <token>`."""

    def __init__(
        self,
        registry: Registry,
        home: Path | str,
        token: str,
        *,
        clock: Callable[[], float] = time.time,
        server_address: str = "127.0.0.1:6443",
    ) -> None:
        self.registry = registry
        self.home = Path(home)
        self.token = token
        self.service_accounts = serviceaccount.Reviewer(
            token, serviceaccount.registry_lookup(registry.get)
        )
        self.clock = clock
        self.server_address = server_address
        self.providers: dict[str, ApiProvider] = {}
        self._last_write = 0.0
        self._trim_pending = False
        self.request_metrics = RequestMetrics()

    def register_api(self, group_version: str, provider: ApiProvider) -> None:
        self.providers[group_version] = provider

    def _providers(self) -> dict[str, ApiProvider]:
        return {**_DEFAULT_PROVIDERS, **builtin.PROVIDERS, **self.providers}

    async def get_raw(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET an API path in process (what `ApiClient.get_raw` does over HTTP)."""
        req = _Request(
            {
                "method": "GET",
                "path": path,
                "query_string": urlencode(params or {}).encode(),
                "headers": [],
            },
            b"",
        )
        resp = await self._dispatch(req)
        if isinstance(resp, _Stream):
            raise BadRequest("streams cannot be read with get_raw")
        data = orjson.loads(resp.body) if resp.content_type.startswith(JSON) else resp.body
        if resp.status >= 400:
            from tidal.api.errors import error_from_status

            raise error_from_status(resp.status, data if isinstance(data, dict) else None)
        return data

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        denied = self._denied(scope, headers)
        started = time.monotonic()
        if denied is not None:  # before a byte of the body is read
            self.request_metrics.observe(
                scope["method"], scope["path"], {}, denied.code, time.monotonic() - started
            )
            await _answer(send, _status_error(denied), close=_has_body(headers))
            return
        try:
            body = await _read_body(receive, headers)
        except RequestEntityTooLarge as err:
            await _answer(send, _status_error(err), close=True)
            release_memory()
            return
        if body is None:  # the client left
            return
        req = _Request(scope, body)
        try:
            resp: _Response | _Stream = await self._dispatch(req)
        except ApiError as err:
            resp = _status_error(err)
        except Exception as exc:  # a last resort: still a Status, logged for a fix
            log.exception("internal error on %s %s", req.method, req.path)
            resp = _status_error(ServerError(f"Internal error occurred: {exc!r}"))
        if isinstance(resp, _Stream):
            self.request_metrics.observe(req.method, req.path, req.params, 200, 0.0)
            await self._send_stream(resp, receive, send)
        else:
            await _answer(send, resp)
            self.request_metrics.observe(
                req.method, req.path, req.params, resp.status, time.monotonic() - started
            )
        if len(body) > TRIM_AFTER_BYTES:
            del req, body
            release_memory()
        elif req.method != "GET":
            self._trim_when_quiet()

    def _denied(self, scope: Scope, headers: dict[str, str]) -> ApiError | None:
        """None for the plane's token; else a pod's service-account token's review (its own
        namespace, read-only: tidal.pods.serviceaccount), 401 for anything else."""
        if self._authorized(headers):
            return None
        return self.service_accounts.review(
            headers.get("authorization", ""),
            scope.get("method", ""),
            scope.get("path", ""),
            scope.get("query_string", b"").decode("latin-1"),
        )

    def requester(self, headers: dict[str, str]) -> reviews.Requester:
        """Who sent an authenticated request: the admin, or a pod's service account."""
        if self._authorized(headers):
            return reviews.Requester()
        _, _, given = headers.get("authorization", "").partition(" ")
        return reviews.Requester(serviceaccount.verify(self.service_accounts.key, given.strip()))

    def _trim_when_quiet(self) -> None:
        """`release_memory` once no write has come for TRIM_QUIET_S (one timer at a time)."""
        loop = asyncio.get_running_loop()
        self._last_write = loop.time()
        if self._trim_pending:
            return
        self._trim_pending = True

        def check() -> None:
            left = self._last_write + TRIM_QUIET_S - loop.time()
            if left > 0:
                loop.call_later(left, check)
                return
            self._trim_pending = False
            release_memory()

        loop.call_later(TRIM_QUIET_S, check)

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode("utf-8", "replace"), self.token.encode()
        )

    async def _send_stream(self, stream: _Stream, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", stream.content_type),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )

        async def pump() -> None:
            async for chunk in stream.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(disconnected())
        try:
            await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (pumping, watching):
                t.cancel()
            await asyncio.gather(pumping, watching, return_exceptions=True)
            aclose = getattr(stream.chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        if not watching.done() or watching.cancelled():
            try:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # the client left while we finished
                pass

    # --- routing -------------------------------------------------------------------------------

    async def _dispatch(self, req: _Request) -> _Response | _Stream:
        parts = list(req.segments)
        trailing = len(parts) > 1 and parts[-1] == ""
        if trailing or parts == [""]:
            parts.pop()
        if "" in parts:  # `//`, or an encoded name that decoded to nothing
            raise NotFound("the server could not find the requested resource")
        path = "/" + "/".join(parts)
        if req.method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        if path == "/version":
            return _json(VERSION)
        routed = await builtin.dispatch(self, req, parts)
        if routed is not None:
            return routed
        if path in ("/healthz", "/livez", "/readyz"):
            return _Response(b"ok", content_type=b"text/plain; charset=utf-8")
        if path == "/api":
            if discovery.wants_aggregated(req.headers.get("accept", "")):
                return _json(
                    discovery.aggregated_core(),
                    content_type=discovery.AGGREGATED_CONTENT_TYPE.encode(),
                )
            return _json(discovery.api_versions(self.server_address))
        if path == "/apis":
            provs = {gv: p.resources() for gv, p in self._providers().items()}
            if discovery.wants_aggregated(req.headers.get("accept", "")):
                return _json(
                    discovery.aggregated_apis(provs),
                    content_type=discovery.AGGREGATED_CONTENT_TYPE.encode(),
                )
            return _json(discovery.api_group_list(provs))
        if parts[:2] == ["openapi", "v3"]:
            if len(parts) == 2:
                return _json(openapi.index())
            doc = openapi.document("/".join(parts[2:]))
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return _json(doc)
        if parts[:1] == ["api"] and len(parts) >= 2:
            if parts[1] != "v1":
                raise NotFound("the server could not find the requested resource")
            return await self._resource(req, "", "v1", parts[2:], trailing)
        if parts[:1] == ["apis"] and len(parts) >= 2:
            group = parts[1]
            if len(parts) == 2:
                versions = discovery.group_versions({gv: [] for gv in self._providers()})
                if group not in versions:
                    raise NotFound("the server could not find the requested resource")
                return _json(discovery.api_group(group, versions[group]))
            version = parts[2]
            provider = self._providers().get(f"{group}/{version}")
            if provider is not None:
                if len(parts) == 3:
                    return _json(
                        discovery.provider_resource_list(f"{group}/{version}", provider.resources())
                    )
                if req.method != "GET":
                    raise MethodNotAllowed(
                        "the server does not allow this method on the requested resource"
                    )
                rest = "/" + "/".join(parts[3:])
                return _json(await provider.handle(rest, dict(req.params)))
            return await self._resource(req, group, version, parts[3:], trailing)
        raise NotFound("the server could not find the requested resource")

    async def _resource(
        self, req: _Request, group: str, version: str, rest: list[str], trailing: bool = False
    ) -> _Response | _Stream:
        """A resource path. A trailing `/` after a collection or object names no object: 404
        for every verb, so `DELETE .../deployments/` can never delete the collection."""
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return _json(doc)
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
            return await self._collection(req, r, namespace)
        if r.namespaced and namespace is None:
            raise NotFound("the server could not find the requested resource")
        return await self._object(req, r, namespace, name, sub)

    # --- collections ---------------------------------------------------------------------------

    async def _collection(
        self, req: _Request, r: ResourceType, namespace: str | None
    ) -> _Response | _Stream:
        p = req.params
        if req.method == "GET":
            if params.bool_param(p, "watch"):
                return self._watch(req, r, namespace)
            limit = params.int_param(p, "limit")
            include = params.choice_param(p, "includeObject", params.INCLUDE_OBJECT, "Metadata")
            listed = self.registry.list(
                r.kind,
                namespace,
                label_selector=p.get("labelSelector"),
                field_selector=p.get("fieldSelector"),
                limit=limit if limit and limit > 0 else None,
                continue_=p.get("continue") or None,
            )
            if req.wants_table:
                return _json(
                    tables.table(
                        r.kind,
                        listed["items"],
                        self.clock(),
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
            return _json(listed)
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
            created = self.registry.create(
                obj, namespace=namespace, dry_run=req.dry_run, fields=fields
            )
            resp = _json(created, 201)
            resp.headers += fields.headers()
            return resp
        if req.method == "DELETE":
            opts = self._delete_options(req)
            listed = self.registry.list(
                r.kind,
                namespace,
                label_selector=p.get("labelSelector"),
                field_selector=p.get("fieldSelector"),
            )
            for item in listed["items"]:
                meta = item["metadata"]
                try:
                    self.registry.delete(r.kind, meta["name"], meta.get("namespace"), **opts)
                except NotFound:
                    pass
            return _json(listed)
        raise MethodNotAllowed("the server does not allow this method on the requested resource")

    def _watch(self, req: _Request, r: ResourceType, namespace: str | None) -> _Stream:
        p = req.params
        timeout = params.int_param(p, "timeoutSeconds")
        if timeout is not None:
            timeout = min(timeout, WATCH_TIMEOUT_MAX_S)
        as_table = req.wants_table
        include = params.choice_param(p, "includeObject", params.INCLUDE_OBJECT, "Metadata")
        try:
            events = self.registry.watch(
                r.kind,
                namespace,
                resource_version=p.get("resourceVersion") or None,
                label_selector=p.get("labelSelector"),
                field_selector=p.get("fieldSelector"),
            )
        except Gone as err:  # as kube-apiserver: a 200 stream with one ERROR event
            status = err.to_status()

            async def expired() -> AsyncIterator[bytes]:
                yield orjson.dumps({"type": "ERROR", "object": status}) + b"\n"

            return _Stream(expired())

        async def chunks() -> AsyncIterator[bytes]:
            deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
            first = True
            it = events.__aiter__()
            try:
                while True:
                    if deadline is None:
                        etype, body = await it.__anext__()
                    else:
                        left = deadline - asyncio.get_running_loop().time()
                        if left <= 0:
                            return
                        try:
                            etype, body = await asyncio.wait_for(it.__anext__(), left)
                        except TimeoutError:
                            return
                    if as_table:
                        obj = orjson.loads(body)
                        tbl = tables.table(
                            r.kind,
                            [obj],
                            self.clock(),
                            resource_version=obj["metadata"].get("resourceVersion", ""),
                            include=include,
                            headers=first,
                        )
                        first = False
                        yield orjson.dumps({"type": etype, "object": tbl}) + b"\n"
                    else:
                        yield b'{"type":"' + etype.encode() + b'","object":' + body + b"}\n"
            except StopAsyncIteration:
                return
            finally:
                await events.aclose()  # type: ignore[attr-defined]

        return _Stream(chunks(), TABLE_CT if as_table else JSON)

    # --- single objects ------------------------------------------------------------------------

    async def _object(
        self, req: _Request, r: ResourceType, namespace: str | None, name: str, sub: str | None
    ) -> _Response | _Stream:
        if sub == "log":
            if req.method != "GET":
                raise MethodNotAllowed(
                    "the server does not allow this method on the requested resource"
                )
            return self._log(req, namespace or "default", name)
        if req.method == "GET":
            obj = self.registry.get(r.kind, name, namespace, subresource=sub)
            if req.wants_table and sub is None:
                include = params.choice_param(
                    req.params, "includeObject", params.INCLUDE_OBJECT, "Metadata"
                )
                return _json(
                    tables.table(
                        r.kind,
                        [obj],
                        self.clock(),
                        resource_version=obj["metadata"].get("resourceVersion", ""),
                        include=include,
                    ),
                    content_type=TABLE_CT,
                )
            if req.wants_metadata and sub is None:
                return _json(_partial(obj))
            return _json(obj)
        if req.method == "PUT":
            obj = req.json()
            if not isinstance(obj, dict):
                raise BadRequest("the request body must be a JSON object")
            fields = FieldCheck(params.field_validation(req.params))
            out = self.registry.update(
                obj,
                subresource=sub,
                dry_run=req.dry_run,
                kind=r.kind,
                name=name,
                namespace=namespace,
                fields=fields,
            )
            resp = _json(out)
            resp.headers += fields.headers()
            return resp
        if req.method == "PATCH":
            ctype = req.headers.get("content-type", "").split(";")[0].strip()
            patch_type = PATCH_TYPES.get(ctype)
            if patch_type is None:
                raise UnsupportedMediaType(
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json-patch+json, application/merge-patch+json, "
                    "application/strategic-merge-patch+json"
                )
            if patch_type == "apply":
                return _status_error(
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
            out = self.registry.patch(
                r.kind,
                name,
                patch,
                namespace,
                patch_type=patch_type,
                subresource=sub,
                dry_run=req.dry_run,
                fields=fields,
            )
            resp = _json(out)
            resp.headers += fields.headers()
            return resp
        if req.method == "DELETE":
            if sub is not None:
                raise MethodNotAllowed(
                    "the server does not allow this method on the requested resource"
                )
            opts = self._delete_options(req)
            obj, gone = self.registry.delete(r.kind, name, namespace, **opts)
            if not gone:
                return _json(obj)
            return _json(
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
        raise MethodNotAllowed("the server does not allow this method on the requested resource")

    def _delete_options(self, req: _Request) -> dict[str, Any]:
        parsed = None
        if req.body.strip():
            try:
                parsed = req.json()
            except BadRequest as err:
                raise BadRequest(f"the DeleteOptions body is not valid: {err.message}") from None
        return params.delete_options(req.params, parsed)

    # --- logs ----------------------------------------------------------------------------------

    def _log(self, req: _Request, namespace: str, name: str) -> _Response | _Stream:
        """Per container, `previous`, `since*`, `timestamps`: tidal.pods.logs (docs/PODS.md)."""
        pod = self.registry.get("Pod", name, namespace)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        opts = pod_logs.options(req.params, name, containers)
        path = pod_logs.log_file(self.home / "pods" / namespace / name, containers, opts.container)
        if opts.previous and not pod_logs.previous(path).exists():
            raise BadRequest(
                f'previous terminated container "{opts.container}" in pod "{name}" not found'
            )
        data = pod_logs.read(path, opts, self.clock())
        if not opts.follow or opts.previous:
            return _Response(data, content_type=b"text/plain")
        uid = pod["metadata"].get("uid")

        def alive() -> bool:
            try:
                current = self.registry.get("Pod", name, namespace)
            except NotFound:
                return False
            phase = (current.get("status") or {}).get("phase")
            return current["metadata"].get("uid") == uid and phase not in ("Succeeded", "Failed")

        return _Stream(pod_logs.follow(path, opts, data, alive, self.clock), b"text/plain")


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def release_memory() -> None:
    """Give freed heap back to the system. glibc raises its mmap threshold after freeing a large
    block, so the next multi-MiB bodies come from the heap and their pages stay resident after
    they are freed (memory "stays inflated"); `malloc_trim` returns them."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
