"""Status conditions as Kubernetes keeps them: a condition's `lastTransitionTime` moves only when
its `status` changes, so `describe` and `kubectl wait` see when a thing became ready, not when a
controller last wrote it. Pure: the caller passes the time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Obj = dict[str, Any]


def keep_transition_times(
    old: Iterable[Obj] | None, new: Iterable[Obj], now: str, *, update_time: bool = False
) -> list[Obj]:
    """Copies of `new` with each `lastTransitionTime` taken from the `old` condition of the same
    type when its status is unchanged, else the time the new condition carries, else `now`
    (RFC 3339). `update_time` also keeps apps/v1's `lastUpdateTime`, which moves when the
    status or the reason changes."""
    before = {c.get("type"): c for c in old or ()}
    out = []
    for cond in new:
        c = dict(cond)
        prev = before.get(c.get("type"))
        if prev is None or prev.get("status") != c.get("status"):
            prev = {}  # a new condition, or its status flipped: nothing to keep
        if prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
        else:
            c.setdefault("lastTransitionTime", now)
        if update_time:
            same_reason = prev.get("reason") == c.get("reason")
            c["lastUpdateTime"] = (prev.get("lastUpdateTime") if same_reason else None) or now
        out.append(c)
    return out
