"""What each replayed request sends, pure: the protocol a service speaks (from its `/v1/models`
answer) and the request for one trace row.

- a KServe predictor (V1 protocol): `POST /v1/models/NAME:predict` with the seed's iris body;
- an OpenAI-compatible server (vLLM, tidal's LLM runtime): `POST /v1/completions` whose prompt is
  exactly `ContextTokens` token ids and whose `max_tokens` is `GeneratedTokens`, with
  `ignore_eos` and greedy sampling so every request generates exactly that many tokens; both are
  multiplied by `tokens_scale` and kept within the model's `max_model_len`."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The seed's request body for the iris predictor (examples/iris/iris-input.json).
IRIS_BODY = {"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]}
PROMPT_TOKEN = 100  # an ordinary token id: any id of the vocabulary gives the same work
DEFAULT_CONTEXT_COLUMN = "ContextTokens"
DEFAULT_OUTPUT_COLUMN = "GeneratedTokens"


class ProtocolError(ValueError):
    """The service's `/v1/models` answer names no protocol replay can speak."""


@dataclass(frozen=True, slots=True)
class Protocol:
    kind: str  # "openai" or "predict"
    model: str  # the served model name
    max_model_len: int | None = None  # OpenAI: context length per sequence, when announced


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body: bytes
    prompt_tokens: int = 0
    max_tokens: int = 0


def detect(models: Any, service: str) -> Protocol:
    """The protocol from a `GET /v1/models` body: OpenAI's `{"object": "list", "data": [...]}`
    or KServe V1's `{"models": [...]}`."""
    if isinstance(models, Mapping) and isinstance(models.get("data"), list) and models["data"]:
        card = models["data"][0] if isinstance(models["data"][0], Mapping) else {}
        mml = card.get("max_model_len")
        return Protocol(
            "openai", str(card.get("id") or service), int(mml) if isinstance(mml, int) else None
        )
    if isinstance(models, Mapping) and isinstance(models.get("models"), list) and models["models"]:
        names = [str(m) for m in models["models"]]
        return Protocol("predict", service if service in names else names[0])
    raise ProtocolError(
        f"the service's /v1/models answer is neither OpenAI's nor KServe's: {json.dumps(models)[:200]}"
    )


def request_for(
    proto: Protocol,
    size: Mapping[str, float],
    *,
    tokens_scale: float = 1.0,
    context_column: str = DEFAULT_CONTEXT_COLUMN,
    output_column: str = DEFAULT_OUTPUT_COLUMN,
) -> Request:
    """The request for one trace row (`size`: its numeric columns)."""
    if proto.kind == "predict":
        return Request(f"/v1/models/{proto.model}:predict", json.dumps(IRIS_BODY).encode())
    prompt = max(1, math.ceil(size.get(context_column, 1.0) * tokens_scale))
    out = max(1, math.ceil(size.get(output_column, 16.0) * tokens_scale))
    if proto.max_model_len is not None:
        prompt = min(prompt, max(1, proto.max_model_len - 1))
        out = min(out, max(1, proto.max_model_len - prompt))
    body = {
        "model": proto.model,
        "prompt": [PROMPT_TOKEN] * prompt,
        "max_tokens": out,
        "temperature": 0,
        "ignore_eos": True,
    }
    return Request("/v1/completions", json.dumps(body).encode(), prompt, out)
