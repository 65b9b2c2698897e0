"""The registry's in-memory indexes over the store, rebuilt on open: uid -> key, owner uid ->
dependents (for cascading deletion), owners in foreground deletion, and a label index so that a
list with a label selector reads only the objects carrying one of its labels."""

from __future__ import annotations

from tidal.api.selectors import LabelSelector
from tidal.server.objects import Obj
from tidal.server.store import Key


class Indexes:
    """Kept in step with every write: `add` the stored object, `remove` the one it replaced."""

    def __init__(self) -> None:
        self.uids: dict[str, Key] = {}
        self.owned: dict[str, set[Key]] = {}
        self.foreground: set[str] = set()  # uids of owners in foreground deletion
        # (kind, namespace, label, value) -> keys: a list with a label selector reads only the
        # objects carrying one of its `=`/`in` labels (client-go's indexers, not a scan)
        self.labels: dict[tuple[str, str, str, str], set[Key]] = {}

    def add(self, key: Key, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        if meta.get("uid"):
            self.uids[meta["uid"]] = key
            if "foregroundDeletion" in (meta.get("finalizers") or ()):
                self.foreground.add(meta["uid"])
        for ref in meta.get("ownerReferences") or []:
            if ref.get("uid"):
                self.owned.setdefault(ref["uid"], set()).add(key)
        for label, value in (meta.get("labels") or {}).items():
            self.labels.setdefault((key[0], key[1], label, value), set()).add(key)

    def remove(self, key: Key, obj: Obj) -> None:
        meta = obj.get("metadata", {})
        self.foreground.discard(meta.get("uid", ""))
        if self.uids.get(meta.get("uid", "")) == key:
            del self.uids[meta["uid"]]
        for ref in meta.get("ownerReferences") or []:
            owned = self.owned.get(ref.get("uid", ""))
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self.owned[ref["uid"]]
        for label, value in (meta.get("labels") or {}).items():
            keys = self.labels.get((key[0], key[1], label, value))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.labels[(key[0], key[1], label, value)]

    def labelled(self, kind: str, namespace: str | None, labels: LabelSelector) -> list[Key] | None:
        """Sorted keys that may match `labels` from the label index (its narrowest `=`/`in`
        requirement), or None when the selector has none (or no namespace is given): scan."""
        if namespace is None:
            return None
        best: set[Key] | None = None
        for req in labels.requirements:
            if req.op not in ("=", "in"):
                continue
            found: set[Key] = set()
            for value in req.values:
                found |= self.labels.get((kind, namespace, req.key, value), set())
            if best is None or len(found) < len(best):
                best = found
        return None if best is None else sorted(best)
