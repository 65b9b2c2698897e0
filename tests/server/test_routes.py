"""The API server's route table (tidal.server.routes): which handler a path reaches, what it
captures, and what matches nothing. Pure: `find` on path segments, table cases."""

from __future__ import annotations

import pytest

from tidal.server import routes

# name: (segments after normalization, handler name or None, captured, rest)
CASES = {
    "version": (["version"], "version", {}, []),
    "metrics": (["metrics"], "metrics", {}, []),
    "health": (["readyz"], "health", {}, []),
    "health below": (["readyz", "x"], None, {}, []),
    "core discovery": (["api"], "core", {}, []),
    "group list": (["apis"], "groups", {}, []),
    "core v1": (["api", "v1"], "core_v1", {}, []),
    "core objects": (["api", "v1", "namespaces", "a", "pods"], "core_v1", {},
                     ["namespaces", "a", "pods"]),
    "core other version": (["api", "v2", "pods"], None, {}, []),
    "one group": (["apis", "apps"], "group", {"group": "apps"}, []),
    "group version": (["apis", "apps", "v1"], "group_version",
                      {"group": "apps", "version": "v1"}, []),
    "group objects": (["apis", "apps", "v1", "deployments", "d", "scale"], "group_version",
                      {"group": "apps", "version": "v1"}, ["deployments", "d", "scale"]),
    "review": (["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"], "review",
               {}, []),
    "review below": (["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "x"],
                     "group_version", {"group": "authorization.k8s.io", "version": "v1"},
                     ["selfsubjectaccessreviews", "x"]),
    "hpa v1 objects": (["apis", "autoscaling", "v1", "horizontalpodautoscalers"],
                       "autoscaling_v1", {}, ["horizontalpodautoscalers"]),
    "hpa v1 discovery": (["apis", "autoscaling", "v1"], "group_version",
                         {"group": "autoscaling", "version": "v1"}, []),
    "openapi index": (["openapi", "v3"], "openapi_v3", {}, []),
    "openapi doc": (["openapi", "v3", "apis", "apps", "v1"], "openapi_v3", {},
                    ["apis", "apps", "v1"]),
    "openapi v2": (["openapi", "v2"], None, {}, []),
    "a slash inside a segment": (["api/v1", "pods"], None, {}, []),
    "root": ([], None, {}, []),
    "unknown": (["x"], None, {}, []),
}  # fmt: skip


@pytest.mark.parametrize(("parts", "handler", "captured", "rest"), list(CASES.values()),
                         ids=list(CASES))  # fmt: skip
def test_find(parts: list[str], handler: str | None, captured: dict, rest: list[str]) -> None:
    found = routes.find(parts, trailing=False)
    if handler is None:
        assert found is None
        return
    assert found is not None
    route, m = found
    assert route.handler.__name__ == handler
    assert (m.captured, m.rest, m.parts, m.trailing) == (captured, rest, parts, False)


def test_trailing_slash_is_carried_to_the_handler() -> None:
    found = routes.find(["api", "v1", "pods"], trailing=True)
    assert found is not None and found[1].trailing


METHODS = {
    "metrics is read only": ("metrics", {"GET"}),
    "reviews are created": ("apis/authentication.k8s.io/v1/selfsubjectreviews", {"POST"}),
    "resources take every verb": ("apis/{group}/{version}/*", routes.VERBS),
}


@pytest.mark.parametrize(("pattern", "methods"), list(METHODS.values()), ids=list(METHODS))
def test_methods(pattern: str, methods: set[str]) -> None:
    (route,) = [r for r in routes.ROUTES if r.pattern == pattern]
    assert route.methods == methods


def test_only_version_answers_impersonation() -> None:
    assert [r.pattern for r in routes.ROUTES if r.impersonation_ok] == ["version"]


def test_wildcards() -> None:
    one_or_more = routes.Route("a/+", routes.VERBS, routes.discovery.health)
    assert one_or_more.match(["a"], False) is None
    assert one_or_more.match(["a", "b", "c"], False).rest == ["b", "c"]  # type: ignore[union-attr]
    exact = routes.Route("a/{x}", routes.VERBS, routes.discovery.health)
    assert exact.match(["a", "b", "c"], False) is None
    assert exact.exact is None and routes.Route("a/b", {"GET"}, exact.handler).exact == ("a", "b")
