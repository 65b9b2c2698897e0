"""`tidal tune SCENARIO`: search an autoscaling policy's parameters on the simulator for the lowest
replica-seconds that meets the scenario's SLO; print the best few and write the best as a
manifest (docs/SIMULATOR.md, "Tuning"). Deterministic; needs no plane.

Exit status: 0 when a policy meets the SLO, 2 when none tried does (the table then shows the
closest: the fewest requests over the SLO), 1 on a bad scenario or option."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

NO_POLICY_MEETS = 2


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tune",
        help="search an autoscaling policy for the lowest cost that meets the scenario's SLO",
        description="Search the HPA's or the KPA's parameters on the simulator (target, min "
        "replicas, scale-down window and rate; target, windows, panic threshold, scale-down "
        "delay) for the lowest replica-seconds that meets the scenario's `slo`; print the best "
        "few and the best as a manifest. Exit 2 when no policy tried meets the SLO.",
    )
    p.add_argument("scenario", help="scenario file (YAML, see docs/SIMULATOR.md)")
    p.add_argument(
        "--deployment", help="the Deployment to tune (default: the first with a capacity)"
    )
    p.add_argument(
        "--policy",
        choices=["hpa", "kpa"],
        help="which autoscaler to tune (default: the kind the scenario gives the Deployment)",
    )
    p.add_argument("--budget", type=int, default=40, help="simulated runs at most (default 40)")
    p.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="runs at once, in processes (default: 2 or the CPUs if fewer)",
    )
    p.add_argument("--top", type=int, default=5, help="rows in the table (default 5)")
    p.add_argument("--duration", help="override the virtual duration (600, 10m, 1h)")
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "yaml"],
        default="table",
        help="table: the best policies; yaml: the best policy's manifest only",
    )
    p.add_argument("--output-dir", help="also write the best policy's manifest in this directory")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw cost against p99 latency of every policy tried (FILE.png, .svg, .html)",
    )
    p.set_defaults(func=run)
    return p


def _policy(scenario: Any, target: Any, asked: str | None) -> str:
    if asked:
        return asked
    for o in scenario.objects:
        ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("name") == target.deployment.name and o.get("kind") in (
            "PodAutoscaler",
            "InferenceService",
        ):
            return "kpa"
    return "hpa"


def table(rows: list[tuple[str, str, Any]]) -> list[str]:
    """(label, policy, Outcome) rows as text."""
    out = [f"{'':<10} {'replica-s':>10} {'ratio':>6} {'p99':>8} {'over SLO':>9} {'SLO':>4}  policy"]
    for label, policy, o in rows:
        out.append(
            f"{label:<10} {o.replica_seconds:>10g} {o.ratio:>5.2f}x {o.p99_s:>7.2f}s"
            f" {100 * o.over_share:>8.2f}% {'met' if o.slo_met else 'no':>4}  {policy}"
        )
    return out


def run(args: argparse.Namespace, env: Any = None) -> int:
    from dataclasses import replace

    import yaml

    from tidal.autoscaling import profiles
    from tidal.sim import search
    from tidal.sim.load import LoadError
    from tidal.sim.scenario import ScenarioError, load_scenario
    from tidal.sim.tune import (
        Evaluator,
        default_target,
        find_target,
        given,
        manifest,
        run_object,
    )

    out = env.stdout if env is not None else sys.stdout
    err = env.stderr if env is not None else sys.stderr
    try:
        if args.budget < 1 or args.jobs < 1 or args.top < 1:
            raise ValueError("--budget, --jobs and --top must be >= 1")
        scenario = load_scenario(args.scenario)
        if args.duration:
            scenario = replace(scenario, duration_s=profiles.parse_duration(args.duration))
        target = find_target(scenario, args.deployment)
        kind = _policy(scenario, target, args.policy)
        first = search.start(kind, default_target(target))
        if args.output_dir:
            Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        if args.plot:
            from tidal.plots import check_path

            check_path(args.plot)
        with Evaluator(scenario, target, args.jobs) as evaluate:
            results = search.descend(first, evaluate, budget=args.budget)
    except (ScenarioError, LoadError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    best = search.best(results, prefer=first)
    slo = scenario.slo
    assert slo is not None
    doc = yaml.safe_dump(manifest(target, best), sort_keys=False)
    met = results[best].slo_met
    if args.output == "yaml":
        out.write(doc)
    else:
        out.write(
            f"tune {scenario.name}: deployment {target.deployment.name}, {kind}, SLO "
            f"{'' if slo.metric == 'latency' else slo.metric + ' '}p{slo.percentile:g}"
            f" <= {slo.latency_s:g}s, {len(results)} runs of {scenario.duration_s:g}s\n"
        )
        top = search.top(results, args.top, prefer=first)
        rows = [(f"#{i + 1}", f"{c.kind}: {c.label()}", results[c]) for i, c in enumerate(top)]
        rows.append(("start", f"{kind}: {first.label()} (defaults)", results[first]))
        own = given(scenario, target)
        if own is not None:  # the scenario's own policy, as a reference
            rows.append(
                (
                    "scenario",
                    f"{own['kind']} {own['metadata']['name']} as given",
                    run_object(scenario, target, own),
                )
            )
        out.write("\n".join(table(rows)) + "\n")
        if not met:
            out.write(
                f"no policy tried meets the SLO (p{slo.percentile:g} <= {slo.latency_s:g}s: at most"
                f" {100 * slo.allowed_share:g}% over); the closest is #1\n"
            )
        else:
            out.write("best (#1):\n" + doc)
    if args.output_dir:
        path = Path(args.output_dir) / f"{target.deployment.name}-{kind}.yaml"
        path.write_text(doc)
        print(f"wrote {path}", file=err)
    if args.plot:
        from tidal.plots import Point, cost_latency, save

        points = [
            Point(c.label(), o.replica_seconds, o.p99_s, chosen=c == best)
            for c, o in results.items()
        ]
        title = f"tidal tune {scenario.name}: {kind} policies tried ({target.deployment.name})"
        save(cost_latency(points, title=title), args.plot)
        print(f"plot: {args.plot}", file=err)
    return 0 if met else NO_POLICY_MEETS


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m tidal.cli.commands.tune`)."""
    parser = argparse.ArgumentParser(prog="tidal")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["tune", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
