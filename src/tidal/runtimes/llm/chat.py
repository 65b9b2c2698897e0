"""Chat messages -> prompt text, with the model's own Jinja chat template (as vLLM/HF do).

The template comes from `--chat-template` (a file, or the template itself) or from the GGUF's
`tokenizer.chat_template`. It runs in Jinja's sandbox; whatever a template raises on a client's
messages is the client's 400, never a 500.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tidal.runtimes.llm.errors import BadRequest
from tidal.runtimes.llm.protocol import ChatMessage

NO_TEMPLATE = (
    "As of transformers v4.44, default chat template is no longer allowed, so you must provide "
    "a chat template if the tokenizer does not define one."
)


def template_source(flag: str | None, metadata: dict[str, str]) -> str | None:
    """--chat-template (a readable file, else the template text) over the model's template."""
    if flag:
        path = Path(flag).expanduser()
        try:
            if path.is_file():
                return path.read_text()
        except OSError:
            pass
        return flag
    return metadata.get("tokenizer.chat_template")


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, **_: Any) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent)


def _raise(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    def __init__(self, source: str | None, bos_token: str, eos_token: str) -> None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.bos_token, self.eos_token = bos_token, eos_token
        self._template = None
        if source is not None:
            env = ImmutableSandboxedEnvironment(
                trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
            )
            env.filters["tojson"] = _tojson
            env.globals["raise_exception"] = _raise
            env.globals["strftime_now"] = lambda f: datetime.now().strftime(f)
            self._template = env.from_string(source)

    def render(
        self,
        messages: list[ChatMessage],
        add_generation_prompt: bool = True,
        tools: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        if self._template is None:
            raise BadRequest(NO_TEMPLATE)
        plain = []
        for m in messages:
            d = m.model_dump(exclude_none=True)
            if isinstance(m.content, list):
                d["content"] = "\n".join(part.text for part in m.content)
            plain.append(d)
        kwargs = dict(extra or {})
        kwargs.update(
            messages=plain,
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            tools=tools,
        )
        try:
            return self._template.render(**kwargs)
        except Exception as exc:  # the template rejected these messages
            raise BadRequest(f"chat template: {exc}", param="messages") from None
