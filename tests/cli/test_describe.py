"""The describers against layouts the seed and kubectl print."""

from __future__ import annotations

from tests.seed_outputs import SEED_CRONHPA
from tidal.cli.describe import describer_for
from tidal.cli.describe.common import describe_generic, smart_label
from tidal.cli.describe.pod import describe as describe_pod

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen-cronhpa-predictor"}


def cond(job_id: str, name: str, schedule: str, size: int) -> dict:
    return {
        "jobId": job_id,
        "lastProbeTime": "2024-05-12T14:06:49Z",
        "message": "",
        "name": name,
        "runOnce": False,
        "schedule": schedule,
        "state": "Submitted",
        "targetSize": size,
    }


CRONHPA = {
    "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
    "kind": "CronHorizontalPodAutoscaler",
    "metadata": {
        "name": "qwen-cronhpa",
        "namespace": "default",
        "creationTimestamp": "2024-05-12T14:06:49Z",
        "generation": 2,
        "resourceVersion": "9205625",
        "uid": "b9e72da7-262e-4042-b7f8-26586b75ecac",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
    },
    "spec": {
        "jobs": [
            {"name": "scale-down", "schedule": "0 0 12 * * *", "targetSize": 1},
            {"name": "scale-up", "schedule": "0 30 10 * * *", "targetSize": 2},
        ],
        "scaleTargetRef": REF,
    },
    "status": {
        "conditions": [
            cond("3972f7cc-bab0-482e-8cbe-7c41661b07f5", "scale-down", "0 0 12 * * *", 1),
            cond("36a04605-0233-4420-967c-ac2615f43de6", "scale-up", "0 30 10 * * *", 2),
        ],
        "scaleTargetRef": REF,
    },
}


def test_generic_describer_prints_the_seed_cronhpa() -> None:
    assert describe_generic(CRONHPA, [], 0.0) == SEED_CRONHPA


def test_smart_labels() -> None:
    assert [smart_label(x) for x in ("apiVersion", "jobId", "uid", "lastProbeTime", "url")] == [
        "API Version",
        "Job Id",
        "UID",
        "Last Probe Time",
        "URL",
    ]


def test_dispatch_falls_back_to_generic() -> None:
    assert describer_for("Endpoints").__module__ == "tidal.cli.describe.generic"
    assert describer_for("Pod") is describe_pod


def test_pod_shows_why_it_restarted() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default", "labels": {"app": "a"}},
        "spec": {
            "nodeName": "tidal-node",
            "containers": [
                {"name": "kserve-container", "image": "img", "command": ["sh", "-c", "x"]}
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.1.0.2",
            "containerStatuses": [
                {
                    "name": "kserve-container",
                    "ready": True,
                    "restartCount": 1,
                    "state": {"running": {"startedAt": "2024-05-12T14:06:49Z"}},
                    "lastState": {
                        "terminated": {
                            "reason": "Error",
                            "exitCode": 137,
                            "startedAt": "2024-05-12T14:00:00Z",
                            "finishedAt": "2024-05-12T14:06:48Z",
                        }
                    },
                }
            ],
        },
    }
    events = [
        {
            "type": "Normal",
            "reason": "Started",
            "message": "Started container kserve-container",
            "source": {"component": "kubelet"},
            "firstTimestamp": "2024-05-12T14:00:00Z",
            "lastTimestamp": "2024-05-12T14:06:49Z",
            "count": 2,
        }
    ]
    now = 1715523109.0 + 60  # 2024-05-12T14:11:49Z + 1 min
    text = describe_pod(pod, events, now)
    lines = text.splitlines()
    assert "Node:             tidal-node/127.0.0.1" in lines
    assert "    Last State:     Terminated" in lines
    assert "      Reason:       Error" in lines
    assert "      Exit Code:    137" in lines
    assert "    Restart Count:  1" in lines
    assert any(
        line.split()
        == [
            "Normal",
            "Started",
            "6m",
            "(x2",
            "over",
            "12m)",
            "kubelet",
            "Started",
            "container",
            "kserve-container",
        ]
        for line in lines
    ), text
