"""`python -m tidal.storage URI DEST [-- COMMAND ...]`: the pod's storage-initializer step.

Fetches URI (docs/STORAGE.md) into the shared cache (`fetch.default_cache`), points DEST (the pod's
`/mnt/models`) at it, then runs COMMAND in its place (exec), so the model server starts only on
a complete model. A failure prints one `error: failed to fetch URI: ...` line (it becomes the
container's termination message), writes it to `$TIDAL_TERMINATION_LOG` when set, and exits 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tidal.storage.fetch import default_cache, fetch
from tidal.storage.uri import StorageError


def _log(line: str) -> None:
    print(f"storage-initializer: {line}", flush=True)


def link(dest: Path, target: Path) -> None:
    """Point `dest` at `target` with one rename (a model folder is never half there)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(target.resolve(), target_is_directory=target.is_dir())
    if dest.is_dir() and not dest.is_symlink():
        raise StorageError(str(target), f"{dest} exists and is a folder, not a link")
    os.replace(tmp, dest)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args:
        i = args.index("--")
        args, command = args[:i], args[i + 1 :]
    if len(args) != 2:
        print("usage: python -m tidal.storage URI DEST [-- COMMAND ...]", file=sys.stderr)
        return 2
    uri, dest = args
    env = dict(os.environ)
    try:
        folder = fetch(uri, default_cache(env), env, _log)
        link(Path(dest), folder)
    except (StorageError, OSError) as exc:  # OSError: the cache or DEST cannot be written
        message = (
            f"error: {exc}"
            if isinstance(exc, StorageError)
            else (f"error: failed to fetch {uri}: {type(exc).__name__}: {exc}")
        )
        print(message, file=sys.stderr, flush=True)
        if env.get("TIDAL_TERMINATION_LOG"):
            Path(env["TIDAL_TERMINATION_LOG"]).write_text(message + "\n")
        return 1
    _log(f"model from {uri} is at {dest}")
    if command:
        sys.stdout.flush()
        os.execvp(command[0], command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
