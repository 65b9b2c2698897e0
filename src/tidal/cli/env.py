"""The terminal a command writes to, injected (httpie's `Environment`): tests pass string
buffers; `Env.real()` is the process's own streams."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Env:
    stdout: IO[str]
    stderr: IO[str]
    stdin: IO[str]
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def real(cls) -> Env:
        return cls(sys.stdout, sys.stderr, sys.stdin)

    def out(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text)
        self.stderr.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def tidal_home(explicit: str | None = None) -> Path:
    """`--home`, else `$TIDAL_HOME`, else `~/.tidal`."""
    return Path(explicit or os.environ.get("TIDAL_HOME") or Path.home() / ".tidal").expanduser()
