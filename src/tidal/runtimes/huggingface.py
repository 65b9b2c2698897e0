"""`python -m huggingfaceserver` (KServe's huggingfaceserver command line) on tidal's LLM runtime:
text generation from a GGUF model on CPU, with vLLM's OpenAI API (docs/LLM.md).

KServe's flags are mapped where they make sense: `--model_name` → the served model name,
`--model_dir` (default `/mnt/models`, where the storage step puts `storageUri`) or `--model_id`
→ the model, `--http_port` → the port, `--max_model_len` → the context length. `--dtype`,
`--backend`, `--task`, `--tensor_parallel_size` and the other GPU/engine choices have no meaning
for llama.cpp on CPU: they are accepted and listed once as unused. Other flags go to the LLM
runtime, which takes vLLM's. A folder of safetensors / PyTorch weights cannot be served here:
it exits 1 saying so (this runtime serves GGUF on CPU).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

IGNORED = (
    "dtype",
    "backend",
    "task",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "gpu_memory_utilization",
    "trust_remote_code",
    "return_probabilities",
    "disable_lower_case",
    "disable_special_tokens",
    "return_token_type_ids",
    "max_length",
    "tokenizer_revision",
    "model_revision",
    "enable_grpc",
    "grpc_port",
    "workers",
)
HF_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.h5", "*.msgpack", "*.onnx")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m huggingfaceserver",
        description="KServe's huggingfaceserver flags on tidal's GGUF/CPU LLM runtime",
    )
    p.add_argument("--model_name", "--model-name", default="model")
    p.add_argument("--model_dir", "--model-dir", default="/mnt/models")
    p.add_argument("--model_id", "--model-id", default=None)
    p.add_argument("--http_port", "--http-port", type=int, default=8080)
    p.add_argument("--max_model_len", "--max-model-len", type=int, default=None)
    for flag in IGNORED:
        p.add_argument(f"--{flag}", f"--{flag.replace('_', '-')}", default=None, nargs="?")
    return p


class NotGguf(ValueError):
    """The model folder holds weights llama.cpp cannot load."""


def check_model_dir(folder: Path) -> None:
    """A folder with no .gguf but Hugging Face weights: say why it cannot be served here."""
    if not folder.is_dir() or any(folder.glob("*.gguf")):
        return
    found = sorted({p.name for pattern in HF_WEIGHTS for p in folder.glob(pattern)})
    if found:
        shown = ", ".join(found[:4]) + (" ..." if len(found) > 4 else "")
        raise NotGguf(
            f"model_dir {folder} holds safetensors/PyTorch weights ({shown}): this huggingface "
            "runtime serves GGUF models on CPU with llama.cpp; convert the model to GGUF "
            "(llama.cpp's convert_hf_to_gguf.py) and point storageUri at the .gguf file"
        )


def translate(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the LLM runtime's argv, the KServe flags given that do nothing here)."""
    args, rest = parser().parse_known_args(list(argv))
    model = args.model_id or args.model_dir
    if not args.model_id:
        check_model_dir(Path(args.model_dir))
    out = ["--model", model, "--served-model-name", args.model_name]
    out += ["--port", str(args.http_port)]
    if args.max_model_len:
        out += ["--max-model-len", str(args.max_model_len)]
    unused = [f"--{f}" for f in IGNORED if getattr(args, f) is not None]
    return out + rest, unused


def main(argv: Sequence[str] | None = None) -> int:
    from tidal.runtimes.llm.server import main as llm_main

    try:
        llm_argv, unused = translate(sys.argv[1:] if argv is None else argv)
    except NotGguf as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    if unused:
        print(
            "huggingfaceserver: unused by this engine (llama.cpp on CPU): " + ", ".join(unused),
            file=sys.stderr,
            flush=True,
        )
    return llm_main(llm_argv)


if __name__ == "__main__":
    sys.exit(main())
