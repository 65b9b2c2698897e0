"""The HTTP face through httpx's ASGI transport (no sockets): auth, discovery, tables, openapi,
patch content types, strict field validation, deletes, logs, aggregated APIs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tidal.api.errors import NotFound
from tidal.server.app import ApiServer
from tidal.server.discovery import AGGREGATED_CONTENT_TYPE
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
AGG = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

DEPLOY = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]},
        },
    },
}


class FakeMetrics:
    def resources(self) -> list[dict[str, Any]]:
        return [
            {
                "name": "pods",
                "singularName": "",
                "namespaced": True,
                "kind": "PodMetrics",
                "verbs": ["get", "list"],
            }
        ]

    async def handle(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if path != "/namespaces/default/pods":
            raise NotFound(f"no metrics at {path}")
        return {
            "kind": "PodMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": [],
        }


def run(tmp_path: Path, fn: Any) -> None:
    async def go() -> None:
        reg = Registry.open(tmp_path)
        app = ApiServer(reg, tmp_path, TOKEN)
        app.register_api("metrics.k8s.io/v1beta1", FakeMetrics())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as http:
            await fn(http, app, reg)
        reg.close()

    asyncio.run(go())


def test_token_required_everywhere(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        for path in ("/version", "/api", "/apis", "/api/v1/namespaces/default/pods", "/openapi/v3"):
            r = await http.get(path)
            assert r.status_code == 401
            assert r.json()["reason"] == "Unauthorized" and r.json()["kind"] == "Status"
        r = await http.get("/version", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = await http.get("/version", headers=AUTH)
        assert (r.json()["major"], r.json()["minor"]) == ("1", "32")

    run(tmp_path, check)


def test_discovery_aggregated_and_legacy(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        r = await http.get("/api", headers={**AUTH, "Accept": AGG})
        assert r.headers["content-type"] == AGGREGATED_CONTENT_TYPE
        core = r.json()["items"][0]["versions"][0]["resources"]
        pods = next(x for x in core if x["resource"] == "pods")
        assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
        r = await http.get("/apis", headers={**AUTH, "Accept": AGG})
        groups = [i["metadata"]["name"] for i in r.json()["items"]]
        assert "serving.kserve.io" in groups and groups[-1] == "metrics.k8s.io"
        apps = next(i for i in r.json()["items"] if i["metadata"]["name"] == "apps")
        deploy = apps["versions"][0]["resources"][0]
        scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
        assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        r = await http.get("/api", headers=AUTH)
        assert r.json()["kind"] == "APIVersions"
        r = await http.get("/apis/autoscaling/v2", headers=AUTH)
        assert r.json()["resources"][0]["shortNames"] == ["hpa"]
        r = await http.get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", headers=AUTH)
        assert r.json()["kind"] == "PodMetricsList"
        r = await http.get("/apis/metrics.k8s.io/v1beta1/nodes", headers=AUTH)
        assert r.status_code == 404 and r.json()["kind"] == "Status"
        client = InProcessClient(reg, raw=app.get_raw)
        assert (await client.get_raw("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"))[
            "items"
        ] == []

    run(tmp_path, check)


def test_openapi_declares_field_validation(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        index = (await http.get("/openapi/v3", headers=AUTH)).json()["paths"]
        assert "apis/autoscaling.alibabacloud.com/v1beta1" in index
        url = index["apis/autoscaling/v2"]["serverRelativeURL"]
        doc = (await http.get(url, headers=AUTH)).json()
        (op,) = [p["patch"] for p in doc["paths"].values()]
        assert op["x-kubernetes-group-version-kind"]["kind"] == "HorizontalPodAutoscaler"
        assert any(p["name"] == "fieldValidation" for p in op["parameters"])

    run(tmp_path, check)


def test_crud_tables_patches_and_strict(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        base = "/apis/apps/v1/namespaces/default/deployments"
        r = await http.post(base, json=DEPLOY, headers=AUTH, params={"fieldValidation": "Strict"})
        assert r.status_code == 201
        r = await http.post(base, json=DEPLOY, headers=AUTH)
        assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"
        bad = {**DEPLOY, "spec": {**DEPLOY["spec"], "foo": 1}, "metadata": {"name": "web2"}}
        r = await http.post(base, json=bad, headers=AUTH, params={"fieldValidation": "Strict"})
        assert r.status_code == 400
        assert r.json()["message"] == 'strict decoding error: unknown field "spec.foo"'
        r = await http.post(base, json={**DEPLOY, "metadata": {"name": "Bad_Name"}}, headers=AUTH)
        assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"
        r = await http.post(
            base,
            json={**DEPLOY, "metadata": {"name": "dry"}},
            headers=AUTH,
            params={"dryRun": "All"},
        )
        assert r.status_code == 201
        assert (await http.get(f"{base}/dry", headers=AUTH)).status_code == 404
        # table for a list and for one object, wide cells always present
        t = (await http.get(base, headers={**AUTH, "Accept": TABLE})).json()
        assert t["kind"] == "Table"
        assert [c["name"] for c in t["columnDefinitions"]][:5] == [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
        ]
        assert t["rows"][0]["cells"][:4] == ["web", "0/2", 0, 0]
        assert t["rows"][0]["cells"][5:7] == ["main", "nginx:1.26"]
        assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
        t = (await http.get(f"{base}/web", headers={**AUTH, "Accept": TABLE})).json()
        assert len(t["rows"]) == 1
        meta_accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        m = (await http.get(base, headers={**AUTH, "Accept": meta_accept})).json()
        assert (
            m["kind"] == "PartialObjectMetadataList" and m["items"][0]["metadata"]["name"] == "web"
        )
        assert "spec" not in m["items"][0]
        # strategic, merge, json patches; 415 for server-side apply
        smp = {
            "spec": {
                "template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}
            }
        }
        r = await http.patch(
            f"{base}/web",
            json=smp,
            headers={**AUTH, "Content-Type": "application/strategic-merge-patch+json"},
        )
        assert r.json()["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        r = await http.patch(
            f"{base}/web/scale",
            json={"spec": {"replicas": 3}},
            headers={**AUTH, "Content-Type": "application/merge-patch+json"},
        )
        assert r.json()["kind"] == "Scale" and r.json()["spec"]["replicas"] == 3
        ops = [{"op": "add", "path": "/metadata/labels", "value": {"x": "y"}}]
        r = await http.patch(
            f"{base}/web", json=ops, headers={**AUTH, "Content-Type": "application/json-patch+json"}
        )
        assert r.json()["metadata"]["labels"] == {"x": "y"}
        r = await http.patch(
            f"{base}/web",
            content=b"{}",
            headers={**AUTH, "Content-Type": "application/apply-patch+yaml"},
        )
        assert r.status_code == 415 and r.json()["kind"] == "Status"
        # selectors
        r = await http.get(base, headers=AUTH, params={"labelSelector": "x in (y,z)"})
        assert len(r.json()["items"]) == 1
        r = await http.get(base, headers=AUTH, params={"fieldSelector": "metadata.name=nope"})
        assert r.json()["items"] == []
        # delete reads its body and answers a Status with the uid
        uid = (await http.get(f"{base}/web", headers=AUTH)).json()["metadata"]["uid"]
        r = await http.request(
            "DELETE", f"{base}/web", json={"propagationPolicy": "Background"}, headers=AUTH
        )
        assert r.json()["status"] == "Success" and r.json()["details"]["uid"] == uid
        r = await http.get(f"{base}/web", headers=AUTH)
        assert r.status_code == 404 and r.json()["message"] == 'deployments.apps "web" not found'

    run(tmp_path, check)


def test_pod_logs_and_event_table(tmp_path: Path) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}]},
        }
        assert (
            await http.post("/api/v1/namespaces/default/pods", json=pod, headers=AUTH)
        ).status_code == 201
        logdir = tmp_path / "pods" / "default" / "p"
        logdir.mkdir(parents=True)
        (logdir / "log").write_text("a\nb\nc\n")
        r = await http.get(
            "/api/v1/namespaces/default/pods/p/log", headers=AUTH, params={"tailLines": "2"}
        )
        assert r.text == "b\nc\n"
        r = await http.get(
            "/api/v1/namespaces/default/pods/p/log", headers=AUTH, params={"timestamps": "true"}
        )
        assert all(line.split(" ", 1)[0].endswith("Z") for line in r.text.splitlines())
        r = await http.get(
            "/api/v1/namespaces/default/pods/p/log", headers=AUTH, params={"container": "zz"}
        )
        assert r.status_code == 400
        r = await http.get("/api/v1/namespaces/default/pods/nope/log", headers=AUTH)
        assert r.status_code == 404
        p = reg.get("Pod", "p", "default")
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "p.1"},
            "involvedObject": {
                "kind": "Pod",
                "name": "p",
                "namespace": "default",
                "uid": p["metadata"]["uid"],
            },
            "reason": "Started",
            "message": "Started container c",
            "source": {"component": "kubelet"},
            "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:00Z",
            "type": "Normal",
        }
        assert (
            await http.post("/api/v1/namespaces/default/events", json=ev, headers=AUTH)
        ).status_code == 201
        sel = f"involvedObject.name=p,involvedObject.namespace=default,involvedObject.uid={p['metadata']['uid']}"
        t = (
            await http.get(
                "/api/v1/namespaces/default/events",
                headers={**AUTH, "Accept": TABLE},
                params={"fieldSelector": sel},
            )
        ).json()
        assert t["rows"][0]["cells"][1:4] == ["Normal", "Started", "pod/p"]
        t = (
            await http.get(
                "/api/v1/namespaces/default/events",
                headers=AUTH,
                params={"fieldSelector": "involvedObject.uid=other"},
            )
        ).json()
        assert t["items"] == []

    run(tmp_path, check)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.com"])
def test_refuses_non_loopback(host: str) -> None:
    from tidal.server.serve import check_loopback

    with pytest.raises(ValueError, match="loopback only"):
        check_loopback(host)


def test_tls_and_token_files_are_private(tmp_path: Path) -> None:
    from tidal.server.tls import ensure_pki, ensure_token

    pki = ensure_pki(tmp_path)
    token = ensure_token(tmp_path)
    assert ensure_token(tmp_path) == token
    for p in (pki.ca_key, pki.server_key, tmp_path / "token"):
        assert p.stat().st_mode & 0o777 == 0o600
    assert ensure_pki(tmp_path).ca_pem() == pki.ca_pem()


BAD_REQUESTS = {
    "bad json": ("POST", "/api/v1/namespaces/default/pods", b"{nope", "application/json", 400),
    "list body": ("POST", "/api/v1/namespaces/default/pods", b"[1]", "application/json", 400),
    "wrong kind": (
        "POST",
        "/api/v1/namespaces/default/pods",
        b'{"kind":"Service"}',
        "application/json",
        400,
    ),
    "metadata string": (
        "POST",
        "/api/v1/namespaces/default/pods",
        b'{"metadata":"x"}',
        "application/json",
        400,
    ),
    "spec string": (
        "POST",
        "/api/v1/namespaces/default/pods",
        b'{"metadata":{"name":"a"},"spec":"x"}',
        "application/json",
        422,
    ),
    "put other name": (
        "PUT",
        "/api/v1/namespaces/default/pods/a",
        b'{"metadata":{"name":"b"}}',
        "application/json",
        400,
    ),
    "bad json patch": (
        "PATCH",
        "/api/v1/namespaces/default/pods/a",
        b'[{"op":"jump","path":"/x"}]',
        "application/json-patch+json",
        422,
    ),
    "unknown patch type": ("PATCH", "/api/v1/namespaces/default/pods/a", b"{}", "text/plain", 415),
    "unknown resource": ("GET", "/api/v1/namespaces/default/widgets", b"", "", 404),
    "unknown group": ("GET", "/apis/nope.example/v1/things", b"", "", 404),
    "unknown subresource": ("GET", "/api/v1/namespaces/default/pods/a/exec", b"", "", 404),
    "bad watch version": (
        "GET",
        "/api/v1/namespaces/default/pods?watch=true&resourceVersion=abc",
        b"",
        "",
        400,
    ),
    "bad selector": ("GET", "/api/v1/pods?labelSelector=a%20b", b"", "", 400),
    "bad continue": ("GET", "/api/v1/pods?limit=1&continue=zzz", b"", "", 400),
    "bad delete body": (
        "DELETE",
        "/api/v1/namespaces/default/pods/a",
        b"{",
        "application/json",
        400,
    ),
    "bad propagation": (
        "DELETE",
        "/api/v1/namespaces/default/pods/a",
        b'{"propagationPolicy":"Now"}',
        "application/json",
        400,
    ),
}


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "code"), list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS)
)
def test_bad_requests_get_a_status_never_a_500(
    tmp_path: Path, method: str, path: str, body: bytes, ctype: str, code: int
) -> None:
    async def check(http: httpx.AsyncClient, app: ApiServer, reg: Registry) -> None:
        p = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "a"},
            "spec": {"containers": [{"name": "c"}]},
        }
        if "pods/a" in path:
            reg.create(p)
        headers = {**AUTH, **({"Content-Type": ctype} if ctype else {})}
        path_only, _, query = path.partition("?")
        r = await http.request(
            method, path_only, params=httpx.QueryParams(query), content=body, headers=headers
        )
        assert r.status_code == code, r.text
        assert r.json()["kind"] == "Status"

    run(tmp_path, check)
