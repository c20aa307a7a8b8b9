"""fastws.MarketStream against the simulator: subscriptions at runtime, callbacks, the
``async for`` queue with a slow consumer, books through gaps and stale snapshots, USD-M routes.

Every test that ends with ``settle_and_compare`` checks each book equals the simulator's own
book level for level."""
from __future__ import annotations

import asyncio

import pytest

from fastws.events import BookTicker, DepthUpdate, Ticker, Trade
from fastws.exceptions import InvalidUsage
from fastws.market_stream import MarketStream, Overflow
from fastws.sim import Exchange
from fastws.testing import fast_limits

from tests.stream_support import (
    FAST, LIMITS, Recorder, assert_no_duplicates, driven, manual_clock, settle_and_compare,
)
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True

SYMS = ["BTCUSDT", "ETHUSDT"]


async def _wait(pred, timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout * UNIT
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_subscribe_and_unsubscribe_at_runtime() -> None:
    """Streams added later get their book; removed ones leave the server and ms.books."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                added = await ms.subscribe(["ETHUSDT@depth@100ms", "ethusdt@trade", "btcusdt@depth@100ms"])
                assert added == ["ethusdt@depth@100ms", "ethusdt@trade"]
                assert set(ex.connection().state.subscriptions) == {
                    "btcusdt@depth@100ms", "ethusdt@depth@100ms", "ethusdt@trade"}
                await ms.wait_synced(timeout=5 * UNIT)
                assert set(ms.books) == {"BTCUSDT", "ETHUSDT"}
                removed = await ms.unsubscribe("btcusdt@depth@100ms")
                assert removed == ["btcusdt@depth@100ms"]
                assert set(ex.connection().state.subscriptions) == {"ethusdt@depth@100ms", "ethusdt@trade"}
                assert set(ms.books) == {"ETHUSDT"}
                assert ms.pool.shards[0].confirmed == {"ethusdt@depth@100ms", "ethusdt@trade"}
            await settle_and_compare(ms, ex, ["ETHUSDT"])
        with pytest.raises(InvalidUsage):
            MarketStream(["btcusdt@nonsense"], venue=ex.venue)
        with pytest.raises(InvalidUsage):
            MarketStream(["!serverShutdown"], venue=ex.venue)


async def test_callbacks_per_type_and_stream_and_errors() -> None:
    """Callbacks run in arrival order from the listener; one that raises is counted and logged,
    the others and the stream go on."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        streams = ["btcusdt@bookTicker", "btcusdt@trade", "ethusdt@trade", "btcusdt@ticker"]
        async with MarketStream(streams, venue=ex.venue, **FAST) as ms:
            by_type: list = []
            eth: list = []
            ms.on(BookTicker, by_type.append)

            @ms.on("ETHUSDT@trade")
            def on_eth(ev):
                eth.append(ev.trade_id)

            def boom(ev):
                raise RuntimeError("user bug")

            ms.on(Ticker, boom)
            async with driven(ex):
                await _wait(lambda: len(by_type) > 5 and len(eth) > 5 and ms.stats().callback_errors > 0)
                ms.off(BookTicker, by_type.append)
                n = len(by_type)
                await _wait(lambda: len(eth) > 10)
            assert len(by_type) == n
            assert all(isinstance(e, BookTicker) for e in by_type)
            assert eth == sorted(set(eth))
            st = ms.stats()
            assert st.streams["btcusdt@trade"]["messages"] > 0 and st.streams["btcusdt@trade"]["bytes"] > 0
            assert set(st.last_message) == {"BTCUSDT", "ETHUSDT"}
            assert st.frames >= st.messages


async def test_async_iteration_yields_every_event_in_order() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade", "btcusdt@depth@100ms"], venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            seen: list = []
            async with driven(ex):
                async for ev in ms:
                    if isinstance(ev, Trade):
                        seen.append(ev.trade_id)
                    if len(seen) >= 30:
                        break
            assert seen == rec.trades["btcusdt@trade"][:len(seen)]


async def test_slow_consumer_conflates_tickers_and_never_costs_a_book() -> None:
    """A consumer far slower than the stream: bookTickers conflate to the latest value per
    stream; depth events overflow the queue, and the loop itself is told where (an Overflow
    marker), stats() counts them per stream, and the books stay synced all along (old code:
    overflow reset correct books, resync storm). Callbacks missed nothing. Leaving the loop
    removes the queue."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=200.0) as ex:
        streams = ["btcusdt@bookTicker", "btcusdt@depth@100ms", "ethusdt@depth@100ms"]
        async with MarketStream(streams, venue=ex.venue, queue_size=8, **FAST) as ms:
            rec = Recorder(ms)
            got: list = []
            unsynced = []
            async with driven(ex, step_ms=100):
                await ms.wait_synced(timeout=5 * UNIT)
                snaps = ms.stats().snapshots
                assert ms.stats().stale == {}
                async for ev in ms:
                    assert ms.iterating
                    got.append(ev)
                    unsynced += [s for s in SYMS if not ms.books[s].is_synced]
                    await asyncio.sleep(0.05)      # the slow consumer
                    if ms.stats().queue_dropped > 5 and ms.stats().conflated > 5 and len(got) > 20:
                        break
                await asyncio.sleep(0.05)
                assert not ms.iterating and ms.router.queue_hook is None   # the queue is gone
                assert len(ms._q) == 0
            st = ms.stats()
            assert st.conflated > 0 and st.queue_dropped > 0
            assert unsynced == [] and st.resyncs == 0 and st.snapshots == snaps  # books untouched
            assert sum(st.queue_overflows.values()) == st.queue_dropped
            marks = [e for e in got if isinstance(e, Overflow)]
            assert marks and all(m.stream in st.queue_overflows and m.dropped >= 1 for m in marks)
            tickers = [e.update_id for e in got if isinstance(e, BookTicker)]
            assert tickers == sorted(set(tickers))  # conflated, never repeated or reordered
            await settle_and_compare(ms, ex, SYMS)
            for s in ("btcusdt@depth@100ms", "ethusdt@depth@100ms"):
                assert rec.depth_breaks(s) == []    # the callbacks saw every event
            assert_no_duplicates(rec)


async def test_overflow_markers_account_for_every_dropped_event() -> None:
    """Every "keep" event is either yielded or counted in an Overflow marker placed where it
    is missing: per stream, yielded + announced == delivered."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=300.0) as ex:
        async with MarketStream(["btcusdt@trade", "ethusdt@trade"], venue=ex.venue, queue_size=4,
                                **FAST) as ms:
            rec = Recorder(ms)
            counts: dict = {}
            async with driven(ex, step_ms=100):
                async for ev in ms:
                    if isinstance(ev, Overflow):
                        counts[ev.stream] = counts.get(ev.stream, 0) + ev.dropped
                    else:
                        counts[ev.stream] = counts.get(ev.stream, 0) + 1
                        await asyncio.sleep(0.02)
                    if sum(ms.stats().queue_overflows.values()) > 10 and len(counts) == 2:
                        for s in ("btcusdt@trade", "ethusdt@trade"):
                            queued = sum(e.dropped if isinstance(e, Overflow) else 1
                                         for e in ms._q if e.stream == s)
                            assert (counts.get(s, 0) + queued + ms._missing.get(s, 0)
                                    == len(rec.trades[s])), s
                        break
            assert ms.stats().queue_dropped == sum(ms.stats().queue_overflows.values())


async def test_cancelling_the_loop_task_removes_the_queue() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade"], venue=ex.venue, **FAST) as ms:
            async def consume() -> None:
                async for _ in ms:
                    pass
            task = asyncio.create_task(consume())
            async with driven(ex):
                await _wait(lambda: ms.iterating, what="loop started")
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert not ms.iterating and ms.router.queue_hook is None


async def test_gap_resyncs_that_book_only() -> None:
    """User sees: stats().gaps == 1; the BTCUSDT book is flagged stale until its new snapshot,
    ETHUSDT's book is never touched; both end equal to the simulator's."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms", "ethusdt@depth@100ms"], venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.gap("BTCUSDT")
                await _wait(lambda: ms.stats().gaps == 1, what="gap")
                await ms.wait_synced(timeout=5 * UNIT)
            await settle_and_compare(ms, ex, SYMS)
            assert ms.syncs["BTCUSDT"].stats.resyncs == 1
            assert ms.syncs["ETHUSDT"].stats.resyncs == 0
            assert ms.syncs["ETHUSDT"].stats.gaps == 0


async def test_stale_snapshot_is_fetched_again() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with driven(ex):
            await asyncio.sleep(0.3)        # the simulator keeps older snapshots
        ex.faults.stale_snapshot("BTCUSDT")
        async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
            await settle_and_compare(ms, ex, ["BTCUSDT"])
            assert ms.syncs["BTCUSDT"].stats.stale_snapshots >= 1
            assert ms.stats().snapshots >= 2


async def test_duplicated_and_reordered_depth_events() -> None:
    """A repeated depth event never reaches the user (dropped by id); a reordered one shows up
    as a gap, and the book resyncs and ends equal."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.duplicate_next_depth("BTCUSDT", count=3)
                await _wait(lambda: ms.stats().duplicates >= 3, what="duplicates dropped")
                ex.faults.reorder_next_depth("BTCUSDT")
                await _wait(lambda: ms.stats().gaps >= 1, what="reorder gap")
                await ms.wait_synced(timeout=5 * UNIT)
            await settle_and_compare(ms, ex, ["BTCUSDT"])
            assert_no_duplicates(rec)


async def test_rest_snapshots() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_source="rest",
                                **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
            await settle_and_compare(ms, ex, ["BTCUSDT"])
            assert ms._api is None          # the WS API was never needed


async def test_usdm_routes_and_books() -> None:
    """USD-M: depth and bookTicker go to /public, trades and tickers to /market (two
    connections); the book follows the USD-M procedure and ends equal."""
    limits = fast_limits("usdm", ping_interval=1.0, pong_timeout=5.0)
    async with Exchange(["BTCUSDT"], market="usdm", limits=limits, clock=manual_clock()) as ex:
        streams = ["btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@aggTrade", "btcusdt@ticker"]
        async with MarketStream(streams, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            routes = {c.route: set(c.desired) for c in ms.pool.shards.values()}
            assert routes == {"public": {"btcusdt@depth@100ms", "btcusdt@bookTicker"},
                              "market": {"btcusdt@aggTrade", "btcusdt@ticker"}}
            assert sorted(c.route for c in ex.connections) == ["market", "public"]
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                await _wait(lambda: len(rec.aggs["btcusdt@aggTrade"]) > 3, what="aggTrades")
            await settle_and_compare(ms, ex, ["BTCUSDT"])
            evs = rec.depth["btcusdt@depth@100ms"]
            assert all(b[2] == a[1] for a, b in zip(evs, evs[1:]))   # pu == previous u
            assert_no_duplicates(rec)


async def test_ws_api_connection_failure_falls_back_to_rest(caplog) -> None:
    """If the WS API cannot answer, snapshots come over REST and the book still syncs."""
    from dataclasses import replace
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        venue = replace(ex.venue, ws_api_url=ex.venue.stream_url + "/no-such-path")
        async with MarketStream(["btcusdt@depth@100ms"], venue=venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=8 * UNIT)
            await settle_and_compare(ms, ex, ["BTCUSDT"])
    assert any("trying the fallback" in r.getMessage() for r in caplog.records)


async def test_shards_open_and_close_with_runtime_subscriptions() -> None:
    """Starting empty, growing past 1024 streams opens a second connection; removing every
    stream closes them all; subscribing again opens a fresh one."""
    async with Exchange(SYMS, limits=LIMITS) as ex:
        async with MarketStream(venue=ex.venue, **FAST) as ms:
            assert ms.connections == 0 and len(ex.connections) == 0
            await ms.subscribe("btcusdt@depth@100ms")
            await ms.wait_synced(timeout=5 * UNIT)
            many = [f"s{i:04d}usdt@trade" for i in range(1100)]
            await ms.subscribe(many)
            assert sorted(len(c.desired) for c in ms.pool.shards.values()) == [77, 1024]
            await _wait(lambda: len(ex.connections) == 2)
            await ms.unsubscribe(many + ["btcusdt@depth@100ms"])
            await _wait(lambda: ms.connections == 0 and len(ex.connections) == 0)
            assert ms.books == {}
            await ms.subscribe("ethusdt@depth@100ms")
            await ms.wait_synced(timeout=5 * UNIT)
            assert ms.connections == 1 and list(ms.books) == ["ETHUSDT"]


async def test_array_streams_are_dispatched_and_counted() -> None:
    """``!miniTicker@arr`` frames reach MiniTicker callbacks item by item and are counted
    under their stream name."""
    from fastws.events import MiniTicker
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["!miniTicker@arr"], venue=ex.venue, **FAST) as ms:
            got: list = []
            ms.on(MiniTicker, got.append)
            async with driven(ex, step_ms=100):
                await _wait(lambda: ms.stats().streams.get("!miniTicker@arr", {}).get("messages", 0) >= 3)
            assert {e.symbol for e in got} == set(SYMS)
            assert all(e.stream == "!miniTicker@arr" for e in got)


async def test_snapshots_on_a_shared_ws_api_session() -> None:
    """``api=`` a bot's own ApiClient: snapshots use it (one WS API connection, one rate-limit
    account) and MarketStream leaves it open when it closes."""
    from fastws.api_client import ApiClient
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with ApiClient(ex.venue, sync_clock=False) as api:
            async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, api=api, **FAST) as ms:
                async with driven(ex):
                    await ms.wait_synced(timeout=5 * UNIT)
                await settle_and_compare(ms, ex, ["BTCUSDT"])
                assert api.requests >= 1
            assert len(ex.api_connections) == 1
            assert await api.request("ping") == {}


async def test_snapshots_use_only_their_share_of_the_request_weight() -> None:
    """A resync storm never takes the whole weight budget: with a 1 % share (60 weight a
    minute on spot) one 1000-level snapshot (weight 50) goes at once, the next one waits."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        ms = MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_weight_share=0.01)
        await asyncio.wait_for(ms._pace_weight(50), 1 * UNIT)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ms._pace_weight(50), 0.3 * UNIT)
        for bad in (0.0, 1.5):
            with pytest.raises(InvalidUsage):
                MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_weight_share=bad)
        with pytest.raises(InvalidUsage):
            MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_timeout=0)


async def test_a_snapshot_that_never_answers_times_out_and_backs_off() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        ex.faults.delay_responses(30.0, count=2, methods="depth")
        async with MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_timeout=0.3 * UNIT,
                                **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=10 * UNIT)
            st = ms.stats()
            assert st.snapshot_failures == 2 and st.stale == {}
            await settle_and_compare(ms, ex, ["BTCUSDT"])


async def test_link_state_from_the_connection_layer_marks_books() -> None:
    """The connection layer's on_link_state: "down" makes the books of those streams stale with
    the reason (stats().stale) and no snapshot is applied meanwhile; "up" lets the next events
    resync them. A stream that ends for good leaves every book stale, with the cause."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms", "ethusdt@depth@100ms", "btcusdt@trade"],
                                venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ms._on_link_state(["btcusdt@depth@100ms", "btcusdt@trade", "nope@x"], "down",
                                  "link lost (test)")
                assert not ms.books["BTCUSDT"].is_synced and ms.books["ETHUSDT"].is_synced
                assert ms.stats().stale == {"BTCUSDT": "stream down: link lost (test)"}
                ms._on_link_state(["btcusdt@depth@100ms"], "up", "link #2")
                await ms.wait_synced(timeout=5 * UNIT)
                assert ms.stats().stale == {}
                with pytest.raises(InvalidUsage):
                    ms._on_link_state(["btcusdt@depth@100ms"], "sideways", "")
                ms._fatal(RuntimeError("venue gone"))
                assert set(ms.stats().stale) == set(SYMS)
                assert all("stream ended: RuntimeError: venue gone" in r
                           for r in ms.stats().stale.values())
                ms.error = None


async def test_refused_subscribe_rolls_back_exactly_the_refused_streams() -> None:
    """A SUBSCRIBE the venue refuses (``control_errors_without_id(refuse=True)``) raises
    SubscriptionError, and MarketStream forgets exactly those streams: no name in ``streams``,
    no book (a book no stream feeds would stay stale in ``stats().stale`` and make
    ``wait_synced()`` time out), no retry of the refused SUBSCRIBE on the next ``subscribe``;
    the streams wanted before are untouched and their books stay synced and equal."""
    from fastws.exceptions import SubscriptionError
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@depth@100ms", "btcusdt@trade"], venue=ex.venue,
                                **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.control_errors_without_id(count=1, refuse=True, method="SUBSCRIBE",
                                                    msg="Invalid request: too many streams")
                with pytest.raises(SubscriptionError) as info:
                    await ms.subscribe(["ethusdt@depth@100ms", "ethusdt@trade"])
                assert set(info.value.streams) == {"ethusdt@depth@100ms", "ethusdt@trade"}
                assert ms.streams == ["btcusdt@depth@100ms", "btcusdt@trade"]
                assert set(ms.books) == set(ms.syncs) == {"BTCUSDT"}
                assert ms.stats().stale == {}
                await ms.wait_synced(timeout=5 * UNIT)        # no book waits for a dead stream
                # the next subscribe carries only what is wanted: the refused ones are not
                # asked for again behind the user's back
                assert await ms.subscribe("ethusdt@aggTrade") == ["ethusdt@aggTrade"]
                assert set(ex.connection().state.subscriptions) == {
                    "btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@aggTrade"}
                assert ms.streams == ["btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@aggTrade"]
                # subscribing the refused depth stream again, now accepted, gives it a book
                assert await ms.subscribe("ethusdt@depth@100ms") == ["ethusdt@depth@100ms"]
                await ms.wait_synced(timeout=5 * UNIT)
                assert set(ms.books) == {"BTCUSDT", "ETHUSDT"}
            await settle_and_compare(ms, ex, SYMS)
            assert_no_duplicates(rec)
            assert rec.trade_breaks("btcusdt@trade") == []
            assert ms.error is None


async def test_books_ask_their_snapshots_side_by_side() -> None:
    """Under a flood every snapshot answer comes late; asked one at a time, the fourth book
    waited for three answers first (the peers benchmark: 1-26 s to sync four books). Here
    every depth answer is held back a minute: all books must have asked before any answer."""
    syms = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
    async with Exchange(syms, limits=LIMITS, clock=manual_clock()) as ex:
        ex.faults.delay_responses(60.0 * UNIT, count=len(syms), methods="depth")

        def asked() -> int:
            return sum(1 for c in ex.api_connections for r in c.received if b'"depth"' in r)

        async with MarketStream([f"{s.lower()}@depth@100ms" for s in syms], venue=ex.venue,
                                **FAST) as ms:
            assert ms.snapshot_concurrency == 4
            async with driven(ex):
                loop = asyncio.get_running_loop()
                end = loop.time() + 10 * UNIT
                while asked() < len(syms) and loop.time() < end:
                    await asyncio.sleep(0.02)
                assert asked() == len(syms), f"{asked()} of {len(syms)} books asked at once"
        with pytest.raises(InvalidUsage):
            MarketStream(["btcusdt@depth@100ms"], venue=ex.venue, snapshot_concurrency=0)
