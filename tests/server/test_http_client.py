"""HttpClient and the kubeconfig against a real `python -m tidal.server` over HTTPS."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import httpx
import pytest
import yaml

from tests.server.apiserver import run_api_server
from tidal.api.errors import Conflict, Gone, NotFound, TransportError, Unauthorized
from tidal.client.http import HttpClient
from tidal.client.kubeconfig import load, merge_into, resolve_config_file

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "c"}]},
}


@pytest.mark.process
def test_http_client_end_to_end(tmp_path: Path) -> None:
    with run_api_server(tmp_path) as server:
        assert server.kubeconfig.stat().st_mode & 0o777 == 0o600

        async def go() -> None:
            async with HttpClient.from_kubeconfig(server.kubeconfig) as c:
                assert c.namespace == "default"
                listed = await c.list("Pod")
                events = c.watch(
                    "Pod", "default", resource_version=listed["metadata"]["resourceVersion"]
                )
                created = await c.create(POD)
                etype, obj = await asyncio.wait_for(events.__anext__(), 10)
                assert (etype, obj["metadata"]["uid"]) == ("ADDED", created["metadata"]["uid"])
                with pytest.raises(Conflict):
                    await c.create(POD)
                await c.patch("Pod", "p", {"metadata": {"labels": {"a": "b"}}})
                etype, obj = await asyncio.wait_for(events.__anext__(), 10)
                assert etype == "MODIFIED" and obj["metadata"]["labels"] == {"a": "b"}
                await events.aclose()  # type: ignore[attr-defined]
                with pytest.raises(Gone):
                    await c.watch("Pod", resource_version="1").__anext__()
                # logs -f: the stream shows lines appended after it started
                logdir = server.home / "pods" / "default" / "p"
                logdir.mkdir(parents=True)
                (logdir / "log").write_text("first\n")
                stream = c.stream_raw(
                    "/api/v1/namespaces/default/pods/p/log", params={"follow": "true"}
                )
                assert await asyncio.wait_for(stream.__anext__(), 10) == b"first\n"
                with (logdir / "log").open("a") as f:
                    f.write("second\n")
                assert await asyncio.wait_for(stream.__anext__(), 10) == b"second\n"
                await stream.aclose()  # type: ignore[attr-defined]
                table = await c.get_table("Pod", "default")
                assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "p"
                assert (await c.get_table("Pod", name="p"))["rows"][0]["cells"][2] == "Pending"
                await c.delete("Pod", "p")
                with pytest.raises(NotFound):
                    await c.get("Pod", "p")
            bad = HttpClient(
                server.url, token="wrong", verify=ssl.create_default_context(cafile=str(server.ca))
            )
            with pytest.raises(Unauthorized):
                await bad.list("Pod")
            await bad.close()

        asyncio.run(go())
        # no plain HTTP on the API port
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https://", "http://") + "/version", timeout=5)

    async def down() -> None:
        async with HttpClient.from_kubeconfig(server.kubeconfig) as c:
            with pytest.raises(TransportError):
                await c.list("Pod")

    asyncio.run(down())


def test_kubeconfig_resolution_and_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tidal.client.kubeconfig import write_kubeconfig

    home = tmp_path / "tidal"
    path = write_kubeconfig(home, "https://127.0.0.1:6443", b"-----BEGIN CERTIFICATE-----\n", "tok")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert resolve_config_file(home=home) == str(path)
    monkeypatch.setenv("KUBECONFIG", "/x/y")
    assert resolve_config_file(home=home) == "/x/y"
    assert resolve_config_file("/explicit", home=home) == "/explicit"
    target = tmp_path / "user" / ".kube" / "config"
    target.parent.mkdir(parents=True)
    target.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "prod",
                "clusters": [
                    {
                        "name": "prod",
                        "cluster": {
                            "server": "https://prod.example:443",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "prod", "user": {"token": "prodtoken"}}],
                "contexts": [
                    {
                        "name": "prod",
                        "context": {"cluster": "prod", "user": "prod", "namespace": "team"},
                    }
                ],
            }
        )
    )
    merge_into(path, target)
    merged = yaml.safe_load(target.read_text())
    assert merged["current-context"] == "prod"
    assert {c["name"] for c in merged["contexts"]} == {"prod", "tidal"}
    assert os.stat(target).st_mode & 0o777 == 0o600
    conn = load(target, "prod")
    assert (conn.server, conn.namespace, conn.auth_header()) == (
        "https://prod.example:443",
        "team",
        "Bearer prodtoken",
    )
    conn = load(target, "tidal")
    assert (conn.server, conn.namespace, conn.auth_header()) == (
        "https://127.0.0.1:6443",
        "default",
        "Bearer tok",
    )
