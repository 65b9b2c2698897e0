"""The paths that describe the server rather than its objects: `/version`, the health checks,
legacy and aggregated discovery (`/api`, `/apis`, `/apis/<group>`), OpenAPI v3, and each
group/version, where an aggregated API provider (`register_api`) answers before the resource
table does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidal.api.errors import MethodNotAllowed, NotFound
from tidal.server import discovery, openapi
from tidal.server.asgi import Request, Response, Stream, json_response
from tidal.server.handlers.objects import resource

if TYPE_CHECKING:
    from tidal.server.app import ApiServer
    from tidal.server.routes import Match

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
_AGGREGATED = discovery.AGGREGATED_CONTENT_TYPE.encode()


async def version(app: ApiServer, req: Request, m: Match) -> Response:
    return json_response(VERSION)


async def health(app: ApiServer, req: Request, m: Match) -> Response:
    return Response(b"ok", content_type=b"text/plain; charset=utf-8")


async def core(app: ApiServer, req: Request, m: Match) -> Response:
    """`/api`: the core group's versions (aggregated when the client asks for it)."""
    if discovery.wants_aggregated(req.headers.get("accept", "")):
        return json_response(discovery.aggregated_core(), content_type=_AGGREGATED)
    return json_response(discovery.api_versions(app.server_address))


async def groups(app: ApiServer, req: Request, m: Match) -> Response:
    """`/apis`: every group, the providers' included."""
    provs = {gv: p.resources() for gv, p in app.all_providers().items()}
    if discovery.wants_aggregated(req.headers.get("accept", "")):
        return json_response(discovery.aggregated_apis(provs), content_type=_AGGREGATED)
    return json_response(discovery.api_group_list(provs))


async def group(app: ApiServer, req: Request, m: Match) -> Response:
    """`/apis/<group>`: its versions."""
    name = m.captured["group"]
    versions = discovery.group_versions({gv: [] for gv in app.all_providers()})
    if name not in versions:
        raise NotFound("the server could not find the requested resource")
    return json_response(discovery.api_group(name, versions[name]))


async def openapi_v3(app: ApiServer, req: Request, m: Match) -> Response:
    if not m.rest:
        return json_response(openapi.index())
    doc = openapi.document("/".join(m.rest))
    if doc is None:
        raise NotFound("the server could not find the requested resource")
    return json_response(doc)


async def core_v1(app: ApiServer, req: Request, m: Match) -> Response | Stream:
    return await resource(app, req, "", "v1", m.rest, m.trailing)


async def group_version(app: ApiServer, req: Request, m: Match) -> Response | Stream:
    """`/apis/<group>/<version>/...`: a provider mounted there (GET only), else the table."""
    group_, version_ = m.captured["group"], m.captured["version"]
    provider = app.all_providers().get(f"{group_}/{version_}")
    if provider is None:
        return await resource(app, req, group_, version_, m.rest, m.trailing)
    if not m.rest:
        return json_response(
            discovery.provider_resource_list(f"{group_}/{version_}", provider.resources())
        )
    if req.method != "GET":
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    return json_response(await provider.handle("/" + "/".join(m.rest), dict(req.params)))
