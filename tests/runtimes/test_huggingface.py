"""`python -m huggingfaceserver`: KServe's flags onto the GGUF/CPU LLM runtime, and the error for
weights it cannot load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tidal.runtimes.huggingface import NotGguf, translate

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    (
        ["--model_name=qwen", "--model_dir=/m", "--http_port=8081"],
        ["--model", "/m", "--served-model-name", "qwen", "--port", "8081"],
        [],
    ),
    (
        ["--model_name=q", "--model_id=smollm2-135m-instruct", "--max_model_len=512", "--dtype=float16"],
        ["--model", "smollm2-135m-instruct", "--served-model-name", "q", "--port", "8080",
         "--max-model-len", "512"],
        ["--dtype"],
    ),
    (
        ["--model_name=q", "--model_dir=/m", "--backend=vllm", "--max-num-seqs", "4"],
        ["--model", "/m", "--served-model-name", "q", "--port", "8080", "--max-num-seqs", "4"],
        ["--backend"],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "llm", "unused"), CASES)
def test_translate(argv: list[str], llm: list[str], unused: list[str]) -> None:
    assert translate(argv) == (llm, unused)


def test_safetensors_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    with pytest.raises(NotGguf, match="this huggingface runtime serves GGUF models on CPU"):
        translate([f"--model_dir={tmp_path}"])
    done = subprocess.run(
        [sys.executable, "-m", "huggingfaceserver", "--model_name=m", f"--model_dir={tmp_path}"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    assert done.returncode == 1
    assert "holds safetensors/PyTorch weights (model.safetensors)" in done.stderr
    assert "Traceback" not in done.stderr
