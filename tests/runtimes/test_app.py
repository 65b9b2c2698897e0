"""The ASGI app in-process (httpx's ASGI transport): readiness, custom models, error mapping."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.runtimes.custom_models import AsyncLabeller, Broken, DictAnswer, Doubler
from tidal.runtimes.app import RuntimeApp, runs_inline, typical_after
from tidal.runtimes.model import Model


def call(app: RuntimeApp, method: str, path: str, body: Any = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            return await client.request(method, path, json=body)

    return asyncio.run(go())


def loaded(model: Model) -> Model:
    result = model.load()
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return model


def test_a_model_that_is_not_ready_answers_503_with_kserves_message() -> None:
    model = loaded(Doubler("late"))
    model.ready = False
    app = RuntimeApp([model])
    for method, path, body in (
        ("POST", "/v1/models/late:predict", {"instances": [[1]]}),
        ("GET", "/v1/models/late", None),
        ("POST", "/v2/models/late/infer", {"inputs": []}),
        ("GET", "/v2/models/late/ready", None),
    ):
        r = call(app, method, path, body)
        assert (r.status_code, r.json()) == (503, {"error": "Model with name late is not ready."})
    r = call(app, "GET", "/v2/health/ready")
    assert (r.status_code, r.json()) == (503, {"error": "Server is not ready."})
    assert call(app, "GET", "/v2/health/live").status_code == 200


def test_sync_batchable_custom_model_over_both_protocols() -> None:
    app = RuntimeApp([loaded(Doubler("double"))])
    r = call(app, "POST", "/v1/models/double:predict", {"instances": [[1, 2], [3, 4]]})
    assert r.json() == {"predictions": [[2, 4], [6, 8]]}
    tensor = {"name": "x", "shape": [2], "datatype": "INT32", "data": [5, 6]}
    out = call(app, "POST", "/v2/models/double/infer", {"id": "q", "inputs": [tensor]}).json()
    assert out["outputs"] == [
        {"name": "output-0", "shape": [2], "datatype": "INT32", "data": [10, 12]}
    ]


def test_async_custom_model_and_its_own_invalid_input() -> None:
    app = RuntimeApp([loaded(AsyncLabeller("labels"))])
    r = call(app, "POST", "/v1/models/labels:predict", {"instances": [0, 1, 5]})
    assert r.json() == {"predictions": ["zero", "one", "many"]}
    r = call(app, "POST", "/v1/models/labels:predict", {"instances": [-1]})
    assert (r.status_code, r.json()) == (400, {"error": "negative numbers have no label"})
    tensor = {"name": "x", "shape": [1], "datatype": "INT64", "data": [1]}
    out = call(app, "POST", "/v2/models/labels/infer", {"inputs": [tensor]}).json()
    assert out["outputs"][0] == {
        "name": "output-0",
        "shape": [1],
        "datatype": "BYTES",
        "data": ["one"],
    }


def test_a_dict_from_predict_is_the_whole_v1_body() -> None:
    app = RuntimeApp([loaded(DictAnswer("d"))])
    r = call(app, "POST", "/v1/models/d:predict", {"instances": ["a", "b"]})
    assert r.json() == {"predictions": [2], "model": "d"}


def test_a_bug_in_a_custom_model_is_a_500_and_the_app_lives_on() -> None:
    app = RuntimeApp([loaded(Broken("b"))])
    r = call(app, "POST", "/v1/models/b:predict", {"instances": [[1]]})
    assert (r.status_code, r.json()) == (500, {"error": "RuntimeError : boom"})
    assert call(app, "GET", "/v1/models/b").json() == {"name": "b", "ready": True}


def test_predict_not_implemented_is_501() -> None:
    app = RuntimeApp([loaded(Model("bare"))])
    r = call(app, "POST", "/v1/models/bare:predict", {"instances": [[1]]})
    assert r.status_code == 501
    assert r.json() == {"error": "Model.predict is not implemented"}


def test_in_flight_gauge_and_counter_follow_requests() -> None:
    app = RuntimeApp([loaded(Doubler("g"))])
    served = app.models["g"]
    call(app, "POST", "/v1/models/g:predict", {"instances": [[1]]})
    call(app, "POST", "/v1/models/g:predict", {"instances": "x"})
    assert served.metrics.in_flight._value.get() == 0
    assert served.metrics._codes[200]._value.get() >= 1
    assert served.metrics._codes[400]._value.get() >= 1


# typical CPU seconds of predict, inline bound → run on the loop?
INLINE = {
    "unknown yet: thread": (float("inf"), 0.002, False),
    "tiny model: inline": (0.0002, 0.002, True),
    "slow model: thread": (0.050, 0.002, False),
    "bound 0: always thread": (0.0, 0.0, False),
}


@pytest.mark.parametrize(("typical", "bound", "inline"), list(INLINE.values()), ids=list(INLINE))
def test_runs_inline(typical: float, bound: float, inline: bool) -> None:
    assert runs_inline(typical, bound) is inline


def test_typical_after() -> None:
    assert typical_after(float("inf"), 0.5) == 0.5  # first measurement replaces the unknown
    assert typical_after(1.0, 0.0) == pytest.approx(0.8)  # 0.8 * 1.0 + 0.2 * 0.0
    assert typical_after(0.0001, 0.1) > 0.002  # one slow call moves the model to the thread
