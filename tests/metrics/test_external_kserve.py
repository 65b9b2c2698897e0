"""The external metrics API's KServe form: which query and server an HPA's `prometheus-query`
selector points at, and clear errors (never a crash) when it points at nothing."""

from __future__ import annotations

import asyncio

import pytest

from tidal.api import errors
from tidal.api.selectors import parse_labels
from tidal.metrics.external_api import ExternalMetricsApi

ISVC = {
    "metadata": {"name": "llm", "namespace": "default"},
    "spec": {
        "predictor": {
            "autoScaling": {
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu"}},
                    {
                        "type": "External",
                        "external": {
                            "metric": {
                                "backend": "prometheus",
                                "serverAddress": "http://prom:9090",
                                "query": "sum(q)",
                            },
                            "target": {"type": "Value", "value": "1"},
                        },
                    },
                ]
            }
        }
    },
}


async def get_object(kind: str, namespace: str, name: str) -> dict:
    if (kind, namespace, name) == ("InferenceService", "default", "llm"):
        return ISVC
    raise errors.NotFound(f'{kind} "{name}" not found')


def resolve(selector: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        api = ExternalMetricsApi(
            prometheus_url=None, rules=[], get_object=get_object, clock=lambda: 0.0
        )
        try:
            return await api._kserve_query("default", parse_labels(selector))
        finally:
            await api.aclose()

    return asyncio.run(go())


ISVC_SEL = "serving.kserve.io/inferenceservice=llm"


def test_selector_names_the_entry() -> None:
    assert resolve(f"{ISVC_SEL},serving.tidal.dev/metric-index=1") == (
        "http://prom:9090",
        "sum(q)",
    )


ERRORS = {
    "no isvc label": ("serving.tidal.dev/metric-index=1", errors.NotFound),
    "unknown isvc": ("serving.kserve.io/inferenceservice=nope", errors.NotFound),
    "index past the end": (f"{ISVC_SEL},serving.tidal.dev/metric-index=5", errors.NotFound),
    "entry without a query": (f"{ISVC_SEL},serving.tidal.dev/metric-index=0", errors.NotFound),
    "index not a number": (f"{ISVC_SEL},serving.tidal.dev/metric-index=x", errors.BadRequest),
}


@pytest.mark.parametrize("selector,exc", ERRORS.values(), ids=ERRORS.keys())
def test_bad_selectors_are_api_errors(selector: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        resolve(selector)
