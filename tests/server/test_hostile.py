"""Issue 13's API-server reproductions, each a test: empty names never reach the collection,
authentication before the body, kube-apiserver's body and object limits, bounded YAML aliasing,
every malformed parameter/body/patch a 4xx `Status`, and `spec.replicas: null` defaulted."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest

from tests.server.apiserver import run_api_server
from tidal.server.app import ApiServer
from tidal.server.registry import Registry

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(name: str, replicas: Any = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]},
            },
        },
    }


Check = Callable[[httpx.AsyncClient, Registry], Awaitable[None]]


def run(tmp_path: Path, fn: Check) -> None:
    async def go() -> None:
        reg = Registry.open(tmp_path)
        app = ApiServer(reg, tmp_path, TOKEN)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://test", headers=AUTH
        ) as http:
            await fn(http, reg)
        reg.close()

    asyncio.run(go())


def assert_status(r: httpx.Response, code: int, reason: str | None = None) -> dict[str, Any]:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["kind"] == "Status" and body["code"] == code, body
    if reason:
        assert body["reason"] == reason, body
    return body


# --- item 2: an object URL with an empty name ------------------------------------------------

EMPTY_NAMES = [
    (f"{DEPLOYS}/", 404, "NotFound"),  # a trailing slash: no name
    (f"{DEPLOYS}/%2F", 400, "BadRequest"),  # a name that is a slash
    (f"{DEPLOYS}/a%2Fb", 400, "BadRequest"),
    (f"{DEPLOYS}/a%25b", 400, "BadRequest"),
    (f"{DEPLOYS}//", 404, "NotFound"),
    (f"{DEPLOYS}/web/", 404, "NotFound"),
    ("/apis/apps/v1/namespaces/default//deployments", 404, "NotFound"),
    ("/api/v1/namespaces/", 404, "NotFound"),
]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
@pytest.mark.parametrize(("path", "code", "reason"), EMPTY_NAMES)
def test_an_empty_or_slashed_name_never_acts_on_the_collection(
    tmp_path: Path, method: str, path: str, code: int, reason: str
) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        for name in ("web", "api"):
            reg.create(deployment(name))
        before = reg.list("Deployment", "default")["items"]
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        body = b"" if method in ("GET", "DELETE") else orjson.dumps(deployment("web"))
        r = await http.request(method, path, content=body, headers=headers)
        status = assert_status(r, code, reason)
        if code == 400:
            assert "Name parameter invalid" in status["message"]
        after = reg.list("Deployment", "default")["items"]
        assert [d["metadata"]["name"] for d in after] == ["api", "web"]
        assert [d["metadata"]["resourceVersion"] for d in after] == [
            d["metadata"]["resourceVersion"] for d in before
        ]

    run(tmp_path, check)


def test_discovery_still_takes_a_trailing_slash(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        for path in ("/api/", "/apis/", "/api/v1/", "/apis/apps/v1/", "/version/"):
            r = await http.get(path)
            assert r.status_code == 200, (path, r.text)

    run(tmp_path, check)


# --- item 4: limits ----------------------------------------------------------------------------


def test_request_bodies_over_3_mib_are_refused_with_413(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        d = deployment("big")
        d["metadata"]["annotations"] = {"a": "x" * (3 * 1024 * 1024)}
        r = await http.post(DEPLOYS, content=orjson.dumps(d))
        status = assert_status(r, 413, "RequestEntityTooLarge")
        assert status["message"] == "Request entity too large: limit is 3145728"

        async def chunked() -> Any:  # no Content-Length: refused while reading
            for _ in range(64):
                yield b" " * (64 * 1024)

        r = await http.post(DEPLOYS, content=chunked())
        assert_status(r, 413, "RequestEntityTooLarge")
        assert reg.list("Deployment", "default")["items"] == []

    run(tmp_path, check)


def test_annotations_are_capped_at_256_kib_and_labels_validated(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        d = deployment("ann")
        d["metadata"]["annotations"] = {"a": "x" * (256 * 1024)}
        r = await http.post(DEPLOYS, json=d)
        status = assert_status(r, 422, "Invalid")
        assert "metadata.annotations: Too long: must have at most 262144 bytes" in status["message"]
        d["metadata"]["annotations"] = {"a": "x" * (256 * 1024 - 1)}
        assert (await http.post(DEPLOYS, json=d)).status_code == 201
        bad = deployment("labels")
        bad["metadata"]["labels"] = {"-bad": "ok", "good": "not ok!", "x" * 64: "v"}
        status = assert_status(await http.post(DEPLOYS, json=bad), 422, "Invalid")
        assert [c["field"] for c in status["details"]["causes"]] == [
            "metadata.labels",
            "metadata.labels[good]",
            "metadata.labels",
        ]

    run(tmp_path, check)


def test_objects_over_1_5_mib_are_not_stored(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        d = deployment("wide")
        # many annotations-free labels would be refused by name; a big env list is legal
        env = [{"name": f"V{i}", "value": "x" * 1000} for i in range(1700)]
        d["spec"]["template"]["spec"]["containers"][0]["env"] = env
        status = assert_status(await http.post(DEPLOYS, json=d), 413, "RequestEntityTooLarge")
        assert status["message"].startswith("etcdserver: request is too large")
        assert reg.list("Deployment", "default")["items"] == []

    run(tmp_path, check)


BILLION_LAUGHS = b"""apiVersion: apps/v1
kind: Deployment
metadata: {name: lol, annotations: {a: &a "lollollollollollollollollollollollollollollollollol"}}
x: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
y: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
z: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
w: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
v: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
u: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
t: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_yaml_alias_expansion_is_bounded(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        for ctype in ("application/yaml", ""):
            headers = {"Content-Type": ctype} if ctype else {}
            r = await http.post(DEPLOYS, content=BILLION_LAUGHS, headers=headers)
            status = assert_status(r, 400, "BadRequest")
            assert "excessive aliasing" in status["message"]
        r = await http.post(
            DEPLOYS, content=b"a: &x [*x]", headers={"Content-Type": "application/yaml"}
        )
        assert_status(r, 400, "BadRequest")
        # ordinary anchors still work
        ok = (
            b"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ok}\nspec:\n  replicas: 1\n"
            b"  selector: {matchLabels: &l {app: ok}}\n  template:\n    metadata: {labels: *l}\n"
            b"    spec: {containers: [{name: c, image: i}]}\n"
        )
        r = await http.post(DEPLOYS, content=ok, headers={"Content-Type": "application/yaml"})
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["template"]["metadata"]["labels"] == {"app": "ok"}
        assert [d["metadata"]["name"] for d in reg.list("Deployment")["items"]] == ["ok"]

    run(tmp_path, check)


# --- item 5: every malformed input a 4xx Status ---------------------------------------------

DEEP = b'{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"deep"},"spec":' + (
    b'{"a":' * 950 + b"1" + b"}" * 950 + b"}"
)
MALFORMED: dict[str, tuple[str, str, bytes, str, int]] = {
    "limit superscript": ("GET", f"{DEPLOYS}?limit=%C2%B2", b"", "", 400),
    "timeoutSeconds superscript": ("GET", f"{DEPLOYS}?watch=1&timeoutSeconds=%C2%B2", b"", "", 400),
    "watch not a bool": ("GET", f"{DEPLOYS}?watch=maybe", b"", "", 400),
    "limit huge": ("GET", f"{DEPLOYS}?limit=99999999999999999999", b"", "", 400),
    "includeObject": ("GET", f"{DEPLOYS}?includeObject=All", b"", "", 400),
    "fieldValidation": ("POST", f"{DEPLOYS}?fieldValidation=Loose", b"{}", "", 400),
    "dryRun": ("POST", f"{DEPLOYS}?dryRun=Some", b"{}", "", 422),
    "preconditions 5": ("DELETE", f"{DEPLOYS}/web", b'{"preconditions":5}', "", 400),
    "preconditions uid 5": ("DELETE", f"{DEPLOYS}/web", b'{"preconditions":{"uid":5}}', "", 400),
    "dryRun 5": ("DELETE", f"{DEPLOYS}/web", b'{"dryRun":5}', "", 400),
    "dryRun [5]": ("DELETE", f"{DEPLOYS}/web", b'{"dryRun":[5]}', "", 400),
    "grace string": ("DELETE", f"{DEPLOYS}/web", b'{"gracePeriodSeconds":"x"}', "", 400),
    "grace query": ("DELETE", f"{DEPLOYS}/web?gracePeriodSeconds=%C2%B2", b"", "", 400),
    "delete body a list": ("DELETE", f"{DEPLOYS}/web", b"[1]", "", 400),
    "delete collection body": ("DELETE", DEPLOYS, b'{"preconditions":[]}', "", 400),
    "surrogate kind": ("POST", DEPLOYS, b'{"kind":"\\ud800"}', "application/json", 400),
    "surrogate apiVersion": (
        "POST",
        DEPLOYS,
        b'{"kind":"Deployment","apiVersion":"\\ud800","metadata":{"name":"x"}}',
        "application/json",
        400,
    ),
    "surrogate name": (
        "POST",
        DEPLOYS,
        b'{"kind":"Deployment","metadata":{"name":"\\ud800"}}',
        "application/json",
        422,
    ),
    "surrogate put name": ("PUT", f"{DEPLOYS}/web", b'{"metadata":{"name":"\\udfff"}}', "", 400),
    "kind a list": ("POST", DEPLOYS, b'{"kind":[1]}', "", 400),
    "deep json": ("POST", DEPLOYS, DEEP, "application/json", 400),
    "deep patch": ("PATCH", f"{DEPLOYS}/web", DEEP, "application/merge-patch+json", 400),
    "too deep for the parser": ("POST", DEPLOYS, b"[" * 1100 + b"]" * 1100, "", 400),
    "scale spec 5": ("PUT", f"{DEPLOYS}/web/scale", b'{"spec":5}', "", 422),
    "scale body a list": ("PUT", f"{DEPLOYS}/web/scale", b"[]", "", 400),
    "scale patch spec 5": (
        "PATCH",
        f"{DEPLOYS}/web/scale",
        b'{"spec":5}',
        "application/merge-patch+json",
        422,
    ),
    "setElementOrder 5": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'{"spec":{"template":{"spec":{"$setElementOrder/containers":5}}}}',
        "application/strategic-merge-patch+json",
        400,
    ),
    "setElementOrder of maps": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":{"a":1}}]}}}}',
        "application/strategic-merge-patch+json",
        400,
    ),
    "retainKeys 5": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'{"spec":{"$retainKeys":5}}',
        "application/strategic-merge-patch+json",
        400,
    ),
    "$patch unknown": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'{"spec":{"$patch":"explode"}}',
        "application/strategic-merge-patch+json",
        400,
    ),
    "metadata [1] merge": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'{"metadata":[1]}',
        "application/merge-patch+json",
        422,
    ),
    "metadata -1 json patch": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'[{"op":"add","path":"/metadata","value":-1}]',
        "application/json-patch+json",
        422,
    ),
    "whole doc replaced": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'[{"op":"replace","path":"","value":[]}]',
        "application/json-patch+json",
        422,
    ),
    "json patch path 5": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'[{"op":"add","path":5,"value":1}]',
        "application/json-patch+json",
        422,
    ),
    "json patch copy bomb": (
        "PATCH",
        f"{DEPLOYS}/web",
        orjson.dumps(
            [{"op": "add", "path": "/spec/a", "value": ["x" * 1000] * 100}]
            + [{"op": "copy", "from": "/spec", "path": f"/spec/b{i}"} for i in range(40)]
        ),
        "application/json-patch+json",
        422,
    ),
    "move into its child": (
        "PATCH",
        f"{DEPLOYS}/web",
        b'[{"op":"move","from":"/spec","path":"/spec/x"}]',
        "application/json-patch+json",
        422,
    ),
    "yaml binary": ("POST", DEPLOYS, b"kind: !!binary aGk=", "application/yaml", 400),
    "yaml set": ("POST", DEPLOYS, b"kind: !!set {a}", "application/yaml", 400),
    "nan": ("POST", DEPLOYS, b'{"kind":"Deployment","spec":NaN}', "application/json", 400),
    "limitBytes 0": ("GET", "/api/v1/namespaces/default/pods/web/log?limitBytes=0", b"", "", 422),
    "tailLines superscript": (
        "GET",
        "/api/v1/namespaces/default/pods/web/log?tailLines=%C2%B2",
        b"",
        "",
        400,
    ),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code"), list(MALFORMED.values()), ids=list(MALFORMED)
)
def test_malformed_input_is_a_4xx_status(
    tmp_path: Path, method: str, path: str, body: bytes, ctype: str, code: int
) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        reg.create(deployment("web"))
        reg.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "web"},
                "spec": {"containers": [{"name": "c"}]},
            }
        )
        before = reg.get("Deployment", "web", "default")
        headers = {"Content-Type": ctype} if ctype else {}
        r = await http.request(method, path, content=body, headers=headers)
        assert_status(r, code)
        assert reg.get("Deployment", "web", "default") == before

    run(tmp_path, check)


# --- item 6: null where Kubernetes has a default -----------------------------------------------


def test_null_replicas_is_unset_and_defaulted(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, reg: Registry) -> None:
        r = await http.post(DEPLOYS, json=deployment("nul", replicas=None))
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["replicas"] == 1
        r = await http.put(f"{DEPLOYS}/nul", json=deployment("nul", replicas=None))
        assert r.status_code == 200 and r.json()["spec"]["replicas"] == 1
        r = await http.patch(
            f"{DEPLOYS}/nul",
            content=b'{"spec":{"replicas":3}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert r.json()["spec"]["replicas"] == 3
        r = await http.patch(
            f"{DEPLOYS}/nul",
            content=b'[{"op":"replace","path":"/spec/replicas","value":null}]',
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert r.status_code == 200 and r.json()["spec"]["replicas"] == 1
        stored = reg.get("Deployment", "nul", "default")
        assert stored["spec"]["replicas"] == 1
        assert isinstance(stored["spec"]["template"]["spec"]["containers"][0]["image"], str)

    run(tmp_path, check)


# --- item 4 over real HTTPS: the token before the body ---------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with run_api_server(tmp_path_factory.mktemp("hostile")) as s:
        yield s


@pytest.mark.process
def test_an_unauthenticated_300_mb_body_is_refused_before_it_is_read(server: Any) -> None:
    """The client announces 300 MB, sends 1 MB and waits: the 401 comes without the rest."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(server.ca))
    rss_before = psutil.Process(server.proc.pid).memory_info().rss
    with socket.create_connection((host, int(port)), timeout=60) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(
                b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\n"
                + f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode()
                + b"x" * (1024 * 1024)
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                data = tls.recv(65536)
                if not data:
                    break
                answer += data
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"connection: close" in head.lower()
    assert orjson.loads(text)["reason"] == "Unauthorized"
    ctx_ok = ssl.create_default_context(cafile=str(server.ca))
    with httpx.Client(verify=ctx_ok, timeout=60) as http:
        ok = http.get(f"{server.url}/version", headers={"Authorization": f"Bearer {server.token}"})
        assert ok.status_code == 200  # the server is fine for everyone else
    rss_after = psutil.Process(server.proc.pid).memory_info().rss
    assert rss_after - rss_before < 16 * 1024 * 1024, (rss_before, rss_after)


def raw_request(server: Any, method: str, path: str) -> tuple[bytes, bytes]:
    """One request as written (no client normalizes its path): (status line, body)."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(server.ca))
    with socket.create_connection((host, int(port)), timeout=60) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: Bearer {server.token}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            answer = b""
            while data := tls.recv(65536):
                answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


@pytest.mark.process
@pytest.mark.parametrize("tail", ["/.", "/..", "/./", "/../", "/web/..", "/%2E%2E"])
def test_dot_segments_sent_as_is_never_reach_the_collection(server: Any, tail: str) -> None:
    ctx = ssl.create_default_context(cafile=str(server.ca))
    auth = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, verify=ctx, headers=auth, timeout=60) as http:
        http.post(DEPLOYS, json=deployment("web"))
        before = http.get(DEPLOYS).json()["items"]
        status, body = raw_request(server, "DELETE", DEPLOYS + tail)
        assert status.split()[1] in (b"400", b"404"), (status, body)
        assert orjson.loads(body)["kind"] == "Status"
        after = http.get(DEPLOYS).json()["items"]
        assert [d["metadata"]["uid"] for d in after] == [d["metadata"]["uid"] for d in before]
        assert after, "the deployment is still there"


@pytest.mark.process
def test_a_lone_surrogate_over_https_is_a_json_status(server: Any) -> None:
    ctx = ssl.create_default_context(cafile=str(server.ca))
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    with httpx.Client(verify=ctx, timeout=60) as http:
        for body in (b'{"kind":"\\ud800"}', b'{"apiVersion":"\\udc00","kind":"Pod"}'):
            r = http.post(f"{server.url}/api/v1/namespaces/default/pods", content=body,
                          headers=headers)  # fmt: skip
            assert 400 <= r.status_code < 500, r.text
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["kind"] == "Status"
