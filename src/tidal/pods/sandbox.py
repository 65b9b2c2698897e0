"""Each pod in its own mount and PID namespace (bubblewrap), with the plane's home hidden.

A pod runs as the plane's user, so without a namespace it could read `$TIDAL_HOME/token` and act
as cluster admin. `bwrap` gives each container a root of its own: a tmpfs whose top-level entries
are binds of the host's (system folders and the plane's software read-only), a fresh `/proc`
(its own PID namespace: other processes, and `/proc/PID/root` paths into the host, are not
visible), a minimal `/dev` (plus the NVIDIA devices), an empty tmpfs over the home, then the
pod's own folder and its volumes bound back in. As root, all capabilities are dropped, so the pod
cannot unmount the tmpfs; as a normal user, bwrap uses an unprivileged user namespace.

`plan` is pure (a `Host` answers what exists), so the layout is tested with a table; `probe`
checks once whether this machine allows it. Where it does not, pods run as before and the runner
warns in the plane log and in each pod's events (`isolation_warning`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# top-level folders bound read-only: the system and its software (the rest, writable as today)
READ_ONLY_TOP = frozenset(
    {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "boot", "opt", "srv", "sys"}
)
SKIP_TOP = frozenset({"proc", "dev"})  # made fresh by bwrap
DEVICE_PREFIXES = ("nvidia", "dri", "kfd")  # GPUs (CUDA, ROCm) passed through
PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Bind:
    """A host path `src` visible at `dst` inside the pod (a volume, the pod's folder)."""

    src: str
    dst: str
    read_only: bool = False


class Host(Protocol):
    def kind(self, path: str) -> str:
        """'dir', 'file', 'link', 'other' or 'missing' (not following a final symlink)."""

    def listdir(self, path: str) -> list[str]: ...

    def readlink(self, path: str) -> str: ...


class RealHost:
    """The machine's filesystem."""

    def kind(self, path: str) -> str:
        try:
            st = os.lstat(path)
        except OSError:
            return "missing"
        if stat.S_ISLNK(st.st_mode):
            return "link"
        if stat.S_ISDIR(st.st_mode):
            return "dir"
        return "file" if stat.S_ISREG(st.st_mode) else "other"

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def readlink(self, path: str) -> str:
        return os.readlink(path)


def _parents(path: str) -> list[str]:
    """'/a/b/c' -> ['/', '/a', '/a/b'] (the proper ancestors, outermost first)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) if i else "/" for i in range(len(parts))]


def within(path: str, root: str) -> bool:
    """`path` is `root` or below it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve(host: Host, path: str) -> str:
    """`path` with the symlinks of its existing prefix followed (as the kernel would inside a
    root laid out like the host's): `/var/run/x` -> `/run/x` where `/var/run -> /run`."""
    parts = [p for p in path.split("/") if p]
    cur = "/"
    for i, part in enumerate(parts):
        nxt = cur.rstrip("/") + "/" + part
        hops = 0
        while host.kind(nxt) == "link" and hops < 40:
            target = host.readlink(nxt)
            base = cur if not target.startswith("/") else "/"
            nxt = os.path.normpath(os.path.join(base, target))
            hops += 1
        if host.kind(nxt) == "missing":
            rest = "/".join(parts[i + 1 :])
            return os.path.normpath(nxt + ("/" + rest if rest else ""))
        cur = nxt
    return cur


def expanded_dirs(host: Host, targets: Iterable[str], hidden: Sequence[str]) -> set[str]:
    """The host folders rebuilt in the tmpfs root (each entry bound one by one) so that mount
    points missing on the host can be made there, never on the host: '/' always, plus, for a
    target whose path leaves the host at some folder, that folder and its ancestors."""
    out = {"/"}
    for t in targets:
        if any(within(t, h) for h in hidden):
            continue  # inside a hidden tmpfs: bwrap makes its folders there
        chain = [*_parents(t), t]
        for i in range(1, len(chain)):
            if host.kind(chain[i]) != "dir" and host.kind(chain[i]) != "file":
                out.update(chain[:i])
                break
    return out


def plan(
    host: Host,
    *,
    hidden: Sequence[str],
    binds: Sequence[Bind],
    read_only: Sequence[str] = (),
    cwd: str = "/",
    hostname: str = "",
    as_root: bool = False,
) -> list[str]:
    """The bwrap arguments (before the command) for one container. PURE given `host`.

    `hidden` folders become empty tmpfs (the plane's home); `binds` come after them, so the
    pod's own folder inside the home is visible again; `read_only` paths are re-bound
    read-only (the plane's Python and its code: a pod must not be able to change them)."""
    hidden = [resolve(host, h) for h in hidden]
    binds = [Bind(b.src, resolve(host, b.dst), b.read_only) for b in binds]
    expand = expanded_dirs(host, [b.dst for b in binds], hidden)
    args = [
        "--unshare-pid",
        "--unshare-uts",
        "--die-with-parent",  # bwrap's outer process dies => the pod's namespace dies
        "--new-session",
    ]
    if hostname:
        args += ["--hostname", hostname]
    if as_root:
        args += ["--cap-drop", "ALL"]

    def emit(folder: str, ro: bool) -> None:
        for entry in host.listdir(folder):
            path = folder.rstrip("/") + "/" + entry
            if folder == "/" and entry in SKIP_TOP:
                continue
            entry_ro = ro or (folder == "/" and entry in READ_ONLY_TOP)
            kind = host.kind(path)
            if path in expand and kind == "dir":
                args.extend(["--dir", path])
                emit(path, entry_ro)
            elif kind == "link":
                args.extend(["--symlink", host.readlink(path), path])
            elif kind != "missing":
                args.extend(["--ro-bind-try" if entry_ro else "--bind-try", path, path])

    emit("/", False)
    args += ["--proc", "/proc", "--dev", "/dev"]
    for name in host.listdir("/dev"):
        if name.startswith(DEVICE_PREFIXES):
            args += ["--dev-bind-try", f"/dev/{name}", f"/dev/{name}"]
    for path in read_only:
        path = resolve(host, path)
        if host.kind(path) == "dir" and not any(within(path, h) for h in hidden):
            args += ["--ro-bind", path, path]
    for h in hidden:
        args += ["--tmpfs", h]
    for b in sorted(binds, key=lambda b: b.dst.count("/")):
        args += ["--ro-bind" if b.read_only else "--bind", b.src, b.dst]
    args += ["--chdir", cwd]
    return args


def rewrite_paths(text: str, binds: Sequence[Bind]) -> str:
    """Without a mount namespace a mount path cannot exist: each `dst` (a whole path or its
    prefix) in a command, argument or variable becomes its `src` (as `--data SRC:DST` always
    was). Longest first, so `/etc/app/x` wins over `/etc/app`."""
    for b in sorted(binds, key=lambda b: -len(b.dst)):
        dst = b.dst.rstrip("/") or "/"
        text = re.sub(rf"(?<![\w/.-]){re.escape(dst)}(?=$|[/\s\"',;:=])", b.src, text)
    return text


def software_paths() -> list[str]:
    """What a pod must not write: the plane's Python environment and tidal's own code."""
    import tidal

    paths = {sys.prefix, sys.base_prefix, str(Path(tidal.__file__).resolve().parent.parent)}
    return sorted(p for p in paths if p and p != "/")


@functools.cache
def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def launcher() -> list[str]:
    """What runs bwrap: `setsid --wait`, a small parent that outlives the plane. bwrap's
    `--die-with-parent` ties bwrap itself to its parent too, so with the plane as that parent a
    killed plane would kill every pod; with setsid in between, a pod ends only when its own
    launcher does (`kill -9` of the container's pid: the chain of parent-death signals ends the
    namespace), and setsid passes bwrap's exit code on."""
    return [shutil.which("setsid") or "setsid", "--wait", bwrap_path() or "bwrap"]


@functools.cache
def probe() -> str | None:
    """None when a pod can be isolated here; else why not (said once in the plane log and as
    each pod's `IsolationUnavailable` event)."""
    exe = bwrap_path()
    if exe is None:
        return "bwrap (Debian's bubblewrap) is not installed"
    if shutil.which("setsid") is None:
        return "setsid (util-linux) is not installed"
    args = plan(
        RealHost(), hidden=[], binds=[], as_root=os.geteuid() == 0, hostname="probe", cwd="/"
    )
    try:
        done = subprocess.run(
            [*launcher(), *args, "--", "true"],
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bwrap failed: {why[-1] if why else f'exit {done.returncode}'}"
    return None


def isolation_warning(reason: str) -> str:
    return (
        f"pods are not isolated ({reason}): they run as the plane's user and can read the "
        "plane's home, its token included; install bubblewrap and allow user namespaces"
    )
