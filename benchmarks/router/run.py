"""Router throughput: hey -c 20 for 30 s against one iris pod directly, through the tidal router
and through nginx (proxy_pass with upstream keep-alive, one worker: one event loop each), in one
run, the three interleaved in slices. Results with ratios go to benchmarks/results/router.md.

    .venv/bin/python benchmarks/router/run.py [--seconds 30] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "router"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from iris_pod import (
    PREDICT_PATH,
    ROOT,
    free_port,
    hey,
    pod_ip,
    start_iris,
    stop,
    train_iris,
    wait_port,
)
from provenance import Provenance

HOST = "sklearn-iris-default.example.com"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream iris {{ server {ip}:{port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://iris;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
    }}
  }}
}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30, help="hey time per path, in all (30)")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved slices per path (6)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "router.md"))
    args = ap.parse_args()
    prov = Provenance.start()
    tmp = Path(tempfile.mkdtemp(prefix="tidal-bench-router-"))
    model = train_iris(tmp / "model")
    ip, port = pod_ip(), 8080
    procs: list[subprocess.Popen] = []
    try:
        pod = start_iris(model, ip, port)
        procs.append(pod)
        wait_port(ip, port)
        routes = {
            "services": {
                "default/sklearn-iris-predictor": {
                    "hosts": [HOST],
                    "endpoints": [[ip, port, "sklearn-iris-predictor-bench"]],
                }
            }
        }
        (tmp / "routes.json").write_text(json.dumps(routes))
        rport = free_port()
        router = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tidal.router",
                "--static",
                str(tmp / "routes.json"),
                "--port",
                str(rport),
                "--admin-port",
                "0",
            ],
            start_new_session=True,
        )
        procs.append(router)
        wait_port("127.0.0.1", rport)
        nport = free_port()
        (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, ip=ip, port=port, listen=nport))
        nginx = subprocess.Popen(
            ["nginx", "-c", str(tmp / "nginx.conf"), "-p", str(tmp)], start_new_session=True
        )
        procs.append(nginx)
        wait_port("127.0.0.1", nport)
        targets = {
            "direct": (f"http://{ip}:{port}{PREDICT_PATH}", None),
            "tidal router": (f"http://127.0.0.1:{rport}{PREDICT_PATH}", HOST),
            "nginx proxy_pass": (f"http://127.0.0.1:{nport}{PREDICT_PATH}", HOST),
        }
        for url, host in targets.values():  # warm up every path (and check it answers)
            hey(url, seconds=2, host=host)
        # interleaved slices: the machine is shared, so every path sees the same background load
        per = max(1, args.seconds // args.rounds)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for r in range(args.rounds):
            for name, (url, host) in targets.items():
                runs[name].append(hey(url, seconds=per, host=host))
                print(f"round {r + 1} {name}: {runs[name][-1]['rps']:.0f} req/s", flush=True)
        results = {
            name: {
                "rps": sum(x["rps"] for x in xs) / len(xs),
                "p50": statistics.median(x["p50"] for x in xs),
                "p99": max(x["p99"] for x in xs),
                "non2xx": sum(x["non2xx"] for x in xs),
            }
            for name, xs in runs.items()
        }
    finally:
        for p in reversed(procs):
            stop(p)
    d, r, n = (results[k]["rps"] for k in ("direct", "tidal router", "nginx proxy_pass"))
    lines = [
        prov.header("Router throughput").rstrip("\n"),
        "",
        f"`hey -c 20 -m POST -D examples/iris/iris-input.json`, {per * args.rounds} s per path in "
        f"{args.rounds} interleaved slices of {per} s (direct, router, "
        "nginx, direct, ...: the machine is shared, so each path sees the same background load; "
        "req/s is the mean of the slices, p50 their median, p99 their worst), against one iris pod "
        "(`python -m sklearnserver`, one worker) on its own 127.x address: directly, through `python -m "
        "tidal.router` (routes from `--static`), and through nginx (`proxy_pass`, upstream keep-alive, "
        "`worker_processes 1`).",
        "",
        "| path | req/s | p50 (ms) | p99 (ms) | non-2xx |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, res in results.items():
        lines.append(
            f"| {name} | {res['rps']:.0f} | {res['p50'] * 1000:.1f} | {res['p99'] * 1000:.1f} | {int(res['non2xx'])} |"
        )
    lines += [
        "",
        f"- router / direct: **{r / d:.2f}** (target ≥ 0.85)",
        f"- router / nginx: **{r / n:.2f}** (target ≥ 1.0, issue 20)",
        "",
    ]
    tidal_cell = (
        f"{r:.0f} req/s, p99 {results['tidal router']['p99'] * 1000:.1f} ms ({r / d:.2f}x direct)"
    )
    nginx_p99 = results["nginx proxy_pass"]["p99"] * 1000
    peer_cell = (
        f"nginx `proxy_pass` (1 worker, keep-alive), same run, interleaved: {n:.0f} req/s, "
        f"p99 {nginx_p99:.1f} ms (router: {r / n:.2f}x)"
    )
    lines.append(prov.readme_row(20, "ingress, `hey -c 20` to one iris pod", tidal_cell, peer_cell))
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
