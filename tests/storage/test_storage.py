"""Storage URIs as KServe's storage initializer resolves them: the pure parsing tables, then real
fetches from a loopback HTTP server and moto's S3 server (the stand-in for a real bucket)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.servers import S3, http_server, s3_server
from tidal.storage.fetch import default_cache, fetch
from tidal.storage.uri import StorageError, parse, s3_config

PARSE = [
    ("s3://bucket/models/iris", ("s3", "bucket", "models/iris")),
    ("s3://bucket", ("s3", "bucket", "")),
    ("file:///srv/m", ("file", "", "/srv/m")),
    ("pvc:///srv/claim/m", ("pvc", "", "/srv/claim/m")),
    ("/srv/m", ("", "", "/srv/m")),
    ("https://host:8443/m/model.tgz", ("https", "host:8443", "/m/model.tgz")),
]


@pytest.mark.parametrize(("uri", "expected"), PARSE)
def test_parse(uri: str, expected: tuple) -> None:
    s = parse(uri)
    assert (s.scheme, s.host, s.path) == expected


@pytest.mark.parametrize(
    ("uri", "text"),
    [
        ("gs://kfserving-examples/models/sklearn/1.0/model", "scheme gs:// is not supported"),
        ("s3:///key", "no bucket"),
        ("http:///x", "no host"),
        ("", "empty storage URI"),
    ],
)
def test_parse_refuses(uri: str, text: str) -> None:
    with pytest.raises(StorageError, match=text) as err:
        parse(uri)
    assert str(err.value).startswith(f"failed to fetch {uri}:")


S3_ENV = [
    ({}, (None, True, None)),
    ({"AWS_ENDPOINT_URL": "http://h:9000"}, ("http://h:9000", True, None)),
    ({"S3_ENDPOINT": "h:9000"}, ("https://h:9000", True, None)),
    ({"S3_ENDPOINT": "h:9000", "S3_USE_HTTPS": "0"}, ("http://h:9000", True, None)),
    ({"S3_VERIFY_SSL": "0", "AWS_CA_BUNDLE": "/ca"}, (None, False, None)),
    ({"AWS_CA_BUNDLE": "/ca", "AWS_REGION": "eu-west-1"}, (None, "/ca", "eu-west-1")),
    ({"AWS_DEFAULT_REGION": "us-east-2", "AWS_REGION": "x"}, (None, True, "us-east-2")),
]


@pytest.mark.parametrize(("env", "expected"), S3_ENV)
def test_s3_config(env: dict, expected: tuple) -> None:
    cfg = s3_config(env)
    assert (cfg.endpoint_url, cfg.verify, cfg.region) == expected


def test_default_cache_is_outside_the_tidal_home(tmp_path: Path) -> None:
    assert default_cache({"TIDAL_STORAGE_CACHE": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert default_cache({"XDG_CACHE_HOME": "/x"}) == Path("/x/tidal/storage")
    assert default_cache({}) == Path.home() / ".cache" / "tidal" / "storage"


# ---- http(s) ---------------------------------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.bst").write_bytes(b"booster")
    with tarfile.open(root / "model.tgz", "w:gz") as t:
        data = b"tarred"
        info = tarfile.TarInfo("iris/model.bst")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(root / "model.zip", "w") as z:
        z.writestr("model.txt", "zipped")
    (root / "page.html.zip").write_text("<html>not found</html>")
    with http_server(root) as url:
        yield url, root


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_dir() and p.parent.parent == cache)


def test_http_single_file_archive_and_cache(served: tuple[str, Path], tmp_path: Path) -> None:
    url, root = served
    cache = tmp_path / "cache"
    lines: list[str] = []
    got = fetch(f"{url}/model.bst", cache, {}, lines.append)
    assert (got / "model.bst").read_bytes() == b"booster"
    assert lines[0].startswith(f"downloading {url}/model.bst (7 B)")
    assert lines[-1] == f"downloaded {url}/model.bst: 7 B"
    assert (fetch(f"{url}/model.tgz", cache, {}) / "iris" / "model.bst").read_bytes() == b"tarred"
    assert (fetch(f"{url}/model.zip", cache, {}) / "model.txt").read_text() == "zipped"
    # the archives are unpacked and removed
    assert not list(cache.rglob("model.tgz")) and not list(cache.rglob("model.zip"))

    again: list[str] = []
    assert fetch(f"{url}/model.bst", cache, {}, again.append) == got
    assert again == [f"{url}/model.bst has not changed: using the cached copy {got}"]

    (root / "model.bst").write_bytes(b"booster v2")
    os.utime(root / "model.bst", (2_000_000_000, 2_000_000_000))
    newer = fetch(f"{url}/model.bst", cache, {}, lambda _: None)
    assert newer != got and (newer / "model.bst").read_bytes() == b"booster v2"
    assert (got / "model.bst").read_bytes() == b"booster"  # a running pod's copy stays whole


def test_http_errors_name_the_uri_and_leave_nothing(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(StorageError, match=rf"failed to fetch {url}/missing.bst: HTTP 404"):
        fetch(f"{url}/missing.bst", cache, {})
    with pytest.raises(StorageError, match="did not respond with any of following 'Content-Type'"):
        fetch(f"{url}/page.html.zip", cache, {})
    with pytest.raises(
        StorageError, match=r"failed to fetch http://127.0.0.1:1/m.bst: ConnectError"
    ):
        fetch("http://127.0.0.1:1/m.bst", cache, {})
    assert entries(cache) == []
    assert not [p for p in cache.rglob(".download-*")]


def test_half_download_never_serves(tmp_path: Path) -> None:
    """A server that promises 1000 bytes and hangs up after 10: an error, no cache entry."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cache = tmp_path / "cache"
    try:
        with pytest.raises(StorageError, match=f"failed to fetch http://127.0.0.1:{port}/m.bst"):
            fetch(f"http://127.0.0.1:{port}/m.bst", cache, {}, lambda _: None)
    finally:
        t.join()
        listener.close()
    assert entries(cache) == []
    assert not [p for p in cache.rglob("m.bst")]


def test_https_with_a_private_ca_from_the_environment(tmp_path: Path) -> None:
    """A loopback TLS server whose certificate a test CA signed: trusted through
    `SSL_CERT_FILE`, refused without it (the error names the URI)."""
    from tidal.server.tls import ensure_pki

    pki = ensure_pki(tmp_path / "pki-home")
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.bst").write_bytes(b"tls")
    with http_server(root, (pki.server_cert, pki.server_key)) as url:
        assert url.startswith("https://")
        got = fetch(f"{url}/model.bst", tmp_path / "c", {"SSL_CERT_FILE": str(pki.ca_cert)})
        assert (got / "model.bst").read_bytes() == b"tls"
        with pytest.raises(StorageError, match=rf"failed to fetch {url}/model.bst: ConnectError"):
            fetch(f"{url}/model.bst", tmp_path / "c2", {})
        with pytest.raises(StorageError, match="cannot read the CA bundle /nope"):
            fetch(f"{url}/model.bst", tmp_path / "c2", {"SSL_CERT_FILE": "/nope"})


def test_local_uris_are_read_in_place(tmp_path: Path) -> None:
    assert fetch(f"file://{tmp_path}", tmp_path / "c", {}) == tmp_path
    with pytest.raises(StorageError, match="does not exist"):
        fetch(f"file://{tmp_path}/nope", tmp_path / "c", {})


# ---- s3 (moto's server) ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3]:
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        models = tmp_path_factory.mktemp("models")
        (models / "model.bst").write_bytes(b"xgb")
        (models / "sub").mkdir()
        (models / "sub" / "extra.json").write_text("{}")
        server.upload("models", "xgb/iris", models)
        yield server


def test_s3_prefix_single_object_and_cache(s3: S3, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lines: list[str] = []
    got = fetch("s3://models/xgb/iris", cache, s3.env(), lines.append)
    assert (got / "model.bst").read_bytes() == b"xgb"
    assert (got / "sub" / "extra.json").read_text() == "{}"
    assert lines[0] == "downloading s3://models/xgb/iris (2 object(s)) (5 B)"
    one = fetch("s3://models/xgb/iris/model.bst", cache, s3.env(), lambda _: None)
    assert sorted(p.name for p in one.iterdir()) == ["model.bst"]
    again: list[str] = []
    assert fetch("s3://models/xgb/iris", cache, s3.env(), again.append) == got
    assert "has not changed" in again[0]
    # KServe's S3_ENDPOINT + S3_USE_HTTPS=0 spelling reaches the same server
    env = s3.env()
    env["S3_ENDPOINT"] = env.pop("AWS_ENDPOINT_URL").removeprefix("http://")
    env["S3_USE_HTTPS"] = "0"
    assert fetch("s3://models/xgb/iris", cache, env, lambda _: None) == got


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (
            {"AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1"},
            "S3 error InvalidAccessKeyId from http://127.0.0.1:[0-9]+: The AWS Access Key Id "
            "you provided does not exist in our records.",
        ),
        ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "S3 error SignatureDoesNotMatch"),
    ],
)
def test_s3_wrong_key_says_the_s3_error(s3: S3, tmp_path: Path, change: dict, text: str) -> None:
    with pytest.raises(StorageError, match=f"failed to fetch s3://models/xgb/iris: {text}"):
        fetch("s3://models/xgb/iris", tmp_path / "cache", s3.env(**change))
    assert entries(tmp_path / "cache") == []


def test_s3_missing_prefix(s3: S3, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="No model found in xgb/none"):
        fetch("s3://models/xgb/none", tmp_path / "cache", s3.env())


# ---- the init step -----------------------------------------------------------------------------
def test_init_step_links_then_runs_the_server(s3: S3, tmp_path: Path) -> None:
    dest = tmp_path / "pod" / "mnt" / "models"
    env = {**os.environ, **s3.env(), "TIDAL_STORAGE_CACHE": str(tmp_path / "cache")}
    show = "import sys; print(open(sys.argv[1] + '/model.bst').read())"
    proc = subprocess.run(
        [sys.executable, "-m", "tidal.storage", "s3://models/xgb/iris", str(dest), "--",
         sys.executable, "-c", show, str(dest)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "xgb"
    assert "storage-initializer: downloading s3://models/xgb/iris" in proc.stdout
    assert dest.is_symlink()

    bad = {**env, "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1"}
    proc = subprocess.run(
        [sys.executable, "-m", "tidal.storage", "s3://models/xgb/other", str(dest), "--", "false"],
        env=bad, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(
        "error: failed to fetch s3://models/xgb/other: S3 error InvalidAccessKeyId"
    )
