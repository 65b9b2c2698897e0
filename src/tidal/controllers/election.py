"""Leader election on a `coordination.k8s.io/v1` Lease, decided as client-go's `leaderelection`
package decides it (kube-controller-manager's `--leader-elect`).

Pure: the lease as read, what this candidate observed of it before, and two clocks go in; what to
write (if anything) and what this candidate now believes come out. Like client-go, expiry is
judged from the *local* time at which the lease record was last seen to change (`observed_at`),
never from the holder's `renewTime`, so clock skew between machines cannot steal a lease.

kube-controller-manager's defaults: lease 15 s, renew deadline 10 s, retry period 2 s.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

from tidal.api.meta import rfc3339_micro  # metav1.MicroTime

Obj = dict[str, Any]

LEASE_DURATION_S = 15.0
RENEW_DEADLINE_S = 10.0
RETRY_PERIOD_S = 2.0


@dataclass(frozen=True, slots=True)
class Timing:
    lease_duration_s: float = LEASE_DURATION_S
    renew_deadline_s: float = RENEW_DEADLINE_S
    retry_period_s: float = RETRY_PERIOD_S

    def problems(self) -> list[str]:
        """client-go's NewLeaderElector checks, with its messages."""
        out = []
        if self.lease_duration_s <= self.renew_deadline_s:
            out.append("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline_s <= 1.2 * self.retry_period_s:
            out.append("renewDeadline must be greater than retryPeriod*JitterFactor")
        if self.lease_duration_s <= 0:
            out.append("leaseDuration must be greater than zero")
        if self.renew_deadline_s <= 0:
            out.append("renewDeadline must be greater than zero")
        if self.retry_period_s <= 0:
            out.append("retryPeriod must be greater than zero")
        return out


@dataclass(frozen=True, slots=True)
class Observed:
    """The lease record (its spec) as last seen to change, and the local monotonic time then."""

    spec: Obj
    observed_at: float


@dataclass(frozen=True, slots=True)
class Step:
    """`write`: create / update the lease with `lease` (optimistic: its resourceVersion), or
    none; `leader`: whether this candidate leads if the write (if any) succeeds."""

    write: Literal["create", "update", "none"]
    lease: Obj | None
    leader: bool
    observed: Observed | None
    reason: str


def try_acquire_or_renew(
    lease: Obj | None,
    observed: Observed | None,
    *,
    identity: str,
    name: str,
    namespace: str,
    wall: float,
    mono: float,
    timing: Timing = Timing(),
) -> Step:
    """One round of client-go's `tryAcquireOrRenew`."""
    if lease is None:
        spec = _spec(identity, wall, timing, acquire=wall, transitions=0)
        new = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        return Step("create", new, True, Observed(spec, mono), "no lease yet")

    spec = lease.get("spec") or {}
    if observed is None or _record(observed.spec) != _record(spec):
        observed = Observed(copy.deepcopy(spec), mono)
    holder = spec.get("holderIdentity") or ""
    duration = float(spec.get("leaseDurationSeconds") or timing.lease_duration_s)
    held_by_other = holder not in ("", identity)
    if held_by_other and observed.observed_at + duration > mono:
        return Step("none", None, False, observed, f"lease held by {holder}")

    transitions = int(spec.get("leaseTransitions") or 0)
    if holder == identity:
        new_spec = _spec(identity, wall, timing, acquire=None, transitions=transitions)
        new_spec["acquireTime"] = spec.get("acquireTime") or rfc3339_micro(wall)
        reason = "renewed"
    else:
        new_spec = _spec(identity, wall, timing, acquire=wall, transitions=transitions + 1)
        reason = f"took over from {holder}" if holder else "acquired a released lease"
    new = copy.deepcopy(lease)
    new["spec"] = new_spec
    return Step("update", new, True, Observed(new_spec, mono), reason)


def release(lease: Obj, *, identity: str, wall: float) -> Obj | None:
    """client-go's `release` (ReleaseOnCancel): an empty holder and a one-second lease, so a
    successor need not wait out the duration. None when this candidate does not hold it."""
    spec = lease.get("spec") or {}
    if spec.get("holderIdentity") != identity:
        return None
    new = copy.deepcopy(lease)
    new["spec"] = {
        "leaseDurationSeconds": 1,
        "leaseTransitions": spec.get("leaseTransitions") or 0,
        "acquireTime": rfc3339_micro(wall),
        "renewTime": rfc3339_micro(wall),
    }
    return new


def _spec(identity: str, wall: float, timing: Timing, *, acquire: float | None, transitions: int):
    spec: Obj = {
        "holderIdentity": identity,
        "leaseDurationSeconds": int(timing.lease_duration_s),
        "renewTime": rfc3339_micro(wall),
        "leaseTransitions": transitions,
    }
    if acquire is not None:
        spec["acquireTime"] = rfc3339_micro(acquire)
    return spec


def _record(spec: Obj) -> tuple[Any, ...]:
    return tuple(
        spec.get(k)
        for k in (
            "holderIdentity",
            "leaseDurationSeconds",
            "acquireTime",
            "renewTime",
            "leaseTransitions",
        )
    )
