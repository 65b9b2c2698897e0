"""What every results file records (issue 20's "honest benchmarks"): the git revision measured,
the date, the machine (cores, load average before and during the run) and the exact command;
and the one line the README's speed table is generated from (`scripts/readme_speed.py`).

    prov = Provenance.start()              # at the beginning of the run
    ...                                    # the measurement (prov samples the load meanwhile)
    text = prov.header("Router throughput") + body + prov.readme_row(order, what, tidal, peer)
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_TAG = "<!-- readme-speed:"


def git_revision() -> str:
    """`git describe`-like: the commit, with `-dirty` when tracked files differ from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "src", "benchmarks", "pyproject.toml"],
            cwd=ROOT,
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return rev + ("-dirty" if dirty else "")


@dataclass
class Provenance:
    revision: str
    started: float
    command: str
    load_before: float
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, *, period_s: float = 5.0) -> Provenance:
        exe = (
            os.path.relpath(sys.executable, ROOT)
            if sys.executable.startswith(str(ROOT))
            else (sys.executable)
        )
        argv = [exe, os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]
        prov = cls(git_revision(), time.time(), shlex.join(argv), os.getloadavg()[0])
        threading.Thread(target=prov._sample, args=(period_s,), daemon=True).start()
        return prov

    def _sample(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            self.samples.append(os.getloadavg()[0])

    def header(self, title: str) -> str:
        self._stop.set()
        during = self.samples or [os.getloadavg()[0]]
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.started))
        took = time.time() - self.started
        return (
            f"# {title}\n\n"
            f"- revision: `{self.revision}`\n"
            f"- date: {when} (took {took:.0f} s)\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average {self.load_before:.1f} before, "
            f"{min(during):.1f}-{max(during):.1f} during (other work may share the machine)\n"
            f"- command: `{self.command}`\n\n"
        )

    def readme_row(self, order: int, what: str, tidal: str, peer: str) -> str:
        """The README speed table's row for this result (hidden in the Markdown)."""
        row = {"order": order, "what": what, "tidal": tidal, "peer": peer}
        return f"\n{README_TAG} {json.dumps(row)} -->\n"
