"""`tidal simulate SCENARIO`: run the real HPA, CronHPA and KPA controllers and decisions on virtual time over a
described load and print each decision and a summary (docs/SIMULATOR.md). Needs no plane."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from typing import Any

from tidal.autoscaling import profiles


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate",
        help="run autoscaling controllers on virtual time over a load scenario",
        description="Run the HPA, CronHPA and KPA controllers and their decisions on virtual time over the load a "
        "scenario file describes; print every decision and a summary. Deterministic.",
    )
    p.add_argument("scenario", help="scenario file (YAML, see docs/SIMULATOR.md)")
    p.add_argument(
        "--profile", choices=sorted(profiles.PROFILES), help="override the scenario's profile"
    )
    p.add_argument("--duration", help="override the virtual duration (600, 10m, 1m30s)")
    p.add_argument("--changes", action="store_true", help="print only the decisions that rescale")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw load, replicas and latency over time (FILE.png, .svg or .html)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, env: Any = None) -> int:
    """`env` is the CLI's `tidal.cli.env.Env` (its stdout/stderr); the process's when None."""
    import asyncio

    from tidal.sim.load import LoadError
    from tidal.sim.plugin import Record
    from tidal.sim.run import simulate
    from tidal.sim.scenario import ScenarioError, load_scenario

    out = env.stdout if env is not None else sys.stdout
    err = env.stderr if env is not None else sys.stderr
    try:
        scenario = load_scenario(args.scenario)
        if args.profile:
            scenario.profile = replace(
                profiles.get(args.profile), settings=scenario.profile.settings
            )
        if args.duration:
            scenario.duration_s = profiles.parse_duration(args.duration)
        if args.plot:
            from tidal.plots import check_path

            check_path(args.plot)
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    prof = scenario.profile

    def emit(rec: Record) -> None:
        if args.output == "text" and (not args.changes or rec.desired != rec.current):
            out.write(rec.line().rstrip() + "\n")

    if args.output == "text":
        out.write(
            f"scenario {scenario.name}: {scenario.duration_s:g}s of virtual time, tick {scenario.tick_s:g}s, "
            f"profile {prof.name} (sync {prof.sync_period_s:g}s, metrics every {prof.metric_resolution_s:g}s "
            f"over {prof.metric_window_s:g}s)\n"
        )
        out.write(f"{'t':>8}  {'ctrl':<6} {'name':<24} {'replicas':<9} {'metrics':<28} reason\n")
    try:
        records, summary = asyncio.run(simulate(scenario, emit))
    except (ScenarioError, LoadError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    if args.output == "json":
        json.dump(
            {
                "scenario": scenario.name,
                "profile": prof.name,
                "decisions": [
                    asdict(r) for r in records if not args.changes or r.desired != r.current
                ],
                "summary": summary.as_dict(),
            },
            out,
            indent=2,
            sort_keys=True,
        )
        out.write("\n")
    else:
        out.write("\n".join(summary.lines()) + "\n")
    if args.plot:
        from tidal.plots.sim import write_plot

        path = write_plot(args.plot, scenario, records, summary)
        print(f"plot: {path}", file=err if args.output == "json" else out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m tidal.cli.commands.simulate`) until main.py registers it."""
    parser = argparse.ArgumentParser(prog="tidal")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["simulate", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
