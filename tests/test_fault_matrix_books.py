"""Fault matrix, books: each book-trust fault of the simulator against ``MarketStream``.

Every row injects one fault (``ex.faults.*``) into a running stream and asserts the contract
of issue 10: while the fault lasts the user can *see* it (the book is stale with a readable
reason, never "synced" and wrong), and afterwards every book is synced AND equal to the
simulator's own book, no event was lost beyond the fault's own window, none was delivered
twice, and the stream is alive (events still flow, ``ms.error`` is None).

Each row's line in the one table of bench/README.md ("Fault matrix", with the link faults of
tests/test_fault_matrix_links.py) is what the test observed, recorded once its assertions
passed: ``python -m tests.fault_matrix_support bench/README.md`` (tests/fault_matrix_support.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import pytest

from fastws.events import DepthUpdate
from fastws.market_stream import MarketStream
from fastws.sim import Exchange

from tests.fault_matrix_support import DEPTH as STREAMS
from tests.fault_matrix_support import SYMS, Row, record, wait_for
from tests.stream_support import FAST, LIMITS, Recorder, driven, manual_clock, settle_and_compare
from tests.utils import UNIT


@dataclass
class Seen:
    """What the user could observe during one row."""

    reasons: list[str] = field(default_factory=list)   # distinct stale reasons, in order
    lies: list[str] = field(default_factory=list)      # synced books that were provably wrong
    snapshot_times: list[float] = field(default_factory=list)
    armed: bool = False                                 # the fault was injected
    heals: int = 0                                      # silence heals (new links) meanwhile
    reconnects: int = 0                                 # unplanned reconnects meanwhile
    row: Row | None = None                              # the table row, once it passed

    def keep(self) -> None:
        """Keep the row for the table; call after the test's own extra assertions."""
        assert self.row is not None
        record(self.row)

    def reason(self, r: str | None) -> None:
        if self.armed and r and (not self.reasons or self.reasons[-1] != r):
            self.reasons.append(r)


def _epochs(evs: list[tuple[int, int, int]]) -> list[list[tuple[int, int, int]]]:
    """Split a stream's (U, u, pu) list where ids went clearly backwards (a venue restart)."""
    out: list[list[tuple[int, int, int]]] = [[]]
    for e in evs:
        if out[-1] and e[1] < out[-1][-1][1] - 10_000:
            out.append([])
        out[-1].append(e)
    return out


def losses_and_duplicates(rec: Recorder, stream: str, market: str = "spot") -> tuple[int, int]:
    """(holes, repeated events) in what the callbacks saw, per id epoch: a hole is a run of
    update ids no delivered event covers (spot ``U != prev u + 1``, USD-M ``pu != prev u``,
    in id order: events that arrived swapped are not lost)."""
    lost = dup = 0
    for chain in _epochs(rec.depth[stream]):
        seen: set[tuple[int, int]] = set()
        spans = sorted({(u, U, pu) for U, u, pu in chain})
        for a, b in zip(spans, spans[1:]):
            if (b[1] != a[0] + 1) if market == "spot" else (b[2] != a[0]):
                lost += 1
        for U, u, _ in chain:
            if (U, u) in seen:
                dup += 1
            seen.add((U, u))
    return lost, dup


async def run_row(fault: str, inject: Callable[[Exchange, MarketStream, Seen], Awaitable[None]],
                  *, before: str, test: str, reason: str, max_lost: int, saw: str,
                  ex_kw: dict[str, Any] | None = None,
                  ms_kw: dict[str, Any] | None = None, symbol: str = "BTCUSDT",
                  settle: float = 10.0, market: str = "spot") -> Seen:
    from fastws.testing import fast_limits
    limits = LIMITS if market == "spot" else fast_limits("usdm", ping_interval=1.0, pong_timeout=5.0)
    async with Exchange(SYMS, limits=limits, clock=manual_clock(), market=market,
                        **(ex_kw or {})) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST, **(ms_kw or {})) as ms:
            rec = Recorder(ms)
            seen = Seen()
            sync = ms.syncs[symbol]

            def watch(ev: DepthUpdate) -> None:   # runs after the book took the event
                if ev.symbol == symbol:
                    book = sync.book
                    seen.reason(getattr(sync, "stale_reason", None)
                                or (None if book.is_synced else "stale (no reason given)"))
                    if book.is_synced and book.update_id > ex.update_id(symbol):
                        seen.lies.append(f"synced at {book.update_id} > venue {ex.update_id(symbol)}")
            ms.on(DepthUpdate, watch)
            fetch = ms._fetch_depth

            async def timed_fetch(sym: str) -> dict[str, Any]:
                if sym == symbol:
                    seen.snapshot_times.append(time.monotonic())
                return await fetch(sym)
            ms._fetch_depth = timed_fetch  # type: ignore[method-assign]

            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                snaps0 = ms.stats().snapshots
                heals0, reconnects0 = ms.stats().heals, ms.stats().reconnects
                seen.armed = True
                await inject(ex, ms, seen)
                await wait_for(lambda: any(reason in r for r in seen.reasons), settle,
                            f"stale reason {reason!r}")
                await ms.wait_synced(timeout=settle * UNIT)
                n = len(rec.depth[STREAMS[0]])
                await wait_for(lambda: len(rec.depth[STREAMS[0]]) > n + 3, settle, "events after recovery")
                await ms.wait_synced(timeout=settle * UNIT)
            await settle_and_compare(ms, ex, SYMS, timeout=settle)
            assert ms.error is None
            assert seen.lies == []
            lost, dup = losses_and_duplicates(rec, STREAMS[0], market)
            other_lost, other_dup = losses_and_duplicates(rec, STREAMS[1], market)
            assert dup == 0 and other_dup == 0, "an event reached the user twice"
            assert lost <= max_lost, f"{lost} holes in the ids delivered, the fault's window allows {max_lost}"
            st = ms.stats()
            seen.heals, seen.reconnects = st.heals - heals0, st.reconnects - reconnects0
            seen.row = Row(
                fault, before, f"{lost} hole(s), {max_lost} allowed / {dup + other_dup}",
                f"{saw}; stale reasons seen: {'; '.join(_short(r) for r in seen.reasons[:3])}; "
                f"synced + equal, {st.snapshots - snaps0} snapshot(s)", test)
            return seen


def _short(r: str) -> str:
    r = re.sub(r"\d{6,}", "N", r)
    return r if len(r) <= 60 else r[:57] + "..."


# ---------------------------------------------------------------------------------- the rows

@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_ids_restarting_lower_after_a_reconnect(market: str) -> None:
    """Old code: the book kept its old content and stayed synced; every event "already held"."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.restart_ids("BTCUSDT")
    seen = await run_row(
        f"`restart_ids('BTCUSDT')` (ids restart lower after a reconnect: a testnet reset), {market}",
        inject, reason="stream down", max_lost=1, market=market,
        before="book kept its old content and stayed synced; no gap, no resync, no log",
        saw="book stale while reconnecting, then resynced on the new ids",
        test="test_ids_restarting_lower_after_a_reconnect")
    assert any("stream down" in r for r in seen.reasons)
    seen.keep()


async def test_ids_restarting_lower_without_a_reconnect() -> None:
    """Old code: the listener's permanent high-water mark dropped every lower id (the stream
    was muted until a silence heal); now the book sees the ids go backwards, marks itself
    stale and resyncs on the same link (default silence settings: no heal is needed)."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.restart_ids("BTCUSDT", reconnect=False)
    seen = await run_row(
        "`restart_ids('BTCUSDT', reconnect=False)` (ids restart lower on the same link)", inject,
        reason="backwards", max_lost=1,
        before="every lower id dropped by the listener's high-water mark; book stayed synced "
               "on the old ids",
        saw="book stale: 'update ids went backwards', resynced on the same link",
        test="test_ids_restarting_lower_without_a_reconnect")
    assert seen.heals == 0 and seen.reconnects == 0, "the book healed by a new link, not by itself"
    seen.keep()


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_one_absurd_update_id(market: str) -> None:
    """Old code: one event with an absurd ``u`` froze the book (all later events "held")."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.absurd_depth_id("BTCUSDT")
    seen = await run_row(
        f"`absurd_depth_id('BTCUSDT')` (one depth event with a `u` 10**15 too high), {market}",
        inject, reason="implausible", max_lost=1, market=market,
        before="book froze, still synced: every later event \"already held\"",
        saw="book stale: 'implausible update id', resynced on the same link",
        test="test_one_absurd_update_id")
    assert seen.heals == 0 and seen.reconnects == 0, "the book healed by a new link, not by itself"
    seen.keep()


async def test_crossed_snapshots_back_off() -> None:
    """Old code: crossed snapshots were asked again with no delay (40 a second)."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.crossed_snapshot("BTCUSDT", count=3)
        ex.faults.gap("BTCUSDT")                 # the resync meets three crossed snapshots
    # the one break is the gap fault's own id skip (no level change is lost there)
    seen = await run_row(
        "`crossed_snapshot('BTCUSDT', count=3)` + `gap('BTCUSDT')` (crossed snapshots during a "
        "resync)", inject, reason="crossed", max_lost=1,
        before="crossed snapshots asked again with no delay (40 a second)",
        saw="book stale: 'crossed snapshot', asked again with doubling backoff",
        test="test_crossed_snapshots_back_off")
    times = seen.snapshot_times[-4:]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 3 and all(g >= 0.15 for g in gaps), f"retries not backed off: {gaps}"
    assert gaps[2] > gaps[0]                     # doubling
    seen.keep()


async def test_stream_down_is_not_synced() -> None:
    """Old code: a book whose stream was reconnecting still said synced."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.refuse_connections(1.0 * UNIT, status=503)
        ex.faults.close(how="reset")
        await wait_for(lambda: not ms.books["BTCUSDT"].is_synced
                       and not ms.books["ETHUSDT"].is_synced,
                       5, "both books stale while the link is down")
        assert set(ms.stats().stale) == {"BTCUSDT", "ETHUSDT"}
        assert all("stream down" in r for r in ms.stats().stale.values())
    seen = await run_row(
        "`close(how='reset')` + `refuse_connections(1 s)` (link down, reconnect refused)", inject,
        reason="stream down", max_lost=1,
        before="books still said synced while the stream was down and reconnecting",
        saw="both books stale 'stream down: link #N lost: ...' until resynced",
        test="test_stream_down_is_not_synced")
    seen.keep()


async def test_swapped_depth_events() -> None:
    """Old code: the late one of two swapped events was lost (the listener's high-water mark
    took it for a repeat)."""
    async def inject(ex: Exchange, ms: MarketStream, seen: Seen) -> None:
        ex.faults.reorder_next_depth("BTCUSDT")
    seen = await run_row(
        "`reorder_next_depth('BTCUSDT')` (two depth events swapped)", inject, reason="gap",
        max_lost=0, before="the late event dropped by the listener's high-water dedup",
        saw="book stale: gap at the early event, resynced; both events delivered",
        test="test_swapped_depth_events")
    seen.keep()


async def test_diff_depth_flood_needs_one_snapshot_per_book() -> None:
    """Old code: the buffer kept only 10 000 events, so under a flood every snapshot was already
    stale when it arrived (7-18 snapshots per book, up to 12 s)."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        # the simulated clock runs about 5x real time here: ~25 000 events/s per book arrive,
        # and each snapshot answer takes 0.6 s (a venue slowed by the flood): more than the
        # old 10 000-event buffer arrive between a snapshot's id and its answer
        ex.faults.flood_depth("BTCUSDT", per_second=5_000, seconds=6.0, levels=5)
        ex.faults.flood_depth("ETHUSDT", per_second=5_000, seconds=6.0, levels=5)
        ex.faults.delay_responses(0.6, methods="depth")
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            t0 = time.monotonic()
            async with driven(ex, step_ms=100, every=0.02):
                await ms.wait_synced(timeout=30 * UNIT)
            took = time.monotonic() - t0
            await settle_and_compare(ms, ex, SYMS, timeout=20)
            snaps = {s: ms.syncs[s].stats.snapshots for s in SYMS}
            assert all(n == 1 for n in snaps.values()), f"snapshots per book: {snaps}"
            assert all(ms.syncs[s].stats.buffer_dropped == 0 for s in SYMS)
            for s in STREAMS:
                assert losses_and_duplicates(rec, s) == (0, 0)
            record(Row(
                "`flood_depth(5 000/s, 6 s)` + `delay_responses(0.6, methods='depth')` "
                "(diff-depth flood: ~25 000 events/s per book, snapshots answered in 0.6 s)",
                "7-18 snapshots per book (up to 12 s) to sync: the buffered events were trimmed",
                "0 hole(s), 0 allowed / 0",
                f"books sync once, no buffered event dropped; synced + equal, "
                f"{sum(snaps.values())} snapshot(s) for 2 books in {took:.1f} s",
                "test_diff_depth_flood_needs_one_snapshot_per_book"))


# ------------------------------------------------- the simulator's faults, seen without fastws

def _sim(market: str = "spot") -> Exchange:
    from fastws.sim import ManualClock
    from fastws.testing import fast_limits
    return Exchange(["BTCUSDT", "ETHUSDT"], market=market, clock=ManualClock(1_700_000_000_000),
                    rate=300, limits=fast_limits(market, ping_interval=30,
                                                 max_incoming_per_second=1000))


async def _events(ex: Exchange, ws: Any, ms: int = 500) -> list[dict[str, Any]]:
    from tests.sim_support import drain
    await ex.advance(ms)
    return [e for e in await drain(ws) if isinstance(e, dict) and e.get("e") == "depthUpdate"]


async def _snapshot(ex: Exchange, symbol: str = "BTCUSDT") -> dict[str, Any]:
    from tests.sim_support import get_json
    prefix = "/api/v3" if ex.market == "spot" else "/fapi/v1"
    status, _, body = await get_json(ex.venue.rest_url + prefix + "/depth", symbol=symbol,
                                     limit=1000 if ex.market == "spot" else 1000)
    assert status == 200
    return body  # type: ignore[no-any-return]


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_sim_faults_restart_absurd_crossed_flood(market: str) -> None:
    """Each new fault does exactly what it says, observed with a plain websockets client and
    REST (the simulator is the oracle; fastws is not involved)."""
    import websockets
    async with _sim(market) as ex:
        url = ex.venue.raw_stream_url(["btcusdt@depth@100ms"])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            base = await _events(ex, ws)
            assert base
            # an absurd u on exactly one event; the next ones are normal again
            ex.faults.absurd_depth_id("BTCUSDT")
            evs = await _events(ex, ws)
            absurd = [e for e in evs if e["u"] - e["U"] > 10**14]
            assert len(absurd) == 1 and evs[-1]["u"] - evs[-1]["U"] < 10**6
            # a flood: genuine consecutive ids, the book (and snapshot) unchanged by them
            before = (await _snapshot(ex))
            ex.faults.flood_depth("BTCUSDT", per_second=2000, seconds=1.0, levels=3)
            evs = await _events(ex, ws, 1000)
            assert len(evs) >= 1500
            us = [e["u"] for e in evs]
            assert us == sorted(us) and len(set(us)) == len(us)
            if market == "usdm":
                assert all(b["pu"] == a["u"] for a, b in zip(evs, evs[1:]))
            else:
                assert all(b["U"] == a["u"] + 1 for a, b in zip(evs, evs[1:]))
            after = await _snapshot(ex)
            assert after["lastUpdateId"] >= evs[-1]["u"] > before["lastUpdateId"]
            # a crossed snapshot, once
            ex.faults.crossed_snapshot("BTCUSDT")
            crossed = await _snapshot(ex)
            assert float(crossed["bids"][0][0]) >= float(crossed["asks"][0][0])
            ok = await _snapshot(ex)
            assert float(ok["bids"][0][0]) < float(ok["asks"][0][0])
            # ids restart far lower and the stream connections are dropped
            old = ex.update_id("BTCUSDT")
            ex.faults.restart_ids("BTCUSDT")
            assert ex.update_id("BTCUSDT") == old // 100
            with pytest.raises(websockets.ConnectionClosed):
                for _ in range(50):
                    await _events(ex, ws, 100)
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            evs = await _events(ex, ws)
            assert evs and all(e["u"] < old for e in evs)
            snap = await _snapshot(ex)
            assert snap["lastUpdateId"] < old
        with pytest.raises(ValueError):
            ex.faults.restart_ids("BTCUSDT", to=10**15)
