"""The router as Knative's activator: how long and how many requests it holds for a Service
with no ready endpoint, and the poke that tells the autoscaler at once.

Settings come from the Service's annotations (the InferenceService's own annotations reach its
Service): `autoscaling.tidal.dev/max-held-requests` (default 100) and
`autoscaling.tidal.dev/activation-timeout` (a Go duration or seconds; default 630 s, Knative's
activation timeout: the 600 s progress deadline plus its 30 s buffer). The decisions here are
pure; `Poker` is the plumbing that carries the poke to the control plane through the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
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
