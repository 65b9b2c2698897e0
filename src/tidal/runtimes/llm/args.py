"""vLLM's command-line flags, so a vLLM command runs with only the module name changed.

Flags that only mean something to vLLM on a GPU are accepted and named once on stderr as unused.
Like vLLM, `--max_model_len` is read as `--max-model-len`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MAX_NUM_SEQS = 4  # CPU: 4 concurrent contexts; vLLM's GPU default (256) would only queue

# flag -> takes a value; accepted for compatibility, ignored by this engine.
UNUSED_FLAGS: dict[str, bool] = {
    "--gpu-memory-utilization": True,
    "--quantization": True,
    "--trust-remote-code": False,
    "--tensor-parallel-size": True,
    "--pipeline-parallel-size": True,
    "--dtype": True,
    "--kv-cache-dtype": True,
    "--block-size": True,
    "--swap-space": True,
    "--enforce-eager": False,
    "--enable-prefix-caching": False,
    "--max-num-batched-tokens": True,
    "--disable-log-requests": False,
    "--disable-log-stats": False,
    "--tokenizer": True,
    "--download-dir": True,
}


@dataclass(frozen=True, slots=True)
class Settings:
    model: str
    served_model_names: tuple[str, ...]
    host: str
    port: int
    max_model_len: int | None
    max_num_seqs: int
    api_key: str | None
    seed: int | None
    chat_template: str | None
    unused: tuple[str, ...]  # GPU-only flags the command gave

    @property
    def served_model_name(self) -> str:
        """The name responses and the `model_name` metric label carry (vLLM: the first one)."""
        return self.served_model_names[0]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tidal.runtimes.llm",
        description="OpenAI-compatible server with vLLM's API, errors and metrics, on llama.cpp.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="a GGUF file, a folder holding one, or smollm2-135m-instruct (the demo model)",
    )
    p.add_argument("--served-model-name", nargs="+", default=None, help="names the API answers to")
    p.add_argument("--host", default=None, help="default: $POD_IP when set, else 0.0.0.0")
    p.add_argument("--port", type=_port, default=8000)
    p.add_argument("--max-model-len", type=_positive, default=None, help="context length")
    p.add_argument("--max-num-seqs", type=_positive, default=DEFAULT_MAX_NUM_SEQS)
    p.add_argument("--api-key", default=None, help="required as a bearer token on /v1 routes")
    p.add_argument("--seed", type=int, default=None, help="seeds requests that send no seed")
    p.add_argument("--chat-template", default=None, help="a Jinja template, or a file holding one")
    for flag, takes_value in UNUSED_FLAGS.items():
        if takes_value:
            p.add_argument(flag, default=None, help=argparse.SUPPRESS)
        else:
            p.add_argument(flag, action="store_true", default=None, help=argparse.SUPPRESS)
    return p


def _dashes(argv: Sequence[str]) -> list[str]:
    """`--max_model_len=8` -> `--max-model-len=8`, as vLLM's FlexibleArgumentParser does."""
    out = []
    for arg in argv:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            arg = name.replace("_", "-") + eq + value
        out.append(arg)
    return out


def parse(argv: Sequence[str], environ: dict[str, str] | None = None) -> Settings:
    """Parse flags (argparse exits 2 naming a bad flag); host falls back to $POD_IP."""
    env = os.environ if environ is None else environ
    ns = parser().parse_args(_dashes(argv))
    unused = tuple(
        flag for flag in UNUSED_FLAGS if getattr(ns, flag[2:].replace("-", "_")) is not None
    )
    names = tuple(ns.served_model_name or (ns.model,))
    return Settings(
        model=ns.model,
        served_model_names=names,
        host=ns.host or env.get("POD_IP") or "0.0.0.0",
        port=ns.port,
        max_model_len=ns.max_model_len,
        max_num_seqs=ns.max_num_seqs,
        api_key=ns.api_key or env.get("VLLM_API_KEY") or None,
        seed=ns.seed,
        chat_template=ns.chat_template,
        unused=unused,
    )
