"""Fetch a storageUri into the cache and answer the local folder that holds the model.

Cache (`<cache>/<sha256(uri)[:24]>/`, `default_cache`): `meta.json` (the URI, its HTTP validators, the checksum of
the content) and one folder per content checksum. A download goes to a temporary folder beside
them and appears under its checksum by one `rename`, so a reader sees a whole model or none (a
half download never serves). The next fetch asks the server whether the content changed (HTTP
`If-None-Match`/`If-Modified-Since`; for S3 the listing's ETags) and reuses the folder whose
checksum matches. Progress goes to `log` (the pod's log)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import ssl
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tidal.storage.uri import (
    StorageError,
    StorageUri,
    archive_kind,
    cache_key,
    file_name,
    human_bytes,
    parse,
    s3_config,
)

Log = Callable[[str], None]
CHUNK = 1 << 20


def default_cache(env: Mapping[str, str]) -> Path:
    """`$TIDAL_STORAGE_CACHE`, else `$XDG_CACHE_HOME/tidal/storage`, else
    `~/.cache/tidal/storage` (beside tidal's wheel cache). Not inside the tidal home: pods run
    with the plane's home hidden (docs/PODS.md), and the cache is shared by every pod."""
    if env.get("TIDAL_STORAGE_CACHE"):
        return Path(env["TIDAL_STORAGE_CACHE"])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "tidal" / "storage"


def fetch(uri: str, cache: Path, env: Mapping[str, str], log: Log = print) -> Path:
    """The local folder holding what `uri` names; StorageError (naming the URI) otherwise."""
    s = parse(uri)
    if s.local:
        path = Path(s.path)
        if not path.exists():
            raise StorageError(uri, f"local path {s.path} does not exist")
        return path
    folder = cache / cache_key(uri)
    folder.mkdir(parents=True, exist_ok=True)
    if s.scheme == "s3":
        return _fetch_s3(s, folder, env, log)
    return _fetch_http(s, folder, env, log)


# ---- the cache folder ------------------------------------------------------------------------
def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return {}


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".meta-")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f)
    os.replace(tmp, folder / "meta.json")


def _entry(folder: Path, checksum: str) -> Path:
    return folder / checksum[:16]


def _install(tmp: Path, folder: Path, checksum: str) -> Path:
    """Move a finished download into place under its checksum (one rename); an entry that is
    already there (another pod won the race, or the content did not change) is kept."""
    target = _entry(folder, checksum)
    try:
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _extract(archive: Path, kind: str, dest: Path, uri: str) -> None:
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    target = (dest / member).resolve()
                    if not str(target).startswith(str(dest.resolve())):
                        raise StorageError(uri, f"archive member {member!r} leaves the folder")
                z.extractall(dest)
        else:
            with tarfile.open(archive) as t:
                t.extractall(dest, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise StorageError(uri, f"cannot unpack {archive.name}: {exc}") from exc
    archive.unlink()


class _Progress:
    """Progress lines: at the start, every 10 % (or 16 MiB when the size is unknown), the end."""

    def __init__(self, what: str, total: int | None, log: Log) -> None:
        self.what, self.total, self.log = what, total, log
        self.done = 0
        self.next_mark = 0.1
        self.next_bytes = 16 << 20
        size = human_bytes(total) if total else "unknown size"
        log(f"downloading {what} ({size})")

    def add(self, n: int) -> None:
        self.done += n
        if self.total:
            if self.done / self.total >= self.next_mark and self.done < self.total:
                pct = int(self.done * 100 / self.total)
                self.log(
                    f"downloading {self.what}: {human_bytes(self.done)} of "
                    f"{human_bytes(self.total)} ({pct}%)"
                )
                self.next_mark = (pct // 10 + 1) / 10
        elif self.done >= self.next_bytes:
            self.log(f"downloading {self.what}: {human_bytes(self.done)}")
            self.next_bytes += 16 << 20

    def finish(self) -> None:
        self.log(f"downloaded {self.what}: {human_bytes(self.done)}")


# ---- http(s) -----------------------------------------------------------------------------------
def _fetch_http(s: StorageUri, folder: Path, env: Mapping[str, str], log: Log) -> Path:
    import httpx

    name = file_name(s)
    meta = _read_meta(folder)
    cached = _entry(folder, meta["checksum"]) if meta.get("checksum") else None
    headers = {}
    if cached is not None and cached.is_dir():
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    ca = env.get("SSL_CERT_FILE") or env.get("REQUESTS_CA_BUNDLE")
    try:
        verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=ca) if ca else True
    except (OSError, ssl.SSLError) as exc:
        raise StorageError(s.uri, f"cannot read the CA bundle {ca}: {exc}") from exc
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".download-"))
    try:
        try:
            with httpx.Client(
                verify=verify, follow_redirects=True, timeout=httpx.Timeout(30.0), trust_env=False
            ) as client:
                with client.stream("GET", s.uri, headers=headers) as r:
                    if r.status_code == 304 and cached is not None:
                        log(f"{s.uri} has not changed: using the cached copy {cached}")
                        return cached
                    if r.status_code >= 400:
                        raise StorageError(
                            s.uri, f"HTTP {r.status_code} {r.reason_phrase} from the server"
                        )
                    _check_archive_type(s.uri, name, r.headers.get("content-type", ""))
                    total = int(r.headers.get("content-length") or 0) or None
                    progress = _Progress(s.uri, total, log)
                    digest = hashlib.sha256()
                    with open(tmp / name, "wb") as f:
                        for chunk in r.iter_bytes(CHUNK):
                            f.write(chunk)
                            digest.update(chunk)
                            progress.add(len(chunk))
                    if total is not None and progress.done != total:
                        raise StorageError(
                            s.uri, f"the download stopped at {progress.done} of {total} bytes"
                        )
                    progress.finish()
                    etag, modified = r.headers.get("etag"), r.headers.get("last-modified")
        except httpx.HTTPError as exc:
            raise StorageError(s.uri, f"{type(exc).__name__}: {exc}") from exc
        checksum = digest.hexdigest()
        if _entry(folder, checksum).is_dir():
            log(f"{s.uri}: same content as the cached copy (sha256 {checksum[:16]})")
            shutil.rmtree(tmp, ignore_errors=True)
            entry = _entry(folder, checksum)
        else:
            kind = archive_kind(name)
            if kind:
                log(f"unpacking {name}")
                _extract(tmp / name, kind, tmp, s.uri)
            entry = _install(tmp, folder, checksum)
        _write_meta(
            folder,
            {"uri": s.uri, "checksum": checksum, "etag": etag, "last_modified": modified},
        )
        return entry
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _check_archive_type(uri: str, name: str, content_type: str) -> None:
    """KServe refuses an archive URL whose server says it is something else (an HTML error page
    answered with 200, say)."""
    kind = archive_kind(name)
    if kind == "zip":
        allowed: tuple[str, ...] = (
            "application/x-zip-compressed",
            "application/zip",
            "application/zip-compressed",
            "application/octet-stream",
        )
    elif kind == "tar":
        allowed = (
            "application/x-tar",
            "application/x-gtar",
            "application/x-gzip",
            "application/gzip",
            "application/octet-stream",
        )
    else:
        return
    if content_type and not content_type.startswith(allowed):
        raise StorageError(
            uri,
            f"URI: {uri} did not respond with any of following 'Content-Type': "
            + ", ".join(allowed[:-1]),
        )


# ---- s3 ------------------------------------------------------------------------------------------
def _s3_client(env: Mapping[str, str]) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    cfg = s3_config(env)
    kwargs: dict[str, Any] = {
        "config": Config(
            connect_timeout=int(env.get("S3_CONNECT_TIMEOUT", "15")),
            read_timeout=int(env.get("S3_READ_TIMEOUT", "30")),
            retries={"max_attempts": int(env.get("S3_MAX_ATTEMPTS", "3"))},
            signature_version=UNSIGNED if cfg.anonymous else None,
        ),
        "verify": cfg.verify,
        "region_name": cfg.region or "us-east-1",
    }
    if cfg.endpoint_url:
        kwargs["endpoint_url"] = cfg.endpoint_url
    if cfg.access_key_id:
        kwargs["aws_access_key_id"] = cfg.access_key_id
        kwargs["aws_secret_access_key"] = cfg.secret_access_key
    session = boto3.session.Session()
    return session.client("s3", **kwargs)


def _s3_error(s: StorageUri, exc: Exception, env: Mapping[str, str]) -> StorageError:
    """The S3 error code and message (`InvalidAccessKeyId: The AWS Access Key Id you provided
    does not exist in our records.`), with KServe's hint for credentials."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return StorageError(
            s.uri,
            "S3 authentication failed: no credentials. Set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "or use awsAnonymousCredential=true.",
        )
    if isinstance(exc, ClientError):
        err = exc.response.get("Error") or {}
        code = err.get("Code") or "Unknown"
        message = err.get("Message") or str(exc)
        endpoint = s3_config(env).endpoint_url or "AWS S3"
        return StorageError(s.uri, f"S3 error {code} from {endpoint}: {message}")
    return StorageError(s.uri, f"S3 {type(exc).__name__}: {exc}")


def _fetch_s3(s: StorageUri, folder: Path, env: Mapping[str, str], log: Log) -> Path:
    from botocore.exceptions import BotoCoreError, ClientError

    client = _s3_client(env)
    objects: list[tuple[str, str, int]] = []  # (key, target, size), KServe's layout
    manifest = hashlib.sha256()
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=s.host, Prefix=s.path)
        for page in pages:
            for obj in page.get("Contents") or []:
                key, size = obj["Key"], int(obj.get("Size") or 0)
                if key.endswith("/") or size == 0:
                    continue
                if key == s.path:  # the URI names one object: that file alone
                    objects = [(key, key.rsplit("/", 1)[-1], size)]
                    manifest = hashlib.sha256(f"{key}\0{obj.get('ETag')}\0{size}".encode())
                    break
                target = key.removeprefix(s.path).lstrip("/")
                objects.append((key, target, size))
                manifest.update(f"{key}\0{obj.get('ETag')}\0{size}\n".encode())
            else:
                continue
            break
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(s, exc, env) from exc
    if not objects:
        raise StorageError(s.uri, f"Failed to fetch model. No model found in {s.path or '/'}.")
    checksum = manifest.hexdigest()
    entry = _entry(folder, checksum)
    if entry.is_dir():
        log(f"{s.uri} has not changed (same objects and ETags): using the cached copy {entry}")
        return entry
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".download-"))
    try:
        total = sum(size for _, _, size in objects)
        progress = _Progress(f"{s.uri} ({len(objects)} object(s))", total, log)
        for key, target, _size in objects:
            path = (tmp / target).resolve()
            if not str(path).startswith(str(tmp.resolve())):
                raise StorageError(s.uri, f"object key {key!r} leaves the model folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                client.download_file(s.host, key, str(path), Callback=progress.add)
            except (ClientError, BotoCoreError) as exc:
                raise _s3_error(s, exc, env) from exc
        progress.finish()
        if len(objects) == 1 and archive_kind(objects[0][1]):
            log(f"unpacking {objects[0][1]}")
            _extract(tmp / objects[0][1], archive_kind(objects[0][1]) or "", tmp, s.uri)
        entry = _install(tmp, folder, checksum)
        _write_meta(folder, {"uri": s.uri, "checksum": checksum})
        return entry
    finally:
        if tmp.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
