"""Real servers on loopback for the storage tests: a static HTTP server over a folder (in a
thread) and moto's S3-compatible server (a process), the stand-in for a real bucket."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import free_port, stop_process, wait_until


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        if str(path).endswith((".tgz", ".tar.gz")):
            return "application/gzip"
        if str(path).endswith(".html.zip"):  # an error page served with 200, as some servers do
            return "text/html"
        return super().guess_type(path)


@contextmanager
def http_server(folder: Path, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """`http://127.0.0.1:PORT` serving `folder` (Last-Modified, If-Modified-Since → 304);
    `https://` with `tls` = (certificate, key)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    scheme = "http"
    if tls is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class S3:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            **extra,
        }

    def client(self) -> Any:  # a boto3 S3 client
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def upload(self, bucket: str, prefix: str, folder: Path) -> None:
        c = self.client()
        try:
            c.create_bucket(Bucket=bucket)
        except c.exceptions.BucketAlreadyOwnedByYou:
            pass
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                c.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")


@contextmanager
def s3_server(log: Path) -> Iterator[S3]:
    """moto's server with request signing enforced: the first three (unauthenticated) calls
    make an IAM user with an access key allowed everything; wrong keys then fail as on AWS."""
    import boto3

    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    moto = Path(sys.executable).with_name("moto_server")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        wait_until(lambda: iam.create_user(UserName="tidal"), 60, 0.2, what="moto's S3 server")
        key = iam.create_access_key(UserName="tidal")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="tidal", PolicyName="all", PolicyDocument=json.dumps(policy))
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        stop_process(proc)
