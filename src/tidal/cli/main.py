"""`tidal`: argparse with a subcommand table. Every module in `tidal.cli.commands` that has
`add_parser(subparsers)` registers its commands (setting `func(args, env) -> int`); parse, act
and print are separate (httpie's habit), and the terminal is injected (`Env`) so tests drive
`main(argv, env)` without a subprocess."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Sequence

from tidal.cli.env import Env

# Ours first (their order is the help's order); then any other command module found.
CORE = ("up", "serve", "get", "describe", "apply", "delete", "logs", "top", "events")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidal",
        description="Inference services that scale themselves: KServe, the Kubernetes HPA and "
        "CronHPA on one machine (the local plane) or a real cluster.",
    )
    add_globals(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import tidal.cli.commands as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__)]
    ordered = [n for n in CORE if n in names] + sorted(n for n in names if n not in CORE)
    for name in ordered:
        try:
            mod = importlib.import_module(f"tidal.cli.commands.{name}")
        except Exception as exc:  # a broken optional module must not take the CLI down
            print(f"tidal: command module {name} failed to load: {exc}", file=sys.stderr)
            continue
        add = getattr(mod, "add_parser", None)
        if callable(add):
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
        code = func(args, env) if _arity(func) >= 2 else func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(code or 0)


def _arity(func: object) -> int:
    try:
        params = inspect.signature(func).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 2
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
