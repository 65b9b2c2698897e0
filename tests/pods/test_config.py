"""ConfigMaps and Secrets in pods: the kubelet's rules (tables), the atomic volume writer, and a
real pod that waits for a missing ConfigMap, then reads env and mounted files updated in place."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest

from tests.pods.test_runner import _ready, cs, reasons, until
from tests.support import stop_runner
from tidal.pods import config, sandbox
from tidal.pods.runner import PodRunner, RunnerSettings
from tidal.server.inprocess import InProcessClient, open_inprocess


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CM = {
    "kind": "ConfigMap",
    "data": {"mode": "fast", "bad key": "x"},
    "binaryData": {"bin": b64("01")},
}
SECRET = {"kind": "Secret", "data": {"password": b64("s3cret")}}
OBJECTS: config.Objects = {
    ("ConfigMap", "app"): CM,
    ("Secret", "db"): SECRET,
    ("ConfigMap", "gone"): None,
}

KEY_REFS: dict[str, tuple[str, dict[str, Any], Any]] = {
    "configmap key": ("ConfigMap", {"name": "app", "key": "mode"}, "fast"),
    "binary key": ("ConfigMap", {"name": "app", "key": "bin"}, "01"),
    "secret key, decoded": ("Secret", {"name": "db", "key": "password"}, "s3cret"),
    "missing configmap": ("ConfigMap", {"name": "gone", "key": "k"}, 'configmap "gone" not found'),
    "missing secret": ("Secret", {"name": "nope", "key": "k"}, 'secret "nope" not found'),
    "missing key": (
        "ConfigMap",
        {"name": "app", "key": "k"},
        "couldn't find key k in ConfigMap team/app",
    ),
    "secret key missing": (
        "Secret",
        {"name": "db", "key": "user"},
        "couldn't find key user in Secret team/db",
    ),
    "optional and missing": ("ConfigMap", {"name": "gone", "key": "k", "optional": True}, None),
}


@pytest.mark.parametrize(("kind", "ref", "want"), list(KEY_REFS.values()), ids=list(KEY_REFS))
def test_key_ref(kind: str, ref: dict[str, Any], want: Any) -> None:
    if isinstance(want, str) and " " in want:
        with pytest.raises(config.ConfigError, match=want.replace('"', ".")):
            config.key_ref(kind, ref, "team", OBJECTS)
    else:
        assert config.key_ref(kind, ref, "team", OBJECTS) == want


ENV_FROM: dict[str, tuple[list[dict[str, Any]], Any]] = {
    "all valid keys of a configmap": (
        [{"configMapRef": {"name": "app"}}],
        {"mode": "fast", "bin": "01"},
    ),
    "prefix": ([{"secretRef": {"name": "db"}, "prefix": "DB_"}], {"DB_password": "s3cret"}),
    "missing": ([{"configMapRef": {"name": "gone"}}], 'configmap "gone" not found'),
    "missing optional": ([{"secretRef": {"name": "x", "optional": True}}], {}),
}


@pytest.mark.parametrize(("sources", "want"), list(ENV_FROM.values()), ids=list(ENV_FROM))
def test_env_from(sources: list[dict[str, Any]], want: Any) -> None:
    if isinstance(want, str):
        with pytest.raises(config.ConfigError, match=want.replace('"', ".")):
            config.env_from(sources, OBJECTS)
    else:
        assert config.env_from(sources, OBJECTS) == want


VOLUMES: dict[str, tuple[dict[str, Any], Any]] = {
    "every key, default mode": (
        {"secret": {"secretName": "db"}},
        {"password": (b"s3cret", 0o644)},
    ),
    "items and modes": (
        {
            "configMap": {
                "name": "app",
                "defaultMode": 0o600,
                "items": [{"key": "mode", "path": "conf/mode"}],
            }
        },
        {"conf/mode": (b"fast", 0o600)},
    ),
    "item key missing": (
        {"configMap": {"name": "app", "items": [{"key": "zz", "path": "zz"}]}},
        "configmap references non-existent config key: zz",
    ),
    "missing": ({"configMap": {"name": "gone"}}, 'configmap "gone" not found'),
    "optional and missing: empty": ({"configMap": {"name": "gone", "optional": True}}, {}),
    "another volume type": ({"emptyDir": {}}, None),
}


@pytest.mark.parametrize(("volume", "want"), list(VOLUMES.values()), ids=list(VOLUMES))
def test_volume_files(volume: dict[str, Any], want: Any) -> None:
    if isinstance(want, str):
        with pytest.raises(config.ConfigError, match=want.replace('"', ".")):
            config.volume_files(volume, OBJECTS)
    else:
        assert config.volume_files(volume, OBJECTS) == want


def test_atomic_writer_swaps_one_link(tmp_path: Path) -> None:
    folder = tmp_path / "vol"
    assert config.write_volume(folder, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert (folder / "a").read_text() == "1" and (folder / "dir" / "b").read_text() == "2"
    assert os.readlink(folder / "a") == "..data/a"
    first = os.readlink(folder / "..data")
    assert not config.write_volume(folder, {"a": (b"1", 0o644), "dir/b": (b"2", 0o600)})
    assert config.write_volume(folder, {"a": (b"changed", 0o644)})
    assert (folder / "a").read_text() == "changed" and not (folder / "dir").exists()
    assert os.readlink(folder / "..data") != first and not (folder / first).exists()


@pytest.mark.skipif(sandbox.probe() is not None, reason=f"no isolation here: {sandbox.probe()}")
def test_pod_waits_for_its_configmap_then_reads_env_and_files_updated_in_place(
    tmp_path: Path,
) -> None:
    cmd = (
        'echo "mode=$MODE pw=$DB_password" > env.txt; '
        "while true; do cat /etc/tidal-test-config/greeting > seen.tmp && mv seen.tmp seen.txt; "
        "sleep 0.2; done"
    )
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "cfg", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "x",
                    "command": ["sh", "-c", cmd],
                    "env": [
                        {
                            "name": "MODE",
                            "valueFrom": {"configMapKeyRef": {"name": "app", "key": "mode"}},
                        }
                    ],
                    "envFrom": [{"secretRef": {"name": "db"}, "prefix": "DB_"}],
                    "volumeMounts": [{"name": "conf", "mountPath": "/etc/tidal-test-config"}],
                }
            ],
            "volumes": [{"name": "conf", "configMap": {"name": "app"}}],
        },
    }
    work = tmp_path / "home" / "pods" / "default" / "cfg" / "work"
    settings = RunnerSettings(endpoint_drain_s=0.05, config_retry_s=0.2, config_sync_s=0.2)

    async def scenario(client: InProcessClient) -> None:
        await client.create(manifest)
        # no ConfigMap yet: the volume cannot be set up (ContainerCreating, FailedMount)
        await until(lambda: _event(client, "FailedMount"), "FailedMount")
        msg = await _event(client, "FailedMount")
        assert msg == 'MountVolume.SetUp failed for volume "conf" : configmap "app" not found'
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "app", "namespace": "default"},
                "data": {"mode": "fast", "greeting": "hello"},
            }
        )
        # the Secret is still missing: CreateContainerConfigError, the kubelet's event
        p = await until(lambda: _waiting(client, "CreateContainerConfigError"), "config error")
        assert cs(p)["state"]["waiting"]["message"] == 'secret "db" not found'
        assert await _event(client, "Failed") == 'Error: secret "db" not found'
        await client.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "namespace": "default"},
                "stringData": {"password": "s3cret"},
            }
        )
        await until(lambda: _ready(client, "cfg"), "cfg Ready")
        env = await until(lambda: _read(work / "env.txt"), "env.txt")
        assert env.strip() == "mode=fast pw=s3cret"
        assert (await until(lambda: _read(work / "seen.txt"), "seen.txt")).strip() == "hello"
        assert not Path("/etc/tidal-test-config").exists()  # mounted in the pod only
        await client.patch("ConfigMap", "app", {"data": {"greeting": "updated"}}, "default")

        async def updated() -> bool:
            return (await _read(work / "seen.txt") or "").strip() == "updated"

        await until(updated, "the mounted file updated in place")
        assert cs(await client.get("Pod", "cfg", "default"))["restartCount"] == 0

    async def main() -> None:
        client = await open_inprocess(tmp_path / "home")
        runner = PodRunner(client, tmp_path / "home", settings=settings)
        task = asyncio.create_task(runner.run())
        try:
            await scenario(client)
        finally:
            await stop_runner(runner, task)
            await client.close()

    asyncio.run(main())


async def _event(client: InProcessClient, reason: str) -> str | None:
    for r, _, message in await reasons(client, "cfg"):
        if r == reason:
            return message
    return None


async def _waiting(client: InProcessClient, reason: str) -> dict[str, Any] | None:
    p = await client.get("Pod", "cfg", "default")
    return p if (cs(p).get("state") or {}).get("waiting", {}).get("reason") == reason else None


async def _read(path: Path) -> str | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    return text if text.strip() else None
