"""`main(argv, env)`: parsing, the command table, errors before any request."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tidal.cli import commands
from tidal.cli.env import Env
from tidal.cli.main import COMMANDS, build_parser, main


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, Env(out, err, io.StringIO()))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDAL_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)


def test_commands_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in (
        "up",
        "down",
        "status",
        "kubeconfig",
        "serve",
        "get",
        "describe",
        "apply",
        "delete",
        "logs",
        "top",
        "events",
    ):
        assert name in sub.choices  # type: ignore[operator]


def test_every_command_module_is_in_the_table() -> None:
    modules = {p.stem for p in Path(commands.__file__).parent.glob("*.py") if p.stem != "__init__"}
    assert {add.__module__.rsplit(".", 1)[1] for add in COMMANDS} == modules


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--name=Bad_Name"], "--name: Invalid value"),
        (["--name=a", "--memory=abc"], "--memory is invalid"),
        (["--name=a", "--cpu=-1"], "--cpu is invalid"),
        (["--name=a", "--image=x"], "a command is required"),
    ],
)
def test_serve_kserve_bad_flags_fail_before_any_request(flags: list[str], message: str) -> None:
    code, out, err = run(
        ["serve", "kserve", *flags] + (["cmd"] if "--image=x" not in flags else [])
    )
    assert code == 1 and out == ""
    assert err.startswith("ERRO[0000] failed to validate command args: ") and message in err


def test_unknown_kind() -> None:
    code, _, err = run(["get", "widgets"])
    assert code == 1 and 'doesn\'t have a resource type "widgets"' in err


def test_no_plane_is_a_clear_error() -> None:
    code, _, err = run(["get", "pods"])
    assert code == 1 and "tidal up" in err


def test_bad_output_format() -> None:
    code, _, err = run(["get", "pods", "-o", "xml"])
    assert code == 1 and 'output format "xml"' in err


def test_status_when_down() -> None:
    code, out, _ = run(["status"])
    assert code == 1 and "plane:     not running" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", "prod", "get", "pods"],
        ["get", "pods", "-n", "prod"],
        ["serve", "get", "x", "--type", "kserve", "-n", "prod"],
    ],
)
def test_namespace_before_or_after_the_command(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).namespace == "prod"
