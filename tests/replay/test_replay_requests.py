"""`tidal replay`'s pure parts: the protocol from `/v1/models`, the request for a trace row, the
reason of an error answer, and the replica samples aligned on ticks."""

from __future__ import annotations

import json

import pytest

from tidal.replay.bodies import IRIS_BODY, Protocol, ProtocolError, detect, request_for
from tidal.replay.loop import Outcome, ReplayResult, Replicas, error_reason


@pytest.mark.parametrize(
    ("models", "want"),
    [
        (
            {"object": "list", "data": [{"id": "qwen", "max_model_len": 2048}]},
            Protocol("openai", "qwen", 2048),
        ),
        ({"object": "list", "data": [{"id": "m"}]}, Protocol("openai", "m", None)),
        ({"models": ["iris"]}, Protocol("predict", "iris")),
        ({"models": ["a", "svc"]}, Protocol("predict", "svc")),
    ],
)
def test_detect(models: dict, want: Protocol) -> None:
    assert detect(models, "svc") == want


@pytest.mark.parametrize("models", [{}, {"data": []}, {"models": []}, [], "x"])
def test_detect_refuses_unknown_answers(models: object) -> None:
    with pytest.raises(ProtocolError):
        detect(models, "svc")


@pytest.mark.parametrize(
    ("size", "scale", "mml", "prompt", "out"),
    [
        ({"ContextTokens": 374, "GeneratedTokens": 44}, 1.0, None, 374, 44),
        ({"ContextTokens": 374, "GeneratedTokens": 44}, 0.1, None, 38, 5),
        ({"ContextTokens": 5000, "GeneratedTokens": 900}, 1.0, 2048, 2047, 1),
        ({"ContextTokens": 1000, "GeneratedTokens": 900}, 1.0, 1500, 1000, 500),
        ({}, 1.0, None, 1, 16),
    ],
)
def test_openai_request_has_the_trace_lengths(
    size: dict, scale: float, mml: int | None, prompt: int, out: int
) -> None:
    req = request_for(Protocol("openai", "qwen", mml), size, tokens_scale=scale)
    body = json.loads(req.body)
    assert req.path == "/v1/completions"
    assert (
        (len(body["prompt"]), body["max_tokens"])
        == (prompt, out)
        == (req.prompt_tokens, req.max_tokens)
    )
    assert body["model"] == "qwen" and body["ignore_eos"] is True and body["temperature"] == 0


def test_predict_request_is_the_seeds_body() -> None:
    req = request_for(Protocol("predict", "iris"), {"ContextTokens": 3})
    assert req.path == "/v1/models/iris:predict" and json.loads(req.body) == IRIS_BODY


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b'{"error": "held 60s", "reason": "Timeout"}', "Timeout: held 60s"),
        (b'{"error": {"message": "too long"}}', "too long"),
        (b"oops", "oops"),
        (b"", "HTTP 502"),
    ],
)
def test_error_reason(body: bytes, want: str) -> None:
    assert error_reason(502, body) == want


def test_samples_carry_the_last_reading_and_imply_demand() -> None:
    r = ReplayResult(
        outcomes=[Outcome(0.0, 200, 2.0), Outcome(1.0, 503, 0.1, "Overflow")],
        replicas=[Replicas(0.0, 1, 0, 1), Replicas(2.0, 2, 2, 2)],
        elapsed_s=4.0,
    )
    s = r.samples(1.0)
    assert [(x.pods, x.ready) for x in s] == [(1, 0), (1, 0), (2, 2), (2, 2)]
    assert [x.demand for x in s] == [1.0, 1.0, 0.0, 0.0]
    assert r.failures() == {(503, "Overflow"): 1}
