"""`tidal record`: a service's history as a trace file for `tidal simulate`, `tune` and `replay`:
from a Prometheus (a cluster's, or the one `tidal up --prometheus` runs) as a `t,<column>`
series, or from the local plane's router as a request-level trace (one row per request)."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tidal.api.errors import ApiError
from tidal.api.gotime import SECOND, DurationError, parse_duration
from tidal.cli.env import Env
from tidal.metrics.record import range_query, trace_csv


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="turn a service's recorded load into a trace for simulate/tune/replay",
        description="With --prometheus: run a PromQL range query and write its values as a "
        "trace (`t,<column>` CSV, t in seconds from the start) that a scenario's `trace:` reads. "
        "With --router SERVICE: the local plane's router's log of that Service's requests "
        "(TIMESTAMP,LatencySeconds,Status; one row per request) that a scenario's `requests:` "
        "reads and `tidal replay` sends again.",
        epilog="examples: tidal record --prometheus http://127.0.0.1:9090 "
        "--query 'sum(rate(tidal_requests_total[1m]))' --since 1h -o load.csv; "
        "tidal record --router sklearn-iris-predictor --since 10m -o requests.csv",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    src.add_argument(
        "--router",
        metavar="SERVICE",
        help="a Service of the local plane (its router remembers its last 100,000 requests)",
    )
    p.add_argument("--query", help="PromQL (with --prometheus); every series returned is summed")
    p.add_argument("--since", type=_duration, help="from this long ago until --end (e.g. 1h)")
    p.add_argument("--start", type=_instant, help="RFC 3339 or unix seconds")
    p.add_argument("--end", type=_instant, help="RFC 3339 or unix seconds (default now)")
    p.add_argument("--step", type=_duration, default=15.0, help="resolution (default 15s)")
    p.add_argument("--column", default="rps", help="the value column's name (default rps)")
    p.add_argument("-o", "--output", help="file to write (default stdout)")
    p.set_defaults(func=cmd_record)


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text) / SECOND
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return seconds


def _instant(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not RFC 3339 nor unix seconds: {text!r}") from None


def cmd_record(args: Any, env: Env) -> int:
    if args.router:
        return _from_router(args, env)
    if not args.query:
        env.err("error: --query: required with --prometheus\n")
        return 1
    end = args.end if args.end is not None else time.time()
    if args.start is not None and args.since is not None:
        env.err("error: --start and --since: give one of them\n")
        return 1
    start = args.start if args.start is not None else end - (args.since or 3600.0)
    start, end = round(start, 3), round(end, 3)  # Prometheus' resolution: t counts from it
    if start >= end:
        env.err("error: --start: must be before --end\n")
        return 1
    if (end - start) / args.step > 11000:  # Prometheus refuses more than 11,000 points
        env.err(
            f"error: --step: {args.step:g}s gives more than 11000 points over "
            f"{end - start:g}s (Prometheus' limit); use a larger step\n"
        )
        return 1

    async def query() -> list[tuple[float, float]]:
        async with httpx.AsyncClient(timeout=30.0) as http:
            return await range_query(
                http, args.prometheus, args.query, start=start, end=end, step_s=args.step
            )

    try:
        points = asyncio.run(query())
        text = trace_csv(points, args.column, start=start)
    except ApiError as exc:
        env.err(f"error: {exc.message}\n")
        return 1
    except ValueError as exc:
        env.err(f"error: {exc} ({args.query!r} from {args.prometheus})\n")
        return 1
    return _emit(args, env, text, f"{len(points)} samples")


def _from_router(args: Any, env: Env) -> int:
    """The router's request log of one Service, through its admin port (the plane's token)."""
    from tidal.cli.env import tidal_home
    from tidal.cli.kube import context_namespace
    from tidal.home import load_config
    from tidal.metrics.record import requests_csv

    home = tidal_home(getattr(args, "home", None))
    cfg = load_config(home)
    try:
        token = (home / "token").read_text().strip()
    except OSError:
        env.err(f"error: no plane at {home}: run `tidal up` (--router reads its router)\n")
        return 1
    now = time.time()
    since = args.start if args.start is not None else now - (args.since or 3600.0)
    ns = context_namespace(args)
    keys = [f"{ns}/{args.router}", f"{ns}/{args.router}-predictor"]  # a Service, or an isvc
    try:
        resp = httpx.get(
            f"http://127.0.0.1:{cfg.admin_port}/requests",
            params={"since": f"{since}", "service": keys},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
        )
        resp.raise_for_status()
        services = resp.json()["services"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        env.err(f"error: cannot read the router's request log on :{cfg.admin_port}: {exc}\n")
        return 1
    key = next((k for k in keys if k in services), None)
    if key is None:
        env.err(f"error: --router: the router has no Service {keys[0]} (nor {keys[1]})\n")
        return 1
    rows = [r for r in services[key] if args.end is None or r[0] <= args.end]
    if not rows:
        env.err(f"error: no requests to {key} in the range: nothing to record\n")
        return 1
    text = requests_csv(rows)
    return _emit(args, env, text, f"{len(rows)} requests of {key}")


def _emit(args: Any, env: Env, text: str, what: str) -> int:
    """The CSV to `--output` (saying what was written there), else to stdout."""
    if args.output:
        Path(args.output).write_text(text)
        env.err(f"wrote {what} to {args.output}\n")
    else:
        env.out(text)
    return 0
