"""The runtime's ASGI app: KServe V1 and Open Inference Protocol V2 over plain ASGI.

No web framework runs per request: the path is matched with string operations, the body is read
with a size limit, JSON is parsed and written with orjson (numpy arrays natively), and each
answer is one `http.response.start` + one `http.response.body`. Every failure becomes
`{"error": "..."}` with a 4xx status (5xx only for a custom model's own bug or a model that is
not ready), so nothing a client sends crashes the server or yields a 500.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tidal import __version__
from tidal.runtimes import v1, v2
from tidal.runtimes.batcher import MicroBatcher
from tidal.runtimes.errors import (
    BodyTooLarge,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    NotImplementedYet,
    RuntimeHTTPError,
)
from tidal.runtimes.metrics import ModelMetrics, exposition
from tidal.runtimes.model import Model

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MAX_BODY = 16 * 1024 * 1024
JSON = b"application/json"
_perf = time.perf_counter


def runs_inline(typical_s: float, inline_max_s: float) -> bool:
    """Run a synchronous predict on the event loop when it is typically shorter than
    `inline_max_s`: handing a sub-millisecond call to a thread costs more (a wake-up and a GIL
    hand-off) than it blocks the loop. Slower models go to the worker thread."""
    return typical_s < inline_max_s


def typical_after(typical_s: float, took_s: float, weight: float = 0.2) -> float:
    """Exponentially weighted predict time; the first measurement replaces the unknown (inf)."""
    if typical_s == float("inf"):
        return took_s
    return (1 - weight) * typical_s + weight * took_s


class ServedModel:
    """A loaded model with what serving it needs: metrics children and, if batchable, a batcher."""

    def __init__(
        self,
        model: Model,
        executor: ThreadPoolExecutor | None,
        batch_max_rows: int,
        batch_wait_s: float,
        inline_max_s: float = 0.002,
    ) -> None:
        self.model = model
        self.name = model.name
        self.metrics = ModelMetrics(model.name)
        self._executor = executor
        self._inline_max_s = inline_max_s
        self.typical_s = float("inf")  # unknown until the first call, which goes to the thread
        self._async = inspect.iscoroutinefunction(model.predict)
        self.batcher: MicroBatcher | None = None
        if model.batchable and batch_max_rows > 0:
            self.batcher = MicroBatcher(self._call, max_rows=batch_max_rows, wait_s=batch_wait_s)

    async def _call(self, instances: Any) -> Any:
        """One predict call: awaited if async; if sync, inline when it is typically short, else
        on the worker thread so the loop keeps serving other requests' I/O."""
        if isinstance(instances, np.ndarray) and instances.ndim:
            self.metrics.batch_rows.observe(len(instances))
        if self._async:
            return await self.model.predict(instances)
        if self._executor is None or runs_inline(self.typical_s, self._inline_max_s):
            result, took_s = self._timed_predict(instances)
        else:
            loop = asyncio.get_running_loop()
            result, took_s = await loop.run_in_executor(
                self._executor, self._timed_predict, instances
            )
        self.typical_s = typical_after(self.typical_s, took_s)
        return result

    def _timed_predict(self, instances: Any) -> tuple[Any, float]:
        """predict and the wall time of the call itself, measured where it runs (the thread
        hand-off is not counted). Wall, not CPU, time: a predict that waits (on I/O, a device,
        a lock) blocks the loop just as much as one that computes."""
        started = _perf()
        try:
            result = self.model.predict(instances)
        except BaseException:
            self.typical_s = typical_after(self.typical_s, _perf() - started)
            raise
        return result, _perf() - started

    async def predict(self, instances: Any) -> tuple[Any, float]:
        """Validate and predict one request's instances → (result, seconds its predict took)."""
        instances = self.model.validate(instances)
        if self.batcher is not None and isinstance(instances, np.ndarray) and instances.ndim:
            return await self.batcher.submit(instances)
        started = _perf()
        result = await self._call(instances)
        return result, _perf() - started


def _error_body(message: str) -> bytes:
    return v1.dumps({"error": message})


def _status_of(exc: BaseException) -> tuple[int, str]:
    """Map an exception to (status, message): ours carry theirs; bad-value errors are 400."""
    if isinstance(exc, RuntimeHTTPError):
        return exc.status, exc.message
    if isinstance(exc, (ValueError, TypeError, KeyError, IndexError)):
        return 400, f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError):
        return 501, str(exc) or "Not implemented"
    return 500, f"{type(exc).__name__} : {exc}"


class RuntimeApp:
    """ASGI callable serving `models` over V1 and V2."""

    def __init__(
        self,
        models: Iterable[Model],
        *,
        max_body_size: int = DEFAULT_MAX_BODY,
        batch_max_rows: int = 256,
        batch_wait_s: float = 0.0,
        predict_threads: int = 1,
        inline_max_s: float = 0.002,
    ) -> None:
        self.max_body_size = max_body_size
        self.executor = (
            ThreadPoolExecutor(predict_threads, thread_name_prefix="predict")
            if predict_threads > 0
            else None
        )
        self.models: dict[str, ServedModel] = {
            m.name: ServedModel(m, self.executor, batch_max_rows, batch_wait_s, inline_max_s)
            for m in models
        }

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            status, body, content_type = await self._dispatch(scope, receive)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.executor is not None:
                        self.executor.shutdown(wait=False, cancel_futures=True)
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _dispatch(self, scope: Scope, receive: Receive) -> tuple[int, bytes, bytes]:
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if path.startswith("/v1/models/"):
                rest = path[11:]
                if rest.endswith(":predict"):
                    self._need(method, "POST")
                    return await self._v1_predict(rest[:-8], scope, receive)
                if rest.endswith(":explain"):
                    self._need(method, "POST")
                    self._ready_model(rest[:-8])
                    raise NotImplementedYet("Could not find explainer_host.")
                self._need(method, "GET")
                if not rest:
                    return self._list()
                model = self._ready_model(rest)
                return 200, v1.dumps({"name": model.name, "ready": True}), JSON
            if path.startswith("/v2/models/"):
                return await self._v2_model(path[11:], method, scope, receive)
            route = _SIMPLE_ROUTES.get(path.rstrip("/") or "/")
            if route is None:
                return 404, _error_body("Not Found"), JSON
            self._need(method, "GET")
            return route(self)
        except Exception as exc:
            status, message = _status_of(exc)
            return status, _error_body(message), JSON

    @staticmethod
    def _need(method: str, allowed: str) -> None:
        if method != allowed:
            raise RuntimeHTTPError("Method Not Allowed", 405)

    def _model(self, name: str) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            raise ModelNotFound(name)
        return served

    def _ready_model(self, name: str) -> ServedModel:
        served = self._model(name)
        if not served.model.ready:
            raise ModelNotReady(name)
        return served

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.max_body_size
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise InvalidInput("Content-Length is not a number") from None
                if declared > limit:
                    raise BodyTooLarge(limit)
                break
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > limit:
                raise BodyTooLarge(limit)
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise InvalidInput("Client disconnected before the body was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    # -- inference ----------------------------------------------------------------------------

    async def _infer(
        self,
        served: ServedModel,
        scope: Scope,
        receive: Receive,
        decode: Callable[[bytes], tuple[Any, Any]],
        encode: Callable[[Any, Any], bytes],
    ) -> tuple[int, bytes, bytes]:
        """The pipeline both protocols share, with KServe's three timings and our counters."""
        metrics = served.metrics
        metrics.in_flight.inc()
        status = 200
        try:
            started = _perf()
            body = await self._read_body(scope, receive)
            instances, context = decode(body)
            metrics.preprocess.observe(_perf() - started)
            result, predict_s = await served.predict(instances)
            metrics.predict.observe(predict_s)
            started = _perf()
            out = encode(result, context)
            metrics.postprocess.observe(_perf() - started)
            return 200, out, JSON
        except Exception as exc:
            status, message = _status_of(exc)
            return status, _error_body(message), JSON
        finally:
            metrics.in_flight.dec()
            metrics.answered(status)

    async def _v1_predict(
        self, name: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, bytes]:
        served = self._ready_model(name)
        return await self._infer(
            served,
            scope,
            receive,
            lambda body: (v1.decode_predict(body), None),
            lambda result, _: v1.encode_predictions(result),
        )

    async def _v2_model(
        self, rest: str, method: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, bytes]:
        name, _, action = rest.partition("/")
        if action == "infer":
            self._need(method, "POST")
            served = self._ready_model(name)

            def decode(body: bytes) -> tuple[Any, Any]:
                request = v2.decode_infer(body)
                return request.tensors[0], request.id

            return await self._infer(
                served,
                scope,
                receive,
                decode,
                lambda result, request_id: v2.encode_infer(name, request_id, result),
            )
        self._need(method, "GET")
        if action == "" or action == "ready":
            served = self._ready_model(name) if action == "ready" else self._model(name)
            if action == "ready":
                return 200, v1.dumps({"name": name, "ready": True}), JSON
            model = served.model
            return (
                200,
                v1.dumps(
                    {
                        "name": name,
                        "platform": "",
                        "inputs": model.input_types(),
                        "outputs": model.output_types(),
                    }
                ),
                JSON,
            )
        if action.startswith("versions/"):
            self._model(name)
            raise NotImplementedYet("Model versioning not supported yet.")
        return 404, _error_body("Not Found"), JSON

    # -- server-level routes ---------------------------------------------------------------

    def _root(self) -> tuple[int, bytes, bytes]:
        return 200, b'{"status":"alive"}', JSON

    def _list(self) -> tuple[int, bytes, bytes]:
        return 200, v1.dumps({"models": list(self.models)}), JSON

    def _v2_metadata(self) -> tuple[int, bytes, bytes]:
        body = {"name": "tidal", "version": __version__, "extensions": []}
        return 200, v1.dumps(body), JSON

    def _live(self) -> tuple[int, bytes, bytes]:
        return 200, b'{"live":true}', JSON

    def _server_ready(self) -> tuple[int, bytes, bytes]:
        if self.models and all(s.model.ready for s in self.models.values()):
            return 200, b'{"ready":true}', JSON
        return 503, _error_body("Server is not ready."), JSON

    def _metrics(self) -> tuple[int, bytes, bytes]:
        body, content_type = exposition()
        return 200, body, content_type.encode()


_SIMPLE_ROUTES: dict[str, Callable[[RuntimeApp], tuple[int, bytes, bytes]]] = {
    "/": RuntimeApp._root,
    "/metrics": RuntimeApp._metrics,
    "/v1/models": RuntimeApp._list,
    "/v2": RuntimeApp._v2_metadata,
    "/v2/models": RuntimeApp._list,
    "/v2/health/live": RuntimeApp._live,
    "/v2/health/ready": RuntimeApp._server_ready,
}
