"""Per-sequence sampling parameters, and the text side of decoding (PURE, no engine).

`TextStream` turns token pieces (bytes) into text the client may see: it holds back incomplete
UTF-8 and any tail that could still become a stop string, and finds the stop string that ends
the sequence. It is fed by the engine thread and tested on plain bytes.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """What one sequence samples with; vLLM's defaults (temperature 1, no top-k/top-p/min-p)."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # <= 0: off
    min_p: float = 0.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None  # None: the engine draws one
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True


def llama_seed(seed: int) -> int:
    """A request seed (int64) as llama.cpp's uint32 sampler seed; 0xFFFFFFFF means 'random' there."""
    value = seed % 2**32
    return 0xFFFFFFFE if value == 0xFFFFFFFF else value


class TextStream:
    """Bytes in, safe text out: complete UTF-8 only, never a prefix of a stop string."""

    def __init__(self, stop: tuple[str, ...] = (), include_stop: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = stop
        self._include_stop = include_stop
        self._hold = max((len(s) for s in stop), default=1) - 1
        self.text = ""  # decoded so far (may run past a stop string until it is found)
        self.sent = 0  # chars of `text` already handed out
        self.stop_reason: str | None = None

    def feed(self, piece: bytes) -> str:
        """Add a token's bytes; return the text now safe to send ("" if none)."""
        start = max(0, len(self.text) - self._hold - 1)
        self.text += self._decoder.decode(piece)
        hits = [(at, s) for s in self._stop if (at := self.text.find(s, start)) >= 0]
        if hits:
            at, self.stop_reason = min(hits)
            self.text = self.text[: at + (len(self.stop_reason) if self._include_stop else 0)]
            return self._take(len(self.text))
        return self._take(len(self.text) - self._partial_stop())

    def finish(self) -> str:
        """The sequence ended: flush what was held back."""
        if self.stop_reason is None:
            self.text += self._decoder.decode(b"", final=True)
        return self._take(len(self.text))

    def _partial_stop(self) -> int:
        """Length of the longest tail of the text that a stop string starts with."""
        for k in range(min(self._hold, len(self.text)), 0, -1):
            tail = self.text[-k:]
            if any(s.startswith(tail) for s in self._stop):
                return k
        return 0

    def _take(self, upto: int) -> str:
        if upto <= self.sent:
            return ""
        out = self.text[self.sent : upto]
        self.sent = upto
        return out
