"""Public test helpers built on the simulator, so users test their bots the way fastws does.

* :func:`fast_limits`: the venue's connection rules with every timer shortened, so ping,
  pong-deadline, rate-limit and lifetime behaviour shows up in a test within seconds.
* :class:`ReferenceBook`: a deliberately simple, dict-and-Decimal local order book that follows
  SPEC §3 (spot and USDⓈ-M rules) on raw JSON payloads. It is an independent oracle: it uses
  neither fastws's parser nor its book.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

from fastws.exceptions import SequenceGap
from fastws.venues import SPOT_LIMITS, USDM_LIMITS, Limits

__all__ = ["fast_limits", "ReferenceBook"]


def fast_limits(market: str = "spot", **overrides: Any) -> Limits:
    """Connection rules with short timers for tests.

    Defaults: ping every 0.2 s, pong deadline 0.5 s, lifetime 60 s; message rate, stream count
    and attempt budget as on the venue. Pass keyword arguments to change any field of
    :class:`~fastws.venues.Limits`.
    """
    base = SPOT_LIMITS if market == "spot" else USDM_LIMITS
    values: dict[str, Any] = {"ping_interval": 0.2, "pong_timeout": 0.5,
                              "connection_lifetime": 60.0}
    values.update(overrides)
    return base.replace(**values)


class ReferenceBook:
    """Plain local order book following Binance's sync rules (SPEC §3.1 spot, §3.2 USDⓈ-M).

    Parameters
    ----------
    symbol : str
        Symbol, for error messages.
    market : {"spot", "usdm"}
        Which sequencing rule to check (``U == prev u + 1`` or ``pu == prev u``).

    Notes
    -----
    Feed it the decoded JSON of a snapshot (:meth:`apply_snapshot`) and of each ``depthUpdate``
    (:meth:`apply`). Events older than the snapshot are skipped as the procedure says; a gap
    raises :class:`fastws.exceptions.SequenceGap`.
    """

    def __init__(self, symbol: str, market: str = "spot") -> None:
        self.symbol = symbol
        self.market = market
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.update_id: Optional[int] = None
        self._first = True

    def apply_snapshot(self, snap: dict[str, Any]) -> None:
        """Reset the book to a REST / WS API ``depth`` result."""
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"] if Decimal(q)}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"] if Decimal(q)}
        self.update_id = int(snap["lastUpdateId"])
        self._first = True

    def apply(self, ev: dict[str, Any]) -> bool:
        """Apply one ``depthUpdate``; returns False if it was skipped as too old."""
        if self.update_id is None:
            raise RuntimeError("apply_snapshot() first")
        U, u = int(ev["U"]), int(ev["u"])
        last = self.update_id
        if self.market == "spot":
            if u <= last:
                return False
            if U > last + 1:
                raise SequenceGap(self.symbol, last + 1, U)
        else:
            if u < last:
                return False
            if self._first:
                if not (U <= last <= u):
                    raise SequenceGap(self.symbol, last, U)
            elif int(ev["pu"]) != last:
                raise SequenceGap(self.symbol, last, int(ev["pu"]))
        for side, levels in ((self.bids, ev["b"]), (self.asks, ev["a"])):
            for p, q in levels:
                pd, qd = Decimal(p), Decimal(q)
                if qd:
                    side[pd] = qd
                else:
                    side.pop(pd, None)
        self.update_id = u
        self._first = False
        return True

    def top(self, n: int) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Best ``n`` levels per side as ``(price, qty)`` Decimals, best first."""
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks

    def best_bid(self) -> Optional[tuple[Decimal, Decimal]]:
        return max(self.bids.items()) if self.bids else None

    def best_ask(self) -> Optional[tuple[Decimal, Decimal]]:
        return min(self.asks.items()) if self.asks else None
