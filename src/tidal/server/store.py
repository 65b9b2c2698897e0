"""Durable object storage: SQLite in WAL mode, one row per object as JSON, and one global
resourceVersion counter bumped in the same transaction as every write, so the state after a
kill -9 is exactly the last committed write. Every object is also cached in memory (the local
plane holds thousands, not millions): reads never touch the disk.

Keys are (kind, namespace, name); cluster-scoped kinds use namespace "".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

Obj = dict[str, Any]
Key = tuple[str, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    rv INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), rv INTEGER NOT NULL);
INSERT OR IGNORE INTO counter (id, rv) VALUES (1, 1000);
"""


class Store:
    """SQLite-backed map of objects with a monotonic resourceVersion. Not thread-safe: one event
    loop owns it (the plane's)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self.rv: int = self._db.execute("SELECT rv FROM counter WHERE id = 1").fetchone()[0]
        self._objects: dict[Key, bytes] = {}
        self._by_kind: dict[str, set[Key]] = {}
        for kind, ns, name, body in self._db.execute(
            "SELECT kind, namespace, name, body FROM objects"
        ):
            self._objects[(kind, ns, name)] = bytes(body)
            self._by_kind.setdefault(kind, set()).add((kind, ns, name))

    def close(self) -> None:
        self._db.close()

    def get(self, key: Key) -> Obj | None:
        raw = self._objects.get(key)
        return None if raw is None else orjson.loads(raw)

    def get_raw(self, key: Key) -> bytes | None:
        return self._objects.get(key)

    def exists(self, key: Key) -> bool:
        return key in self._objects

    def keys(self, kind: str, namespace: str | None = None) -> list[Key]:
        """Sorted keys of a kind, optionally within one namespace."""
        keys = self._by_kind.get(kind, ())
        return sorted(k for k in keys if namespace is None or k[1] == namespace)

    def items(self, kind: str | None = None) -> Iterator[tuple[Key, bytes]]:
        keys = list(self._objects) if kind is None else list(self._by_kind.get(kind, ()))
        for k in keys:
            v = self._objects.get(k)
            if v is not None:
                yield k, v

    def put(self, key: Key, obj: Obj) -> int:
        """Write `obj` with the next resourceVersion (set in its metadata); returns it."""
        rv = self.rv + 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
        body = orjson.dumps(obj)
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO objects (kind, namespace, name, rv, body) VALUES (?,?,?,?,?)",
                (*key, rv, body),
            )
            self._db.execute("UPDATE counter SET rv = ? WHERE id = 1", (rv,))
        self.rv = rv
        self._objects[key] = body
        self._by_kind.setdefault(key[0], set()).add(key)
        return rv

    def remove(self, key: Key) -> int:
        """Delete the row; the deletion itself takes the next resourceVersion (for watchers)."""
        rv = self.rv + 1
        with self._tx():
            self._db.execute(
                "DELETE FROM objects WHERE kind = ? AND namespace = ? AND name = ?", key
            )
            self._db.execute("UPDATE counter SET rv = ? WHERE id = 1", (rv,))
        self.rv = rv
        self._objects.pop(key, None)
        self._by_kind.get(key[0], set()).discard(key)
        return rv

    def _tx(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
