"""Helpers for the live-stream tests: a simulator on a manual clock driven fast, event
recorders that check ids, and the book-equality oracle (the simulator's own book)."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any, AsyncIterator

from fastws.events import AggTrade, DepthUpdate, Trade
from fastws.sim import Exchange, ManualClock
from fastws.testing import fast_limits

from tests.utils import UNIT

#: Spot rules with a 1 s server ping (5 pongs/s would eat the whole control budget).
LIMITS = fast_limits("spot", ping_interval=1.0, pong_timeout=5.0)

#: MarketStream options for tests: short silence threshold, no 24 h cut-over.
FAST = dict(min_silence=1.0 * UNIT, silence_factor=5.0, connect_timeout=10 * UNIT)


def manual_clock() -> ManualClock:
    """A manual clock starting on a whole second (push boundaries line up)."""
    return ManualClock((int(time.time()) // 1) * 1000)


@contextlib.asynccontextmanager
async def driven(ex: Exchange, step_ms: int = 50, every: float = 0.01) -> AsyncIterator[None]:
    """Move the simulator's manual clock by ``step_ms`` every ``every`` seconds."""
    stop = asyncio.Event()

    async def drive() -> None:
        while not stop.is_set():
            await ex.advance(step_ms)
            await asyncio.sleep(every)

    task = asyncio.create_task(drive())
    try:
        yield
    finally:
        stop.set()
        await task


class Recorder:
    """Records what the user's callbacks saw, per stream: depth (U, u, pu), trade ids."""

    def __init__(self, ms: Any) -> None:
        self.depth: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        self.trades: dict[str, list[int]] = defaultdict(list)
        self.aggs: dict[str, list[int]] = defaultdict(list)
        ms.on(DepthUpdate, self._depth)
        ms.on(Trade, self._trade)
        ms.on(AggTrade, self._agg)

    def _depth(self, ev: DepthUpdate) -> None:
        self.depth[ev.stream].append((ev.first_update_id, ev.final_update_id, ev.prev_final_update_id))

    def _trade(self, ev: Trade) -> None:
        self.trades[ev.stream].append(ev.trade_id)

    def _agg(self, ev: AggTrade) -> None:
        self.aggs[ev.stream].append(ev.agg_trade_id)

    def depth_breaks(self, stream: str) -> list[tuple[int, int]]:
        """(prev u, U) where the spot chain ``U == prev u + 1`` broke (lost or repeated events)."""
        evs = self.depth[stream]
        return [(a[1], b[0]) for a, b in zip(evs, evs[1:]) if b[0] != a[1] + 1]

    def trade_breaks(self, stream: str) -> list[tuple[int, int]]:
        ids = self.trades[stream]
        return [(a, b) for a, b in zip(ids, ids[1:]) if b != a + 1]


def assert_no_duplicates(rec: Recorder) -> None:
    """No event reached the callbacks twice (events the venue sent swapped are both
    delivered, in the order they came: ids need not increase)."""
    for stream, evs in rec.depth.items():
        us = [u for _, u, _ in evs]
        assert len(set(us)) == len(us), f"{stream}: a depth event delivered twice"
    for stream, ids in list(rec.trades.items()) + list(rec.aggs.items()):
        assert len(set(ids)) == len(ids), f"{stream}: a trade delivered twice"


async def settle_and_compare(ms: Any, ex: Exchange, symbols: list[str], timeout: float = 5.0) -> None:
    """Stop the market on a push boundary, wait until every book reached the simulator's last
    update id, and check each book equals the simulator's book level for level."""
    await ex.advance(1000 - ex.now_ms() % 1000)
    await ex.advance(1000)
    await ms.wait_synced(symbols, timeout * UNIT)
    deadline = time.monotonic() + timeout * UNIT
    for sym in symbols:
        book = ms.books[sym]
        while book.update_id != ex.update_id(sym) or not book.is_synced:
            if time.monotonic() > deadline:
                raise AssertionError(f"{sym}: book at {book.update_id} (synced={book.is_synced}), "
                                     f"simulator at {ex.update_id(sym)}")
            await asyncio.sleep(0.01)
        bids, asks = ex.book(sym)
        got_b, got_a = book.top(None)
        assert [[float(p), float(q)] for p, q in bids] == got_b.tolist(), f"{sym} bids differ"
        assert [[float(p), float(q)] for p, q in asks] == got_a.tolist(), f"{sym} asks differ"
