"""S3 credentials from the predictor's ServiceAccount, as KServe's credential builder gives them
to the storage initializer (`pkg/credentials`): for each Secret the ServiceAccount lists that
holds the secret-key entry, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` from the Secret
(`secretKeyRef`), then `S3_ENDPOINT`/`AWS_ENDPOINT_URL`/`S3_USE_HTTPS`, `S3_VERIFY_SSL`,
`awsAnonymousCredential`, `AWS_DEFAULT_REGION`, `AWS_CA_BUNDLE` from the Secret's
`serving.kserve.io/s3-*` annotations, else from same-named entries of the Secret. PURE."""

from __future__ import annotations

import base64
import binascii
from typing import Any

Obj = dict[str, Any]

ANNOTATION = "serving.kserve.io/"
# the data keys of KServe's default `credentials` config (s3AccessKeyIDName, s3SecretAccessKeyName),
# then the Go defaults
KEY_NAMES = (
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ("awsAccessKeyID", "awsSecretAccessKey"),
)
# (env, annotation suffix, Secret data key) in KServe's order (BuildS3EnvVars)
SETTINGS = (
    ("S3_VERIFY_SSL", "s3-verifyssl", "S3_VERIFY_SSL"),
    ("awsAnonymousCredential", "s3-useanoncredential", "awsAnonymousCredential"),
    ("AWS_DEFAULT_REGION", "s3-region", "AWS_DEFAULT_REGION"),
    ("S3_USER_VIRTUAL_BUCKET", "s3-usevirtualbucket", "S3_USER_VIRTUAL_BUCKET"),
    ("S3_USE_ACCELERATE", "s3-useaccelerate", "S3_USE_ACCELERATE"),
    ("AWS_CA_BUNDLE", "s3-cabundle", "AWS_CA_BUNDLE"),
)


def _data(secret: Obj) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(str(v), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    out.update({k: str(v) for k, v in (secret.get("stringData") or {}).items()})
    return out


def _value(secret: Obj, data: dict[str, str], suffix: str, key: str) -> str:
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    if ANNOTATION + suffix in annotations:
        return str(annotations[ANNOTATION + suffix])
    return data.get(key, "")


def endpoint_env(secret: Obj, data: dict[str, str]) -> list[Obj]:
    """KServe's getEndpointConfiguration: a scheme in the endpoint wins over `s3-usehttps`."""
    endpoint = _value(secret, data, "s3-endpoint", "S3_ENDPOINT").strip()
    if not endpoint:
        return []
    lowered = endpoint.lower()
    if lowered.startswith("https://"):
        https, host, url = "1", endpoint[8:], endpoint
    elif lowered.startswith("http://"):
        https, host, url = "0", endpoint[7:], endpoint
    else:
        https = _value(secret, data, "s3-usehttps", "S3_USE_HTTPS")
        host = endpoint
        url = ("http://" if https == "0" else "https://") + endpoint
    out = [{"name": "S3_USE_HTTPS", "value": https}] if https else []
    return [
        *out,
        {"name": "S3_ENDPOINT", "value": host},
        {"name": "AWS_ENDPOINT_URL", "value": url},
    ]


def secret_env(secret: Obj) -> list[Obj]:
    """The storage initializer's env for one Secret; [] when it holds no S3 secret key."""
    data = _data(secret)
    keys = next((k for k in KEY_NAMES if k[1] in data), None)
    if keys is None:
        return []
    name = (secret.get("metadata") or {}).get("name", "")
    env: list[Obj] = [
        {"name": env_name, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        for env_name, key in zip(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), keys, strict=True)
    ]
    env += endpoint_env(secret, data)
    for env_name, suffix, key in SETTINGS:
        value = _value(secret, data, suffix, key)
        if value:
            env.append({"name": env_name, "value": value})
    return env


def s3_env(service_account: Obj | None, secrets: dict[str, Obj]) -> list[Obj]:
    """Env from every Secret the ServiceAccount lists (`secrets: [{name}]`), in its order;
    a later Secret's variable replaces an earlier one of the same name (KServe's MergeEnvs)."""
    merged: dict[str, Obj] = {}
    for ref in (service_account or {}).get("secrets") or []:
        secret = secrets.get((ref or {}).get("name", ""))
        if secret is not None:
            for e in secret_env(secret):
                merged[e["name"]] = e
    return list(merged.values())
