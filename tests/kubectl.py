"""A new user's shell for the process tests that drive the real kubectl: a HOME with no kubectl
cache, TIDAL_HOME and KUBECONFIG of the test's plane, the venv's `tidal` on PATH. One copy, so
every kubectl test runs commands the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

# the `tidal` a user types (the venv's entry point), or the same CLI as a module
_ENTRY = Path(sys.executable).with_name("tidal")
TIDAL = [str(_ENTRY)] if _ENTRY.exists() else [sys.executable, "-m", "tidal.cli.main"]


def user_env(home: Path, user: Path, **extra: str) -> dict[str, str]:
    """This process's environment as a fresh user's shell for the plane at `home`."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "TIDAL_HOME")}
    env.update(
        HOME=str(user),
        TIDAL_HOME=str(home),
        KUBECONFIG=str(home / "kubeconfig"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        **extra,
    )
    return env


@dataclass
class Shell:
    home: Path
    env: dict[str, str]

    timeout_s: ClassVar[float] = 60.0  # one kubectl command (`rollout status` needs longer)

    def kubectl(
        self, *args: str, stdin: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["kubectl", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=self.timeout_s,
        )
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
        return proc

    def out(self, *args: str) -> str:
        return self.kubectl(*args).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.out(*args))

    def tidal(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TIDAL, *args], env=self.env, capture_output=True, text=True, timeout=300
        )  # above `tidal up`'s own 120 s wait, so it reports rather than being killed


@contextmanager
def plane_up(shell: Shell, ingress: int) -> Iterator[None]:
    """`tidal up` typed in `shell` (the plane's log in the failure), `tidal down` after the block
    whatever happens (tests.plane.stop_plane)."""
    from tests.plane import stop_plane

    try:
        up = shell.tidal("up", "--ingress-port", str(ingress))
        log = shell.home / "plane.log"
        assert up.returncode == 0, up.stderr + (
            log.read_text(errors="replace") if log.exists() else ""
        )
        yield
    finally:
        stop_plane(shell.home)
