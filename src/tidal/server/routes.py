"""The API server's route table: which handler answers which path and methods.

A pattern is a path without its leading `/`, split on `/`: a literal segment, `{name}` (one
segment, captured), and at the end `*` (any further segments, none included) or `+` (at least
one). Paths with no `{}`/`*`/`+` are looked up in a dict; the others are tried in table order,
so a pattern listed first wins. A path that matches but not with its method is a 405; a path
that matches nothing is a 404. Impersonation (`kubectl --as`) is refused on every path but
`/version` before any handler runs (tidal.server.builtin)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING

from tidal.api.errors import MethodNotAllowed, NotFound
from tidal.server import builtin
from tidal.server.asgi import Request, Response, Stream
from tidal.server.handlers import discovery

if TYPE_CHECKING:
    from tidal.server.app import ApiServer

VERBS = frozenset(("GET", "POST", "PUT", "PATCH", "DELETE"))


class Match:
    """What a route matched: the path's segments, its `{name}` captures, the segments the
    trailing `*`/`+` took, and whether the path ended in `/`."""

    __slots__ = ("parts", "captured", "rest", "trailing")

    def __init__(
        self, parts: list[str], captured: dict[str, str], rest: list[str], trailing: bool
    ) -> None:
        self.parts, self.captured, self.rest, self.trailing = parts, captured, rest, trailing


Handler = Callable[["ApiServer", Request, Match], Awaitable[Response | Stream]]


class Route:
    """One row of the table: a path pattern, the methods it takes, its handler, and whether it
    answers requests that ask for impersonation."""

    __slots__ = ("pattern", "methods", "handler", "impersonation_ok", "_segs", "_min_rest")

    def __init__(
        self,
        pattern: str,
        methods: Collection[str],
        handler: Handler,
        *,
        impersonation_ok: bool = False,
    ) -> None:
        self.pattern, self.methods, self.handler = pattern, frozenset(methods), handler
        self.impersonation_ok = impersonation_ok
        segs = pattern.split("/")
        self._min_rest: int | None = None  # None: no trailing wildcard
        if segs[-1] in ("*", "+"):
            self._min_rest = 0 if segs.pop() == "*" else 1
        # (captured?, literal text or capture name) per segment
        self._segs = tuple((s.startswith("{"), s.strip("{}")) for s in segs)

    @property
    def exact(self) -> tuple[str, ...] | None:
        """The segments of a pattern without captures or wildcards, else None."""
        if self._min_rest is not None or any(cap for cap, _ in self._segs):
            return None
        return tuple(text for _, text in self._segs)

    def match(self, parts: list[str], trailing: bool) -> Match | None:
        n = len(self._segs)
        if self._min_rest is None:
            if len(parts) != n:
                return None
        elif len(parts) < n + self._min_rest:
            return None
        captured: dict[str, str] = {}
        for (cap, text), got in zip(self._segs, parts, strict=False):
            if cap:
                captured[text] = got
            elif text != got:
                return None
        return Match(parts, captured, parts[n:], trailing)


ROUTES: tuple[Route, ...] = (
    Route("version", VERBS, discovery.version, impersonation_ok=True),
    Route("metrics", {"GET"}, builtin.metrics),
    *(Route(f"apis/{g}/{v}/{p}", {"POST"}, builtin.review) for g, v, p in builtin.REVIEWS),
    Route("apis/autoscaling/v1/+", VERBS, builtin.autoscaling_v1),
    Route("healthz", VERBS, discovery.health),
    Route("livez", VERBS, discovery.health),
    Route("readyz", VERBS, discovery.health),
    Route("api", VERBS, discovery.core),
    Route("apis", VERBS, discovery.groups),
    Route("openapi/v3/*", VERBS, discovery.openapi_v3),
    Route("api/v1/*", VERBS, discovery.core_v1),
    Route("apis/{group}", VERBS, discovery.group),
    Route("apis/{group}/{version}/*", VERBS, discovery.group_version),
)
_EXACT: dict[tuple[str, ...], Route] = {r.exact: r for r in ROUTES if r.exact is not None}
_PATTERNS: tuple[Route, ...] = tuple(r for r in ROUTES if r.exact is None)


def find(parts: list[str], trailing: bool) -> tuple[Route, Match] | None:
    """The route for normalized `parts`: an exact path first, else the first pattern."""
    route = _EXACT.get(tuple(parts))
    if route is not None:
        return route, Match(parts, {}, [], trailing)
    for route in _PATTERNS:
        m = route.match(parts, trailing)
        if m is not None:
            return route, m
    return None


async def dispatch(app: ApiServer, req: Request) -> Response | Stream:
    """The answer to `req`. A trailing `/` is dropped (and remembered: it names no object); an
    empty segment elsewhere (`//`, or an encoded name that decoded to nothing) is a 404."""
    parts = list(req.segments)
    trailing = len(parts) > 1 and parts[-1] == ""
    if trailing or parts == [""]:
        parts.pop()
    if "" in parts:
        raise NotFound("the server could not find the requested resource")
    if req.method not in VERBS:
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    found = find(parts, trailing)
    if found is None or not found[0].impersonation_ok:
        builtin.refuse_impersonation(req)
    if found is None:
        raise NotFound("the server could not find the requested resource")
    route, m = found
    if req.method not in route.methods:
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    return await route.handler(app, req, m)
