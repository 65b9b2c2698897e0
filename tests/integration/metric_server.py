"""A small OpenAI-shaped server the metrics journeys run as a pod (stdlib only, starts in
milliseconds, so CI needs no model): `/v1/chat/completions` burns CPU while it answers (the fake
NVML turns a pod's CPU use into its SM utilization), and `/metrics` exports

- `demo_queue_depth`: a gauge read from the file `--gauge-file` (the test writes it),
- `demo_requests_total`: a counter of chat completions (served as `demo_requests_per_second`),
- `demo_in_flight`: a gauge of requests in progress.

Usage: `python metric_server.py --port 8080 [--gauge-file F] [--burn-ms 40]`.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()
_state = {"requests": 0, "in_flight": 0}


def _gauge(path: str | None) -> float:
    if not path:
        return 0.0
    try:
        return float(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0


class Handler(BaseHTTPRequestHandler):
    gauge_file: str | None = None
    burn_s: float = 0.04
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: hey sends thousands
        return

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/metrics"):
            with _lock:
                n, inflight = _state["requests"], _state["in_flight"]
            text = (
                "# HELP demo_queue_depth Requests waiting.\n# TYPE demo_queue_depth gauge\n"
                f"demo_queue_depth {_gauge(self.gauge_file)}\n"
                "# HELP demo_requests Chat completions served.\n# TYPE demo_requests counter\n"
                f"demo_requests_total {n}\n"
                "# HELP demo_in_flight Requests in progress.\n# TYPE demo_in_flight gauge\n"
                f"demo_in_flight {inflight}\n"
            )
            self._send(200, text.encode(), "text/plain; version=0.0.4")
        elif self.path in ("/health", "/v1/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "qwen"}]}).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.path.startswith("/v1/chat/completions"):
            self._send(404, b'{"error": "not found"}')
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, b'{"error": "invalid JSON"}')
            return
        with _lock:
            _state["in_flight"] += 1
        try:
            end = time.perf_counter() + self.burn_s
            x = 0
            while time.perf_counter() < end:  # the "GPU" work: CPU the fake NVML sees
                x += 1
        finally:
            with _lock:
                _state["in_flight"] -= 1
                _state["requests"] += 1
        body = {
            "id": "chatcmpl-demo",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model", "qwen"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "OK."},
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        self._send(200, json.dumps(body).encode())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--gauge-file")
    p.add_argument("--burn-ms", type=float, default=40.0)
    args = p.parse_args()
    Handler.gauge_file = args.gauge_file
    Handler.burn_s = args.burn_ms / 1000
    ThreadingHTTPServer.daemon_threads = True
    host = os.environ.get("POD_IP", "127.0.0.1")  # a pod binds its own address
    ThreadingHTTPServer((host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
