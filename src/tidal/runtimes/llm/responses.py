"""Response objects shaped as vLLM's (and the seed's sample): completions, chunks, models.

PURE builders of plain dicts; `sse` frames one server-sent event.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    text: str
    finish_reason: str
    stop_reason: str | int | None
    completion_tokens: int


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(16)}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
        "prompt_tokens_details": None,
    }


def _envelope(
    id_: str, object_: str, created: int, model: str, choices: list[dict[str, Any]]
) -> dict[str, Any]:
    """The keys every completion object and chunk opens with, in vLLM's order."""
    return {"id": id_, "object": object_, "created": created, "model": model, "choices": choices}


def _choice(
    index: int, body: dict[str, Any], finish_reason: str | None, stop_reason: str | int | None
) -> dict[str, Any]:
    """One choice in vLLM's key order: index, its body (message or text), logprobs, reasons."""
    return {
        "index": index,
        **body,
        "logprobs": None,
        "finish_reason": finish_reason,
        "stop_reason": stop_reason,
    }


def chat_completion(
    id_: str, created: int, model: str, choices: list[Choice], prompt_tokens: int
) -> dict[str, Any]:
    body = [
        _choice(
            c.index,
            {"message": {"role": "assistant", "content": c.text, "reasoning": None}},
            c.finish_reason,
            c.stop_reason,
        )
        for c in choices
    ]
    return {
        **_envelope(id_, "chat.completion", created, model, body),
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
        "system_fingerprint": None,
        "prompt_logprobs": None,
    }


def text_completion(
    id_: str, created: int, model: str, choices: list[Choice], prompt_tokens: int
) -> dict[str, Any]:
    body = [_choice(c.index, {"text": c.text}, c.finish_reason, c.stop_reason) for c in choices]
    return {
        **_envelope(id_, "text_completion", created, model, body),
        "usage": usage(prompt_tokens, sum(c.completion_tokens for c in choices)),
        "system_fingerprint": None,
    }


def chat_chunk(
    id_: str,
    created: int,
    model: str,
    index: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    stop_reason: str | int | None = None,
) -> dict[str, Any]:
    choice = _choice(index, {"delta": delta}, finish_reason, stop_reason)
    if finish_reason is None:
        del choice["stop_reason"]  # vLLM sends stop_reason only on the closing chunk
    return _envelope(id_, "chat.completion.chunk", created, model, [choice])


def completion_chunk(
    id_: str,
    created: int,
    model: str,
    index: int,
    text: str,
    finish_reason: str | None = None,
    stop_reason: str | int | None = None,
) -> dict[str, Any]:
    choice = _choice(index, {"text": text}, finish_reason, stop_reason)
    return _envelope(id_, "text_completion", created, model, [choice])


def usage_chunk(
    id_: str, created: int, model: str, object_: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        **_envelope(id_, object_, created, model, []),
        "usage": usage(prompt_tokens, completion_tokens),
    }


def model_list(
    names: tuple[str, ...], root: str, max_model_len: int, created: int
) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "vllm",
                "root": root,
                "parent": None,
                "max_model_len": max_model_len,
                "permission": [
                    {
                        "id": new_id("modelperm"),
                        "object": "model_permission",
                        "created": created,
                        "allow_create_engine": False,
                        "allow_sampling": True,
                        "allow_logprobs": True,
                        "allow_search_indices": False,
                        "allow_view": True,
                        "allow_fine_tuning": False,
                        "organization": "*",
                        "group": None,
                        "is_blocking": False,
                    }
                ],
            }
            for name in names
        ],
    }


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def now() -> int:
    return int(time.time())
