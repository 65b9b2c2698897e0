"""`tidal replay TRACE --service NAME`: send a request trace live through the router to a running
service, record every request's latency and status and the replicas over time, and print the
simulator's report (`tidal.sim.report`) so a live run and `tidal simulate` compare line by line
(docs/SIMULATOR.md, "Replay")."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tidal.api.client import ApiClient
from tidal.api.errors import NotFound
from tidal.autoscaling import profiles
from tidal.cli.env import Env, tidal_home
from tidal.cli.kube import CliError, context_namespace, run
from tidal.replay.bodies import Protocol, ProtocolError, detect, request_for


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="send a request trace live to a running service and report latency and cost",
        description="Send the requests of TRACE (a CSV with a timestamp column, e.g. the Azure LLM "
        "trace) through the router to SERVICE at their times, and print the same latency and "
        "cost report as `tidal simulate`. An OpenAI-compatible service gets prompts of the "
        "trace's token lengths; a predictor the seed's iris body.",
        epilog="example: tidal replay trace.csv --service qwen --speed 6 --duration 100s "
        "--scale 0.05 --slo 30s",
    )
    p.add_argument("trace", help="request trace (CSV: TIMESTAMP[,ContextTokens,GeneratedTokens])")
    p.add_argument("--service", required=True, help="the InferenceService (or Deployment) name")
    p.add_argument("--speed", type=float, default=1.0, help="time compression (2: twice as fast)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply arrivals (0.1: a tenth)")
    p.add_argument("--start", default="0", help="skip this much of the trace (10m, 90s)")
    p.add_argument(
        "--duration", default="10m", help="replay at most this long, after --speed (default 10m)"
    )
    p.add_argument("--max-requests", type=int, default=10000, help="send at most this many")
    p.add_argument("--seed", type=int, default=0, help="the draw that --scale thins with")
    p.add_argument("--timeout", default="120s", help="give a request up after this long")
    p.add_argument(
        "--capacity",
        type=float,
        default=4.0,
        help="requests a pod serves at once "
        "(the lower bound's; default 4, the LLM runtime's --max-num-seqs)",
    )
    p.add_argument("--slo", help="latency objective (2s), for the share over it")
    p.add_argument("--slo-percentile", type=float, default=99.0)
    p.add_argument(
        "--tokens-scale",
        type=float,
        default=1.0,
        help="multiply the trace's token lengths (OpenAI services)",
    )
    p.add_argument("--protocol", choices=["auto", "openai", "predict"], default="auto")
    p.add_argument("--url", help="the ingress (default: the local plane's router)")
    p.add_argument("--host", help="the Host header (default: the InferenceService's URL host)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw requests, latency and replicas over the replay (FILE.png, .svg, .html)",
    )
    p.set_defaults(func=cmd_replay)


def _seconds(value: str, flag: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return profiles.parse_duration(value)
    except ValueError:
        raise CliError(f"error: {flag}: {value!r} is not a duration (10m, 90s, 1.5)") from None


def _check(args: Any) -> dict[str, float]:
    """The numeric flags, checked: an error names the flag and changes nothing."""
    got = {
        "start": _seconds(args.start, "--start"),
        "duration": _seconds(args.duration, "--duration"),
        "timeout": _seconds(args.timeout, "--timeout"),
    }
    for flag, value, ok in (
        ("--speed", args.speed, args.speed > 0),
        ("--scale", args.scale, args.scale > 0),
        ("--max-requests", args.max_requests, args.max_requests > 0),
        ("--capacity", args.capacity, args.capacity > 0),
        ("--tokens-scale", args.tokens_scale, args.tokens_scale > 0),
        ("--slo-percentile", args.slo_percentile, 0 < args.slo_percentile <= 100),
        ("--duration", got["duration"], got["duration"] > 0),
        ("--timeout", got["timeout"], got["timeout"] > 0),
        ("--start", got["start"], got["start"] >= 0),
    ):
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise CliError(f"error: {flag}: invalid value {value!r}")
    if args.slo is not None:
        got["slo"] = _seconds(args.slo, "--slo")
    return got


def _ingress(args: Any) -> str:
    if args.url:
        return args.url.rstrip("/")
    ready_file = tidal_home(getattr(args, "home", None)) / "plane.ready"
    try:
        ready = json.loads(ready_file.read_text())
        return f"http://127.0.0.1:{int(ready['ingress_port'])}"
    except (OSError, ValueError, KeyError):
        raise CliError(
            f"error: no local plane at {ready_file.parent} (run `tidal up`, or give --url)"
        ) from None


async def _target(client: ApiClient, name: str, ns: str) -> tuple[str, str | None, dict]:
    """(the Deployment that serves NAME, the InferenceService's host, its pod selector)."""
    host = None
    deployment = name
    try:
        isvc = await client.get("InferenceService", name, ns)
        url = str((isvc.get("status") or {}).get("url") or "")
        host = url.split("://", 1)[-1].split("/", 1)[0] or None
        deployment = f"{name}-predictor"
    except NotFound:
        pass
    try:
        dep = await client.get("Deployment", deployment, ns)
    except NotFound:
        raise CliError(
            f'error: --service: no InferenceService or Deployment "{name}" in namespace "{ns}"'
        ) from None
    labels = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return deployment, host, labels


def cmd_replay(args: Any, env: Env) -> int:
    from tidal.replay.loop import replay
    from tidal.sim import report as rep
    from tidal.sim.traces import TraceError, arrivals, read_rows

    try:
        flags = _check(args)
        rows = read_rows(Path(args.trace))
        trace = arrivals(
            rows,
            speed=args.speed,
            scale=args.scale,
            offset_s=flags["start"],
            seed=args.seed,
            duration_s=flags["duration"],
        )[: args.max_requests]
        if not trace:
            raise CliError(
                "error: --start/--duration: no request of the trace falls in that window"
            )
        base_url = _ingress(args)
        if args.plot:
            from tidal.plots import PlotError, check_path

            try:
                check_path(args.plot)
            except PlotError as exc:
                raise CliError(f"error: {exc}") from exc
    except TraceError as exc:
        env.err(f"error: {exc}\n")
        return 1
    except CliError as exc:
        env.err(exc.message.rstrip("\n") + "\n")
        return exc.code
    ns = context_namespace(args)

    async def body(client: ApiClient) -> int:
        deployment, isvc_host, labels = await _target(client, args.service, ns)
        host = args.host or isvc_host or f"{args.service}-{ns}.example.com"
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        proto = await _protocol(base_url, host, args)
        reqs = [(a.t, request_for(proto, a.size, tokens_scale=args.tokens_scale)) for a in trace]

        async def replicas() -> tuple[int, int, int]:
            pods = (await client.list("Pod", ns, label_selector=selector)).get("items", [])
            ready = sum(1 for p in pods if _ready(p))
            dep = await client.get("Deployment", deployment, ns)
            return len(pods), ready, int((dep.get("spec") or {}).get("replicas") or 0)

        if args.output == "text":
            env.out(
                f"replay {args.trace} -> {args.service} ({proto.kind}, model {proto.model}, "
                f"host {host} via {base_url}): {len(reqs)} requests over "
                f"{trace[-1].t:.0f}s (speed {args.speed:g}, scale {args.scale:g}, "
                f"start {flags['start']:g}s)\n"
            )
        result = await replay(
            reqs, url=base_url, host=host, replicas=replicas, timeout_s=flags["timeout"]
        )
        slo = rep.Slo(flags["slo"], args.slo_percentile) if "slo" in flags else None
        samples = result.samples(1.0)
        row = rep.report(
            deployment, result.records(), samples, tick_s=1.0, capacity=args.capacity, slo=slo
        )
        if args.plot:
            from tidal.plots import figure, save
            from tidal.plots.replay import panel

            ps = [panel(deployment, result.outcomes, result.replicas, result.elapsed_s)]
            save(figure(ps, title=f"tidal replay {Path(args.trace).name}"), args.plot, panels=ps)
            env.err(f"plot: {args.plot}\n")
        failures = result.failures()
        lost = sum(n for (status, _), n in failures.items() if status == 599)
        if args.output == "json":
            env.out(
                json.dumps(
                    {
                        "report": asdict(row) | {"ratio": row.ratio},
                        "failures": [
                            {"status": s, "reason": r, "count": n}
                            for (s, r), n in sorted(failures.items())
                        ],
                        "outcomes": [asdict(o) for o in result.outcomes],
                        "replicas": [asdict(r) for r in result.replicas],
                        "max_send_lag_s": result.max_send_lag_s,
                    },
                    indent=1,
                )
                + "\n"
            )
            return 0
        env.out("\n".join(_replica_lines(result)) + "\n")
        ok = sum(1 for o in result.outcomes if o.status < 400)
        env.out(
            f"requests: {len(result.outcomes)} sent, {ok} answered, "
            f"{sum(failures.values()) - lost} errors with a reason, {lost} without an answer; "
            f"sent at most {result.max_send_lag_s:.2f}s late\n"
        )
        for (status, reason), n in sorted(failures.items()):
            env.out(f"  {n} x {status}: {reason}\n")
        env.out("\n".join(rep.lines([row], slo)) + "\n")
        return 0

    return run(env, args, body)


def _ready(pod: dict) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


async def _protocol(base_url: str, host: str, args: Any) -> Protocol:
    """The service's protocol and model name, asked through the router (`GET /v1/models`)."""
    import httpx

    if args.protocol == "predict":
        return Protocol("predict", args.service)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            resp = await http.get("/v1/models", headers={"Host": host})
    except httpx.HTTPError as exc:
        raise CliError(f"error: cannot reach the router at {base_url}: {exc}") from None
    if resp.status_code != 200:
        raise CliError(
            f"error: GET /v1/models on {host}: HTTP {resp.status_code}: {resp.text[:200]}"
        )
    try:
        proto = detect(resp.json(), args.service)
    except (ValueError, ProtocolError) as exc:
        raise CliError(f"error: {exc}") from None
    if args.protocol == "openai" and proto.kind != "openai":
        raise CliError("error: --protocol openai: the service does not answer as OpenAI's API")
    return proto


def _replica_lines(result: Any, rows: int = 12) -> list[str]:
    """The replicas over time, at most `rows` lines: changes of (desired, pods, ready)."""
    out = ["replicas over time:", f"  {'t':>7}  {'desired':>7} {'pods':>5} {'ready':>5}"]
    changes = []
    last = None
    for r in result.replicas:
        key = (r.desired, r.pods, r.ready)
        if key != last:
            changes.append(r)
            last = key
    step = max(1, math.ceil(len(changes) / rows))
    shown = changes[::step]
    if changes and shown[-1] is not changes[-1]:
        shown.append(changes[-1])
    for r in shown:
        out.append(f"  {r.t_s:>6.0f}s  {r.desired:>7} {r.pods:>5} {r.ready:>5}")
    return out
