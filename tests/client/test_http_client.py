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


def test_watch_streams_tables_and_ends_when_the_client_leaves(tmp_path: Path) -> None:
    from tidal.server.registry import Registry
    from tidal.server.serve import start_api

    async def go() -> None:
        reg = Registry.open(tmp_path)
        api = await start_api(reg, tmp_path, port=0)
        try:
            verify = ssl.create_default_context(cafile=str(tmp_path / "pki" / "ca.crt"))
            headers = {
                "Authorization": f"Bearer {api.token}",
                "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io",
            }
            async with httpx.AsyncClient(base_url=api.url, verify=verify, timeout=10) as http:
                async with http.stream(
                    "GET",
                    "/api/v1/namespaces/default/pods",
                    params={"watch": "true"},
                    headers=headers,
                ) as resp:
                    lines = resp.aiter_lines()
                    reg.create(POD)
                    first = orjson_loads(await asyncio.wait_for(lines.__anext__(), 10))
                    assert first["type"] == "ADDED" and first["object"]["kind"] == "Table"
                    assert first["object"]["columnDefinitions"][0]["name"] == "Name"
                    assert first["object"]["rows"][0]["cells"][0] == "p"
                    reg.patch("Pod", "p", {"metadata": {"labels": {"x": "y"}}}, "default")
                    second = orjson_loads(await asyncio.wait_for(lines.__anext__(), 10))
                    assert (
                        second["type"] == "MODIFIED"
                        and second["object"]["columnDefinitions"] is None
                    )
                    assert reg.watcher_count == 1
            for _ in range(200):  # the server notices the disconnect and drops the watcher
                if reg.watcher_count == 0:
                    break
                await asyncio.sleep(0.05)
            assert reg.watcher_count == 0
        finally:
            await api.stop()
            reg.close()

    asyncio.run(go())


def orjson_loads(line: str) -> dict:
    import orjson

    return orjson.loads(line)
