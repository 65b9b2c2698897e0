"""PodAutoscaler admission through the real in-process API server: Knative's defaults, and its
annotation/spec rules as 422 causes (nothing stored)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidal.api.errors import Invalid, NotFound
from tidal.server.inprocess import open_inprocess
from tidal.validation.podautoscaler import default, validate, validate_annotations

K = "autoscaling.knative.dev/"


def pa(annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
        "kind": "PodAutoscaler",
        "metadata": {"name": "p", "namespace": "default", "annotations": annotations},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
            **spec,
        },
    }


def test_defaults_class_metric_protocol() -> None:
    obj = default(pa({}))
    assert obj["metadata"]["annotations"] == {
        K + "class": "kpa.autoscaling.knative.dev",
        K + "metric": "concurrency",
    }
    assert obj["spec"]["protocolType"] == "http1"
    hpa = default(pa({K + "class": "hpa.autoscaling.knative.dev"}))
    assert hpa["metadata"]["annotations"][K + "metric"] == "cpu"


@pytest.mark.parametrize(
    ("obj", "causes"),
    [
        (
            pa({K + "window": "1s"}),
            [(f"metadata.annotations.{K}window", "expected 6s <= 1s <= 1h0m0s")],
        ),
        (
            pa({}, containerConcurrency=1001),
            [("spec.containerConcurrency", "expected 0 <= 1001 <= 1000")],
        ),
        (pa({}, protocolType="grpc"), [("spec.protocolType", "invalid value: grpc")]),
        (
            {**pa({}), "spec": {"scaleTargetRef": {"kind": "Deployment"}}},
            [
                (
                    "spec",
                    "missing field(s): spec.scaleTargetRef.apiVersion, spec.scaleTargetRef.name",
                )
            ],
        ),
        (pa({K + "metric": "rps"}), []),
    ],
)
def test_validate(obj: dict[str, Any], causes: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in validate(obj)] == causes


def test_inferenceservice_prefix() -> None:
    causes = validate_annotations({K + "maxScale": "x"}, "metadata.annotations")
    assert [(c.field, c.message) for c in causes] == [
        (f"metadata.annotations.{K}maxScale", "invalid value: x")
    ]


def test_api_rejects_with_422_and_stores_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        client = await open_inprocess(tmp_path)
        try:
            with pytest.raises(Invalid) as info:
                await client.create(pa({K + "panic-threshold-percentage": "50"}))
            assert any(K + "panic-threshold-percentage" in c.field for c in info.value.causes)
            with pytest.raises(NotFound):
                await client.get("PodAutoscaler", "p", "default")
            made = await client.create(pa({}))
            assert made["metadata"]["annotations"][K + "class"] == "kpa.autoscaling.knative.dev"
        finally:
            await client.close()

    asyncio.run(go())
