"""Per-token step times of llama.cpp contexts stepped round-robin, as tidal's LLM engine does.

Measures what docs/LLM.md ("Threads") is based on: N contexts of the demo model, S streams
stepped one token each in turn, with B busy processes beside them, at a fixed thread count or
with the engine's own choice (`--adaptive`, `tidal.runtimes.llm.cpu`). Prints tokens/s and the
distribution of single-step times, under the provenance header every results file carries
(revision, date, machine and load, command). Not part of the tests.

    .venv/bin/python benchmarks/llm_steps.py --streams 4 --busy 1 [--threads 1] [--adaptive]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import Provenance

from tidal.runtimes.llm.cpu import OtherLoad
from tidal.runtimes.llm.modelpath import resolve

PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain what a CPU does in one sentence.",
    "List three fruits.",
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--streams", type=int, default=4)
    p.add_argument("--contexts", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--busy", type=int, default=0, help="busy-looping processes beside it")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--adaptive", action="store_true", help="threads from cpu.OtherLoad")
    a = p.parse_args()
    prov = Provenance.start()
    path = str(resolve("smollm2-135m-instruct"))
    ctxs = [
        llama_cpp.Llama(
            path, n_ctx=2048, n_threads=a.threads, n_threads_batch=a.threads, verbose=False
        )
        for _ in range(a.contexts)
    ]
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    load, threads, narrow, rounds = OtherLoad(a.threads), a.threads, 0, 0
    steps: list[float] = []
    firsts: list[float] = []
    t0 = time.perf_counter()
    try:
        for r in range(a.rounds):
            live = []
            for i in range(a.streams):
                ctx = ctxs[i % a.contexts]
                chat = (
                    f"<|im_start|>user\n{PROMPTS[(i + r) % 4]}<|im_end|>\n<|im_start|>assistant\n"
                )
                toks = ctx.tokenize(chat.encode(), add_bos=True, special=True)
                gen = ctx.generate(toks, top_k=0, top_p=1.0, min_p=0.0, temp=0.0)
                live.append([gen, 0])
            while live:
                if a.adaptive:
                    n = load.poll()
                    if n != threads:
                        for ctx in ctxs:
                            llama_cpp.llama_set_n_threads(ctx.ctx, n, n)
                        threads = n
                rounds += 1
                narrow += threads < a.threads
                for g in list(live):
                    start = time.perf_counter()
                    next(g[0])
                    (firsts if g[1] == 0 else steps).append(time.perf_counter() - start)
                    g[1] += 1
                    if g[1] >= a.tokens:
                        g[0].close()
                        live.remove(g)
    finally:
        for b in busy:
            b.kill()
            b.wait()
    wall = time.perf_counter() - t0
    steps.sort()
    ms = [1e3 * steps[min(len(steps) - 1, round(q * (len(steps) - 1)))] for q in (0.5, 0.9, 0.99)]
    print(prov.header("llama.cpp step times").rstrip("\n"))
    print(
        f"streams={a.streams} contexts={a.contexts} threads={a.threads} busy={a.busy} "
        f"adaptive={a.adaptive} tok/s={(len(steps) + len(firsts)) / wall:.1f} "
        f"step ms p50/p90/p99/max={ms[0]:.1f}/{ms[1]:.1f}/{ms[2]:.1f}/{1e3 * steps[-1]:.1f} "
        f"first token ms median/max={1e3 * statistics.median(firsts):.0f}/{1e3 * max(firsts):.0f} "
        f"narrowed rounds={narrow}/{rounds}",
        flush=True,
    )


if __name__ == "__main__":
    main()
