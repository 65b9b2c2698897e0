"""KServe's S3 credentials from a ServiceAccount's Secrets (what the storage initializer gets)."""

from __future__ import annotations

import base64

import pytest

from tidal.kserve.container import predictor_container
from tidal.kserve.credentials import s3_env, secret_env
from tidal.kserve.runtimes import builtin_runtimes, select_runtime


def secret(name: str, annotations: dict | None = None, **data: str) -> dict:
    return {
        "kind": "Secret",
        "metadata": {"name": name, "annotations": annotations or {}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def ref(key: str, name: str = "s3creds") -> dict:
    return {"secretKeyRef": {"name": name, "key": key}}


KEYS = [
    {"name": "AWS_ACCESS_KEY_ID", "valueFrom": ref("AWS_ACCESS_KEY_ID")},
    {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": ref("AWS_SECRET_ACCESS_KEY")},
]
CASES = [
    ("not an S3 secret", secret("s3creds", token="x"), []),
    ("keys only", secret("s3creds", AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="b"), KEYS),
    (
        "KServe's docs' secret",
        secret(
            "s3creds",
            {
                "serving.kserve.io/s3-endpoint": "s3.amazonaws.com",
                "serving.kserve.io/s3-usehttps": "1",
                "serving.kserve.io/s3-region": "us-east-2",
            },
            AWS_ACCESS_KEY_ID="a",
            AWS_SECRET_ACCESS_KEY="b",
        ),
        [
            *KEYS,
            {"name": "S3_USE_HTTPS", "value": "1"},
            {"name": "S3_ENDPOINT", "value": "s3.amazonaws.com"},
            {"name": "AWS_ENDPOINT_URL", "value": "https://s3.amazonaws.com"},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-2"},
        ],
    ),
    (
        "a scheme in the endpoint wins, values from the data",
        secret(
            "s3creds",
            {"serving.kserve.io/s3-endpoint": "http://minio:9000", "serving.kserve.io/s3-usehttps": "1"},
            AWS_ACCESS_KEY_ID="a",
            AWS_SECRET_ACCESS_KEY="b",
            S3_VERIFY_SSL="0",
        ),
        [
            *KEYS,
            {"name": "S3_USE_HTTPS", "value": "0"},
            {"name": "S3_ENDPOINT", "value": "minio:9000"},
            {"name": "AWS_ENDPOINT_URL", "value": "http://minio:9000"},
            {"name": "S3_VERIFY_SSL", "value": "0"},
        ],
    ),
    (
        "plain host, s3-usehttps 0",
        secret("s3creds", {"serving.kserve.io/s3-endpoint": "h:9", "serving.kserve.io/s3-usehttps": "0"}, awsAccessKeyID="a", awsSecretAccessKey="b"),
        [
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": ref("awsAccessKeyID")},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": ref("awsSecretAccessKey")},
            {"name": "S3_USE_HTTPS", "value": "0"},
            {"name": "S3_ENDPOINT", "value": "h:9"},
            {"name": "AWS_ENDPOINT_URL", "value": "http://h:9"},
        ],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "obj", "expected"), CASES, ids=[c[0] for c in CASES])
def test_secret_env(case: str, obj: dict, expected: list) -> None:
    assert secret_env(obj) == expected


def test_service_account_secrets_in_order() -> None:
    a = secret("a", {"serving.kserve.io/s3-region": "r1"}, AWS_SECRET_ACCESS_KEY="x")
    b = secret("b", {"serving.kserve.io/s3-region": "r2"}, AWS_SECRET_ACCESS_KEY="y")
    sa = {"secrets": [{"name": "a"}, {"name": "missing"}, {"name": "b"}]}
    env = {e["name"]: e for e in s3_env(sa, {"a": a, "b": b})}
    assert env["AWS_DEFAULT_REGION"]["value"] == "r2"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "b"
    assert s3_env(None, {"a": a}) == []


def test_storage_env_only_with_something_to_fetch_and_under_the_models_own() -> None:
    env = [{"name": "AWS_DEFAULT_REGION", "value": "sa"}, {"name": "S3_VERIFY_SSL", "value": "0"}]
    for uri, expected in (
        ("file:///m", None),
        ("s3://b/m", ["S3_VERIFY_SSL", "AWS_DEFAULT_REGION"]),
    ):
        model = {
            "modelFormat": {"name": "xgboost"},
            "storageUri": uri,
            "env": [{"name": "AWS_DEFAULT_REGION", "value": "own"}],
        }
        obj = {"metadata": {"name": "m", "namespace": "n"}, "spec": {"predictor": {"model": model}}}
        c = predictor_container(obj, select_runtime(obj, [], builtin_runtimes()), storage_env=env)
        assert c is not None
        names = [e["name"] for e in c["env"]]
        assert names == (expected or ["AWS_DEFAULT_REGION"])
        assert next(e for e in c["env"] if e["name"] == "AWS_DEFAULT_REGION")["value"] == "own"
