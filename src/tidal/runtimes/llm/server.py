"""Startup: flags -> model file -> engine -> Starlette app on uvicorn, bound to $POD_IP if set.

Bad flags or a model that does not load exit 2 with a message naming the flag, before the port
is bound, so a pod that can never serve fails fast instead of answering 500s.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence

from tidal.runtimes.llm import args, chat, modelpath
from tidal.runtimes.llm.metrics import EngineMetrics


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 2


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    settings = args.parse(sys.argv[1:] if argv is None else argv)
    if settings.unused:
        print(
            "tidal-llm: unused by this engine (llama.cpp on CPU): " + ", ".join(settings.unused),
            file=sys.stderr,
            flush=True,
        )
    try:
        path = modelpath.resolve(settings.model)
    except modelpath.ModelPathError as exc:
        return _fail(str(exc))
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return _fail("the LLM engine (llama-cpp-python) is not installed: run `make llm`")

    import uvicorn

    from tidal.runtimes.llm.app import Served, build_app
    from tidal.runtimes.llm.engine import Engine
    from tidal.runtimes.llm.responses import now

    metrics = EngineMetrics(settings.served_model_name)
    try:
        engine = Engine(path, settings.max_model_len, settings.max_num_seqs, metrics, settings.seed)
    except ValueError as exc:
        return _fail(
            f"--model {settings.model}: {exc}" if "--max-model-len" not in str(exc) else str(exc)
        )
    try:
        template = chat.ChatTemplate(
            chat.template_source(settings.chat_template, engine.metadata),
            bos_token=engine.token_text(engine.vocab.token_bos()),
            eos_token=engine.token_text(engine.vocab.token_eos()),
        )
    except Exception as exc:  # jinja2 syntax errors in --chat-template
        return _fail(f"--chat-template: {exc}")
    served = Served(settings.served_model_names, str(path), settings.api_key, template, now())
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        return _fail(f"--host {settings.host} --port {settings.port}: {exc.strerror or exc}")
    host, port = sock.getsockname()[:2]
    print(
        f"tidal-llm: serving {', '.join(settings.served_model_names)} ({path.name}, "
        f"max_model_len {engine.max_model_len}, max_num_seqs {settings.max_num_seqs}, "
        f"{engine.n_threads} threads) on http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        build_app(engine, served),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0
