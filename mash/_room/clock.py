"""The room's clock: event time as a function of real time, with pauses and jumps.

Pure: the caller hands in the real instant (a monotonic reading), so the clock is tested
with plain numbers. Event time runs at `speed` event seconds per real second while the room
runs, stands still while it is paused, and jumps when the facilitator skips ahead or a gap
between contacts is longer than the room will wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass
class RoomClock:
    anchor: datetime  # event time at `real`
    real: float  # the real instant (monotonic seconds) of `anchor`
    speed: float  # event seconds per real second
    running: bool = False

    def now(self, real: float) -> datetime:
        if not self.running:
            return self.anchor
        return self.anchor + timedelta(seconds=max(0.0, real - self.real) * self.speed)

    def pause(self, real: float) -> None:
        self.anchor, self.real, self.running = self.now(real), real, False

    def resume(self, real: float) -> None:
        self.real, self.running = real, True

    def jump(self, to: datetime, real: float) -> None:
        """Event time is `to` now; it never runs backwards."""
        self.anchor, self.real = max(to, self.now(real)), real

    def real_until(self, at: datetime, real: float) -> float:
        """Real seconds until event time reaches `at` (infinite while paused)."""
        left = (at - self.now(real)).total_seconds()
        if left <= 0:
            return 0.0
        if not self.running or self.speed <= 0:
            return float("inf")
        return left / self.speed
