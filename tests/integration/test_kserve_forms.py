"""Issue 18's acceptance on the FULL local plane, as a new user would try it: KServe's documented
first InferenceServices for sklearn, xgboost and lightgbm (their YAML, `storageUri` pointed at a
`file://` folder, an S3 bucket and an `http://` archive served on loopback) applied with plain
`kubectl apply -f`, answering their documented requests; `kubectl get clusterservingruntimes`;
a wrong S3 key shown in `describe isvc` and the pod's events; KServe's error for a format no
runtime serves; `tidal serve kserve --model-format=xgboost --storage-uri=s3://...`; and (with the
LLM engine built) `modelFormat: huggingface` on a GGUF file.

The S3 bucket is moto's S3-compatible server (a stand-in for a real bucket; request signing is
enforced, so a wrong key fails as on AWS). The archive is served over plain `http://`, which
KServe's storage initializer accepts as it does `https://`. One plane for the module; the tests
run in file order and build on each other."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.kubectl import TIDAL, user_env
from tests.plane import pod_processes, stop_plane, train_iris
from tests.runtimes.boosters import train_lightgbm, train_xgboost
from tests.storage.servers import S3, http_server, s3_server
from tests.support import free_port, wait_until

pytestmark = [
    pytest.mark.process,
    pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed"),
]

IRIS = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}

# KServe's "first InferenceService" (getting-started/predictive-first-isvc.md), storageUri local
SKLEARN = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "sklearn-iris"
  namespace: kserve-test
spec:
  predictor:
    model:
      modelFormat:
        name: sklearn
      storageUri: "{uri}"
      resources:
        requests:
          cpu: "100m"
          memory: "512Mi"
        limits:
          cpu: "1"
          memory: "1Gi"
"""

# KServe's S3 credentials (model-serving/storage/s3): a Secret annotated with the endpoint, and a
# ServiceAccount that lists it
S3_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: s3creds
  annotations:
    serving.kserve.io/s3-endpoint: "{endpoint}"
    serving.kserve.io/s3-usehttps: "0"
    serving.kserve.io/s3-region: "us-east-1"
type: Opaque
stringData:
  AWS_ACCESS_KEY_ID: "{key}"
  AWS_SECRET_ACCESS_KEY: "{secret}"
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
secrets:
- name: s3creds
"""

# KServe's XGBoost page (REST, Open Inference Protocol), reading the bucket through that account
XGBOOST = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "xgboost-iris"
spec:
  predictor:
    serviceAccountName: sa
    model:
      modelFormat:
        name: xgboost
      protocolVersion: v2
      runtime: kserve-xgbserver
      storageUri: "s3://models/xgboost/iris"
"""

# the same with the credentials as the container's env, the key wrong
XGBOOST_BAD_KEY = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "xgboost-badkey"
spec:
  predictor:
    model:
      modelFormat:
        name: xgboost
      storageUri: "s3://models/xgboost/iris"
      env:
      - {{name: AWS_ENDPOINT_URL, value: "{endpoint}"}}
      - {{name: AWS_ACCESS_KEY_ID, value: "AKIAWRONGWRONGWRONG1"}}
      - {{name: AWS_SECRET_ACCESS_KEY, value: "{secret}"}}
"""

# KServe's LightGBM page (V1)
LIGHTGBM = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "lightgbm-iris"
spec:
  predictor:
    model:
      modelFormat:
        name: lightgbm
      storageUri: "{uri}"
"""

# KServe's huggingface form, a GGUF file over http (tidal's huggingface runtime serves GGUF on CPU)
HUGGINGFACE = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "tiny-llm"
spec:
  predictor:
    model:
      modelFormat:
        name: huggingface
      args:
      - --max_model_len=128
      - --dtype=float16
      storageUri: "{uri}"
"""

ONNX = """\
apiVersion: "serving.kserve.io/v1beta1"
kind: "InferenceService"
metadata:
  name: "onnx-model"
spec:
  predictor:
    model:
      modelFormat:
        name: onnx
      storageUri: "file:///nowhere"
"""


@dataclass
class Session:
    home: Path
    env: dict[str, str]
    ingress: int
    files: Path
    s3: S3
    http: str
    sklearn_dir: Path

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["kubectl", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def apply(self, name: str, text: str) -> str:
        path = self.files / name
        path.write_text(text)
        return self.kubectl("apply", "-f", str(path))

    def tidal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TIDAL, *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def ready(self, name: str, ns: str = "default") -> bool:
        path = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
        return self.kubectl("-n", ns, "get", "isvc", name, "-o", path) == "True"

    def wait_ready(self, name: str, ns: str = "default") -> None:
        def check() -> bool:
            return self.ready(name, ns)

        try:
            wait_until(check, 240, 0.5, what=f"InferenceService {ns}/{name} Ready")
        except AssertionError:
            detail = self.kubectl("-n", ns, "describe", "isvc", name)
            detail += self.kubectl("get", "pods", "-A", "-o", "wide")
            detail += self.kubectl("-n", ns, "describe", "pods")
            detail += self.kubectl("get", "events", "-A")
            detail += (self.home / "plane.log").read_text(errors="replace")[-4000:]
            raise AssertionError(detail) from None

    def post(self, name: str, path: str, body: object, ns: str = "default") -> httpx.Response:
        host = json.loads(self.kubectl("-n", ns, "get", "isvc", name, "-o", "json"))["status"][
            "url"
        ]
        return httpx.post(
            f"http://127.0.0.1:{self.ingress}{path}",
            json=body,
            headers={"Host": host.split("/")[2]},
            timeout=30,
        )


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    tmp = tmp_path_factory.mktemp("kserve-forms")
    home, user, files, www = tmp / "home", tmp / "user", tmp / "files", tmp / "www"
    for d in (user, files, www):
        d.mkdir()
    sklearn_dir = train_iris(tmp / "sklearn")
    xgb_dir = train_xgboost(tmp / "xgb")
    lgb_dir = train_lightgbm(tmp / "lgb")
    from tests.runtimes.llm import tiny_gguf

    tiny_gguf.write(www / "tiny.gguf")
    with tarfile.open(www / "lightgbm-iris.tgz", "w:gz") as t:
        t.add(lgb_dir / "model.bst", arcname="model.bst")
    env = user_env(home, user, TIDAL_STORAGE_CACHE=str(tmp / "cache"))
    with s3_server(tmp / "moto.log") as s3, http_server(www) as http:
        s3.upload("models", "xgboost/iris", xgb_dir)
        s = Session(home, env, free_port(), files, s3, http, sklearn_dir)
        try:
            up = s.tidal("up", "--ingress-port", str(s.ingress))
            assert up.returncode == 0, up.stderr + (home / "plane.log").read_text(errors="replace")
            yield s
        finally:
            stop_plane(home)
            # a `tidal down` that ran out of time leaves pods serving (as a killed plane does)
            for pids in pod_processes(home).values():
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_cluster_serving_runtimes_are_listed(session: Session) -> None:
    out = session.kubectl("get", "clusterservingruntimes")
    lines = out.splitlines()
    header = lines[0]
    assert header.split() == ["NAME", "DISABLED", "MODELTYPE", "CONTAINERS", "AGE"]
    starts = [header.index(h) for h in header.split()] + [None]

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in zip(starts, starts[1:], strict=False)]

    rows = {cells(line)[0]: cells(line)[1:] for line in lines[1:]}
    # DISABLED is blank when unset, as kubectl prints a CRD column with no value
    assert rows["kserve-sklearnserver"][:3] == ["", "sklearn", "kserve-container"]
    assert rows["kserve-xgbserver"][1] == "xgboost"
    assert rows["kserve-lgbserver"][1] == "lightgbm"
    assert rows["kserve-huggingfaceserver"][1] == "huggingface"


def test_kserves_first_examples_answer_their_documented_requests(session: Session) -> None:
    s = session
    s.kubectl("create", "namespace", "kserve-test")
    s.apply("sklearn.yaml", SKLEARN.format(uri=f"file://{s.sklearn_dir}"))
    host = s.s3.endpoint.removeprefix("http://")
    s.apply(
        "s3-secret.yaml",
        S3_SECRET.format(endpoint=host, key=s.s3.access_key, secret=s.s3.secret_key),
    )
    s.apply("xgboost.yaml", XGBOOST)
    s.apply("lightgbm.yaml", LIGHTGBM.format(uri=f"{s.http}/lightgbm-iris.tgz"))

    s.wait_ready("sklearn-iris", "kserve-test")
    r = s.post("sklearn-iris", "/v1/models/sklearn-iris:predict", IRIS, "kserve-test")
    assert (r.status_code, r.json()) == (200, {"predictions": [1, 1]})

    s.wait_ready("xgboost-iris")
    v2 = {
        "inputs": [
            {"name": "input-0", "shape": [2, 4], "datatype": "FP32", "data": IRIS["instances"]}
        ]
    }
    r = s.post("xgboost-iris", "/v2/models/xgboost-iris/infer", v2)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == [1.0, 1.0]  # the docs' expected output

    s.wait_ready("lightgbm-iris")
    docs = {
        "inputs": [
            {
                "sepal_length_(cm)": [5.1],
                "sepal_width_(cm)": [3.5],
                "petal_length_(cm)": [1.4],
                "petal_width_(cm)": [0.2],
            }
        ]
    }
    r = s.post("lightgbm-iris", "/v1/models/lightgbm-iris:predict", docs)
    assert r.status_code == 200, r.text
    probs = r.json()["predictions"][0]
    assert (
        len(probs) == 3 and probs.index(max(probs)) == 0
    )  # setosa, as the docs' [[0.9, 0.05, 0.05]]

    pod = json.loads(s.kubectl("get", "deploy", "xgboost-iris-predictor", "-o", "json"))
    env = pod["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "AWS_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "s3creds", "key": "AWS_ACCESS_KEY_ID"}},
    } in env
    assert {"name": "AWS_ENDPOINT_URL", "value": s.s3.endpoint} in env
    status = json.loads(s.kubectl("get", "isvc", "xgboost-iris", "-o", "json"))["status"]
    assert status["clusterServingRuntimeName"] == "kserve-xgbserver"
    assert status["modelStatus"]["states"]["activeModelState"] == "Loaded"
    logs = s.kubectl("logs", "deploy/xgboost-iris-predictor")
    assert "storage-initializer: downloading s3://models/xgboost/iris" in logs


def test_wrong_s3_key_shows_in_describe_and_pod_events(session: Session) -> None:
    s = session
    s.apply(
        "xgboost-badkey.yaml",
        XGBOOST_BAD_KEY.format(endpoint=s.s3.endpoint, secret=s.s3.secret_key),
    )
    expected = (
        "error: failed to fetch s3://models/xgboost/iris: S3 error InvalidAccessKeyId from "
        f"{s.s3.endpoint}: The AWS Access Key Id you provided does not exist in our records."
    )

    def described() -> str:
        out = s.kubectl("describe", "isvc", "xgboost-badkey")
        return out if expected in out else ""

    out = wait_until(described, 180, 0.5, what="the S3 error in describe isvc")
    assert "ModelLoadFailed" in out and "BlockedByFailedLoad" in out
    pods = s.kubectl(
        "get", "pods", "-l", "serving.kserve.io/inferenceservice=xgboost-badkey", "-o", "name"
    ).split()
    assert pods
    pod_out = s.kubectl("describe", pods[0])
    assert "ModelLoadFailed" in pod_out and "InvalidAccessKeyId" in pod_out
    s.kubectl("delete", "isvc", "xgboost-badkey")


def test_a_format_no_runtime_serves_gets_kserves_error(session: Session) -> None:
    s = session
    s.apply("onnx.yaml", ONNX)
    text = "no runtime found to support predictor with model type: {onnx <nil>}"

    def described() -> str:
        out = s.kubectl("describe", "isvc", "onnx-model")
        return out if text in out else ""

    out = wait_until(described, 60, 0.3, what="KServe's error in describe isvc")
    assert "NoSupportingRuntime" in out and "InternalError" in out
    s.kubectl("delete", "isvc", "onnx-model")


def test_arena_serve_kserve_with_a_storage_uri(session: Session) -> None:
    s = session
    done = s.tidal(
        "serve", "kserve", "--name=xgb-arena", "--model-format=xgboost",
        "--storage-uri=s3://models/xgboost/iris",
        f"--env=AWS_ENDPOINT_URL={s.s3.endpoint}",
        f"--env=AWS_ACCESS_KEY_ID={s.s3.access_key}",
        f"--env=AWS_SECRET_ACCESS_KEY={s.s3.secret_key}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    s.wait_ready("xgb-arena")
    r = s.post("xgb-arena", "/v1/models/xgb-arena:predict", IRIS)
    assert (r.status_code, r.json()) == (200, {"predictions": [1.0, 1.0]})
    bad = s.tidal(
        "serve", "kserve", "--name=xgb-gs", "--model-format=xgboost", "--storage-uri=gs://b/m"
    )
    assert (
        bad.returncode != 0
        and "--storage-uri: failed to fetch gs://b/m: scheme gs://" in bad.stderr
    )


@pytest.mark.llm
def test_huggingface_format_runs_the_gguf_llm_runtime(session: Session) -> None:
    pytest.importorskip("llama_cpp", reason="run `make llm`")
    s = session
    s.apply("huggingface.yaml", HUGGINGFACE.format(uri=f"{s.http}/tiny.gguf"))
    s.wait_ready("tiny-llm")
    body = {"model": "tiny-llm", "prompt": "hello", "max_tokens": 3, "temperature": 0}
    r = s.post("tiny-llm", "/v1/completions", body)
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "tiny-llm" and r.json()["usage"]["completion_tokens"] >= 1
    logs = s.kubectl("logs", "deploy/tiny-llm-predictor")
    assert "unused by this engine (llama.cpp on CPU): --dtype" in logs
    s.kubectl("delete", "isvc", "tiny-llm")
