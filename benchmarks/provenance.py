"""What every results file records (issue 20's "honest benchmarks"): the git revision measured,
the date, the machine (cores, load average before and during the run) and the exact command;
and the one line the README's speed table is generated from (`scripts/readme_speed.py`).

    prov = Provenance.start()              # at the beginning of the run
    ...                                    # the measurement (prov samples the load meanwhile)
    text = prov.header("Router throughput") + body + prov.readme_row(order, what, tidal, peer)

A results file shared by several scripts (coldstart.md, reaction.md) gives each its own section:
`prov.header(title, level=2)` and `write_section(path, file_title, title, text)`. A shell wrapper
(`benchmarks/predict`, ...) names itself in `TIDAL_BENCH_COMMAND`, so the file records the command
the user typed as well as the Python one it ran.
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
RESULTS = ROOT / "benchmarks" / "results"
README_TAG = "<!-- readme-speed:"
WRAPPER_ENV = "TIDAL_BENCH_COMMAND"


def git_revision() -> str:
    """`git describe`-like: the commit, with `-dirty` when the tracked code (src, benchmarks,
    pyproject.toml) differs from it."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # the code measured; results files written by an earlier benchmark do not count
            ["git", "diff", "--quiet", "HEAD", "--", "src", "benchmarks", "pyproject.toml"]
            + [":(exclude)benchmarks/results"],
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
    wrapper: str = ""  # the shell wrapper's command line, when one ran this script
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, *, period_s: float = 5.0) -> Provenance:
        via = os.environ.pop(WRAPPER_ENV, "")  # not inherited by the processes this one starts
        prov = cls(git_revision(), time.time(), command_line(), os.getloadavg()[0], via)
        threading.Thread(target=prov._sample, args=(period_s,), daemon=True).start()
        return prov

    def _sample(self, period_s: float) -> None:
        while not self._stop.wait(period_s):
            self.samples.append(os.getloadavg()[0])

    def header(self, title: str, *, level: int = 1) -> str:
        """Title, then revision, date (and how long it took), machine and load, command."""
        self._stop.set()
        during = self.samples or [os.getloadavg()[0]]
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.started))
        took = time.time() - self.started
        return (
            f"{'#' * level} {title}\n\n"
            f"- revision: `{self.revision}`\n"
            f"- date: {when} (took {took:.0f} s)\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; load average {self.load_before:.1f} before, "
            f"{min(during):.1f}-{max(during):.1f} during (other work may share the machine)\n"
            + (
                f"- command: `{self.wrapper}` (which runs `{self.command}`)\n\n"
                if self.wrapper
                else f"- command: `{self.command}`\n\n"
            )
        )

    def readme_row(self, order: int, what: str, tidal: str, peer: str) -> str:
        """The README speed table's row for this result (hidden in the Markdown), with the
        revision measured: a file may hold sections measured at different revisions. `peer`
        says "same run" or where a cited figure comes from."""
        row = {"order": order, "what": what, "tidal": tidal, "peer": peer}
        row["revision"] = self.revision
        return f"\n{README_TAG} {json.dumps(row, ensure_ascii=False)} -->\n"


def command_line() -> str:
    """This script's exact command line, as typed from the repository root."""
    exe = sys.executable
    if exe.startswith(str(ROOT)):
        exe = os.path.relpath(exe, ROOT)
    return shlex.join([exe, os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def write_section(path: Path, file_title: str, title: str, text: str) -> None:
    """Put `text` (a `## title` section, from `header(title, level=2)`) into the results file,
    replacing that section if present and keeping the file's other sections (other scripts')."""
    old = path.read_text() if path.exists() else f"# {file_title}\n"
    section = text.strip("\n") + "\n"
    start = old.find(f"## {title}\n")
    if start < 0:  # a new section goes last
        path.write_text(old.rstrip("\n") + "\n\n" + section)
        return
    end = old.find("\n## ", start + 1)  # in place: the sections keep their order
    rest = "\n" + old[end + 1 :] if end >= 0 else ""
    path.write_text(old[:start] + section + rest)
