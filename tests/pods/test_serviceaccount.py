"""A pod's own service-account token: signed and bound to the pod, a namespace viewer's rights,
and a real pod in a sandbox that reads its pod over HTTPS with it (and no more)."""

from __future__ import annotations

import asyncio
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.pods.test_runner import cs, pod, until
from tests.support import stop_runner
from tidal.api.errors import Forbidden, Unauthorized
from tidal.client.kubeconfig import write_kubeconfig
from tidal.pods import sandbox, serviceaccount
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient
from tidal.server.registry import Registry
from tidal.server.serve import start_api

SA = serviceaccount.Claims("team", "default", "web", "uid-1")
USER = 'User "system:serviceaccount:team:default"'

# name -> (method, path, query, None or the start of the Forbidden message)
DECISIONS: dict[str, tuple[str, str, str, str | None]] = {
    "discovery": ("GET", "/api", "", None),
    "group discovery": ("GET", "/apis/apps/v1", "", None),
    "version": ("GET", "/version", "", None),
    "get own pod": ("GET", "/api/v1/namespaces/team/pods/web", "", None),
    "list own namespace": ("GET", "/apis/apps/v1/namespaces/team/deployments", "", None),
    "watch own namespace": ("GET", "/api/v1/namespaces/team/pods", "watch=true", None),
    "pod log": ("GET", "/api/v1/namespaces/team/pods/web/log", "", None),
    "secrets": (
        "GET",
        "/api/v1/namespaces/team/secrets",
        "",
        f'secrets is forbidden: {USER} cannot list resource "secrets" in API group "" '
        'in the namespace "team"',
    ),
    "another namespace": (
        "GET",
        "/api/v1/namespaces/kube-system/pods/x",
        "",
        f'pods "x" is forbidden: {USER} cannot get resource "pods" in API group "" '
        'in the namespace "kube-system"',
    ),
    "cluster scope": (
        "GET",
        "/api/v1/namespaces",
        "",
        f'namespaces is forbidden: {USER} cannot list resource "namespaces" in API group "" '
        "at the cluster scope",
    ),
    "create": (
        "POST",
        "/apis/apps/v1/namespaces/team/deployments",
        "",
        f'deployments is forbidden: {USER} cannot create resource "deployments" '
        'in API group "apps" in the namespace "team"',
    ),
    "scale": (
        "PATCH",
        "/apis/apps/v1/namespaces/team/deployments/d/scale",
        "",
        f'deployments "d" is forbidden: {USER} cannot patch resource "deployments/scale" '
        'in API group "apps" in the namespace "team"',
    ),
    "delete": ("DELETE", "/api/v1/namespaces/team/pods/web", "", 'pods "web" is forbidden'),
}


@pytest.mark.parametrize(
    ("method", "path", "query", "want"), list(DECISIONS.values()), ids=list(DECISIONS)
)
def test_decide(method: str, path: str, query: str, want: str | None) -> None:
    got = serviceaccount.decide(SA, method, path, query)
    if want is None:
        assert got is None
    else:
        assert got is not None and got.startswith(want), got


def test_tokens_are_signed_and_bound_to_the_live_pod() -> None:
    key = serviceaccount.signing_key("plane-token")
    token = serviceaccount.issue(key, SA, 1_700_000_000)
    assert serviceaccount.verify(key, token) == SA
    assert "plane-token" not in token
    assert serviceaccount.verify(serviceaccount.signing_key("other"), token) is None
    head, body, sig = token.split(".")
    assert serviceaccount.verify(key, f"{head}.{body}x.{sig}") is None
    assert serviceaccount.verify(key, "not-a-jwt") is None

    live = {("team", "web"): "uid-1"}
    reviewer = serviceaccount.Reviewer("plane-token", lambda ns, n: live.get((ns, n)))
    ok = reviewer.review(f"Bearer {token}", "GET", "/api/v1/namespaces/team/pods", "")
    assert ok is None
    denied = reviewer.review(f"Bearer {token}", "GET", "/api/v1/namespaces/team/secrets", "")
    assert isinstance(denied, Forbidden)
    live[("team", "web")] = "uid-2"  # the pod was deleted and made again: the old token is void
    gone = reviewer.review(f"Bearer {token}", "GET", "/api/v1/namespaces/team/pods", "")
    assert isinstance(gone, Unauthorized)


CLIENT = """
import json, os, ssl, sys, urllib.request, urllib.error
d = "/var/run/secrets/kubernetes.io/serviceaccount"
token = open(d + "/token").read()
ns = open(d + "/namespace").read()
ctx = ssl.create_default_context(cafile=d + "/ca.crt")
base = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
for path in ["/api/v1/namespaces/%s/pods/%s" % (ns, os.environ["POD_NAME"]),
             "/api/v1/namespaces/%s/secrets" % ns, "/api/v1/namespaces"]:
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    try:
        code = urllib.request.urlopen(req, context=ctx).status
    except urllib.error.HTTPError as e:
        code = e.code
    print("API", path, code, flush=True)
"""


@pytest.mark.skipif(sandbox.probe() is not None, reason=f"no isolation here: {sandbox.probe()}")
def test_pod_uses_its_own_token_over_https(tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    cmd = f"{sys.executable} {script}; exec sleep 300"
    folder = tmp_path / "home" / "pods" / "default" / "sa"

    async def main() -> None:
        home = tmp_path / "home"
        registry = Registry.open(home)
        api = await start_api(registry, home)
        write_kubeconfig(home, api.url, api.ca_pem, api.token)
        client = InProcessClient(registry, raw=api.app.get_raw)
        runner = PodRunner(client, home, settings=RunnerSettings(endpoint_drain_s=0.05))
        task = asyncio.create_task(runner.run())
        pids: list[int] = []
        try:
            await client.create(pod("sa", cmd))
            p = await until(lambda: _running(client), "sa running")
            pids.append(int(cs(p)["containerID"].removeprefix("tidal://")))
            log = await until(lambda: _three_answers(folder / "log"), "the pod's API calls")
            assert "/pods/sa 200" in log
            assert "/secrets 403" in log and "/api/v1/namespaces 403" in log
            token = (folder / "serviceaccount" / "token").read_text()
            assert token != api.token
            # the token works while its pod lives, and not once the pod is gone
            assert await _get(api.url, api.ca_pem, token, "/api/v1/namespaces/default/pods") == 200
            await client.delete("Pod", "sa", "default")
            await until(lambda: _gone(client), "pod deleted")
            assert await _get(api.url, api.ca_pem, token, "/api/v1/namespaces/default/pods") == 401
        finally:
            await stop_runner(runner, task, pids)
            await api.stop()
            registry.close()

    asyncio.run(main())


async def _get(url: str, ca_pem: bytes, token: str, path: str) -> int:
    return await asyncio.to_thread(_get_sync, url, ca_pem, token, path)


def _get_sync(url: str, ca_pem: bytes, token: str, path: str) -> int:
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        return urllib.request.urlopen(req, context=ctx, timeout=30).status
    except urllib.error.HTTPError as e:
        return e.code


async def _running(client: InProcessClient) -> dict[str, Any] | None:
    p = await client.get("Pod", "sa", "default")
    return p if "running" in cs(p).get("state", {}) else None


async def _three_answers(path: Path) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text if text.count("API ") >= 3 else None


async def _gone(client: InProcessClient) -> bool:
    from tidal.api.errors import NotFound

    try:
        await client.get("Pod", "sa", "default")
    except NotFound:
        return True
    return False
