"""What a pod's containers see of the machine: its ConfigMap/Secret volumes, its service
account's files, and the bwrap sandbox that binds them (with hostPath volumes) at their
mount paths while hiding the plane's home.

The files live in the runner's folder of the pod (`volumes/<name>/`, `serviceaccount/`); an
isolated pod sees only its `work/` folder and what is bound here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tidal.api.client import Obj
from tidal.pods import config, sandbox, serviceaccount
from tidal.pods.state import DNS1123

ApiAccess = tuple[str, str, bytes, bytes]  # host, port, CA PEM, token signing key


def write_volumes(pod: Obj, folder: Path, objects: config.Objects, *, strict: bool = True) -> None:
    """Each configMap/secret volume's files under `folder/volumes/<name>` (atomically, when
    they changed). `strict`: a missing object raises ConfigError (FailedMount); else the files
    there stay, as the kubelet keeps them."""
    for v in (pod.get("spec") or {}).get("volumes") or []:
        try:
            files = config.volume_files(v, objects)
        except config.ConfigError as exc:
            if strict:
                raise config.ConfigError(
                    f'MountVolume.SetUp failed for volume "{v.get("name")}" : {exc}'
                ) from None
            continue
        if files is not None and DNS1123.match(str(v.get("name") or "")):
            config.write_volume(folder / "volumes" / v["name"], files)


def has_config_volumes(pod: Obj) -> bool:
    """Whether the pod mounts a ConfigMap or Secret (what the periodic sync updates)."""
    return any(
        v.get("configMap") is not None or v.get("secret") is not None
        for v in (pod.get("spec") or {}).get("volumes") or []
    )


def service_account(
    pod: Obj, folder: Path, access: ApiAccess | None, clock: Callable[[], float]
) -> tuple[str, str] | None:
    """Write the pod's own token, CA and namespace (once) under `folder/serviceaccount` for the
    service-account mount; the API's (host, port), or None where the pod gets none (isolation
    unavailable: such a pod could read the plane's token anyway;
    `automountServiceAccountToken: false`)."""
    spec = pod.get("spec") or {}
    if access is None or spec.get("automountServiceAccountToken") is False:
        return None
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    host, port, ca_pem, key = access
    sa = folder / "serviceaccount"
    if not (sa / "token").exists():
        claims = serviceaccount.Claims(
            ns, spec.get("serviceAccountName") or "default", meta["name"], meta.get("uid", "")
        )
        sa.mkdir(parents=True, exist_ok=True)
        (sa / "ca.crt").write_bytes(ca_pem)
        (sa / "namespace").write_text(ns)
        tmp = sa / "token.tmp"
        tmp.write_text(serviceaccount.issue(key, claims, clock()))
        os.replace(tmp, sa / "token")
    return host, port


def binds(pod: Obj, spec: Obj, folder: Path, work: Path, home: Path) -> list[sandbox.Bind]:
    """The pod's `work` folder, then its volumes at their mount paths (hostPath: arena's
    `--data SRC:DST` is a real bind mount here). OSError for a hostPath inside `home`."""
    out = [sandbox.Bind(str(work), str(work))]
    if (folder / "serviceaccount" / "token").exists():
        sa = str(folder / "serviceaccount")
        out.append(sandbox.Bind(sa, serviceaccount.MOUNT_PATH, read_only=True))
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    for m in spec.get("volumeMounts") or []:
        vol = volumes.get(m.get("name")) or {}
        dst = str(m.get("mountPath") or "")
        if vol.get("configMap") is not None or vol.get("secret") is not None:
            files = folder / "volumes" / str(vol.get("name"))
            if dst.startswith("/") and files.is_dir():
                sub = str(m.get("subPath") or "")
                src_path = files / sub if sub and ".." not in sub.split("/") else files
                out.append(sandbox.Bind(str(src_path), dst, read_only=True))
            continue
        src = (vol.get("hostPath") or {}).get("path")
        if not dst.startswith("/") or not src:
            continue
        if m.get("subPath"):
            src = os.path.join(src, m["subPath"])
        if sandbox.within(os.path.realpath(src), str(home.resolve())):
            raise OSError(f"hostPath {src} is inside the plane's home, which pods cannot see")
        out.append(sandbox.Bind(src, dst, bool(m.get("readOnly"))))
    return out


def wrapper(
    pod: Obj, spec: Obj, folder: Path, work: Path, home: Path, cwd: Path, hostname: str
) -> list[str]:
    """bwrap and its arguments for this container (the caller checks isolation is on)."""
    args = sandbox.plan(
        sandbox.RealHost(),
        hidden=[str(home.resolve())],
        binds=binds(pod, spec, folder, work, home),
        read_only=sandbox.software_paths(),
        cwd=str(cwd),
        hostname=hostname,
        as_root=os.geteuid() == 0,
    )
    return [*sandbox.launcher(), *args]
