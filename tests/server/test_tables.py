"""Printer columns as kube-apiserver computes them (kubectl.md §6): table cases per kind."""

from __future__ import annotations

from typing import Any

import pytest

from tidal.api.meta import parse_time
from tidal.server import tables

NOW = 1_800_000_000.0
CREATED = "2027-01-15T07:50:00Z"


def _pod(status: dict[str, Any], *, deleting: bool = False, containers: int = 1) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "creationTimestamp": CREATED}
    if deleting:
        meta["deletionTimestamp"] = CREATED
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": f"c{i}"} for i in range(containers)]},
        "status": status,
    }


RUNNING = {"name": "c0", "ready": True, "restartCount": 0, "state": {"running": {}}}
POD_CASES = {
    "pending": (_pod({"phase": "Pending"}), ("Pending", 0, 0)),
    "running ready": (
        _pod({"phase": "Running", "containerStatuses": [RUNNING]}),
        ("Running", 1, 0),
    ),
    "crash loop": (
        _pod(
            {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "c0",
                        "ready": False,
                        "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    }
                ],
            }
        ),
        ("CrashLoopBackOff", 0, 3),
    ),
    "exit code": (
        _pod(
            {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "c0",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 2}},
                    }
                ],
            }
        ),
        ("ExitCode:2", 0, 0),
    ),
    "signal": (
        _pod(
            {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "name": "c0",
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 137, "signal": 9}},
                    }
                ],
            }
        ),
        ("Signal:9", 0, 0),
    ),
    "terminating": (
        _pod({"phase": "Running", "containerStatuses": [RUNNING]}, deleting=True),
        ("Terminating", 1, 0),
    ),
    "status reason": (_pod({"phase": "Failed", "reason": "Evicted"}), ("Evicted", 0, 0)),
}


@pytest.mark.parametrize(("pod", "want"), list(POD_CASES.values()), ids=list(POD_CASES))
def test_pod_status_column(pod: dict[str, Any], want: tuple[str, int, int]) -> None:
    assert tables.pod_status_reason(pod) == want


def test_pod_row_wide_cells_and_restarts_ago() -> None:
    pod = _pod(
        {
            "phase": "Running",
            "podIP": "127.0.0.5",
            "containerStatuses": [
                {
                    **RUNNING,
                    "restartCount": 2,
                    "lastState": {"terminated": {"finishedAt": "2027-01-15T07:55:00Z"}},
                }
            ],
        },
        containers=2,
    )
    pod["spec"]["nodeName"] = "local-node"
    cells = tables.pod_row(pod, parse_time("2027-01-15T08:00:00Z") or 0)
    assert cells == [
        "p",
        "1/2",
        "Running",
        "2 (5m ago)",
        "10m",
        "127.0.0.5",
        "local-node",
        "<none>",
        "<none>",
    ]


def test_endpoints_cell_shows_three_then_more() -> None:
    ep = {
        "metadata": {"name": "e", "creationTimestamp": CREATED},
        "subsets": [
            {"addresses": [{"ip": f"127.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 80}]}
        ],
    }
    assert tables.endpoints_row(ep, NOW)[1] == "127.0.0.1:80,127.0.0.2:80,127.0.0.3:80 + 2 more..."
    assert tables.endpoints_row({"metadata": {"name": "e"}}, NOW)[1] == "<none>"


def test_service_and_event_rows() -> None:
    svc = {
        "metadata": {"name": "s", "creationTimestamp": CREATED},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.9",
            "selector": {"app": "x"},
            "ports": [
                {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 53, "protocol": "UDP"},
            ],
        },
    }
    assert tables.service_row(svc, NOW)[1:5] == [
        "NodePort",
        "10.96.0.9",
        "<none>",
        "80:30080/TCP,53/UDP",
    ]
    assert tables.service_row(svc, NOW)[6] == "app=x"
    ev = {
        "metadata": {"name": "e1"},
        "type": "Normal",
        "reason": "SuccessfulRescale",
        "message": "New size: 1",
        "involvedObject": {"kind": "HorizontalPodAutoscaler", "name": "h"},
        "source": {"component": "horizontal-pod-autoscaler"},
        "firstTimestamp": "2027-01-15T07:00:00Z",
        "lastTimestamp": "2027-01-15T07:53:00Z",
        "count": 3,
    }
    cells = tables.event_row(ev, parse_time("2027-01-15T08:00:00Z") or 0)
    assert cells == [
        "7m",
        "Normal",
        "SuccessfulRescale",
        "horizontalpodautoscaler/h",
        "",
        "horizontal-pod-autoscaler",
        "New size: 1",
        "60m",
        3,
        "e1",
    ]


def test_isvc_columns_from_the_kserve_crd() -> None:
    isvc = {
        "metadata": {"name": "sklearn-iris", "creationTimestamp": CREATED},
        "status": {
            "url": "http://sklearn-iris.default.example.com",
            "conditions": [
                {"type": "PredictorReady", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
            "components": {
                "predictor": {
                    "traffic": [
                        {
                            "latestRevision": True,
                            "percent": 100,
                            "revisionName": "sklearn-iris-predictor-00001",
                        }
                    ]
                }
            },
        },
    }
    cells = tables.isvc_row(isvc, NOW)
    assert cells[:7] == [
        "sklearn-iris",
        "http://sklearn-iris.default.example.com",
        "True",
        None,
        100,
        None,
        "sklearn-iris-predictor-00001",
    ]
    defs = tables.column_definitions("InferenceService")
    assert (
        defs[1]["description"]
        == "Custom resource definition column (in JSONPath format): .status.url"
    )


def test_unknown_kind_gets_the_default_columns() -> None:
    t = tables.table("Scale", [{"metadata": {"name": "x", "creationTimestamp": CREATED}}], NOW)
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Created At"]
    assert t["rows"][0]["cells"] == ["x", CREATED]
