"""Tables for the predictor container on a serving runtime (merge, placeholders, /mnt/models, the
storage step) and KServe's status for a missing runtime or a model that fails to load."""

from __future__ import annotations

import pytest

from tidal.kserve.container import merge_containers, predictor_container
from tidal.kserve.render import render_deployment
from tidal.kserve.runtimes import builtin_runtimes, select_runtime
from tidal.kserve.status import model_failure, render_status

RUNTIMES = builtin_runtimes()


def isvc(fmt: str, uri: str | None, **extra: object) -> dict:
    model: dict = {"modelFormat": {"name": fmt}, **extra}
    if uri is not None:
        model["storageUri"] = uri
    return {
        "metadata": {"name": "iris", "namespace": "team"},
        "spec": {"predictor": {"model": model}},
    }


# (case, storageUri, expected command, expected --model_dir)
STORAGE = [
    ("file://", "file:///srv/m", ["py", "-m", "xgbserver"], "/srv/m"),
    ("plain path", "/srv/m", ["py", "-m", "xgbserver"], "/srv/m"),
    ("pvc://", "pvc:///srv/claims/m", ["py", "-m", "xgbserver"], "/srv/claims/m"),
    (
        "http",
        "http://127.0.0.1:9/m.tgz",
        [
            "py", "-m", "tidal.storage", "http://127.0.0.1:9/m.tgz",
            "$(TIDAL_POD_DIR)/mnt/models", "--", "py", "-m", "xgbserver",
        ],
        "$(TIDAL_POD_DIR)/mnt/models",
    ),
    (
        "s3",
        "s3://bucket/iris",
        [
            "py", "-m", "tidal.storage", "s3://bucket/iris",
            "$(TIDAL_POD_DIR)/mnt/models", "--", "py", "-m", "xgbserver",
        ],
        "$(TIDAL_POD_DIR)/mnt/models",
    ),
    ("no storageUri: KServe's mount", None, ["py", "-m", "xgbserver"], "/mnt/models"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "uri", "command", "model_dir"), STORAGE, ids=[s[0] for s in STORAGE]
)
def test_storage_uri_maps_the_model_folder(
    case: str, uri: str, command: list, model_dir: str
) -> None:
    obj = isvc("xgboost", uri)
    c = predictor_container(obj, select_runtime(obj, [], RUNTIMES), python="py")
    assert c is not None
    assert c["command"] == command
    assert c["args"] == [
        "--model_name=iris",
        f"--model_dir={model_dir}",
        "--http_port=8080",
        "--nthread=1",
    ]
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_model_fields_merge_over_the_runtime() -> None:
    runtime = {
        "name": "kserve-container",
        "args": ["--a={{.Namespace}}"],
        "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
        "resources": {"limits": {"cpu": "1", "memory": "2Gi"}},
    }
    model = {
        "args": ["--b"],
        "env": [{"name": "Y", "value": "3"}],
        "resources": {"limits": {"cpu": "2"}},
        "modelFormat": {"name": "x"},
        "storageUri": "file:///m",
    }
    got = merge_containers(runtime, model)
    assert got["args"] == ["--a={{.Namespace}}", "--b"]  # appended, as KServe
    assert got["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}]
    assert got["resources"] == {"limits": {"cpu": "2", "memory": "2Gi"}}
    assert "modelFormat" not in got and "storageUri" not in got
    obj = {"metadata": {"name": "n", "namespace": "team"}, "spec": {"predictor": {"model": model}}}
    from tidal.kserve.runtimes import Selected

    c = predictor_container(obj, Selected("r", True, {"containers": [runtime]}), python="py")
    assert c is not None and c["args"][0] == "--a=team"


def test_runtime_annotations_reach_the_pods() -> None:
    obj = isvc("sklearn", "file:///m")
    d = render_deployment(obj, select_runtime(obj, [], RUNTIMES), python="py")
    assert d is not None
    ann = d["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.kserve.io/path"] == "/metrics"


def pod(name: str, *, ready: bool = False, exit_code: int | None = None, message: str = "") -> dict:
    cs: dict = {"name": "kserve-container", "ready": ready, "state": {}}
    if exit_code is not None:
        cs["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
        cs["lastState"] = {"terminated": {"exitCode": exit_code, "message": message}}
    return {"metadata": {"name": name}, "status": {"containerStatuses": [cs]}}


FAILURES = [
    ("no pods", [], None),
    ("starting", [pod("p1")], None),
    (
        "storage step failed",
        [pod("p1", exit_code=1, message="storage-initializer: x\nerror: failed to fetch s3://b/m: S3 error InvalidAccessKeyId")],
        {
            "location": "p1",
            "reason": "ModelLoadFailed",
            "message": "error: failed to fetch s3://b/m: S3 error InvalidAccessKeyId",
            "exitCode": 1,
        },
    ),
    (
        "no message",
        [pod("p2", exit_code=2)],
        {
            "location": "p2",
            "reason": "ModelLoadFailed",
            "message": "container kserve-container exited with code 2",
            "exitCode": 2,
        },
    ),
    ("one pod ready: no failure", [pod("p1", exit_code=1, message="e"), pod("p2", ready=True)], None),
]  # fmt: skip


@pytest.mark.parametrize(("case", "pods", "expected"), FAILURES, ids=[f[0] for f in FAILURES])
def test_model_failure(case: str, pods: list, expected: dict | None) -> None:
    assert model_failure(pods) == expected


def test_status_without_runtime_is_kserves() -> None:
    obj = isvc("onnx", "file:///m")
    runtime = select_runtime(obj, [], RUNTIMES)
    st = render_status(obj, None, {"kind": "Service"}, "example.com", runtime, [])
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "NoSupportingRuntime"
    assert ready["message"] == "no runtime found to support predictor with model type: {onnx <nil>}"
    assert st["modelStatus"] == {
        "transitionStatus": "InvalidSpec",
        "lastFailureInfo": {
            "reason": "NoSupportingRuntime",
            "message": "No runtime found to support specified framework/version",
        },
    }


def test_status_names_the_runtime_and_the_load_failure() -> None:
    obj = isvc("xgboost", "s3://b/m")
    runtime = select_runtime(obj, [], RUNTIMES)
    dep = {"spec": {"replicas": 1}, "status": {}}
    failing = [pod("p1", exit_code=1, message="error: failed to fetch s3://b/m: denied")]
    st = render_status(obj, dep, {"x": 1}, "example.com", runtime, failing)
    assert st["clusterServingRuntimeName"] == "kserve-xgbserver"
    assert st["modelStatus"]["transitionStatus"] == "BlockedByFailedLoad"
    assert (
        st["modelStatus"]["lastFailureInfo"]["message"] == "error: failed to fetch s3://b/m: denied"
    )
    ready = next(c for c in st["conditions"] if c["type"] == "PredictorReady")
    assert (ready["reason"], ready["message"]) == (
        "ModelLoadFailed",
        "error: failed to fetch s3://b/m: denied",
    )
    ok_dep = {"spec": {"replicas": 1}, "status": {"availableReplicas": 1}}
    st = render_status(obj, ok_dep, {"x": 1}, "example.com", runtime, [pod("p1", ready=True)])
    assert st["modelStatus"]["states"]["activeModelState"] == "Loaded"
