"""Pure: what a `storageUri` names, where it lands, and the S3 settings KServe reads from the
environment. No I/O here; `fetch.py` acts on these answers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

LOCAL_SCHEMES = ("file", "pvc")
REMOTE_SCHEMES = ("http", "https", "s3")
SUPPORTED = (*LOCAL_SCHEMES, *REMOTE_SCHEMES)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


class StorageError(Exception):
    """A storage URI that cannot be fetched; the message names the URI."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"failed to fetch {uri}: {message}")
        self.uri = uri


@dataclass(frozen=True, slots=True)
class StorageUri:
    uri: str
    scheme: str  # file, pvc, http, https, s3, or "" for a plain path
    host: str  # the bucket (s3), the claim (pvc), the server (http)
    path: str  # the key prefix (s3, no leading /), the local path (file, pvc, plain)

    @property
    def local(self) -> bool:
        return self.scheme in ("", *LOCAL_SCHEMES)


def parse(uri: str) -> StorageUri:
    """Split a storageUri; StorageError for a scheme KServe has and tidal does not fetch."""
    if not isinstance(uri, str) or not uri.strip():
        raise StorageError(str(uri), "empty storage URI")
    if "://" not in uri:
        return StorageUri(uri, "", "", uri)
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in SUPPORTED:
        raise StorageError(
            uri,
            f"scheme {scheme}:// is not supported here (tidal fetches "
            + ", ".join(f"{s}://" for s in SUPPORTED)
            + ")",
        )
    if scheme == "file":
        return StorageUri(uri, scheme, "", uri[len("file://") :])
    if scheme == "pvc":
        # a claim is a folder on this machine: pvc:///abs/path, or pvc://name/path as given
        return StorageUri(uri, scheme, parsed.netloc, uri[len("pvc://") :])
    if scheme == "s3":
        if not parsed.netloc:
            raise StorageError(uri, "no bucket in the S3 URI (expected s3://bucket/prefix)")
        return StorageUri(uri, scheme, parsed.netloc, parsed.path.lstrip("/"))
    if not parsed.netloc:
        raise StorageError(uri, "no host in the URL")
    return StorageUri(uri, scheme, parsed.netloc, parsed.path)


def local_path(uri: str) -> str | None:
    """The folder a local URI names (file://, pvc://, a plain path); None for a remote one."""
    try:
        s = parse(uri)
    except StorageError:
        return None
    return s.path if s.local else None


def cache_key(uri: str) -> str:
    """The cache folder name of a URI (its content checksum is added per entry)."""
    return hashlib.sha256(uri.encode()).hexdigest()[:24]


def file_name(s: StorageUri) -> str:
    """The file an http(s) URI downloads to (KServe: the last path segment)."""
    name = s.path.rstrip("/").rsplit("/", 1)[-1]
    if not name:
        raise StorageError(s.uri, "no file name in the URL (KServe: No filename contained in URI)")
    return name


def archive_kind(name: str) -> str | None:
    """`tar` or `zip` for an archive KServe unpacks (.tar.gz, .tgz, .tar, .zip); else None."""
    lowered = name.lower()
    if lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    return None


@dataclass(frozen=True, slots=True)
class S3Config:
    endpoint_url: str | None
    access_key_id: str | None
    secret_access_key: str | None
    region: str | None
    verify: bool | str  # False, True or a CA bundle path
    anonymous: bool


def _false(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("0", "false")


def s3_config(env: Mapping[str, str]) -> S3Config:
    """KServe's S3 environment: AWS_ENDPOINT_URL (else S3_ENDPOINT, https unless S3_USE_HTTPS=0),
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (else AWS_REGION),
    S3_VERIFY_SSL=0 to skip TLS checks, AWS_CA_BUNDLE for a private CA,
    awsAnonymousCredential=true for a public bucket."""
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    if not endpoint and env.get("S3_ENDPOINT"):
        scheme = "http" if _false(env.get("S3_USE_HTTPS")) else "https"
        raw = env["S3_ENDPOINT"]
        endpoint = raw if "://" in raw else f"{scheme}://{raw}"
    verify: bool | str = not _false(env.get("S3_VERIFY_SSL"))
    if verify and env.get("AWS_CA_BUNDLE"):
        verify = env["AWS_CA_BUNDLE"]
    return S3Config(
        endpoint_url=endpoint,
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or None,
        verify=verify,
        anonymous=(env.get("awsAnonymousCredential") or "").lower() == "true",
    )


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
