"""`tidal`: argparse with a command table. Each command module's `add_parser(subparsers)` adds its
subcommands (setting `func(args, env) -> int`); parse, act and print are separate (httpie's habit),
and the terminal is injected (`Env`) so tests drive `main(argv, env)` without a subprocess."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tidal.cli.commands import (
    apply,
    controllers,
    dashboard,
    delete,
    describe,
    get,
    logs,
    patch,
    record,
    replay,
    serve,
    simulate,
    top,
    tune,
    up,
)
from tidal.cli.env import Env

# The commands, in the help's order. A new command: a module in tidal/cli/commands/ with
# `add_parser(subparsers)`, and one line here.
COMMANDS: tuple[Callable[[Any], None], ...] = (
    up.add_parser,  # up, down, status, kubeconfig
    serve.add_parser,  # serve kserve|get|list|delete (arena's)
    get.add_parser,  # get, events
    describe.add_parser,
    apply.add_parser,
    delete.add_parser,
    patch.add_parser,
    logs.add_parser,
    top.add_parser,
    simulate.add_parser,
    tune.add_parser,
    record.add_parser,
    replay.add_parser,
    dashboard.add_parser,
    controllers.add_parser,  # controllers, manifests
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal",
        description="Inference services that scale themselves: KServe, the Kubernetes HPA and "
        "CronHPA on one machine (the local plane) or a real cluster.",
    )
    add_globals(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    _globals_everywhere(sub)
    return parser


def add_globals(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """`--kubeconfig`, `--context`, `-n`, `--home`: accepted before or after the subcommand (as
    kubectl and arena take them); below the top level they do not reset a value given above."""
    extra = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument(
        "--kubeconfig",
        help="kubeconfig file (default: $KUBECONFIG, then $TIDAL_HOME/kubeconfig)",
        **extra,
    )
    parser.add_argument("--context", help="kubeconfig context (default: its current one)", **extra)
    parser.add_argument(
        "-n", "--namespace", help="namespace (default: the context's, else default)", **extra
    )
    parser.add_argument("--home", help="the tidal home (default: $TIDAL_HOME or ~/.tidal)", **extra)


def _globals_everywhere(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    seen: set[int] = set()
    for child in sub.choices.values():
        if id(child) in seen:
            continue
        seen.add(id(child))
        taken = {o for a in child._actions for o in a.option_strings}
        if not taken & {"--kubeconfig", "--context", "-n", "--namespace", "--home"}:
            add_globals(child, suppress=True)
        for action in child._actions:
            if isinstance(action, argparse._SubParsersAction):
                _globals_everywhere(action)


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    env = env or Env.real()
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(env.stdout)
        return 2
    try:
        code = func(args, env)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
