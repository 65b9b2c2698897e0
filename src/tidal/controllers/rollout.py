"""The Deployment controller's arithmetic over ReplicaSets, as kubernetes' `deployment/util` and
`rolling.go`/`sync.go` do it: fenceposts (maxSurge/maxUnavailable), how far the new ReplicaSet
may grow and the old ones shrink, proportional scaling of every active ReplicaSet when
`spec.replicas` changes mid-rollout, revisions, and which old ReplicaSets the history limit
deletes. Pure: ReplicaSets come in as `RSView`s, sizes come out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
CHANGE_CAUSE = "kubernetes.io/change-cause"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Deployment annotations not copied onto its ReplicaSets (`skipCopyAnnotation`).
SKIP_COPY = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS})


@dataclass(frozen=True, slots=True)
class RSView:
    """A ReplicaSet as the decisions see it: its size, what it has, when it was made."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    created: float = 0.0
    revision: int = 0
    max_replicas: int | None = None  # the max-replicas annotation (proportional scaling)
    desired: int | None = None  # the desired-replicas annotation (is this a scaling event?)


def resolve(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent (`intstr.GetScaledValueFromIntOrPercent`); None is the default 25%."""
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        x = int(value[:-1]) * total / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(value)


def fenceposts(max_surge: Any, max_unavailable: Any, replicas: int) -> tuple[int, int]:
    """(surge, unavailable) in pods (`ResolveFenceposts`): surge rounds up, unavailable down,
    and both zero means one may be unavailable, so a rollout can always proceed."""
    surge = resolve(max_surge, replicas, round_up=True)
    unavailable = resolve(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def new_rs_replicas(replicas: int, surge: int, all_rs: Iterable[RSView], new: RSView) -> int:
    """The new ReplicaSet's size now (`NewRSNewReplicas`, rolling): grow while every ReplicaSet's
    pods together stay within replicas + surge."""
    current = sum(rs.replicas for rs in all_rs)
    if current >= replicas + surge:
        return new.replicas
    grow = min(replicas + surge - current, replicas - new.replicas)
    return new.replicas + max(grow, 0)


def old_rs_sizes(
    replicas: int, unavailable: int, old: Sequence[RSView], new: RSView | None
) -> dict[str, int]:
    """The old ReplicaSets' sizes now (`reconcileOldReplicaSets`): first shed their unavailable
    pods, then available ones, oldest ReplicaSet first, while `replicas - unavailable` stay
    available and the new ReplicaSet's unavailable pods are counted against the budget."""
    sizes = {rs.name: rs.replicas for rs in old}
    if not sum(sizes.values()):
        return sizes
    all_pods = sum(sizes.values()) + (new.replicas if new else 0)
    min_available = replicas - unavailable
    new_unavailable = (new.replicas - new.available) if new else 0
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return sizes
    by_age = sorted(old, key=lambda rs: (rs.created, rs.name))
    cleaned = 0
    for rs in by_age:  # cleanupUnhealthyReplicas
        if cleaned >= budget:
            break
        if sizes[rs.name] == 0:
            continue
        down = min(budget - cleaned, sizes[rs.name] - rs.available)
        if down > 0:
            sizes[rs.name] -= down
            cleaned += down
    available = sum(min(rs.available, sizes[rs.name]) for rs in old) + (new.available if new else 0)
    if available <= min_available:
        return sizes
    total = available - min_available
    done = 0
    for rs in by_age:  # scaleDownOldReplicaSetsForRollingUpdate
        if done >= total:
            break
        if sizes[rs.name] == 0:
            continue
        down = min(sizes[rs.name], total - done)
        sizes[rs.name] -= down
        done += down
    return sizes


def _round(x: float) -> int:
    """Go's math.Round: halves away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def active_or_latest(new: RSView | None, old: Sequence[RSView]) -> RSView | None:
    """`FindActiveOrLatest`: the only ReplicaSet with pods, else the newest (None when several
    have pods)."""
    if new is None and not old:
        return None
    newest_first = sorted(old, key=lambda rs: (rs.created, rs.name), reverse=True)
    active = [rs for rs in [*newest_first, *([new] if new else [])] if rs.replicas > 0]
    if not active:
        return new if new is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def scaled_sizes(
    replicas: int,
    surge: int,
    new: RSView | None,
    old: Sequence[RSView],
    status_replicas: int,
    *,
    rolling: bool = True,
) -> dict[str, int]:
    """Every ReplicaSet's size after `spec.replicas` changed (`scale`): the one active
    ReplicaSet takes it all; during a rollout the difference is shared in proportion to each
    one's size against its max-replicas annotation, the remainder to the largest (newest)."""
    sizes = {rs.name: rs.replicas for rs in [*old, *([new] if new else [])]}
    one = active_or_latest(new, old)
    if one is not None:
        sizes[one.name] = replicas
        return sizes
    if (
        new is not None
        and new.replicas == replicas
        and new.desired == replicas
        and new.available == replicas
    ):
        for rs in old:
            sizes[rs.name] = 0
        return sizes
    if not rolling:
        return sizes
    active = [rs for rs in [*old, *([new] if new else [])] if rs.replicas > 0]
    allowed = replicas + surge if replicas > 0 else 0
    to_add = allowed - sum(rs.replicas for rs in active)
    if to_add > 0:
        active.sort(key=lambda rs: (-rs.replicas, -rs.created, rs.name))  # larger, newer first
    else:
        active.sort(key=lambda rs: (-rs.replicas, rs.created, rs.name))  # larger, older first
    added = 0
    for rs in active:
        if to_add == 0:
            break
        if replicas == 0:
            fraction = -rs.replicas
        else:
            annotated = rs.max_replicas if rs.max_replicas else status_replicas
            fraction = (
                _round(rs.replicas * (replicas + surge) / annotated) - rs.replicas
                if annotated
                else 0
            )
        allowed_left = to_add - added
        part = min(fraction, allowed_left) if to_add > 0 else max(fraction, allowed_left)
        sizes[rs.name] = rs.replicas + part
        added += part
    if active and to_add != added:
        first = active[0].name
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return sizes


def is_scaling_event(replicas: int, rs_list: Iterable[RSView]) -> bool:
    """`isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`."""
    return any(
        rs.desired is not None and rs.desired != replicas for rs in rs_list if rs.replicas > 0
    )


def max_revision(rs_list: Iterable[RSView]) -> int:
    return max((rs.revision for rs in rs_list), default=0)


def next_revision(old: Iterable[RSView]) -> int:
    """The revision a new (or re-adopted) template gets: one above every old ReplicaSet's."""
    return max_revision(old) + 1


def history_victims(old: Iterable[RSView], limit: int | None) -> list[str]:
    """Old ReplicaSets beyond `revisionHistoryLimit` (default 10) to delete, oldest revision
    first; only those scaled to zero with no pods left (`cleanupDeployment`)."""
    keep = 10 if limit is None else max(int(limit), 0)
    empty = [rs for rs in old if rs.replicas == 0 and rs.available == 0]
    extra = len(empty) - keep
    if extra <= 0:
        return []
    empty.sort(key=lambda rs: (rs.revision, rs.created, rs.name))
    return [rs.name for rs in empty[:extra]]


def scaling_message(rs_name: str, before: int, after: int) -> str:
    """The `ScalingReplicaSet` event's text (kubernetes 1.32 `scaleReplicaSet`)."""
    direction = "up" if after > before else "down"
    return f"Scaled {direction} replica set {rs_name} from {before} to {after}"
