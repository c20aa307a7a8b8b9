"""fastws.bus against the real nats-server and the simulator: FeedHandler -> JetStream -> BusStream.

Every test that ends with ``settle_and_compare`` checks each consumer book equals the
simulator's own book level for level; ``SnapshotCounter`` checks the venue (the simulator) is
never asked for a snapshot because of the bus."""
from __future__ import annotations

import asyncio

from fastws.bus import BusStream, FeedHandler
from fastws.events import Trade
from fastws.market_stream import Overflow
from fastws.sim import Exchange

from tests.bus_support import SnapshotCounter, nats_server, needs_bus, wait_for  # noqa: F401
from tests.stream_support import (
    FAST, LIMITS, Recorder, assert_no_duplicates, driven, manual_clock, settle_and_compare,
)
from tests.utils import UNIT

pytestmark = needs_bus

SYMS = ["BTCUSDT", "ETHUSDT"]
STREAMS = ["btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@depth@100ms", "ethusdt@trade"]


def _feed(ex: Exchange, url: str, **kw: object) -> FeedHandler:
    return FeedHandler(STREAMS, venue=ex.venue, nats=url, book_interval=0.1 * UNIT, **FAST, **kw)


def _bus(ex: Exchange, url: str, streams: list[str] = STREAMS, **kw: object) -> BusStream:
    return BusStream(streams, venue=ex.venue, nats=url, connect_timeout=10 * UNIT, **kw)


def _assert_complete(rec: Recorder) -> None:
    """Every trade and depth event of the run reached the consumer once (ids contiguous)."""
    assert_no_duplicates(rec)
    for stream in ("btcusdt@trade", "ethusdt@trade"):
        assert rec.trades[stream], f"no trade on {stream}"
        assert rec.trade_breaks(stream) == [], f"{stream}: trades lost or repeated"


async def test_consumer_books_and_events_equal_the_venue(nats_server) -> None:
    """Consumer books equal the simulator's; every trade arrives once, in order; the events
    are MarketStream's own (ev.stream set, typed); the venue served only the feed handler."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        snaps = SnapshotCounter(ex)
        async with _feed(ex, nats_server.url) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url) as bs:
                    rec = Recorder(bs)
                    seen: list[Trade] = []
                    bs.on("btcusdt@trade", seen.append)
                    await bs.wait_synced(timeout=10 * UNIT)
                    await asyncio.sleep(1.0 * UNIT)
                    await settle_and_compare(bs, ex, SYMS)
            st = bs.stats()
            assert st.messages > 0 and st.gaps == 0 and st.parse_errors == 0
            assert seen and type(seen[0]) is Trade and seen[0].stream == "btcusdt@trade"
            assert rec.depth["btcusdt@depth@100ms"] and rec.depth_breaks("btcusdt@depth@100ms") == []
            _assert_complete(rec)
            assert bs.snapshot_sources["request"] >= 2      # one per book, from the feed handler
            assert fh.stats().dropped == 0 and fh.stats().published > st.messages / 2
        assert snaps.count == 2                             # the feed handler's two books only


async def test_late_joiner_syncs_from_the_kv_alone(nats_server) -> None:
    """A consumer that starts when no feed handler runs syncs from the KV bucket's states;
    one that starts while the market moves and no feed handler answers requests syncs from
    the KV too (a newer state bridges its buffered events)."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        async with _feed(ex, nats_server.url) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                await asyncio.sleep(0.5 * UNIT)
            await ex.advance(1000 - ex.now_ms() % 1000)
            await ex.advance(1000)
            # the market is still: wait until the KV holds each book's final state
            await wait_for(lambda: all(fh._put_ids.get(s) == ex.update_id(s) for s in SYMS),
                           5, "the final book states in the KV")
        # no feed handler at all now
        async with _bus(ex, nats_server.url) as bs:
            await bs.wait_synced(timeout=5 * UNIT)
            assert bs.snapshot_sources == {"request": 0, "kv": 2}
            for s in SYMS:
                bids, asks = ex.book(s)
                got_b, got_a = bs.books[s].top(None)
                assert bs.books[s].update_id == ex.update_id(s)
                assert [[float(p), float(q)] for p, q in bids] == got_b.tolist()
                assert [[float(p), float(q)] for p, q in asks] == got_a.tolist()
        # a feed handler that does not answer requests, the market moving
        async with _feed(ex, nats_server.url, serve_snapshots=False) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url) as bs:
                    await bs.wait_synced(timeout=10 * UNIT)
                    await settle_and_compare(bs, ex, SYMS)
                    assert bs.snapshot_sources["request"] == 0 and bs.snapshot_sources["kv"] >= 2
            assert fh.stats().snap_requests == 0 and fh.stats().snap_answers == 0   # not subscribed


async def test_depth_event_lost_on_the_way_resyncs_from_the_bus(nats_server) -> None:
    """A depth event lost between the bus and the consumer: the gap is detected, that book
    (alone) resyncs from the bus and equals the simulator's again; the venue is not asked."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        snaps = SnapshotCounter(ex)
        async with _feed(ex, nats_server.url) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url) as bs:
                    await bs.wait_synced(timeout=10 * UNIT)
                    syncs_eth = bs.syncs["ETHUSDT"].stats.syncs
                    before = bs.snapshot_sources["request"] + bs.snapshot_sources["kv"]
                    bs.faults.drop_next_depth("BTCUSDT")
                    await wait_for(lambda: bs.stats().gaps >= 1, 5, "the gap")
                    await wait_for(lambda: bs.stats().resyncs >= 1, 5, "the resync")
                    await settle_and_compare(bs, ex, SYMS)
                    st = bs.stats()
            assert bs.faults.dropped == 1
            assert st.gaps == 1 and bs.syncs["BTCUSDT"].stats.gaps == 1
            assert bs.syncs["ETHUSDT"].stats.syncs == syncs_eth          # the other book untouched
            assert bs.snapshot_sources["request"] + bs.snapshot_sources["kv"] > before
            assert fh.ms.stats().snapshots == 2 and fh.ms.stats().gaps == 0
        assert snaps.count == 2                                          # Binance never asked


async def test_two_feed_handlers_each_event_once_and_one_killed_loses_nothing(nats_server) -> None:
    """Two feed handlers publish the same streams: the consumer sees every event once
    (JetStream drops the second copy by its venue-id message id). One of them dies mid-stream:
    0 events lost, 0 duplicated, books still equal the simulator's."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        async with _feed(ex, nats_server.url, name="a") as a, \
                _feed(ex, nats_server.url, name="b") as b:
            async with driven(ex):
                await a.wait_synced(timeout=10 * UNIT)
                await b.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url) as bs:
                    rec = Recorder(bs)
                    await bs.wait_synced(timeout=10 * UNIT)
                    p0, n0 = a.stats().published + b.stats().published, bs.stats().messages
                    await wait_for(lambda: bs.stats().messages > n0 + 100, 10, "events")
                    # both published each event; the consumer got one copy of each
                    p1, n1 = a.stats().published + b.stats().published, bs.stats().messages
                    overlap = (p1 - p0) / (n1 - n0)
                    await a.kill()                       # a crash: no clean close
                    n = bs.stats().messages
                    await wait_for(lambda: bs.stats().messages > n + 100, 10, "events after the kill")
                    await settle_and_compare(bs, ex, SYMS)
            st = bs.stats()
            assert st.gaps == 0 and st.resyncs == 0
            assert rec.depth_breaks("btcusdt@depth@100ms") == []
            assert rec.depth_breaks("ethusdt@depth@100ms") == []
            _assert_complete(rec)
            assert 1.7 < overlap < 2.3, overlap


async def test_slow_consumer_slows_neither_the_feed_handler_nor_another_consumer(nats_server) -> None:
    """One consumer's loop sleeps on every event: its queue overflows (Overflow markers), its
    books stay equal to the simulator's; the feed handler drops nothing and a second consumer
    gets every event."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=300.0) as ex:
        async with _feed(ex, nats_server.url) as fh:
            async with driven(ex, step_ms=100):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url, queue_size=20) as slow, \
                        _bus(ex, nats_server.url) as fast:
                    rec = Recorder(fast)
                    await slow.wait_synced(timeout=10 * UNIT)
                    await fast.wait_synced(timeout=10 * UNIT)
                    markers: list[Overflow] = []
                    got = 0

                    async def crawl() -> None:
                        nonlocal got
                        async for ev in slow:
                            if type(ev) is Overflow:
                                markers.append(ev)
                            got += 1
                            await asyncio.sleep(0.05)

                    task = asyncio.create_task(crawl())
                    await asyncio.sleep(2.0 * UNIT)
                    await settle_and_compare(slow, ex, SYMS)
                    await settle_and_compare(fast, ex, SYMS)
                    task.cancel()
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
            assert markers and slow.stats().queue_dropped > 0
            assert got < fast.stats().messages / 2            # it really was slow
            assert slow.stats().gaps == 0 and fast.stats().gaps == 0
            _assert_complete(rec)
            fst = fh.stats()
            assert fst.dropped == 0 and fst.publish_errors == 0


async def test_nats_restart_feed_handler_and_consumer_recover(nats_server) -> None:
    """nats-server restarted (same port and store): the feed handler reconnects and publishes
    again, the consumer's books go stale while it is down, then resync from the bus and equal
    the simulator's; the venue is not asked for any snapshot because of it."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        snaps = SnapshotCounter(ex)
        async with _feed(ex, nats_server.url) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url) as bs:
                    await bs.wait_synced(timeout=10 * UNIT)
                    await nats_server.restart(down_for=0.5 * UNIT)
                    await wait_for(lambda: bs.nats_disconnects == 1 and bs.stats().reconnects == 1,
                                   10, "the consumer's reconnect")
                    await wait_for(lambda: fh.stats().nats_reconnects == 1, 10, "the feed's reconnect")
                    n = bs.stats().messages
                    await wait_for(lambda: bs.stats().messages > n + 50, 10, "events after the restart")
                    await settle_and_compare(bs, ex, SYMS)
                    st = bs.stats()
                    downs = [s.stats.link_downs for s in bs.syncs.values()]
            assert downs == [1, 1]
            assert st.resyncs >= 2 and st.stale == {}
            assert fh.stats().connected and fh.ms.stats().gaps == 0
        assert snaps.count == 2


async def test_streams_added_and_removed_at_runtime(nats_server) -> None:
    """subscribe / unsubscribe on both sides at runtime: a new book syncs from the bus, a
    removed one leaves ``books`` and its subject."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        async with FeedHandler(["btcusdt@depth@100ms"], venue=ex.venue, nats=nats_server.url,
                               book_interval=0.1 * UNIT, **FAST) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                async with _bus(ex, nats_server.url, ["btcusdt@depth@100ms"]) as bs:
                    await bs.wait_synced(timeout=10 * UNIT)
                    assert await fh.subscribe(["ethusdt@depth@100ms", "ethusdt@trade"]) == \
                        ["ethusdt@depth@100ms", "ethusdt@trade"]
                    await fh.wait_synced(timeout=10 * UNIT)
                    assert await bs.subscribe("ETHUSDT@depth@100ms") == ["ethusdt@depth@100ms"]
                    await bs.wait_synced(timeout=10 * UNIT)
                    assert set(bs.books) == set(SYMS)
                    assert await bs.unsubscribe("btcusdt@depth@100ms") == ["btcusdt@depth@100ms"]
                    assert set(bs.books) == {"ETHUSDT"} and bs.streams == ["ethusdt@depth@100ms"]
                    n = bs.stats().streams["ethusdt@depth@100ms"]["messages"]
                    await wait_for(lambda: bs.stats().streams["ethusdt@depth@100ms"]["messages"] > n + 5,
                                   5, "ETHUSDT depth events")
                    assert "btcusdt@depth@100ms" not in bs.stats().streams
                    await settle_and_compare(bs, ex, ["ETHUSDT"])


async def test_market_stream_keep_raw_gives_the_frame_as_received() -> None:
    """What the feed handler publishes: with keep_raw, each live event carries the frame the
    venue sent (the combined envelope) in ``ev.raw`` (it was None on the live path)."""
    import orjson

    from fastws.market_stream import MarketStream
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade", "btcusdt@depth@100ms"], venue=ex.venue,
                                keep_raw=True, **FAST) as ms:
            got: list[object] = []
            ms.on(Trade, got.append)
            async with driven(ex):
                await wait_for(lambda: len(got) >= 3, 5, "trades")
    for ev in got:
        assert isinstance(ev, Trade) and type(ev.raw) is bytes
        frame = orjson.loads(ev.raw)
        assert frame["stream"] == ev.stream and frame["data"]["t"] == ev.trade_id
        assert float(ev.decimal("price")) == ev.price


async def test_usdm_books_through_the_bus_and_a_consumer_that_starts_first(nats_server) -> None:
    """USD-M (pu chains, split routes) through the bus; the consumer starts before any feed
    handler ever ran (no stream, no bucket yet) and syncs once one does."""
    from fastws.testing import fast_limits
    limits = fast_limits("usdm", ping_interval=1.0, pong_timeout=5.0)
    streams = ["btcusdt@depth@100ms", "btcusdt@aggTrade", "btcusdt@markPrice@1s"]
    async with Exchange(["BTCUSDT"], market="usdm", limits=limits, clock=manual_clock()) as ex:
        async with _bus(ex, nats_server.url, streams) as bs:
            rec = Recorder(bs)
            await asyncio.sleep(0.5 * UNIT)
            assert not bs.books["BTCUSDT"].is_synced
            async with FeedHandler(streams, venue=ex.venue, nats=nats_server.url,
                                   book_interval=0.1 * UNIT, **FAST) as fh:
                async with driven(ex):
                    await fh.wait_synced(timeout=10 * UNIT)
                    await bs.wait_synced(timeout=15 * UNIT)
                    await asyncio.sleep(0.5 * UNIT)
                    await settle_and_compare(bs, ex, ["BTCUSDT"])
            assert bs.market == "usdm" and bs.stats().gaps == 0
            aggs = rec.aggs["btcusdt@aggTrade"]
            assert aggs and aggs == list(range(aggs[0], aggs[0] + len(aggs)))
            assert bs.stats().streams["btcusdt@markPrice@1s"]["messages"] > 0


async def test_nats_down_buffer_is_bounded_and_drops_are_counted(nats_server) -> None:
    """NATS unreachable: the feed handler keeps its market stream and books going, holds at
    most max_pending events, counts what it drops, and publishes again after the restart."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=200.0) as ex:
        async with _feed(ex, nats_server.url, max_pending=40) as fh:
            async with driven(ex):
                await fh.wait_synced(timeout=10 * UNIT)
                await nats_server.kill()
                await wait_for(lambda: not fh.connected, 5, "the feed handler noticing")
                m0 = fh.ms.stats().messages
                await wait_for(lambda: fh.stats().dropped > 0, 10, "drops")
                st = fh.stats()
                assert st.pending <= 40 and not st.connected
                assert fh.ms.stats().messages > m0                 # the market side goes on
                assert all(b.is_synced for b in fh.books.values())
                await nats_server.restart()
                p0 = fh.stats().published
                await wait_for(lambda: fh.stats().published > p0 + 100, 10, "publishing again")
            st = fh.stats()
            assert st.nats_reconnects == 1 and st.connected and st.publish_errors == 0
            # every event the market stream delivered is accounted for
            assert st.market.messages == st.published + st.pending + st.dropped
            assert st.market.gaps == 0


async def test_books_go_stale_when_the_bus_falls_silent_and_resync_when_it_speaks(nats_server) -> None:
    """The only feed handler dies: the consumer's books do not stay "synced" on a dead feed;
    after min_silence they are stale ("bus silent"), and a new feed handler resyncs them."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        async with driven(ex):
            async with _bus(ex, nats_server.url, min_silence=0.5 * UNIT) as bs:
                fh = _feed(ex, nats_server.url, name="first")
                await fh.start()
                await bs.wait_synced(timeout=10 * UNIT)
                await fh.kill()
                await wait_for(lambda: not any(b.is_synced for b in bs.books.values()), 5,
                               "stale books")
                assert all("bus silent" in (s.stale_reason or "") for s in bs.syncs.values())
                assert bs.stats().silences == 2 and set(bs.stats().stale) == set(SYMS)
                async with _feed(ex, nats_server.url, name="second") as fh2:
                    await fh2.wait_synced(timeout=10 * UNIT)
                    await bs.wait_synced(timeout=10 * UNIT)
                    await settle_and_compare(bs, ex, SYMS)


async def test_no_nats_server_is_a_clear_error_not_a_hang() -> None:
    """Nothing listens at the URL: start() fails within connect_timeout with a ConnectionError
    that names the URL (nats-py told to reconnect forever would retry it forever)."""
    import socket

    from fastws.venues import BINANCE_SPOT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{s.getsockname()[1]}"       # bound, not listening
        for obj in (BusStream(["btcusdt@trade"], nats=url, connect_timeout=1.0 * UNIT),
                    FeedHandler(["btcusdt@trade"], venue=BINANCE_SPOT, nats=url,
                                connect_timeout=1.0 * UNIT)):
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            try:
                await obj.start()
            except ConnectionError as exc:
                assert url in str(exc)
            else:
                raise AssertionError("start() succeeded without a server")
            assert loop.time() - t0 < 5 * UNIT
