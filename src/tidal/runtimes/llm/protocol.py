"""Request bodies of vLLM's `/v1/chat/completions` and `/v1/completions`, validated.

Unknown fields are allowed and ignored, as vLLM does (`extra="allow"`). Every check that fails
becomes a 400 `BadRequestError` naming the field; values the engine cannot honour (logprobs,
beam search, tool calling) are refused with 400 instead of being silently dropped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tidal.runtimes.llm.errors import BadRequest

INT64 = 2**63
MAX_N = 16  # choices per request; each one is a sequence that holds a context while it runs

NonNegFloat = Annotated[float, Field(ge=0.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
TokenId = Annotated[int, Field(ge=0, lt=2**31)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class StreamOptions(_Base):
    include_usage: bool | None = True
    continuous_usage_stats: bool | None = False


class TextPart(_Base):
    type: Literal["text"]
    text: str


class ChatMessage(_Base):
    role: str
    content: str | list[TextPart] | None = None
    name: str | None = None


class SamplingFields(_Base):
    """The sampling fields both endpoints share (vLLM's names and ranges)."""

    model: str | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 1
    temperature: NonNegFloat | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    top_k: Annotated[int, Field(ge=-1, lt=2**31)] | None = None
    min_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    repetition_penalty: Annotated[float, Field(gt=0.0, le=100.0)] | None = None
    seed: Annotated[int, Field(ge=-INT64, lt=INT64)] | None = None
    stop: str | list[str] | None = None
    stop_token_ids: list[TokenId] | None = None
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    use_beam_search: bool = False
    user: str | None = None

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> SamplingFields:
        if self.stream_options is not None and not self.stream:
            raise ValueError("Stream options can only be defined when `stream=True`.")
        if self.use_beam_search:
            raise ValueError("use_beam_search is not supported by this engine")
        return self

    def stop_strings(self) -> tuple[str, ...]:
        stop = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        return tuple(s for s in stop if s)


class ChatCompletionRequest(SamplingFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1, lt=2**31)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, lt=2**31)] | None = None
    logprobs: bool | None = False
    top_logprobs: Annotated[int, Field(ge=0)] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    add_generation_prompt: bool = True
    chat_template_kwargs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _supported(self) -> ChatCompletionRequest:
        if self.logprobs:
            raise ValueError("logprobs are not supported by this engine")
        if self.tool_choice not in (None, "none"):
            raise ValueError(
                '"auto" tool choice requires --enable-auto-tool-choice and '
                "--tool-call-parser to be set"
            )
        if self.response_format is not None and self.response_format.get("type") != "text":
            raise ValueError("response_format other than text is not supported by this engine")
        return self

    def limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[TokenId] | list[list[TokenId]] | None = None
    max_tokens: Annotated[int, Field(ge=1, lt=2**31)] | None = 16
    echo: bool = False
    logprobs: Annotated[int, Field(ge=0)] | None = None
    suffix: str | None = None

    @model_validator(mode="after")
    def _supported(self) -> CompletionRequest:
        if self.prompt is None or self.prompt == "" or self.prompt == []:
            raise ValueError("Either prompt or prompt_embeds must be provided and non-empty.")
        if isinstance(self.prompt, list) and any(p == "" or p == [] for p in self.prompt):
            raise ValueError("Either prompt or prompt_embeds must be provided and non-empty.")
        if self.logprobs is not None:
            raise ValueError("logprobs are not supported by this engine")
        if self.suffix is not None:
            raise ValueError("suffix is not currently supported")
        return self

    def limit(self) -> int | None:
        return self.max_tokens

    def prompts(self) -> list[str | list[int]]:
        """One entry per prompt: text, or token ids."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        assert p is not None
        if all(isinstance(x, int) for x in p):
            return [list(p)]  # type: ignore[arg-type]
        return list(p)  # type: ignore[arg-type]


def parse(model: type[SamplingFields], body: object) -> Any:
    """Validate a decoded JSON body; a failure is a 400 naming the first bad field."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        parts = []
        for err in errors[:5]:
            loc = ".".join(str(x) for x in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        first = errors[0]["loc"] if errors else ()
        param = str(first[0]) if first else None
        raise BadRequest("; ".join(parts), param=param) from None
