"""The llama.cpp engine: one thread owns every llama.cpp call, off the event loop.

Each running sequence holds one of `--max-num-seqs` llama.cpp contexts (a `Llama` each, over the
same mmap'd weights), all made at startup. The thread steps the running sequences round-robin,
a few tokens each per turn, so a new request starts (prefill, first token) within one round
instead of waiting for earlier requests to finish, and no stream is cut short by another.
Sequences beyond `--max-num-seqs` wait in FIFO order. Why not llama.cpp's multi-sequence batch:
see docs/LLM.md (on 2 cores it measured 0.9-1.25x and needs a sampler of our own). Each round
runs with the threads the other processes on the machine leave free (`cpu.py`): llama.cpp's
threads spin at barriers, and one thread too many on a busy machine made single tokens take
seconds.

The event loop talks to the thread through `submit` / `abort`; the thread answers through
`loop.call_soon_threadsafe` with `Delta` and `Finished` events.
"""

from __future__ import annotations

import asyncio
import ctypes
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tidal.runtimes.llm.cpu import OtherLoad, cpu_threads
from tidal.runtimes.llm.metrics import EngineMetrics
from tidal.runtimes.llm.sampling import SamplingParams, TextStream, llama_seed
from tidal.runtimes.llm.scheduler import Scheduler, pick_slot


@dataclass(frozen=True, slots=True)
class Delta:
    """New text for the client (may be "" when a token's text is still held back)."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    text: str  # the last text, flushed
    reason: str  # stop | length | abort | error
    stop_reason: str | int | None
    prompt_tokens: int
    completion_tokens: int
    message: str = ""  # for reason == "error"


Event = Delta | Finished

# Tokens a running sequence makes per turn before the next one's turn. A switch to another
# context costs something on a loaded machine (decode-only, 4 sequences x 16 tokens, median at
# load average 4.5: 5.1 s switching every token, 3.4 s every 4, 1.3 s every 16), but end to end
# (benchmarks/llm, docs/LLM.md) 1 gave the best first-token times at concurrency 4 and no worse
# throughput within the machine's noise, so a newcomer waits at most one token of each other.
TOKENS_PER_TURN = 1


@dataclass(eq=False)
class _Sequence:
    prompt: list[int]
    params: SamplingParams
    seed: int
    sink: Callable[[Event], None]
    arrival: float
    aborted: bool = False
    slot: Any = None
    gen: Any = None
    text: TextStream = field(init=False)
    generated: int = 0
    last_token_at: float = 0.0

    def __post_init__(self) -> None:
        self.text = TextStream(self.params.stop, self.params.include_stop_str_in_output)


class Handle:
    """The event loop's view of one sequence: its events, and a way to abort it."""

    def __init__(self, engine: Engine, seq: _Sequence, queue: asyncio.Queue[Event]) -> None:
        self._engine, self._seq, self._queue = engine, seq, queue
        self.done = False

    async def events(self) -> AsyncIterator[Event]:
        while not self.done:
            event = await self._queue.get()
            if isinstance(event, Finished):
                self.done = True
            yield event

    def abort(self) -> None:
        if not self.done:
            self._engine.abort(self._seq)


class Engine:
    def __init__(
        self,
        model_path: Path,
        max_model_len: int | None,
        max_num_seqs: int,
        metrics: EngineMetrics,
        seed: int | None = None,
        n_threads: int | None = None,
    ) -> None:
        import llama_cpp  # imported here: the rest of tidal must not need the compiled engine

        self._llama_cpp = llama_cpp
        self.model_path = model_path
        self.vocab = llama_cpp.Llama(str(model_path), vocab_only=True, n_ctx=16, verbose=False)
        model = self.vocab._model
        self.metadata: dict[str, str] = dict(model.metadata())
        arch = self.metadata.get("general.architecture", "")
        self.n_ctx_train = int(self.metadata.get(f"{arch}.context_length", 0)) or 4096
        if max_model_len is not None and max_model_len > self.n_ctx_train:
            raise ValueError(
                f"--max-model-len {max_model_len} is greater than the model's context length "
                f"({self.n_ctx_train})"
            )
        self.max_model_len = max_model_len or self.n_ctx_train
        self.n_vocab = model.n_vocab()
        self.metrics = metrics
        self.n_threads = n_threads or cpu_threads()
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._sched: Scheduler[_Sequence] = Scheduler(max_num_seqs)
        # Every context is made now, as vLLM reserves its KV cache at startup: a request never
        # waits for a model load, and a server that cannot hold them fails before it listens.
        self._contexts: list[Any] = [self._new_context() for _ in range(max_num_seqs)]
        self._free: list[Any] = list(self._contexts)
        # Steps use the cores other processes leave free (cpu.py: llama.cpp's threads spin at
        # barriers, so one thread too many on a busy machine costs seconds per token).
        self._load = OtherLoad(self.n_threads)
        self._threads = self.n_threads
        self._pieces: dict[tuple[int, bool], bytes] = {}
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    # -- tokens (event loop or a worker thread; the engine thread never uses this model) ----
    def tokenize(self, text: str, add_bos: bool, special: bool = True) -> list[int]:
        return self.vocab.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def detokenize(self, tokens: list[int]) -> str:
        return self.vocab.detokenize(tokens).decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        return self.vocab._model.token_get_text(token) if token >= 0 else ""

    @property
    def add_bos(self) -> bool:
        return bool(self.vocab._model.add_bos_token())

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="llm-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    def load(self) -> int:
        """Sequences running or waiting (vLLM's /load `server_load`)."""
        with self._cond:
            return len(self._sched.running) + len(self._sched.waiting)

    # -- event loop side ------------------------------------------------------------------------
    def submit(self, prompt: list[int], params: SamplingParams) -> Handle:
        """Queue a sequence (FIFO); its events arrive on the returned handle."""
        assert self._loop is not None, "engine not started"
        queue: asyncio.Queue[Event] = asyncio.Queue()
        seed = params.seed if params.seed is not None else self._rng.getrandbits(63)
        seq = _Sequence(prompt, params, llama_seed(seed), queue.put_nowait, time.monotonic())
        with self._cond:
            self._sched.add(seq)
            self._publish_gauges()
            self._cond.notify()
        return Handle(self, seq, queue)

    def abort(self, seq: _Sequence) -> None:
        """The client left: drop it if waiting, else the thread stops it at its next step."""
        seq.aborted = True
        with self._cond:
            dropped = self._sched.drop_waiting(seq)
            if dropped:
                self._publish_gauges()
        if dropped:
            self.metrics.success["abort"].inc()
            self._emit(seq, self._finished(seq, "abort", None))

    # -- engine thread --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while (
                        not self._stopping and not self._sched.running and not self._sched.waiting
                    ):
                        self._cond.wait()
                    if self._stopping:
                        break
                    admitted = self._sched.admit()
                    running = list(self._sched.running)
                    self._publish_gauges()
                for seq in admitted:
                    try:
                        self._begin(seq)
                    except Exception as exc:  # e.g. no memory for another context
                        seq.gen = None
                        self._end(
                            seq, self._finished(seq, "error", None, message=f"engine error: {exc}")
                        )
                        running.remove(seq)
                self._fit_threads()
                for seq in running:
                    for _ in range(TOKENS_PER_TURN):
                        if not self._step(seq):
                            break
        except BaseException as exc:  # the engine is gone: /health turns 503
            self.error = exc
            raise
        finally:
            with self._cond:
                left = list(self._sched.running) + list(self._sched.waiting)
            for seq in left:
                self._emit(seq, self._finished(seq, "abort", None))

    def _new_context(self) -> Any:
        return self._llama_cpp.Llama(
            str(self.model_path),
            n_ctx=self.max_model_len,
            n_batch=min(512, self.max_model_len),
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads,
            verbose=False,
        )

    def _fit_threads(self) -> None:
        threads = self._load.poll()
        if threads != self._threads:
            for ctx in self._contexts:
                self._llama_cpp.llama_set_n_threads(ctx.ctx, threads, threads)
            self._threads = threads

    def _take_context(self, prompt: list[int]) -> Any:
        cached = [ctx.input_ids[: ctx.n_tokens].tolist() for ctx in self._free]
        return self._free.pop(pick_slot(cached, prompt))

    def _begin(self, seq: _Sequence) -> None:
        self.metrics.queue_time.observe(time.monotonic() - seq.arrival)
        if seq.aborted:
            return  # _step finishes it
        ctx = self._take_context(seq.prompt)
        seq.slot = ctx
        p = seq.params
        if p.seed is not None:
            ctx.reset()  # a cached prefix is evaluated in a different batch shape: same seed, other text
        ctx.set_seed(seq.seed)
        seq.gen = ctx.generate(
            seq.prompt,
            top_k=p.top_k if p.top_k > 0 else 0,
            top_p=p.top_p,
            min_p=p.min_p,
            typical_p=1.0,
            temp=p.temperature,
            repeat_penalty=p.repetition_penalty,
            frequency_penalty=p.frequency_penalty,
            presence_penalty=p.presence_penalty,
        )

    def _step(self, seq: _Sequence) -> bool:
        """Generate one token; False once the sequence has ended."""
        if seq.aborted or seq.gen is None:
            self._end(seq, self._finished(seq, "abort", None))
            return False
        try:
            token = next(seq.gen)
        except Exception as exc:  # a llama.cpp failure ends this sequence, not the server
            self._end(seq, self._finished(seq, "error", None, message=f"engine error: {exc}"))
            return False
        now = time.monotonic()
        m = self.metrics
        if seq.generated == 0:
            m.ttft.observe(now - seq.arrival)
            m.prompt_tokens.inc(len(seq.prompt))
        else:
            m.itl.observe(now - seq.last_token_at)
        seq.last_token_at = now
        seq.generated += 1
        m.generation_tokens.inc()
        p = seq.params
        ctx = seq.slot
        if not p.ignore_eos and self._llama_cpp.llama_vocab_is_eog(ctx._model.vocab, token):
            self._end(seq, self._finished(seq, "stop", None))
            return False
        if token in p.stop_token_ids:
            self._end(seq, self._finished(seq, "stop", token))
            return False
        text = seq.text.feed(self._piece(ctx._model.vocab, token, not p.skip_special_tokens))
        if seq.text.stop_reason is not None:
            self._end(seq, self._finished(seq, "stop", seq.text.stop_reason, text))
            return False
        if seq.generated >= p.max_tokens or len(seq.prompt) + seq.generated >= self.max_model_len:
            self._end(seq, self._finished(seq, "length", None, text))
            return False
        if text:
            self._emit(seq, Delta(text))
        return True

    def _piece(self, vocab: Any, token: int, special: bool) -> bytes:
        """A token's bytes (cached; llama-cpp-python's own helper returns a NUL-padded buffer)."""
        key = (token, special)
        piece = self._pieces.get(key)
        if piece is None:
            lc = self._llama_cpp
            size = 64
            buf = ctypes.create_string_buffer(size)
            n = lc.llama_token_to_piece(vocab, token, buf, size, 0, special)
            if n < 0:  # longer than the buffer: -n bytes needed
                size = -n
                buf = ctypes.create_string_buffer(size)
                n = lc.llama_token_to_piece(vocab, token, buf, size, 0, special)
            piece = self._pieces[key] = buf.raw[: max(0, n)]
        return piece

    def _finished(
        self,
        seq: _Sequence,
        reason: str,
        stop_reason: str | int | None,
        text: str = "",
        message: str = "",
    ) -> Finished:
        if reason in ("stop", "length"):
            text += seq.text.finish()
        return Finished(text, reason, stop_reason, len(seq.prompt), seq.generated, message)

    def _end(self, seq: _Sequence, event: Finished) -> None:
        if seq.gen is not None:
            seq.gen.close()
            seq.gen = None
        if seq.slot is not None:
            self._free.append(seq.slot)
            seq.slot = None
        with self._cond:
            self._sched.finish(seq)
            self._publish_gauges()
        if event.reason in self.metrics.success:
            self.metrics.success[event.reason].inc()
            self.metrics.e2e.observe(time.monotonic() - seq.arrival)
        self._emit(seq, event)

    def _publish_gauges(self) -> None:
        """Caller holds the lock."""
        m = self.metrics
        m.running.set(len(self._sched.running))
        m.waiting.set(len(self._sched.waiting))
        m.kv_cache_usage.set(self._sched.usage())

    def _emit(self, seq: _Sequence, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(seq.sink, event)
        except RuntimeError:  # the loop closed meanwhile (shutdown)
            pass
