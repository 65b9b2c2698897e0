"""The runtime over HTTP on the tiny random GGUF: vLLM's shapes, errors, streams and metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtimes.llm.servers import Server, start_server

pytestmark = [pytest.mark.llm, pytest.mark.process]

USER = [{"role": "user", "content": "hello world"}]


def post(server: Server, path: str, body: object, **kw: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60, **kw)  # type: ignore[arg-type]


def sse_events(resp: httpx.Response) -> list[object]:
    out: list[object] = []
    for line in resp.iter_lines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_chat_completion_shape(tiny: Server) -> None:
    r = post(
        tiny,
        "/v1/chat/completions",
        {"model": "tiny", "messages": USER, "max_tokens": 10, "ignore_eos": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "tiny"
    assert body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
    assert (choice["finish_reason"], choice["stop_reason"]) == ("length", None)
    u = body["usage"]
    assert u["completion_tokens"] == 10 and u["prompt_tokens"] > 0
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]


def test_second_served_name_answers_as_the_first(tiny: Server) -> None:
    r = post(tiny, "/v1/chat/completions", {"model": "alias", "messages": USER, "max_tokens": 2})
    assert r.status_code == 200 and r.json()["model"] == "tiny"


def test_seed_reproducible_and_n_choices(tiny: Server) -> None:
    body = {"messages": USER, "max_tokens": 12, "temperature": 0.9, "seed": 10, "ignore_eos": True}
    a, b = (post(tiny, "/v1/chat/completions", body).json() for _ in range(2))
    assert a["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]
    many = post(tiny, "/v1/chat/completions", {**body, "n": 3}).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    texts = [c["message"]["content"] for c in many["choices"]]
    assert texts[0] == a["choices"][0]["message"]["content"]  # choice i samples with seed + i
    assert len(set(texts)) > 1
    assert many["usage"]["completion_tokens"] == 36


def test_completions_prompt_forms_echo_and_stops(tiny: Server) -> None:
    greedy = {
        "temperature": 0,
        "seed": 0,
        "max_tokens": 12,
        "ignore_eos": True,
    }  # seeded: no prefix reuse
    text = post(tiny, "/v1/completions", {"prompt": "the one", **greedy}).json()
    assert text["object"] == "text_completion" and text["id"].startswith("cmpl-")
    full = text["choices"][0]["text"]
    echo = post(tiny, "/v1/completions", {"prompt": "the one", "echo": True, **greedy}).json()
    assert echo["choices"][0]["text"] == "the one" + full
    words = full.split()
    assert len(words) >= 3, full
    stop = post(tiny, "/v1/completions", {"prompt": "the one", "stop": [words[2]], **greedy}).json()
    c = stop["choices"][0]
    assert (c["finish_reason"], c["stop_reason"]) == ("stop", words[2])
    assert c["text"] == full[: full.index(words[2])]
    ids = post(
        tiny,
        "/v1/completions",
        {"prompt": [1, 300, 301], "stop_token_ids": list(range(309)), **greedy},
    )
    c = ids.json()["choices"][0]
    assert c["finish_reason"] == "stop" and isinstance(c["stop_reason"], int)
    assert ids.json()["usage"] == {
        "prompt_tokens": 3,
        "total_tokens": 4,
        "completion_tokens": 1,
        "prompt_tokens_details": None,
    }
    two = post(tiny, "/v1/completions", {"prompt": ["the one", "and"], "n": 2, **greedy}).json()
    assert [c["index"] for c in two["choices"]] == [0, 1, 2, 3]
    assert two["choices"][0]["text"] == full


def test_chat_stream_chunk_sequence(tiny: Server) -> None:
    body = {
        "messages": USER,
        "max_tokens": 8,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", tiny.url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert all(
        c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks
    )
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    last = chunks[-2]["choices"][0]
    assert (last["finish_reason"], last["stop_reason"]) == ("length", None)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert streamed  # the random model says something


def test_completion_stream(tiny: Server) -> None:
    body = {"prompt": "the", "max_tokens": 5, "temperature": 0, "ignore_eos": True}
    whole = post(tiny, "/v1/completions", body).json()["choices"][0]["text"]
    with httpx.stream(
        "POST", tiny.url + "/v1/completions", json={**body, "stream": True}, timeout=60
    ) as r:
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


ERRORS = {
    # path, body, status, type, message part
    "unknown model": (
        "/v1/chat/completions",
        {"model": "x", "messages": USER},
        404,
        "NotFoundError",
        "The model `x` does not exist.",
    ),
    "missing messages": (
        "/v1/chat/completions",
        {"model": "tiny"},
        400,
        "BadRequestError",
        "messages",
    ),
    "bad field": (
        "/v1/chat/completions",
        {"messages": USER, "max_tokens": "lots"},
        400,
        "BadRequestError",
        "max_tokens",
    ),
    "missing prompt": ("/v1/completions", {"model": "tiny"}, 400, "BadRequestError", "prompt"),
    "token out of vocabulary": (
        "/v1/completions",
        {"prompt": [5, 4000]},
        400,
        "BadRequestError",
        "Token id 4000 is out of vocabulary",
    ),
    "prompt over max-model-len": (
        "/v1/completions",
        {"prompt": [5] * 130},
        400,
        "BadRequestError",
        "maximum context length is 128 tokens. However, your request has 130 input tokens",
    ),
    "max_tokens over max-model-len": (
        "/v1/completions",
        {"prompt": [1, 300], "max_tokens": 200},
        400,
        "BadRequestError",
        "(200 > 128 - 2)",
    ),
}


@pytest.mark.parametrize(
    ("path", "body", "status", "type_", "message"), list(ERRORS.values()), ids=list(ERRORS)
)
def test_errors(
    tiny: Server, path: str, body: object, status: int, type_: str, message: str
) -> None:
    r = post(tiny, path, body)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["type"] == type_ and err["code"] == status and message in err["message"]
    assert set(err) == {"message", "type", "param", "code"}


def test_unknown_model_body_exactly(tiny: Server) -> None:
    r = post(tiny, "/v1/completions", {"model": "x", "prompt": "a"})
    assert r.json() == {
        "error": {
            "message": "The model `x` does not exist.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }
    }


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"\xff\xfe", b"[1,"], ids=["broken", "empty", "binary", "cut"]
)
def test_non_json_is_400(tiny: Server, raw: bytes) -> None:
    for path in ("/v1/chat/completions", "/v1/completions"):
        r = httpx.post(
            tiny.url + path, content=raw, headers={"content-type": "application/json"}, timeout=10
        )
        assert r.status_code == 400 and r.json()["error"]["type"] == "BadRequestError"


def test_unknown_route_and_method_are_vllm_shaped(tiny: Server) -> None:
    assert httpx.get(tiny.url + "/v1/nope", timeout=10).json()["error"]["code"] == 404
    r = httpx.get(tiny.url + "/v1/completions", timeout=10)
    assert r.status_code == 405 and r.json()["error"]["code"] == 405


def test_models_health_load_version(tiny: Server) -> None:
    models = httpx.get(tiny.url + "/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["tiny", "alias"]
    assert models["data"][0]["max_model_len"] == 128 and models["data"][0]["owned_by"] == "vllm"
    h = httpx.get(tiny.url + "/health", timeout=10)
    assert h.status_code == 200 and h.content == b""
    assert httpx.get(tiny.url + "/load", timeout=10).json() == {"server_load": 0}
    assert "version" in httpx.get(tiny.url + "/version", timeout=10).json()


def test_metrics_names_and_labels(tiny: Server) -> None:
    before = tiny.metric("vllm:request_success_total", finished_reason="length")
    gen_before = tiny.metric("vllm:generation_tokens_total")
    post(tiny, "/v1/chat/completions", {"messages": USER, "max_tokens": 3, "ignore_eos": True})
    assert tiny.metric("vllm:request_success_total", finished_reason="length") == before + 1
    assert tiny.metric("vllm:generation_tokens_total") == gen_before + 3
    text = httpx.get(tiny.url + "/metrics", timeout=10).text
    for name in (
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:inter_token_latency_seconds_count",
        "vllm:e2e_request_latency_seconds_sum",
        "vllm:request_queue_time_seconds_count",
    ):
        assert any(
            line.startswith(name + "{") and 'engine="0"' in line and 'model_name="tiny"' in line
            for line in text.splitlines()
        ), name
    assert 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="tiny"}' in text
    assert "_created" not in text


@pytest.fixture(scope="module")
def keyed(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(
        tmp_path_factory.mktemp("keyed"), "--model", str(tiny_model), "--api-key", "sesame"
    )


def test_api_key(keyed: Server) -> None:
    body = {"messages": USER, "max_tokens": 1}
    for headers in ({}, {"authorization": "Bearer wrong"}):
        r = post(keyed, "/v1/chat/completions", body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == 401
    assert httpx.get(keyed.url + "/v1/models", timeout=10).status_code == 401
    assert (
        post(
            keyed, "/v1/chat/completions", body, headers={"authorization": "Bearer sesame"}
        ).status_code
        == 200
    )
    assert (
        httpx.get(keyed.url + "/health", timeout=10).status_code == 200
    )  # vLLM: only /v1 is protected
    assert httpx.get(keyed.url + "/metrics", timeout=10).status_code == 200


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k", "min_p",
          "n", "seed", "stop", "stop_token_ids", "stream", "stream_options", "presence_penalty", "frequency_penalty",
          "repetition_penalty", "echo", "logprobs", "ignore_eos", "tools", "tool_choice", "response_format"]  # fmt: skip
plausible = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(
    lambda d: {**d, "max_tokens": d["max_tokens"]} if "max_tokens" in d else {**d, "max_tokens": 4}
)
messages = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "system", "assistant", "tool"]), "content": json_values}
    ),
    max_size=3,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=json_values
    | plausible
    | st.fixed_dictionaries(
        {"messages": messages}, optional={"n": json_values, "stream": st.booleans()}
    )
)
def test_random_json_never_5xx(tiny: Server, body: object) -> None:
    for path in ("/v1/chat/completions", "/v1/completions"):
        r = httpx.post(tiny.url + path, json=body, timeout=60)
        assert r.status_code < 500, (path, body, r.text)
        if r.status_code >= 400:
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
