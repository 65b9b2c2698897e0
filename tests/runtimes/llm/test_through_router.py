"""The LLM runtime behind the real router (its own process, routes by Host as for an
InferenceService): the seed's request, streams that arrive chunk by chunk and end with
`data: [DONE]`, and the openai SDK pointed at the router with the service's Host header."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.runtimes.llm.servers import Server
from tests.support import free_port, stop_process, wait_until

HOST = "tiny-default.example.com"


@pytest.fixture(scope="module")
def router(tiny: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("router")
    port, admin = free_port(), free_port()
    upstream_port = int(tiny.url.rsplit(":", 1)[1])
    routes = folder / "routes.json"
    routes.write_text(
        json.dumps(
            {
                "services": {
                    "default/tiny-predictor": {
                        "hosts": [HOST],
                        "endpoints": [["127.0.0.1", upstream_port, "tiny-predictor-0"]],
                    }
                }
            }
        )
    )
    log = (folder / "router.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidal.router", "--static", str(routes), "--port", str(port),
         "--admin-port", str(admin)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: (
                httpx.get(url + "/health", headers={"Host": HOST}, timeout=2).status_code == 200
            ),
            timeout_s=30,
            what="the LLM runtime through the router",
        )
        yield url
    finally:
        stop_process(proc)
        log.close()


SEED = {
    "model": "tiny",
    "messages": [{"role": "user", "content": "Perform a text."}],
    "max_tokens": 10,
    "temperature": 0.7,
    "top_p": 0.9,
    "seed": 10,
}


@pytest.mark.llm
@pytest.mark.process
def test_seed_request_through_router_is_reproducible(router: str) -> None:
    answers = []
    for _ in range(2):
        r = httpx.post(
            router + "/v1/chat/completions", json=SEED, headers={"Host": HOST}, timeout=60
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["object"] == "chat.completion" and body["model"] == "tiny"
        assert len(body["choices"]) == 1
        assert body["choices"][0]["finish_reason"] in ("length", "stop")
        assert 0 < body["usage"]["completion_tokens"] <= 10
        answers.append(body["choices"][0]["message"]["content"])
    assert answers[0] == answers[1]


@pytest.mark.llm
@pytest.mark.process
def test_stream_through_router_arrives_chunk_by_chunk(router: str) -> None:
    req = {**SEED, "max_tokens": 24, "stream": True, "temperature": 0, "ignore_eos": True}
    arrivals: list[tuple[float, str]] = []
    with httpx.stream(
        "POST", router + "/v1/chat/completions", json=req, headers={"Host": HOST}, timeout=60
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic(), line[len("data: ") :]))
    assert arrivals[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in arrivals[:-1]]
    texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert sum(1 for t in texts if t) > 1
    # the router passes chunks as they come: the first arrives before the stream ends
    assert arrivals[0][0] < arrivals[-1][0]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


@pytest.mark.llm
@pytest.mark.process
def test_openai_sdk_through_router(router: str) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(
        base_url=router + "/v1", api_key="unused", default_headers={"Host": HOST}
    )
    try:
        chat = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=5
        )
        assert chat.object == "chat.completion" and chat.usage.completion_tokens <= 5
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "hi"}], max_tokens=5
            )
    finally:
        client.close()
