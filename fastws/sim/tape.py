"""The trade tape: every trade and aggregate trade the simulated market printed, per symbol.

It feeds the market-data queries (``trades.recent``, ``trades.historical``,
``trades.aggregate``, ``klines``; REST ``/trades``, ``/historicalTrades``, ``/aggTrades``,
``/klines``) with the same ids and prices the ``trade`` / ``aggTrade`` streams carried. It keeps
the last :data:`KEEP` trades of each symbol (older ones are "archived" and no longer served,
as a simulator must bound its memory).
"""
from __future__ import annotations

from bisect import bisect_left
from collections import deque
from typing import Any, Callable, Iterable, Optional

__all__ = ["Tape", "KEEP"]

KEEP = 50_000
"""Trades (and as many aggregate trades) kept per symbol."""


class Tape:
    """Recent trades per symbol: ``(id, tick, lots, time, buyer_is_maker)``, aggregate
    trades ``(agg_id, tick, lots, first_id, last_id, time, buyer_is_maker)`` and block trades
    ``(block_id, tick, lots, time, buyer_is_maker)``."""

    def __init__(self, symbols: Iterable[str], keep: int = KEEP) -> None:
        self.trades: dict[str, deque[tuple]] = {s: deque(maxlen=keep) for s in symbols}
        self.aggs: dict[str, deque[tuple]] = {s: deque(maxlen=keep) for s in symbols}
        self.blocks: dict[str, deque[tuple]] = {s: deque(maxlen=keep) for s in symbols}
        self._next: Optional[Callable[[Any, Any], None]] = None

    def chain(self, previous: Optional[Callable[[Any, Any], None]]) -> "Tape":
        """Call ``previous`` (another step observer) after recording."""
        self._next = previous
        return self

    def record(self, m: Any, res: Any) -> None:
        """Step observer (``Hub.on_step``): keep the fills and aggregates of one step."""
        tr = self.trades.get(m.symbol)
        if tr is not None:
            for f in res.fills:
                if not tr or f.trade_id > tr[-1][0]:
                    tr.append((f.trade_id, f.price, f.lots, f.time, f.buyer_is_maker))
            ag = self.aggs[m.symbol]
            for a in res.agg:
                if not ag or a[0] > ag[-1][0]:
                    ag.append(tuple(a))
            if res.block is not None:
                self.blocks[m.symbol].append(tuple(res.block))
        if self._next is not None:
            self._next(m, res)

    @staticmethod
    def from_id(items: deque, first: int) -> list[tuple]:
        """Items with id >= ``first`` (ids increase along the tape)."""
        lst = list(items)
        return lst[bisect_left([x[0] for x in lst], first):]
