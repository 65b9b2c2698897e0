"""Integration on the real demo model (SmolLM2-135M-Instruct), started with the seed's command:
the seed's request, the openai SDK, concurrent streams, FIFO waiting and client disconnects."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.runtimes.llm.servers import Server
from tests.support import wait_until

pytestmark = [pytest.mark.llm, pytest.mark.process]

SEED_REQUEST = {
    "model": "qwen",
    "messages": [{"role": "user", "content": "Perform a text."}],
    "max_tokens": 10,
    "temperature": 0.7,
    "top_p": 0.9,
    "seed": 10,
}


def test_seed_request_twice_same_text(qwen: Server) -> None:
    bodies = [
        httpx.post(qwen.url + "/v1/chat/completions", json=SEED_REQUEST, timeout=120).json()
        for _ in range(2)
    ]
    for body in bodies:
        assert body["object"] == "chat.completion" and body["model"] == "qwen"
        [choice] = body["choices"]
        assert choice["finish_reason"] in ("length", "stop") and choice["message"]["content"]
        assert 1 <= body["usage"]["completion_tokens"] <= 10
    assert (
        bodies[0]["choices"][0]["message"]["content"]
        == bodies[1]["choices"][0]["message"]["content"]
    )
    assert "unused by this engine" in qwen.log.read_text()  # the seed's GPU-only flags, named once
    assert "--gpu-memory-utilization, --quantization, --trust-remote-code" in qwen.log.read_text()


def test_openai_sdk(qwen: Server) -> None:
    client = openai.OpenAI(base_url=qwen.url + "/v1", api_key="unused", max_retries=0)
    chat = client.chat.completions.create(
        model="qwen", messages=[{"role": "user", "content": "Say hi."}], max_tokens=8, seed=1
    )
    assert (
        chat.choices[0].message.content
        and chat.usage is not None
        and chat.usage.completion_tokens <= 8
    )
    comp = client.completions.create(
        model="qwen", prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert comp.choices[0].text and comp.choices[0].finish_reason in ("stop", "length")
    stream = client.chat.completions.create(
        model="qwen",
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 12
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert nf.value.status_code == 404 and "does not exist" in str(nf.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="qwen", messages=[{"role": "user", "content": "x"}], max_tokens=10**6
        )
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="qwen", prompt="x", temperature=-1)
    assert [m.id for m in client.models.list().data] == ["qwen"]


def _stream_text(url: str, body: dict[str, object]) -> tuple[str, list[object]]:
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        json={**body, "stream": True, "stream_options": {"include_usage": True}},
        timeout=300,
    ) as r:
        assert r.status_code == 200
        events: list[object] = []
        for line in r.iter_lines():
            if line.startswith("data: "):
                data = line[6:]
                events.append(data if data == "[DONE]" else json.loads(data))
    text = "".join(
        e["choices"][0]["delta"].get("content", "")
        for e in events
        if isinstance(e, dict) and e["choices"]
    )
    return text, events


def test_four_concurrent_streams_complete_with_every_token(qwen: Server) -> None:
    prompts = ["Name a fruit.", "Name a color.", "Name a planet.", "Name an animal."]
    bodies = [
        {
            "messages": [{"role": "user", "content": p}],
            "max_tokens": 24,
            "temperature": 0,
            "seed": 3,
            "ignore_eos": True,
        }
        for p in prompts
    ]
    alone = [
        httpx.post(qwen.url + "/v1/chat/completions", json=b, timeout=300).json() for b in bodies
    ]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: _stream_text(qwen.url, b), bodies))
    for solo, (text, events) in zip(alone, together, strict=True):
        assert events[-1] == "[DONE]"
        finals = [
            e
            for e in events
            if isinstance(e, dict) and e["choices"] and e["choices"][0]["finish_reason"]
        ]
        assert [f["choices"][0]["finish_reason"] for f in finals] == ["length"]
        assert events[-2]["usage"]["completion_tokens"] == 24  # type: ignore[index]
        assert text == solo["choices"][0]["message"]["content"]  # nothing lost, nothing cut


def test_waiting_is_fifo_counted_and_a_gone_client_frees_its_slot(qwen: Server) -> None:
    long = {
        "messages": [{"role": "user", "content": "Tell a long story."}],
        "max_tokens": 2000,
        "ignore_eos": True,
    }
    opened: list[httpx.Response] = []
    stop = threading.Event()

    def hold_streams() -> None:
        with httpx.Client(timeout=300) as c:
            ctxs = [
                c.stream("POST", qwen.url + "/v1/chat/completions", json={**long, "stream": True})
                for _ in range(4)
            ]
            for ctx in ctxs:
                opened.append(ctx.__enter__())
            stop.wait(120)
            for ctx in ctxs:
                ctx.__exit__(None, None, None)  # the client goes away mid-stream

    holder = threading.Thread(target=hold_streams)
    holder.start()
    short: dict[str, object] = {}
    try:
        wait_until(
            lambda: qwen.metric("vllm:num_requests_running") == 4, timeout_s=60, what="4 running"
        )
        assert (
            httpx.get(qwen.url + "/health", timeout=10).status_code == 200
        )  # answers during generation
        assert qwen.metric("vllm:kv_cache_usage_perc") == 1.0

        def send_short() -> None:
            short["r"] = httpx.post(
                qwen.url + "/v1/chat/completions", json={**long, "max_tokens": 3}, timeout=300
            )

        waiter = threading.Thread(target=send_short)
        waiter.start()
        wait_until(
            lambda: qwen.metric("vllm:num_requests_waiting") == 1, timeout_s=60, what="1 waiting"
        )
        assert httpx.get(qwen.url + "/load", timeout=10).json() == {"server_load": 5}
        aborted = qwen.metric("vllm:request_success_total", finished_reason="abort")
        stop.set()
        holder.join(60)
        waiter.join(120)
        assert short["r"].status_code == 200  # type: ignore[attr-defined]
        wait_until(
            lambda: qwen.metric("vllm:num_requests_running") == 0, timeout_s=60, what="slots freed"
        )
        assert qwen.metric("vllm:request_success_total", finished_reason="abort") == aborted + 4
        assert qwen.metric("vllm:num_requests_waiting") == 0
    finally:
        stop.set()
        holder.join(60)


def test_gone_non_streaming_client_frees_its_slot(qwen: Server) -> None:
    body = json.dumps(
        {
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": 3000,
            "ignore_eos": True,
        }
    )
    host, port = qwen.url.removeprefix("http://").split(":")
    aborted = qwen.metric("vllm:request_success_total", finished_reason="abort")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
        )
        wait_until(
            lambda: qwen.metric("vllm:num_requests_running") == 1, timeout_s=60, what="running"
        )
    wait_until(
        lambda: qwen.metric("vllm:num_requests_running") == 0, timeout_s=60, what="slot freed"
    )
    assert qwen.metric("vllm:request_success_total", finished_reason="abort") == aborted + 1
