"""The simulator's clock: integer ticks of `tick_s` seconds from a fixed epoch, so every run of a
scenario sees the same instants (no wall clock anywhere)."""

from __future__ import annotations

from dataclasses import dataclass

EPOCH = 1_700_000_000.0  # 2023-11-14T22:13:20Z: any fixed instant works


@dataclass(slots=True)
class TickClock:
    tick_s: float = 1.0
    ticks: int = 0
    epoch: float = EPOCH  # the scenario's `start` (wall-clock schedules need a known instant)

    def now(self) -> float:
        """Seconds since the epoch at the current tick (a controller's `clock`)."""
        return self.epoch + self.ticks * self.tick_s

    @property
    def elapsed_s(self) -> float:
        return self.ticks * self.tick_s

    def advance(self, ticks: int = 1) -> None:
        self.ticks += ticks
