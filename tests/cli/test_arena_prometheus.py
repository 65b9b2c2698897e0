"""arena's `--enable-prometheus` and `--metrics-port` as the pods' `prometheus.io/*` annotations."""

from __future__ import annotations

import pytest

from tidal.cli.arena import ArgsError, KServeArgs, build
from tidal.cli.commands.serve import _bool_flag
from tidal.cli.main import build_parser

SCRAPE = "prometheus.io/scrape"
PORT = "prometheus.io/port"
PATH = "prometheus.io/path"


def annotations(**kw: object) -> dict[str, str]:
    a = KServeArgs(name="qwen", command=["python -m server"], username="u", **kw)  # type: ignore[arg-type]
    ann = build(a)[0]["metadata"]["annotations"]
    return {k: v for k, v in ann.items() if k.startswith("prometheus.io/")}


CASES = {
    "off": ({}, {}),
    "enabled: the serving port": (
        {"enable_prometheus": True},
        {SCRAPE: "true", PORT: "8080", PATH: "/metrics"},
    ),
    "enabled, --port 9000": (
        {"enable_prometheus": True, "port": 9000},
        {SCRAPE: "true", PORT: "9000", PATH: "/metrics"},
    ),
    "enabled, --metrics-port 9400": (
        {"enable_prometheus": True, "metrics_port": 9400},
        {SCRAPE: "true", PORT: "9400", PATH: "/metrics"},
    ),
    "--metrics-port alone": ({"metrics_port": 9400}, {PORT: "9400"}),
}


@pytest.mark.parametrize("kw,want", CASES.values(), ids=CASES.keys())
def test_prometheus_annotations(kw: dict, want: dict) -> None:
    assert annotations(**kw) == want


def test_bad_metrics_port() -> None:
    with pytest.raises(ArgsError, match="--metrics-port is invalid"):
        annotations(metrics_port=70000)


FLAG_CASES = {
    "bare flag before the command": (
        ["--enable-prometheus", "vllm serve x"],
        (True, ["vllm serve x"]),
    ),
    "=true": (["--enable-prometheus=true", "cmd"], (True, ["cmd"])),
    "=false": (["--enable-prometheus=false", "cmd"], (False, ["cmd"])),
    "absent": (["cmd"], (False, ["cmd"])),
}


@pytest.mark.parametrize("flags,want", FLAG_CASES.values(), ids=FLAG_CASES.keys())
def test_enable_prometheus_parses_as_arena_bool(flags: list[str], want: tuple) -> None:
    args = build_parser().parse_args(["serve", "kserve", "--name=q", *flags])
    assert _bool_flag(args.enable_prometheus, list(args.command_args)) == want
