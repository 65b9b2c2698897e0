"""Routes of vLLM's OpenAI-compatible server, on Starlette.

`/v1/chat/completions`, `/v1/completions`, `/v1/models` (behind `--api-key` when set), and the
unauthenticated `/health`, `/load`, `/version`, `/metrics`. A request is parsed and checked
completely (JSON, fields, model name, context length) before anything reaches the engine, so a
bad request changes nothing; every error is vLLM's JSON body with a 4xx status.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tidal import __version__
from tidal.runtimes.llm import responses as R
from tidal.runtimes.llm.chat import ChatTemplate
from tidal.runtimes.llm.engine import Delta, Engine, Finished, Handle
from tidal.runtimes.llm.errors import (
    BadRequest,
    ModelNotFound,
    OpenAIError,
    Unauthorized,
    error_body,
)
from tidal.runtimes.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingFields,
    parse,
)
from tidal.runtimes.llm.sampling import SamplingParams
from tidal.runtimes.llm.sse import EventStream, wait_disconnect

MAX_BODY = 32 * 1024 * 1024
BIG_TEXT = 64 * 1024  # characters; tokenizing more than this leaves the event loop


@dataclass(frozen=True, slots=True)
class Served:
    """What the routes need besides the engine."""

    names: tuple[str, ...]
    root: str
    api_key: str | None
    template: ChatTemplate
    created: int


def max_tokens_for(prompt_len: int, requested: int | None, max_model_len: int) -> int:
    """vLLM's context-length rule: the prompt must leave room; max_tokens must fit beside it."""
    if prompt_len >= max_model_len:
        raise BadRequest(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"request has {prompt_len} input tokens. Please reduce the length of the input "
            "messages."
        )
    if requested is None:
        return max_model_len - prompt_len
    if prompt_len + requested > max_model_len:
        raise BadRequest(
            f"'max_tokens' or 'max_completion_tokens' is too large: {requested}. This model's "
            f"maximum context length is {max_model_len} tokens and your request has "
            f"{prompt_len} input tokens ({requested} > {max_model_len} - {prompt_len}).",
            param="max_tokens",
        )
    return requested


def sampling_params(req: SamplingFields, max_tokens: int, choice: int) -> SamplingParams:
    """Choice i of a seeded request samples with seed + i: n different, reproducible choices."""
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=1.0 if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        top_k=req.top_k or 0,
        min_p=req.min_p or 0.0,
        presence_penalty=req.presence_penalty or 0.0,
        frequency_penalty=req.frequency_penalty or 0.0,
        repetition_penalty=1.0 if req.repetition_penalty is None else req.repetition_penalty,
        seed=None if req.seed is None else req.seed + choice,
        stop=req.stop_strings(),
        stop_token_ids=tuple(req.stop_token_ids or ()),
        ignore_eos=req.ignore_eos,
        include_stop_str_in_output=req.include_stop_str_in_output,
        skip_special_tokens=req.skip_special_tokens,
    )


def error_response(exc: OpenAIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


class Api:
    def __init__(self, engine: Engine, served: Served) -> None:
        self.engine = engine
        self.served = served

    # -- request checks ----------------------------------------------------------------------
    def _auth(self, request: Request) -> None:
        key = self.served.api_key
        if key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {key}".encode()):
            raise Unauthorized()

    async def _json(self, request: Request) -> Any:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype and ctype != "application/json":
            raise BadRequest("Unsupported Media Type: Only 'application/json' is allowed")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BadRequest(f"the request body is over {MAX_BODY} bytes")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from None

    def _model(self, name: str | None) -> str:
        if name is None:
            return self.served.names[0]
        if name not in self.served.names:
            raise ModelNotFound(name)
        return self.served.names[0]

    async def _tokenize(self, text: str, add_bos: bool) -> list[int]:
        """Short texts inline; long ones in a worker thread so the event loop keeps answering."""
        if len(text) < BIG_TEXT:
            return self.engine.tokenize(text, add_bos)
        return await asyncio.to_thread(self.engine.tokenize, text, add_bos)

    async def _prompt_ids(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            return await self._tokenize(prompt, self.engine.add_bos)
        bad = [t for t in prompt if t >= self.engine.n_vocab]
        if bad:
            raise BadRequest(f"Token id {max(bad)} is out of vocabulary", param="prompt")
        return prompt

    # -- routes ------------------------------------------------------------------------------
    async def chat_completions(self, request: Request) -> Response:
        self._auth(request)
        req: ChatCompletionRequest = parse(ChatCompletionRequest, await self._json(request))
        model = self._model(req.model)
        text = self.served.template.render(
            req.messages, req.add_generation_prompt, req.tools, req.chat_template_kwargs
        )
        prompt = await self._tokenize(text, add_bos=False)
        max_tokens = max_tokens_for(len(prompt), req.limit(), self.engine.max_model_len)
        params = [sampling_params(req, max_tokens, i) for i in range(req.n)]
        jobs = [(prompt, p) for p in params]
        if req.stream:
            usage = bool(req.stream_options and req.stream_options.include_usage)
            return self._stream(
                request,
                "chat.completion.chunk",
                R.new_id("chatcmpl"),
                model,
                jobs,
                usage,
                None,
                len(prompt),
            )
        choices = await self._collect(request, jobs)
        if choices is None:
            return Response(status_code=499)  # nobody is listening
        return JSONResponse(
            R.chat_completion(R.new_id("chatcmpl"), R.now(), model, choices, len(prompt))
        )

    async def completions(self, request: Request) -> Response:
        self._auth(request)
        req: CompletionRequest = parse(CompletionRequest, await self._json(request))
        model = self._model(req.model)
        jobs: list[tuple[list[int], SamplingParams]] = []
        echoes: list[str] = []
        for prompt in req.prompts():
            ids = await self._prompt_ids(prompt)
            max_tokens = max_tokens_for(len(ids), req.limit(), self.engine.max_model_len)
            echo = (
                (prompt if isinstance(prompt, str) else self.engine.detokenize(ids))
                if req.echo
                else ""
            )
            for i in range(req.n):
                jobs.append((ids, sampling_params(req, max_tokens, i)))
                echoes.append(echo)
        prompt_tokens = sum(len(ids) for ids, _ in jobs[:: req.n])
        if req.stream:
            usage = bool(req.stream_options and req.stream_options.include_usage)
            return self._stream(
                request,
                "text_completion",
                R.new_id("cmpl"),
                model,
                jobs,
                usage,
                echoes,
                prompt_tokens,
            )
        got = await self._collect(request, jobs)
        if got is None:
            return Response(status_code=499)
        choices = [
            R.Choice(
                c.index,
                echoes[c.index] + c.text,
                c.finish_reason,
                c.stop_reason,
                c.completion_tokens,
            )
            for c in got
        ]
        return JSONResponse(
            R.text_completion(R.new_id("cmpl"), R.now(), model, choices, prompt_tokens)
        )

    async def models(self, request: Request) -> Response:
        self._auth(request)
        s = self.served
        return JSONResponse(R.model_list(s.names, s.root, self.engine.max_model_len, s.created))

    async def health(self, request: Request) -> Response:
        return Response(status_code=200 if self.engine.alive else 503)

    async def load(self, request: Request) -> Response:
        return JSONResponse({"server_load": self.engine.load()})

    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": __version__})

    async def metrics(self, request: Request) -> Response:
        return Response(
            self.engine.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    # -- running sequences ---------------------------------------------------------------------
    def _submit(self, jobs: list[tuple[list[int], SamplingParams]]) -> list[Handle]:
        if not self.engine.alive:
            raise OpenAIError("the engine is not running")
        return [self.engine.submit(ids, params) for ids, params in jobs]

    async def _collect(
        self, request: Request, jobs: list[tuple[list[int], SamplingParams]]
    ) -> list[R.Choice] | None:
        """Run to the end; a client that disconnects first aborts every sequence (-> None)."""
        handles = self._submit(jobs)

        async def one(i: int, h: Handle) -> R.Choice:
            parts: list[str] = []
            async for ev in h.events():
                parts.append(ev.text)
                if isinstance(ev, Finished):
                    if ev.reason == "error":
                        raise OpenAIError(ev.message)
                    if ev.reason == "abort":
                        raise OpenAIError("the request was aborted: the server is stopping")
                    return R.Choice(
                        i, "".join(parts), ev.reason, ev.stop_reason, ev.completion_tokens
                    )
            raise OpenAIError("the engine ended the sequence without an answer")

        work = asyncio.ensure_future(asyncio.gather(*(one(i, h) for i, h in enumerate(handles))))
        gone = asyncio.ensure_future(wait_disconnect(request.receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                return None  # the client left: the finally aborts its sequences
            return work.result()
        finally:
            for h in handles:
                h.abort()
            for task in (work, gone):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def _stream(
        self,
        request: Request,
        object_: str,
        id_: str,
        model: str,
        jobs: list[tuple[list[int], SamplingParams]],
        include_usage: bool,
        echoes: list[str] | None,
        prompt_tokens: int,
    ) -> Response:
        handles = self._submit(jobs)
        created = R.now()
        chat = echoes is None

        def abort() -> None:
            for h in handles:
                h.abort()

        async def events() -> AsyncIterator[bytes]:
            merged: asyncio.Queue[tuple[int, Delta | Finished]] = asyncio.Queue()

            async def pump(i: int, h: Handle) -> None:
                async for ev in h.events():
                    await merged.put((i, ev))

            pumps = [asyncio.ensure_future(pump(i, h)) for i, h in enumerate(handles)]
            try:
                for i in range(len(handles)):
                    if chat:
                        yield R.sse(
                            R.chat_chunk(
                                id_, created, model, i, {"role": "assistant", "content": ""}
                            )
                        )
                    elif echoes and echoes[i]:
                        yield R.sse(R.completion_chunk(id_, created, model, i, echoes[i]))
                left, completion_tokens = len(handles), 0
                while left:
                    i, ev = await merged.get()
                    if isinstance(ev, Delta):
                        if chat:
                            yield R.sse(R.chat_chunk(id_, created, model, i, {"content": ev.text}))
                        else:
                            yield R.sse(R.completion_chunk(id_, created, model, i, ev.text))
                        continue
                    left -= 1
                    completion_tokens += ev.completion_tokens
                    if ev.reason in ("error", "abort"):
                        msg = ev.message or "the request was aborted: the server is stopping"
                        yield R.sse(error_body(msg, "InternalServerError", 500))
                        abort()
                        break
                    if chat:
                        chunk = R.chat_chunk(
                            id_, created, model, i, {"content": ev.text}, ev.reason, ev.stop_reason
                        )
                    else:
                        chunk = R.completion_chunk(
                            id_, created, model, i, ev.text, ev.reason, ev.stop_reason
                        )
                    yield R.sse(chunk)
                else:
                    if include_usage:
                        yield R.sse(
                            R.usage_chunk(
                                id_, created, model, object_, prompt_tokens, completion_tokens
                            )
                        )
                yield R.DONE
            finally:
                abort()
                for p in pumps:
                    p.cancel()

        return EventStream(events(), abort)  # type: ignore[return-value]


async def _openai_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpenAIError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    from http import HTTPStatus

    phrase = HTTPStatus(exc.status_code).phrase
    return JSONResponse(
        error_body(str(exc.detail), phrase, exc.status_code), status_code=exc.status_code
    )


def build_app(engine: Engine, served: Served) -> Starlette:
    api = Api(engine, served)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            await asyncio.to_thread(engine.stop)

    routes = [
        Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
        Route("/v1/completions", api.completions, methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/load", api.load, methods=["GET"]),
        Route("/version", api.version, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={OpenAIError: _openai_error, HTTPException: _http_error},
    )
