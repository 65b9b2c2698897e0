"""ConfigMaps and Secrets in pods, as the kubelet uses them: environment (`valueFrom`,
`envFrom`) and files (`configMap`/`secret` volumes), with the kubelet's errors.

The decisions are pure over the objects the runner fetched (`Objects`): which keys become which
variables (`env_from`, `key_ref`), which files a volume holds (`volume_files`). A missing object
or key raises `ConfigError` with the kubelet's message; the runner shows it as the container's
`CreateContainerConfigError` (environment) or the pod's `FailedMount` (volumes) and retries.
Volumes are written as the kubelet's atomic writer does (`write_volume`): the files live in a
timestamped folder, `..data` points at it and each key is a link through `..data`, so an update
swaps one link and a reader never sees half of it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

Obj = dict[str, Any]
Objects = dict[tuple[str, str], Obj | None]  # (kind, name) -> the object, None when missing
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
DEFAULT_MODE = 0o644


class ConfigError(Exception):
    """A ConfigMap/Secret (or one of its keys) the pod needs is missing: the kubelet's text."""


def _kind_word(kind: str) -> str:
    return "configmap" if kind == "ConfigMap" else "secret"


def references(pod: Obj, container: Obj) -> set[tuple[str, str]]:
    """The ConfigMaps and Secrets a container's env and the pod's volumes name."""
    out: set[tuple[str, str]] = set()
    for e in container.get("env") or []:
        vf = e.get("valueFrom") or {}
        if (vf.get("configMapKeyRef") or {}).get("name"):
            out.add(("ConfigMap", vf["configMapKeyRef"]["name"]))
        if (vf.get("secretKeyRef") or {}).get("name"):
            out.add(("Secret", vf["secretKeyRef"]["name"]))
    for src in container.get("envFrom") or []:
        if (src.get("configMapRef") or {}).get("name"):
            out.add(("ConfigMap", src["configMapRef"]["name"]))
        if (src.get("secretRef") or {}).get("name"):
            out.add(("Secret", src["secretRef"]["name"]))
    for v in (pod.get("spec") or {}).get("volumes") or []:
        if (v.get("configMap") or {}).get("name"):
            out.add(("ConfigMap", v["configMap"]["name"]))
        if (v.get("secret") or {}).get("secretName"):
            out.add(("Secret", v["secret"]["secretName"]))
    return out


def decoded(obj: Obj) -> dict[str, bytes]:
    """Every key of a ConfigMap (`data`, `binaryData`) or Secret (`data`, base64) as bytes."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        for k, v in (obj.get("data") or {}).items():
            with contextlib.suppress(binascii.Error, ValueError, TypeError):
                out[k] = base64.b64decode(str(v), validate=True)
        for k, v in (obj.get("stringData") or {}).items():
            out[k] = str(v).encode()
        return out
    for k, v in (obj.get("data") or {}).items():
        out[k] = str(v).encode()
    for k, v in (obj.get("binaryData") or {}).items():
        with contextlib.suppress(binascii.Error, ValueError, TypeError):
            out[k] = base64.b64decode(str(v), validate=True)
    return out


def key_ref(kind: str, ref: Obj, namespace: str, objects: Objects) -> str | None:
    """`valueFrom.configMapKeyRef`/`secretKeyRef`: the value; None when optional and missing."""
    name, key, optional = ref.get("name", ""), ref.get("key", ""), bool(ref.get("optional"))
    obj = objects.get((kind, name))
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{_kind_word(kind)} "{name}" not found')
    data = decoded(obj)
    if key not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return data[key].decode(errors="replace")


def env_from(sources: list[Obj], objects: Objects) -> dict[str, str]:
    """`envFrom`: every key of each source (with its prefix), later sources winning; keys that
    are not valid variable names are skipped, as the kubelet does."""
    out: dict[str, str] = {}
    for src in sources:
        kind, ref = (
            ("ConfigMap", src.get("configMapRef"))
            if src.get("configMapRef")
            else ("Secret", src.get("secretRef") or {})
        )
        ref = ref or {}
        name = ref.get("name", "")
        obj = objects.get((kind, name))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{_kind_word(kind)} "{name}" not found')
        prefix = src.get("prefix") or ""
        for k, v in sorted(decoded(obj).items()):
            if ENV_NAME.match(prefix + k):
                out[prefix + k] = v.decode(errors="replace")
    return out


def volume_files(volume: Obj, objects: Objects) -> dict[str, tuple[bytes, int]] | None:
    """The files of a `configMap` or `secret` volume: relative path -> (content, mode); None
    for a volume of another type. An optional missing object gives no files."""
    if volume.get("configMap") is not None:
        kind, src, name = "ConfigMap", volume["configMap"], volume["configMap"].get("name", "")
    elif volume.get("secret") is not None:
        kind, src, name = "Secret", volume["secret"], volume["secret"].get("secretName", "")
    else:
        return None
    obj = objects.get((kind, name))
    if obj is None:
        if src.get("optional"):
            return {}
        raise ConfigError(f'{_kind_word(kind)} "{name}" not found')
    data = decoded(obj)
    mode = int(src.get("defaultMode") or DEFAULT_MODE)
    items = src.get("items")
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    files = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if src.get("optional"):
                continue
            raise ConfigError(f"{_kind_word(kind)} references non-existent config key: {key}")
        files[item.get("path") or key] = (data[key], int(item.get("mode") or mode))
    return files


def _safe(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts


def write_volume(folder: Path, files: dict[str, tuple[bytes, int]]) -> bool:
    """The kubelet's atomic writer: write the files when they differ from what is there;
    True when something changed."""
    current = folder / "..data"
    if current.is_symlink():
        old = current.resolve()
        same = sorted(files) == sorted(_listing(old)) and all(
            (old / rel).read_bytes() == content and ((old / rel).stat().st_mode & 0o777) == mode
            for rel, (content, mode) in files.items()
        )
        if same:
            return False
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime()) + f"{time.time_ns() % 10**9:09d}"
    fresh = folder / stamp
    fresh.mkdir()
    for rel, (content, mode) in files.items():
        if not _safe(rel):
            continue
        path = fresh / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode & 0o777)
    old = current.resolve() if current.is_symlink() else None
    tmp = folder / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(stamp)
    os.replace(tmp, current)
    tops = {rel.split("/")[0] for rel in files if _safe(rel)}
    for top in tops:
        link = folder / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")
    for entry in folder.iterdir():
        if not entry.name.startswith("..") and entry.name not in tops and entry.is_symlink():
            entry.unlink()
    if old is not None and old.name != stamp:
        shutil.rmtree(old, ignore_errors=True)
    return True


def _listing(folder: Path) -> list[str]:
    return [
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
    ]
