"""`serve kserve` flags → objects and messages (arena's), and `serve get`/`list` layouts."""

from __future__ import annotations

import pytest

from tidal.cli.arena import (
    ArgsError,
    KServeArgs,
    build,
    format_serve_get,
    format_serve_list,
    logrus_info,
)

SEED_CMD = (
    "python -m sklearnserver --model_name=sklearn-iris --model_dir=/models --http_port=8080",
)


def seed(**kw: object) -> KServeArgs:
    base = dict(
        name="sklearn-iris",
        image="kube-ai-registry.cn-shanghai.cr.aliyuncs.com/ai-sample/kserve-sklearn-server:v0.12.0",
        cpu="1",
        memory="200Mi",
        scale_metric="cpu",
        scale_target=10,
        min_replicas=1,
        max_replicas=10,
        command=SEED_CMD,
        username="admin",
    )
    base.update(kw)
    return KServeArgs(**base)  # type: ignore[arg-type]


def test_seed_command_renders_kserve_isvc() -> None:
    [isvc] = build(seed())
    meta = isvc["metadata"]
    assert meta["name"] == "sklearn-iris" and meta["namespace"] == "default"
    assert meta["labels"]["servingName"] == "sklearn-iris"
    assert meta["labels"]["servingType"] == "kserve"
    assert meta["labels"]["release"] == "sklearn-iris"
    assert meta["labels"]["heritage"] == "Helm"
    assert meta["labels"]["chart"] == "kserve-0.1.0"
    assert len(meta["labels"]["arena.kubeflow.org/uid"]) == 32
    assert meta["annotations"] == {"arena.kubeflow.org/username": "admin"}
    p = isvc["spec"]["predictor"]
    assert (p["minReplicas"], p["maxReplicas"], p["scaleMetric"], p["scaleTarget"]) == (
        1,
        10,
        "cpu",
        10,
    )
    c = p["containers"][0]
    assert c["name"] == "kserve-container"
    assert c["command"] == ["sh", "-c", SEED_CMD[0]]
    assert c["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert c["resources"] == {
        "requests": {"cpu": "1", "memory": "200Mi"},
        "limits": {"cpu": "1", "memory": "200Mi"},
    }


def test_custom_metric_makes_separate_hpa() -> None:
    isvc, hpa = build(
        seed(
            name="qwen", scale_metric="DCGM_CUSTOM_PROCESS_SM_UTIL", scale_target=50, max_replicas=2
        )
    )
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "external"
    assert "scaleMetric" not in isvc["spec"]["predictor"]
    assert "minReplicas" not in isvc["spec"]["predictor"]
    assert hpa["metadata"]["name"] == "qwen-hpa"
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "DCGM_CUSTOM_PROCESS_SM_UTIL"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 2)


def test_env_gpus_data_labels() -> None:
    [isvc] = build(
        seed(
            env=["A=1", "broken", "B=x=y"],
            gpus=1,
            data=["/host/models:/mnt/models"],
            label=["team=ml"],
            annotation=["note=hi"],
        )
    )
    c = isvc["spec"]["predictor"]["containers"][0]
    assert c["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "x=y"}]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["volumeMounts"] == [{"name": "data-0", "mountPath": "/mnt/models"}]
    assert isvc["spec"]["predictor"]["volumes"][0]["hostPath"]["path"] == "/host/models"
    assert isvc["metadata"]["labels"]["team"] == "ml"
    assert isvc["metadata"]["annotations"]["note"] == "hi"


BAD = {
    "no name": (seed(name=None), 'required flag(s) "name" not set'),
    "bad name": (seed(name="Bad_Name"), '--name: Invalid value: "Bad_Name"'),
    "bad memory": (seed(memory="abc"), "--memory is invalid"),
    "bad cpu": (seed(cpu="lots"), "--cpu is invalid"),
    "negative cpu": (seed(cpu="-1"), "--cpu is invalid: must be greater than or equal to 0"),
    "negative gpus": (seed(gpus=-1), "--gpus is invalid"),
    "no command, no image": (
        seed(image="", command=()),
        "model format and image can not be empty at the same time",
    ),
    "no command": (seed(command=()), "a command is required"),
    "bad data": (seed(data=["nodst"]), "dataset nodst has incorrect format"),
    "model format": (seed(model_format="a:b:c"), "model format is invalid: a:b:c"),
    "min > max": (seed(min_replicas=5, max_replicas=2), "--min-replicas: Invalid value: 5"),
    "negative min": (seed(min_replicas=-1), "MinReplicas cannot be less than 0."),
    "target out of range": (seed(scale_target=500), "--scale-target: Invalid value: 500"),
}


@pytest.mark.parametrize(("args", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_flags(args: KServeArgs, message: str) -> None:
    with pytest.raises(ArgsError) as err:
        build(args)
    assert message in str(err.value)


def test_logrus_line() -> None:
    assert logrus_info(2.5, "The Job sklearn-iris has been submitted successfully") == (
        "INFO[0002] The Job sklearn-iris has been submitted successfully "
    )
    assert logrus_info(0, "short") == "INFO[0000] " + "short".ljust(44) + " "


ISVC = {
    "metadata": {
        "name": "sklearn-iris",
        "namespace": "default",
        "creationTimestamp": "2024-05-12T14:00:00Z",
    },
    "status": {"url": "http://sklearn-iris-default.example.com"},
}
T0 = 1715522400.0  # 2024-05-12T14:00:00Z


def test_serve_get_layout() -> None:
    dep = {"status": {"replicas": 1, "availableReplicas": 1}}
    pod = {
        "metadata": {
            "name": "sklearn-iris-predictor-7b4677c6b7-8cr84",
            "creationTimestamp": "2024-05-12T14:00:00Z",
        },
        "spec": {"nodeName": "tidal-node", "containers": [{"name": "kserve-container"}]},
        "status": {"phase": "Running", "containerStatuses": [{"ready": True, "restartCount": 0}]},
    }
    got = format_serve_get(ISVC, [dep], [pod], T0 + 180)
    assert got == (
        "Name:       sklearn-iris\n"
        "Namespace:  default\n"
        "Type:       KServe\n"
        "Version:    \n"
        "Desired:    1\n"
        "Available:  1\n"
        "Age:        3m\n"
        "Address:    http://sklearn-iris-default.example.com\n"
        "Port:       :80\n"
        "\n"
        "\n"
        "Instances:\n"
        "  NAME                                     STATUS   AGE  READY  RESTARTS  NODE\n"
        "  ----                                     ------   ---  -----  --------  ----\n"
        "  sklearn-iris-predictor-7b4677c6b7-8cr84  Running  3m   1/1    0         tidal-node\n"
        "\n"
    )


def test_serve_list_layout() -> None:
    got = format_serve_list(
        [ISVC], {"sklearn-iris": [{"status": {"replicas": 2, "availableReplicas": 1}}]}
    )
    assert got.splitlines() == [
        "NAME          TYPE    VERSION  DESIRED  AVAILABLE  ADDRESS                                  PORTS",
        "sklearn-iris  KServe           2        1          http://sklearn-iris-default.example.com  :80",
    ]
