"""Command line and process model shared by `python -m sklearnserver`, `tidal.runtimes.sklearn`
and `tidal.runtimes.custom`.

The model is loaded before the port is bound, so a TCP probe that connects means the model is
loaded (and a model that cannot load exits non-zero with one clear line, never a traceback).
The socket binds `$POD_IP` when set (each tidal pod has its own loopback address), else
`0.0.0.0`. `--workers N` binds once and runs N uvicorn worker processes on that socket (uvicorn's
supervisor restarts a worker that dies); each worker loads its own copy of the model.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tidal.runtimes.errors import ModelLoadError
from tidal.runtimes.model import Model

log = logging.getLogger("tidal.runtimes")

SPEC_ENV = "TIDAL_RUNTIME_SPEC"  # how worker processes learn what to serve


@dataclass(frozen=True)
class ServerSpec:
    """Everything a worker process needs to build the same app: plain data, passed as JSON."""

    model_factory: str  # "pkg.mod:Class" of a tidal.Model subclass
    model_name: str
    model_dir: str | None
    max_body_size: int
    batch_max_rows: int
    batch_wait_s: float
    predict_threads: int
    inline_max_s: float
    options: dict[str, Any] = field(default_factory=dict)  # a runtime's own flags (`--nthread`)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"must be true or false, got {text!r}")


def build_parser(prog: str, *, model_dir_required: bool) -> argparse.ArgumentParser:
    """KServe's model-server flags (same names, both `_` and `-` spellings) plus tidal's own."""
    p = argparse.ArgumentParser(prog=prog, description="tidal model runtime (KServe V1 + V2)")
    add = p.add_argument
    add("--model_name", "--model-name", default="model", help="name used in URL paths")
    add(
        "--model_dir",
        "--model-dir",
        required=model_dir_required,
        default=None,
        help="folder holding the model",
    )
    add("--http_port", "--http-port", type=_port, default=8080, help="REST port (8080)")
    add("--workers", type=_positive_int, default=1, help="worker processes on the one port (1)")
    add("--host", default=None, help="address to bind (default: $POD_IP, else 0.0.0.0)")
    add(
        "--max_body_size",
        "--max-body-size",
        type=_positive_int,
        default=16 * 1024 * 1024,
        help="largest request body in bytes; larger gets 413 (16 MiB)",
    )
    add(
        "--batch_max_rows",
        "--batch-max-rows",
        type=_non_negative_int,
        default=256,
        help="most instances merged into one predict call; 0 turns micro-batching off (256)",
    )
    add(
        "--batch_wait_ms",
        "--batch-wait-ms",
        type=_non_negative_float,
        default=0.0,
        help="extra time a batch waits to gather requests; 0 = adaptive, no added wait (0)",
    )
    add(
        "--predict_threads",
        "--predict-threads",
        type=_non_negative_int,
        default=1,
        help="threads that run a slow synchronous predict; 0 runs every predict on the loop (1)",
    )
    add(
        "--inline_predict_ms",
        "--inline-predict-ms",
        type=_non_negative_float,
        default=2.0,
        help="a synchronous predict typically shorter than this runs on the event loop, "
        "a longer one on a predict thread; 0 always uses the thread (2.0)",
    )
    add("--timeout_keep_alive", "--timeout-keep-alive", type=int, default=65)
    add("--log_level", "--log-level", default=os.environ.get("KSERVE_LOGLEVEL", "INFO"))
    add("--access_log", "--access-log", type=_bool, default=False, help="log every request")
    # Accepted for drop-in compatibility with KServe's command lines; they change nothing here.
    for flag, kind in (
        ("grpc_port", int),
        ("max_threads", int),
        ("max_asyncio_workers", int),
        ("enable_grpc", _bool),
        ("enable_docs_url", _bool),
        ("enable_latency_logging", _bool),
        ("configure_logging", _bool),
        ("log_config_file", str),
        ("access_log_format", str),
        ("event_loop", str),
        ("protocol", str),
        ("predictor_protocol", str),
        ("predictor_host", str),
    ):
        add(
            f"--{flag}",
            f"--{flag.replace('_', '-')}",
            type=kind,
            default=None,
            help=argparse.SUPPRESS,
        )
    return p


def spec_from_args(
    args: argparse.Namespace, model_factory: str, options: dict[str, Any] | None = None
) -> ServerSpec:
    return ServerSpec(
        model_factory=model_factory,
        model_name=args.model_name,
        model_dir=args.model_dir,
        max_body_size=args.max_body_size,
        batch_max_rows=args.batch_max_rows,
        batch_wait_s=args.batch_wait_ms / 1000.0,
        predict_threads=args.predict_threads,
        inline_max_s=args.inline_predict_ms / 1000.0,
        options=dict(options or {}),
    )


def import_model_class(ref: str) -> type[Model]:
    """`pkg.mod:Class` → the class; ModelLoadError names what is missing."""
    import importlib

    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ModelLoadError(f"--model-class must look like pkg.module:ClassName, got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"cannot import module {module_name!r}: {exc}") from exc
    cls = module
    for part in attr.split("."):
        cls = getattr(cls, part, None)
        if cls is None:
            raise ModelLoadError(f"module {module_name!r} has no attribute {attr!r}")
    if not (inspect.isclass(cls) and issubclass(cls, Model)):
        raise ModelLoadError(f"{ref} is not a subclass of tidal.Model")
    return cls


def load_model(spec: ServerSpec) -> Model:
    """Build and load the model; it must be ready afterwards (KServe refuses to start otherwise)."""
    cls = import_model_class(spec.model_factory)
    try:
        model = cls(spec.model_name, spec.model_dir, **spec.options)
        result = model.load()
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except ModelLoadError:
        raise
    except Exception as exc:  # the model's own code failed: one line, not a traceback
        raise ModelLoadError(
            f"{spec.model_factory}: loading failed: {type(exc).__name__}: {exc}"
        ) from exc
    if not model.ready:
        raise ModelLoadError(
            f"Model with name {spec.model_name} is not ready after load() "
            "(load() must set self.ready = True)"
        )
    return model


async def _await(awaitable: Any) -> Any:
    return await awaitable


def build_app(spec: ServerSpec, model: Model | None = None) -> Any:
    from tidal.runtimes.app import RuntimeApp

    return RuntimeApp(
        [model or load_model(spec)],
        max_body_size=spec.max_body_size,
        batch_max_rows=spec.batch_max_rows,
        batch_wait_s=spec.batch_wait_s,
        predict_threads=spec.predict_threads,
        inline_max_s=spec.inline_max_s,
    )


def worker_app() -> Any:
    """uvicorn's app factory in each worker process (`--workers N`)."""
    spec = ServerSpec(**json.loads(os.environ[SPEC_ENV]))
    try:
        return build_app(spec)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def bind_host(cli_host: str | None, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """--host, else $POD_IP, else every address."""
    return cli_host or environ.get("POD_IP") or "0.0.0.0"


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(
    argv: Sequence[str] | None,
    prog: str,
    model_factory: str | None = None,
    extra_flags: Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], dict]]
    | None = None,
) -> int:
    """Parse flags, load the model, bind, serve until SIGTERM/SIGINT. Returns the exit code.
    `extra_flags(parser)` adds a runtime's own flags and returns how to read them into the
    keyword arguments of its model class (xgbserver's `--nthread`)."""
    parser = build_parser(prog, model_dir_required=model_factory is not None)
    read_options = extra_flags(parser) if extra_flags is not None else None
    if model_factory is None:
        parser.add_argument(
            "--model_class",
            "--model-class",
            required=True,
            help="the tidal.Model subclass to serve, as pkg.module:ClassName",
        )
    args = parser.parse_args(argv)
    factory = model_factory or args.model_class
    spec = spec_from_args(args, factory, read_options(args) if read_options else None)
    logging.basicConfig(
        level=str(args.log_level).upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        model = load_model(spec)  # fail before binding, with one clear line
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    host = bind_host(args.host)
    try:
        sock = bind_socket(host, args.http_port)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{args.http_port}: {exc.strerror}", file=sys.stderr)
        return 1
    bound = sock.getsockname()
    log.info(
        "serving model %s on http://%s:%s with %d worker(s)",
        spec.model_name,
        bound[0],
        bound[1],
        args.workers,
    )
    if args.workers == 1:
        _serve_one(build_app(spec, model), sock, args)
    else:
        del model  # each worker loads its own
        _serve_many(spec, sock, args)
    return 0


def _uvicorn_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "off",
        "access_log": bool(args.access_log),
        "log_level": str(args.log_level).lower(),
        "timeout_keep_alive": args.timeout_keep_alive,
        "timeout_graceful_shutdown": 30,
        "server_header": False,
        "date_header": False,
    }


def _serve_one(app: Any, sock: socket.socket, args: argparse.Namespace) -> None:
    import uvicorn

    config = uvicorn.Config(app, **_uvicorn_kwargs(args))
    uvicorn.Server(config).run(sockets=[sock])


def _serve_many(spec: ServerSpec, sock: socket.socket, args: argparse.Namespace) -> None:
    import shutil

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[SPEC_ENV] = json.dumps(asdict(spec))
    metrics_dir = tempfile.mkdtemp(prefix="tidal-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by the spawned workers
    try:
        config = uvicorn.Config(
            "tidal.runtimes.server:worker_app",
            factory=True,
            workers=args.workers,
            **_uvicorn_kwargs(args),
        )
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
