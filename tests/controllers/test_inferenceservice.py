"""Tables for the InferenceService renderings (KServe RawDeployment + arena) and its validation."""

from __future__ import annotations

import copy

import pytest

from tidal.kserve.render import (
    HOSTS_ANNOTATION,
    render_custom_metric_hpa,
    render_deployment,
    render_hpa,
    render_service,
)
from tidal.kserve.status import render_status
from tidal.validation.inferenceservice import default, validate

ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {
        "name": "sklearn-iris",
        "namespace": "default",
        "uid": "isvc-uid",
        "labels": {"servingName": "sklearn-iris", "servingType": "kserve"},
        "annotations": {
            "serving.kserve.io/deploymentMode": "RawDeployment",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        },
    },
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "maxReplicas": 10,
            "scaleMetric": "cpu",
            "scaleTarget": 10,
            "containers": [
                {
                    "name": "kserve-container",
                    "image": "img",
                    "command": ["sh", "-c", "python -m sklearnserver --http_port=8080"],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
                }
            ],
        }
    },
}


def isvc(**predictor: object) -> dict:
    o = copy.deepcopy(ISVC)
    for k, v in predictor.items():
        if v is None:
            o["spec"]["predictor"].pop(k, None)
        else:
            o["spec"]["predictor"][k] = v
    return o


def with_annotation(o: dict, k: str, v: str) -> dict:
    o["metadata"]["annotations"][k] = v
    return o


def test_deployment_names_labels_selector() -> None:
    d = render_deployment(ISVC, python="python")
    assert d["metadata"]["name"] == "sklearn-iris-predictor"
    assert d["metadata"]["labels"] == {
        "servingName": "sklearn-iris",
        "servingType": "kserve",
        "app": "isvc.sklearn-iris-predictor",
        "component": "predictor",
        "serving.kserve.io/inferenceservice": "sklearn-iris",
    }
    assert "kubectl.kubernetes.io/last-applied-configuration" not in d["metadata"]["annotations"]
    assert d["spec"]["selector"] == {"matchLabels": {"app": "isvc.sklearn-iris-predictor"}}
    assert d["spec"]["replicas"] == 1
    assert d["metadata"]["ownerReferences"][0]["uid"] == "isvc-uid"
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][-1] == "python -m sklearnserver --http_port=8080"


def test_model_format_predictor_runs_the_selected_runtime() -> None:
    from tidal.kserve.runtimes import builtin_runtimes, select_runtime

    o = isvc(containers=None, model={"modelFormat": {"name": "sklearn"}, "storageUri": "file:///m"})
    runtime = select_runtime(o, [], builtin_runtimes())
    c = render_deployment(o, runtime, python="py")["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["py", "-m", "sklearnserver"]
    assert c["args"] == ["--model_name=sklearn-iris", "--model_dir=/m", "--http_port=8080"]
    assert render_deployment(o, None, python="py") is None  # no runtime: no Deployment


def test_service_hosts_and_ports() -> None:
    s = render_service(ISVC, "example.com")
    assert s["metadata"]["name"] == "sklearn-iris-predictor"
    assert (
        s["metadata"]["annotations"][HOSTS_ANNOTATION]
        == "sklearn-iris-default.example.com,sklearn-iris.default.example.com"
    )
    assert s["spec"]["ports"][0]["port"] == 80 and s["spec"]["ports"][0]["targetPort"] == 8080
    assert s["spec"]["selector"] == {"app": "isvc.sklearn-iris-predictor"}


def cpu(n: int) -> list[dict]:
    return [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": n}},
        }
    ]


HPAS = {
    "seed: cpu 10, 1..10": (ISVC, (1, 10, cpu(10))),
    "no metric: cpu 80, max=min": (
        isvc(scaleMetric=None, scaleTarget=None, maxReplicas=None),
        (1, 1, cpu(80)),
    ),
    "min 0 raised to 1": (isvc(minReplicas=0, scaleMetric="cpu"), (1, 10, cpu(10))),
    "memory with target": (
        isvc(scaleMetric="memory", scaleTarget=60),
        (
            1,
            10,
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 60},
                    },
                }
            ],
        ),
    ),
    "class external: none": (
        with_annotation(isvc(), "serving.kserve.io/autoscalerClass", "external"),
        None,
    ),
    "concurrency goes to the KPA": (isvc(scaleMetric="concurrency"), None),
    "serverless goes to the KPA": (
        with_annotation(isvc(), "serving.kserve.io/deploymentMode", "Serverless"),
        None,
    ),
}


@pytest.mark.parametrize(("obj", "expected"), list(HPAS.values()), ids=list(HPAS))
def test_render_hpa(obj: dict, expected: tuple | None) -> None:
    h = render_hpa(obj)
    if expected is None:
        assert h is None
        return
    assert h is not None
    assert h["metadata"]["name"] == "sklearn-iris-predictor"
    assert h["metadata"]["labels"]["app"] == "isvc.sklearn-iris-predictor"
    assert h["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "RawDeployment"}
    assert h["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "sklearn-iris-predictor",
    }
    spec = h["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["metrics"]) == expected


def test_custom_metric_hpa_as_arena() -> None:
    h = render_custom_metric_hpa("qwen", "default", "DCGM_CUSTOM_PROCESS_SM_UTIL", 50, 1, 2)
    assert h["metadata"] == {"name": "qwen-hpa", "namespace": "default"}
    assert h["spec"]["scaleTargetRef"]["name"] == "qwen-predictor"
    assert h["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "DCGM_CUSTOM_PROCESS_SM_UTIL"},
                "target": {"type": "Utilization", "averageValue": "50"},
            },
        }
    ]


def test_status_url_and_conditions() -> None:
    dep = {"spec": {"replicas": 1}, "status": {"availableReplicas": 0, "conditions": []}}
    st = render_status(ISVC, dep, {"x": 1}, "example.com")
    assert st["url"] == "http://sklearn-iris-default.example.com"
    assert st["address"]["url"] == "http://sklearn-iris-predictor.default.svc.cluster.local"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"IngressReady": "True", "PredictorReady": "False", "Ready": "False"}
    dep["status"] = {"availableReplicas": 1}
    conds = {c["type"]: c["status"] for c in render_status(ISVC, dep, {}, "d")["conditions"]}
    assert conds["Ready"] == "True"


def bad(**kw: object) -> dict:
    o = isvc(**{k: v for k, v in kw.items() if k != "name"})
    if "name" in kw:
        o["metadata"]["name"] = kw["name"]
    return o


INVALID = {
    "bad name": (bad(name="Bad_Name"), "metadata.name", "must start with alphabetical"),
    "name starting with a digit": (bad(name="1abc"), "metadata.name", "regex used"),
    "name too long": (bad(name="a" * 54), "metadata.name", "no more than 53 characters"),
    "negative min": (bad(minReplicas=-1), "spec.predictor.minReplicas", "cannot be less than 0"),
    "min > max": (
        bad(minReplicas=5, maxReplicas=2),
        "spec.predictor.minReplicas",
        "'MinReplicas' cannot be greater than MaxReplicas.",
    ),
    "unknown metric": (
        bad(scaleMetric="foo"),
        "spec.predictor.scaleMetric",
        'Unsupported value: "foo": supported values: "cpu", "memory", "concurrency", "rps"',
    ),
    "cpu target over 100": (
        bad(scaleTarget=150),
        "spec.predictor.scaleTarget",
        "the target utilization percentage should be a [1-100] integer",
    ),
    "no predictor implementation": (
        bad(containers=None),
        "spec.predictor",
        "exactly one of [model, containers, sklearn]",
    ),
}


@pytest.mark.parametrize(("obj", "field", "text"), list(INVALID.values()), ids=list(INVALID))
def test_validate_rejects(obj: dict, field: str, text: str) -> None:
    causes = validate(obj)
    assert any(c.field == field and text in c.message for c in causes), causes


def test_bad_quantity_is_named() -> None:
    o = isvc()
    o["spec"]["predictor"]["containers"][0]["resources"]["requests"]["memory"] = "abc"
    causes = validate(o)
    assert [c.field for c in causes] == ["spec.predictor.containers[0].resources.requests.memory"]


def test_valid_and_default() -> None:
    o = isvc()
    del o["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
    assert validate(default(o)) == []
    assert o["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"


def test_deployment_mode_cannot_change() -> None:
    new = with_annotation(isvc(), "serving.kserve.io/deploymentMode", "Serverless")
    assert any("cannot be changed" in c.message for c in validate(new, old=ISVC))


def test_kpa_gets_a_podautoscaler_not_an_hpa() -> None:
    from tidal.controllers.inferenceservice import render_podautoscaler

    o = isvc(minReplicas=0, scaleMetric="concurrency", scaleTarget=2)
    assert render_hpa(o) is None
    pa = render_podautoscaler(o)
    assert pa is not None and pa["kind"] == "PodAutoscaler"
    assert pa["metadata"]["name"] == "sklearn-iris-predictor"
    assert pa["spec"]["scaleTargetRef"]["name"] == "sklearn-iris-predictor"
    assert render_podautoscaler(ISVC) is None
    assert render_deployment(o, python="p")["spec"]["replicas"] == 1  # Knative's initial scale


def test_data_mount_is_localized_in_the_command() -> None:
    from tidal.kserve.render import localize_mounts

    c = {
        "command": ["sh", "-c", "serve --model /mnt/models/Qwen --x=/mnt/models2 /mnt/modelsX"],
        "env": [{"name": "M", "value": "/mnt/models"}],
        "volumeMounts": [{"name": "data-0", "mountPath": "/mnt/models"}],
    }
    got = localize_mounts(c, [{"name": "data-0", "hostPath": {"path": "/home/u/llm"}}])
    assert got["command"][2] == "serve --model /home/u/llm/Qwen --x=/mnt/models2 /mnt/modelsX"
    assert got["env"][0]["value"] == "/home/u/llm"
    assert got["volumeMounts"] == c["volumeMounts"]
