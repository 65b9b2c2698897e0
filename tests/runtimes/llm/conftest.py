"""Fixtures for the LLM runtime's tests: the tiny random GGUF, and servers that always stop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtimes.llm import tiny_gguf
from tests.runtimes.llm.servers import Server, start_server


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gguf.write(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("llama_cpp", reason="run `make llm`")
    yield from start_server(
        tmp_path_factory.mktemp("tiny"),
        "--model", str(tiny_model), "--served-model-name", "tiny", "alias",
        "--max-model-len", "128", "--max-num-seqs", "2", "--seed", "1",
    )  # fmt: skip


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The seed's command, with only the module name changed (and a loopback port)."""
    pytest.importorskip("llama_cpp", reason="run `make llm`")
    yield from start_server(
        tmp_path_factory.mktemp("qwen"),
        "--trust-remote-code", "--served-model-name", "qwen", "--model", "smollm2-135m-instruct",
        "--gpu-memory-utilization", "0.95", "--quantization", "gptq", "--max-model-len=6144",
    )  # fmt: skip
