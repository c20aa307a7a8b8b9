"""Clocks for the simulator: wall time, or a manual clock that tests move by hand."""
from __future__ import annotations

import time

__all__ = ["Clock", "WallClock", "ManualClock"]


class Clock:
    """Source of the simulator's time, in epoch milliseconds."""

    manual = False

    def now_ms(self) -> int:
        raise NotImplementedError


class WallClock(Clock):
    """Real time (``time.time()``), optionally scaled: ``speed=10`` runs ten times faster."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._t0 = time.time()
        self._m0 = time.monotonic()

    def now_ms(self) -> int:
        return int((self._t0 + (time.monotonic() - self._m0) * self.speed) * 1000)


class ManualClock(Clock):
    """A clock that only moves when told to; use :meth:`fastws.sim.Exchange.advance`.

    Parameters
    ----------
    start_ms : int
        Initial epoch time in milliseconds (default: now).
    """

    manual = True

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = int(time.time() * 1000) if start_ms is None else int(start_ms)

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> int:
        """Move time forward by ``ms`` milliseconds and return the new time."""
        if ms < 0:
            raise ValueError("time does not run backwards")
        self._now += int(ms)
        return self._now
