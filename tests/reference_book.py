"""A plain dict order book: the obviously-correct reference the Cython book is tested against.

Prices are dict keys as given (floats produced by the same correctly rounded conversion the
book uses), quantities absolute, 0 deletes. Every query sorts: slow on purpose, simple to trust.
"""
from __future__ import annotations

from typing import Iterable, Sequence

Row = Sequence[float]


class ReferenceBook:
    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.update_id = -1

    def snapshot(self, last_update_id: int, bids: Iterable[Row], asks: Iterable[Row]) -> None:
        self.bids = {}
        self.asks = {}
        self.apply(bids, asks)
        self.update_id = last_update_id

    def apply(self, bids: Iterable[Row], asks: Iterable[Row], update_id: int | None = None) -> None:
        for side, rows in ((self.bids, bids), (self.asks, asks)):
            for price, qty in rows:
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        if update_id is not None:
            self.update_id = update_id

    def top(self, n: int | None = None) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])
        asks = sorted(self.asks.items())
        if n is not None:
            bids, asks = bids[:n], asks[:n]
        return bids, asks

    def best_bid(self) -> tuple[float, float] | None:
        if not self.bids:
            return None
        p = max(self.bids)
        return (p, self.bids[p])

    def best_ask(self) -> tuple[float, float] | None:
        if not self.asks:
            return None
        p = min(self.asks)
        return (p, self.asks[p])

    @property
    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))

    def snapshot_rows(self) -> tuple[list[list[float]], list[list[float]]]:
        """The whole book as REST-style rows (for building snapshots in tests)."""
        bids, asks = self.top()
        return [list(r) for r in bids], [list(r) for r in asks]
