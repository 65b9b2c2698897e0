"""The router as Knative's activator: how long and how many requests it holds for a Service
with no ready endpoint, and the poke that tells the autoscaler at once.

Settings come from the Service's annotations (the InferenceService's own annotations reach its
Service): `autoscaling.tidal.dev/max-held-requests` (default 100) and
`autoscaling.tidal.dev/activation-timeout` (a Go duration or seconds; default 630 s, Knative's
activation timeout: the 600 s progress deadline plus its 30 s buffer). A held Service whose
every pod is crash-looping or cannot be scheduled does not wait that long: its requests get a
503 naming the reason as soon as the pods say so (`pods_verdict`). The decisions here are pure;
`Poker` and `PodCheck` are the plumbing to the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tidal.api import gotime
from tidal.api.wellknown import (
    ACTIVATION_TIMEOUT_ANNOTATION,
    MAX_HELD_ANNOTATION,
    POKE_ANNOTATION,
)

log = logging.getLogger("tidal.router.activation")

TIMEOUT_ANNOTATION = ACTIVATION_TIMEOUT_ANNOTATION
DEFAULT_MAX_HELD = 100
DEFAULT_ACTIVATION_TIMEOUT_S = 630.0
REPOKE_S = 1.0  # while requests stay held, the poke is repeated this often (a plane restart)


@dataclass(frozen=True, slots=True)
class HoldSettings:
    max_held: int = DEFAULT_MAX_HELD
    timeout_s: float = DEFAULT_ACTIVATION_TIMEOUT_S


def _timeout(raw: str) -> float | None:
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            value = gotime.parse_duration(raw) / gotime.SECOND
        except ValueError:
            return None
    return value if value > 0 else None


def hold_settings(annotations: Mapping[str, Any]) -> HoldSettings:
    """PURE: a Service's annotations → its hold settings. A bad value (not a number, negative,
    a zero timeout) reads as the default and is logged: the router has no one to answer 422."""
    max_held, timeout_s = DEFAULT_MAX_HELD, DEFAULT_ACTIVATION_TIMEOUT_S
    raw = annotations.get(MAX_HELD_ANNOTATION)
    if raw is not None:
        try:
            n = int(str(raw).strip())
            if n < 0:
                raise ValueError
            max_held = n
        except ValueError:
            log.warning(
                "%s=%r is not a whole number >= 0; using %d", MAX_HELD_ANNOTATION, raw, max_held
            )
    raw = annotations.get(TIMEOUT_ANNOTATION)
    if raw is not None:
        t = _timeout(str(raw))
        if t is None:
            log.warning(
                "%s=%r is not a positive duration; using %gs", TIMEOUT_ANNOTATION, raw, timeout_s
            )
        else:
            timeout_s = t
    return HoldSettings(max_held, timeout_s)


def overflow_message(service: str, max_held: int) -> str:
    return (
        f"service {service} has no ready endpoint and already holds {max_held} requests "
        f"(the limit, {MAX_HELD_ANNOTATION})"
    )


def timeout_message(service: str, timeout_s: float) -> str:
    return (
        f"service {service} had no ready endpoint within the activation timeout "
        f"({timeout_s:g}s, {TIMEOUT_ANNOTATION})"
    )


def should_poke(last_poke: float | None, now: float, repoke_s: float = REPOKE_S) -> bool:
    """PURE: poke at the first held request, then again every `repoke_s` while requests stay
    held (the first poke may have found the control plane down)."""
    return last_poke is None or now - last_poke >= repoke_s


class Poker:
    """Carries pokes to the API: a merge patch of `POKE_ANNOTATION` on the PodAutoscaler named
    like the Service. One patch in flight per service; a failure (no PodAutoscaler: an HPA or
    no autoscaler; the API down) is logged at debug level and retried by the next poke."""

    def __init__(self, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._last: dict[str, float] = {}
        self._busy: set[str] = set()
        self.sent = 0  # patches the API accepted (tests, /stats)

    def poke(self, service: str) -> None:
        now = self.clock()
        if service in self._busy or not should_poke(self._last.get(service), now):
            return
        self._last[service] = now
        self._busy.add(service)
        asyncio.get_running_loop().create_task(self._patch(service, now))

    def done(self, service: str) -> None:
        """The service got a ready endpoint: the next hold pokes at once."""
        self._last.pop(service, None)

    async def _patch(self, service: str, now: float) -> None:
        ns, name = service.split("/", 1)
        try:
            await self.client.patch(
                "PodAutoscaler",
                name,
                {"metadata": {"annotations": {POKE_ANNOTATION: f"{now:.3f}"}}},
                ns,
            )
            self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # NotFound, the API down: the next poke tries again
            log.debug("poke %s: %s", service, exc)
        finally:
            self._busy.discard(service)


# Waiting reasons of a container that will not start by itself (the kubelet's back-offs and
# configuration errors): a pod showing one is failing, not starting.
FAILING_WAIT_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


def pod_failure(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """PURE: (reason, detail) when the pod is failing to come up, else None. Unschedulable:
    `PodScheduled` False (`FailedScheduling`); a container waiting in a failing reason."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return "Unschedulable", cond.get("message") or cond.get("reason") or "unschedulable"
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in FAILING_WAIT_REASONS:
                return reason, waiting.get("message") or f"container {cs.get('name')}: {reason}"
    return None


def pods_verdict(service: str, pods: Iterable[Mapping[str, Any]]) -> tuple[str, str] | None:
    """PURE: (reason, message) for a 503 when every live pod of a held Service is failing to
    come up, else None (keep holding: no pods yet means a scale-up is on its way). Terminating
    and finished pods do not count. One reason names it when all agree, else `PodsFailing`."""
    failing: list[tuple[str, str, str]] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        failure = pod_failure(pod)
        if failure is None:
            return None
        failing.append((str(meta.get("name", "")), *failure))
    if not failing:
        return None
    reasons = sorted({r for _, r, _ in failing})
    counts = ", ".join(f"{sum(1 for f in failing if f[1] == r)} {r}" for r in reasons)
    name, _, detail = failing[0]
    message = (
        f"service {service} has no ready endpoint and none of its pods is coming up "
        f"({counts}); pod {name}: {detail}"
    )
    return (reasons[0] if len(reasons) == 1 else "PodsFailing"), message


class PodCheck:
    """Lists a held Service's pods (its selector, through the API) at most every `every_s`,
    one list in flight per Service, and hands `pods_verdict` to a callback. Only Services with
    held requests are looked at, so an idle router costs the API nothing."""

    def __init__(
        self, client: Any, clock: Callable[[], float] = time.monotonic, every_s: float = REPOKE_S
    ) -> None:
        self.client = client
        self.clock = clock
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def check(
        self,
        service: str,
        selector: str,
        on_verdict: Callable[[str, tuple[str, str] | None], None],
    ) -> None:
        now = self.clock()
        if service in self._busy or not should_poke(self._last.get(service), now, self.every_s):
            return
        self._last[service] = now
        self._busy.add(service)
        task = asyncio.get_running_loop().create_task(self._list(service, selector, on_verdict))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _list(
        self,
        service: str,
        selector: str,
        on_verdict: Callable[[str, tuple[str, str] | None], None],
    ) -> None:
        ns = service.split("/", 1)[0]
        try:
            listed = await self.client.list("Pod", ns, label_selector=selector)
            on_verdict(service, pods_verdict(service, listed.get("items") or []))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the API down: keep holding; the next check tries again
            log.debug("pods of %s: %s", service, exc)
        finally:
            self._busy.discard(service)
