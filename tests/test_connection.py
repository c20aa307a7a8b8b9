"""fastws.connection against the simulator and its faults.

Each test says what the user sees. Where Binance's ids make it checkable, the user's callbacks
must see no duplicate (ids strictly increasing) and, across planned switches (serverShutdown,
24 h cut-over), no gap either (spot depth ``U == prev u + 1``, trade ids consecutive). Every
book ends synced and equal, level for level, to the simulator's own book.
"""
from __future__ import annotations

import asyncio
import time
import logging
import ssl

import pytest

from fastws.connection import ConnectError, StreamConnection, ssl_context_for
from fastws.listener import Router, StreamListener
from fastws.market_stream import MarketStream
from fastws.retry import CutoverSchedule
from fastws.sim import Exchange, client_context
from fastws.testing import fast_limits

from tests.stream_support import (
    FAST, LIMITS, Recorder, assert_no_duplicates, driven, manual_clock, settle_and_compare,
)
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True

SYMS = ["BTCUSDT", "ETHUSDT"]
STREAMS = ["btcusdt@depth@100ms", "ethusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"]


async def _wait(pred, timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout * UNIT
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_restores_subscriptions_after_abrupt_close() -> None:
    """User sees: the stream pauses for a moment and resumes; stats().reconnects == 1; the books
    resync if the outage hid events; no duplicate ever reaches a callback."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                first = ex.connection()
                ex.faults.close(first, how="reset")
                await _wait(lambda: ms.stats().reconnects == 1 and ms.connections == 1, what="reconnect")
                await _wait(lambda: len(ex.connections) == 1 and ex.connection() is not first)
                conn = ms.pool.shards[0]
                await _wait(lambda: conn.confirmed == set(STREAMS), what="LIST_SUBSCRIPTIONS")
                # the new server connection holds every wanted stream
                assert set(ex.connection().state.subscriptions) == set(STREAMS)
                n = len(rec.trades["btcusdt@trade"])
                await _wait(lambda: len(rec.trades["btcusdt@trade"]) > n + 3, what="trades again")
            await settle_and_compare(ms, ex, SYMS)
            assert_no_duplicates(rec)


async def test_close_mid_frame_is_not_a_parse_error() -> None:
    """User sees: a reconnect, no parse error (half a frame never reaches the parser)."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.close(how="midframe")
                await _wait(lambda: ms.stats().reconnects == 1 and ms.connections == 1)
                await asyncio.sleep(0.3)
            await settle_and_compare(ms, ex, SYMS)
            assert ms.stats().parse_errors == 0
            assert_no_duplicates(rec)


async def test_clean_close_reconnects() -> None:
    """A clean close (code 1000, as the 24 h cut arrives when it is not anticipated) reconnects."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.close(how="clean")
                await _wait(lambda: ms.stats().reconnects == 1 and ms.connections == 1)
            await settle_and_compare(ms, ex, SYMS)


async def test_silence_is_reported_and_healed(caplog: pytest.LogCaptureFixture) -> None:
    """User sees: a warning naming the silent streams, stats().silences >= 1, a new connection,
    and data flowing again; the books end equal to the simulator's."""
    caplog.set_level(logging.WARNING, "fastws.connection")
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.stall(30.0)          # data stops, pings go on
                await _wait(lambda: ms.stats().silences >= 1, timeout=6, what="silence")
                await _wait(lambda: ms.stats().connects >= 2 and ms.connections == 1, what="new link")
                assert ms.stats().heals == 1        # every stream silent: healed at once
                before = ms.stats().messages
                await _wait(lambda: ms.stats().messages > before + 10, what="data again")
            await settle_and_compare(ms, ex, SYMS)
    assert any("silent" in r.getMessage() and "btcusdt@depth@100ms" in r.getMessage()
               for r in caplog.records)


async def test_one_quiet_stream_is_reported_then_healed_after_max_silence() -> None:
    """One symbol falls silent while the other keeps flowing: the user sees a warning and
    stats().silences at once, but the connection is replaced only after max_silence (a quiet
    market must not make it flap); then the symbol flows again and both books end equal."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS[:2], venue=ex.venue, max_silence=2.5 * UNIT, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.stall(30.0, symbol="BTCUSDT")
                await _wait(lambda: ms.stats().silences >= 1, what="silence reported")
                assert ms.stats().heals == 0 and ms.stats().connects == 1
                await _wait(lambda: ms.stats().heals == 1 and ms.connections == 1, what="healed")
                n = ms.stats().streams["btcusdt@depth@100ms"]["messages"]
                await _wait(lambda: ms.stats().streams["btcusdt@depth@100ms"]["messages"] > n + 5)
            await settle_and_compare(ms, ex, SYMS)
            assert ms.stats().reconnects == 0


async def test_refused_reconnects_back_off_and_recover() -> None:
    """User sees: a few failed attempts (HTTP 503) while the server refuses, then the stream
    resumes on its own; attempts stay far below the 300 / 5 min budget."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.refuse_connections(1.5 * UNIT)
                ex.faults.close(how="reset")
                await _wait(lambda: ex.refused >= 1, what="a refused attempt")
                await _wait(lambda: ms.connections == 1 and len(ex.connections) == 1, timeout=10,
                            what="recovery")
                conn = ms.pool.shards[0]
                assert conn.stats.failed_attempts >= 1
                assert conn.policy.budget.used(asyncio.get_running_loop().time()) < 50
            await settle_and_compare(ms, ex, SYMS)


async def test_server_shutdown_switches_without_gap_or_duplicate() -> None:
    """User sees: nothing at all but stats().server_shutdowns == 1: the replacement connection
    is opened at once and the old one closed after it delivered; depth chains and trade ids run
    on without a gap or a repeat; no book resyncs."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.server_shutdown(close_after=1.0)
                await _wait(lambda: ms.stats().server_shutdowns == 1)
                await _wait(lambda: ms.stats().connects == 2 and ms.connections == 1
                            and len(ex.connections) == 1, what="switch")
                await asyncio.sleep(0.3)
            await settle_and_compare(ms, ex, SYMS)
            st = ms.stats()
            assert st.reconnects == 0 and st.gaps == 0 and st.resyncs == 0
            for s in ("btcusdt@depth@100ms", "ethusdt@depth@100ms"):
                assert rec.depth_breaks(s) == []
            assert rec.trade_breaks("btcusdt@trade") == []
            assert_no_duplicates(rec)
            assert st.duplicates > 0        # the overlap really happened and was deduplicated


async def test_cutover_before_the_24h_limit() -> None:
    """The 24 h cut, shortened to 4 s: the connection is replaced about a second before the
    server would cut it. User sees stats().cutovers >= 1, no reconnect, no gap, no duplicate."""
    limits = fast_limits("spot", ping_interval=1.0, pong_timeout=5.0, connection_lifetime=4.0 * UNIT)
    async with Exchange(SYMS, limits=limits, clock=manual_clock()) as ex:
        cut = CutoverSchedule(lifetime=4.0 * UNIT, margin=1.2 * UNIT, spread=0.3 * UNIT)
        async with MarketStream(STREAMS, venue=ex.venue, cutover=cut, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                await _wait(lambda: ms.stats().cutovers >= 1, timeout=6, what="cut-over")
                await asyncio.sleep(0.3)
            await settle_and_compare(ms, ex, SYMS)
            st = ms.stats()
            assert st.reconnects == 0 and st.gaps == 0
            for s in ("btcusdt@depth@100ms", "ethusdt@depth@100ms"):
                assert rec.depth_breaks(s) == []
            assert rec.trade_breaks("btcusdt@trade") == []
            assert_no_duplicates(rec)


async def test_malformed_frames_counted_logged_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    """User sees: one warning per kind of bad frame with an excerpt, stats().parse_errors and
    bad_frames counting each one; the stream and the books go on."""
    caplog.set_level(logging.WARNING, "fastws.connection")
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                for kind in ("malformed", "malformed", "truncated", "binary"):
                    ex.faults.send_bad_frame(kind)
                await _wait(lambda: ms.stats().parse_errors == 4, what="4 bad frames")
                n = ms.stats().messages
                await _wait(lambda: ms.stats().messages > n + 10, what="data after bad frames")
            await settle_and_compare(ms, ex, SYMS)
            st = ms.stats()
            assert st.reconnects == 0
            assert st.bad_frames == {"parse": 3, "binary": 1}
    warnings = [r.getMessage() for r in caplog.records if "bad " in r.getMessage()]
    assert len(warnings) == 3       # malformed and truncated differ by reason; binary once
    assert any("excerpt" in w for w in warnings)


async def test_two_thousand_streams_over_two_connections() -> None:
    """2000 streams are sharded 1024 + 976 over two connections; each server connection holds
    exactly its share (checked with LIST_SUBSCRIPTIONS), and data flows on both."""
    streams = [f"s{i:04d}usdt@trade" for i in range(1996)] + STREAMS
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(streams, venue=ex.venue, **FAST) as ms:
            assert len(ms.pool.shards) == 2
            sizes = sorted(len(c.desired) for c in ms.pool.shards.values())
            assert sizes == [976, 1024]
            for c in ms.pool.shards.values():
                assert c.confirmed == set(c.desired)
            assert len(ex.connections) == 2
            held = [set(c.state.subscriptions) for c in ex.connections]
            assert set().union(*held) == {s.lower() if "@" not in s else s for s in streams}
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                await _wait(lambda: ms.stats().streams.get("btcusdt@trade", {}).get("messages", 0) > 5)
            await settle_and_compare(ms, ex, SYMS)


async def test_wss_with_the_simulator_ca() -> None:
    """Over wss:// with the simulator's CA the stream and the WS API snapshots work."""
    async with Exchange(SYMS, limits=LIMITS, tls=True, clock=manual_clock()) as ex:
        assert ex.venue.stream_url.startswith("wss://")
        async with MarketStream(STREAMS, venue=ex.venue, ca_file=ex.ca_file, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
            await settle_and_compare(ms, ex, SYMS)


async def test_certificate_that_does_not_verify_fails_clearly() -> None:
    """User sees: ConnectError saying the certificate does not verify, at once (no retry loop,
    no fallback to an unverified connection)."""
    from dataclasses import replace
    loop = asyncio.get_running_loop()
    default = loop.get_exception_handler()
    # the simulator's side (aiofastnet) reports the refused handshake to the loop's handler
    # with an exception *class*, which the default handler cannot format: keep it quiet
    loop.set_exception_handler(lambda lp, ctx: None if ctx.get("message") == "SSL handshake failed"
                               else lp.default_exception_handler(ctx))
    try:
        await _bad_certificate(replace)
    finally:
        loop.set_exception_handler(default)


async def _bad_certificate(replace) -> None:
    async with Exchange(SYMS, limits=LIMITS, tls=True) as ex:
        venue = replace(ex.venue, ca_file=None)      # system store: the sim's CA is unknown
        ms = MarketStream(STREAMS, venue=venue, **FAST)
        with pytest.raises(ConnectError, match="does not verify"):
            await asyncio.wait_for(ms.start(), 10 * UNIT)
        assert ms.pool.shards[0].stats.failed_attempts == 1
        await ms.close()
        ctx = ssl_context_for(venue)
        assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        assert ssl_context_for(venue, ssl_context=client_context(ex.ca_file)) is not None


async def test_pings_answered_and_pongs_paced() -> None:
    """The server pings 4 times a second: every ping is answered at once with its payload, the
    connection is never dropped for a missing pong nor for too many messages."""
    limits = fast_limits("spot", ping_interval=0.25, pong_timeout=0.6)
    async with Exchange(SYMS, limits=limits) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
            await asyncio.sleep(1.5 * UNIT)
            link = ms.pool.shards[0].active
            assert link is not None and link.listener.pings >= 4
            assert ms.stats().reconnects == 0 and ms.connections == 1
            # pongs go out at once (4 a second here), so timing jitter can put a fifth in the
            # same second: within the venue's limit (what it drops a connection for), which is
            # the bound; read on the clock the pacer is fed (uvloop's loop.time() lags it)
            assert link.pacer.sent_in_window(time.monotonic()) <= link.pacer.limit


def _basic(loop_kind: str) -> None:
    async def main() -> int:
        async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
            async with MarketStream(STREAMS, venue=ex.venue, **FAST) as ms:
                async with driven(ex):
                    await ms.wait_synced(timeout=5 * UNIT)
                await settle_and_compare(ms, ex, SYMS)
                return ms.stats().messages

    if loop_kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        assert uvloop.run(main()) > 0
    else:
        assert asyncio.run(main()) > 0


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_both_event_loops(loop_kind: str) -> None:
    """The same stream and book check passes on asyncio's loop and on uvloop."""
    _basic(loop_kind)


class CountingListener(StreamListener):
    """A subclass overriding the hook (a Cython subclass does the same without Python calls)."""

    seen = 0

    def on_event(self, ev: object) -> None:
        CountingListener.seen += 1
        StreamListener.on_event(self, ev)


async def test_listener_subclass_hook() -> None:
    async with Exchange(SYMS, limits=LIMITS) as ex:
        async with MarketStream(STREAMS, venue=ex.venue, listener_factory=CountingListener, **FAST) as ms:
            await ms.wait_synced(timeout=5 * UNIT)
            await _wait(lambda: CountingListener.seen > 5)
            assert ms.stats().messages > 0


async def test_stream_connection_alone() -> None:
    """StreamConnection can be used without MarketStream: a Router with a callback."""
    got = []
    router = Router()
    from fastws.events import Trade
    router.set_callbacks({Trade: [got.append]}, {})
    async with Exchange(SYMS, limits=LIMITS) as ex:
        conn = StreamConnection(ex.venue, ["btcusdt@trade"], router)
        await conn.start(5 * UNIT)
        try:
            await _wait(lambda: len(got) > 2)
            assert conn.confirmed == {"btcusdt@trade"}
        finally:
            await conn.close()
        assert conn.links == []


class _Owner:
    """Records the listener's calls to its owner."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __getattr__(self, name: str):
        return lambda *a: self.calls.append((name, *a))


def _frames(*payloads: bytes):
    from picows.picows import WSMsgType, _make_test_ws_frame
    return [_make_test_ws_frame(WSMsgType.TEXT, p, True, False) for p in payloads]


def _trade(tid: int) -> bytes:
    return (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":%d,"s":"BTCUSDT","t":%d,'
            b'"p":"1.00","q":"2.00","T":%d,"m":true,"M":true}}' % (tid, tid, tid))


def _listener(table=None, got=None, owner=None):
    from fastws.events import Trade
    from fastws.listener import StreamTable
    from fastws.parser import Parser
    router = Router()
    router.set_callbacks({Trade: [lambda ev: got.append(ev.trade_id)]}, {})
    table = table if table is not None else StreamTable()
    return StreamListener(Parser("spot"), router, table, owner or _Owner()), table


def _feed(lst, *tids: int) -> None:
    for f in _frames(*(_trade(t) for t in tids)):
        lst.on_ws_frame(None, f)


def test_listener_drops_repeats_only_never_by_a_high_water_mark() -> None:
    """No network: frames straight into the listener. A repeat the venue sends is dropped and
    counted; an event that arrives swapped with its predecessor is delivered (it used to be
    lost); one absurdly high id mutes nothing (it used to mute the stream for good); a muted
    (retired) listener delivers nothing; bad frames go to the owner, never raise."""
    got: list[int] = []
    owner = _Owner()
    lst, table = _listener(got=got, owner=owner)
    table.want(["btcusdt@trade"])
    _feed(lst, 5, 6, 6, 8, 7, 9, 10**15, 11, 12, 11)
    assert got == [5, 6, 8, 7, 9, 10**15, 11, 12]
    st = table.stat("btcusdt@trade")
    assert (st.messages, st.duplicates) == (8, 2) and lst.duplicates == 2
    table.reset_ids()
    for f in _frames(_trade(1), b'{"e":"trade",', b'{"result":null,"id":3}'):
        lst.on_ws_frame(None, f)
    assert got[-1] == 1
    names = [c[0] for c in owner.calls]
    assert names.count("on_first_message") == 1
    assert "on_bad_frame" in names and "on_control" in names and lst.parse_errors == 1
    lst.muted = True
    _feed(lst, 50)
    assert got[-1] == 1


def test_listener_frames_of_unsubscribed_streams_are_counted_and_dropped() -> None:
    """A frame of a stream nobody subscribed never reaches a callback and never enters the
    per-stream stats (they stay bounded to the subscribed streams)."""
    got: list[int] = []
    owner = _Owner()
    lst, table = _listener(got=got, owner=owner)
    table.want([])                        # a connection's table: told its streams (none yet)
    _feed(lst, 1, 2)
    assert got == [] and table.unsubscribed == 2 and table.stats == {}
    assert [c for c in owner.calls if c[0] == "on_unsubscribed"] == [("on_unsubscribed", "btcusdt@trade", 1)]
    table.want(["btcusdt@trade"])
    _feed(lst, 3)
    table.forget("btcusdt@trade")
    _feed(lst, 4)
    assert got == [3] and table.unsubscribed == 3


def test_listener_delivers_unknown_json_as_a_dict() -> None:
    """Valid JSON that is no known event reaches the callbacks as a dict on the live path
    (it used to be dropped as "invalid JSON")."""
    from fastws.listener import StreamTable
    from fastws.parser import Parser
    seen: list = []
    router = Router()
    router.set_callbacks({dict: [seen.append]}, {})
    owner = _Owner()
    lst = StreamListener(Parser("spot"), router, StreamTable(), owner)
    for f in _frames(b'{"e":"brandNew","E":1,"x":[1,{"y":null}]}'):
        lst.on_ws_frame(None, f)
    assert seen == [{"e": "brandNew", "E": 1, "x": [1, {"y": None}]}]
    assert lst.parse_errors == 0


def test_listener_caps_reassembled_messages() -> None:
    """An endless continuation never grows memory past max_message_size: the owner is told
    and the fragments are dropped."""
    from picows.picows import WSMsgType, _make_test_ws_frame
    owner = _Owner()
    lst, table = _listener(got=[], owner=owner)
    lst.max_message_size = 1000
    lst.on_ws_frame(None, _make_test_ws_frame(WSMsgType.TEXT, b"x" * 400, False, False))
    lst.on_ws_frame(None, _make_test_ws_frame(WSMsgType.CONTINUATION, b"x" * 400, False, False))
    assert not [c for c in owner.calls if c[0] == "on_message_too_big"]
    lst.on_ws_frame(None, _make_test_ws_frame(WSMsgType.CONTINUATION, b"x" * 400, False, False))
    assert [c for c in owner.calls if c[0] == "on_message_too_big"] == [("on_message_too_big", 1200)]


def test_switch_drops_the_lagging_links_backlog_and_moves_once_caught_up() -> None:
    """Make-before-break, no network: the replacement runs behind the old link. Its backlog
    (already delivered) is dropped, it takes over from its first newer event, and the old
    link's later copies are dropped: every id once, in order."""
    got: list[int] = []
    old, table = _listener(got=got)
    new, _ = _listener(table=table, got=got)
    table.want(["btcusdt@trade"])
    _feed(old, 1, 2, 3)
    table.begin_switch(old, new)
    _feed(old, 4, 5, 6)
    assert table.pending() == ["btcusdt@trade"]
    _feed(new, 3, 4, 5)                   # backlog: dropped
    _feed(new, 6)                          # caught up: dropped, and moved on the next one
    _feed(new, 7, 8)
    _feed(old, 7, 8, 9)                    # the old link's copies: dropped
    _feed(new, 9, 10)
    assert table.pending() == [] and table.unmoved() == []
    table.finish_switch()
    _feed(new, 11)
    assert got == list(range(1, 12))


def test_switch_when_the_replacement_is_ahead() -> None:
    """The replacement runs ahead: its events are held until the old link delivers one of
    them, then the rest go out in order (no gap, no duplicate)."""
    got: list[int] = []
    old, table = _listener(got=got)
    new, _ = _listener(table=table, got=got)
    table.want(["btcusdt@trade"])
    _feed(old, 1, 2)
    table.begin_switch(old, new)
    _feed(new, 5, 6, 7)                    # ahead: held (3 and 4 are still on their way)
    assert got == [1, 2]
    _feed(old, 3, 4, 5)                    # 5 is held by the new link: it has caught up
    _feed(new, 8)
    _feed(old, 6, 7, 8, 9)
    _feed(new, 9, 10)
    assert got == list(range(1, 11))


def test_switch_replacement_dying_gives_the_streams_back() -> None:
    """The replacement dies (or announces its shutdown) after taking a stream: the old link
    takes it back and delivers what it held that is newer."""
    got: list[int] = []
    old, table = _listener(got=got)
    new, _ = _listener(table=table, got=got)
    table.want(["btcusdt@trade"])
    _feed(old, 1)
    table.begin_switch(old, new)
    _feed(new, 1, 2, 3)                    # caught up at 1, delivers 2 and 3
    _feed(old, 2, 3, 4, 5)                 # held for a possible fall-back (4, 5)
    table.drop_link(new)
    assert not table.switching
    _feed(old, 6)
    assert got == [1, 2, 3, 4, 5, 6]


def test_router_survives_raising_hooks() -> None:
    from fastws.events import Trade
    errors: list = []
    router = Router()
    router.error_hook = lambda exc, cb, ev: errors.append(type(exc).__name__)

    def bad(ev):
        raise KeyError("x")

    seen: list = []
    router.set_callbacks({Trade: [bad, seen.append]}, {"btcusdt@trade": [seen.append]})
    router.queue_hook = bad
    ev = Trade("BTCUSDT", 1, 1.0, 1.0, 1, False, stream="btcusdt@trade")
    router.dispatch(ev)
    router.dispatch([ev, ev])
    assert len(seen) == 6 and errors == ["KeyError"] * 6 and router.callback_errors == 6


CYTHON_LISTENER = '''
# cython: language_level=3
from fastws.listener cimport StreamListener
from fastws.events cimport BookTicker


cdef class MidListener(StreamListener):
    """bookTickers handled in C: no Python call per event; everything else routed as usual."""
    cdef public double last_mid
    cdef public long count

    cpdef on_event(self, object ev):
        if type(ev) is BookTicker:
            self.last_mid = ((<BookTicker>ev).best_bid_price + (<BookTicker>ev).best_ask_price) * 0.5
            self.count += 1
        else:
            StreamListener.on_event(self, ev)
'''


@pytest.mark.slow
async def test_cython_subclass_hook(tmp_path) -> None:
    """A user's Cython subclass of StreamListener (cimporting fastws.listener and fastws.events)
    compiles and gets bookTickers without any Python call; other events still reach callbacks."""
    import importlib.util
    import subprocess
    import sys

    import numpy

    from tests.utils import REPO_ROOT
    (tmp_path / "midlistener.pyx").write_text(CYTHON_LISTENER)
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup, Extension\nfrom Cython.Build import cythonize\n"
        f"setup(ext_modules=cythonize([Extension('midlistener', ['midlistener.pyx'], "
        f"include_dirs=[{numpy.get_include()!r}, {str(REPO_ROOT / 'fastws')!r}])], "
        f"include_path=[{str(REPO_ROOT)!r}], quiet=True))\n")
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "setup.py", "build_ext", "--inplace", "-q"],
                                   cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    so = next(tmp_path.glob("midlistener*.so"))
    spec = importlib.util.spec_from_file_location("midlistener", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    made: list = []

    def factory(*args):
        lst = mod.MidListener(*args)
        made.append(lst)
        return lst

    from fastws.events import BookTicker, Trade
    py_tickers: list = []
    trades: list = []
    async with Exchange(SYMS, limits=LIMITS) as ex:
        async with MarketStream(["btcusdt@bookTicker", "btcusdt@trade"], venue=ex.venue,
                                listener_factory=factory, **FAST) as ms:
            ms.on(BookTicker, py_tickers.append)
            ms.on(Trade, trades.append)
            await _wait(lambda: made and made[0].count > 5 and len(trades) > 2)
            assert py_tickers == []                  # handled in C, never crossed into Python
            assert 50_000 < made[0].last_mid < 70_000


async def test_on_link_state_down_up_and_switch() -> None:
    """The callback PART A's books use: "down" when the link carrying the streams is lost,
    "up" when a link carries them again, and "up" after each make-before-break switch."""
    calls: list[tuple[list[str], str, str]] = []
    router = Router()
    async with Exchange(SYMS, limits=LIMITS) as ex:
        conn = StreamConnection(ex.venue, ["btcusdt@trade"], router,
                                on_link_state=lambda s, st, r: calls.append((s, st, r)))
        await conn.start(5 * UNIT)
        try:
            ex.faults.close(how="reset")
            await _wait(lambda: [c[1] for c in calls] == ["down", "up"], what="down then up")
            assert "connection reset" in calls[0][2]
            ex.faults.server_shutdown(close_after=2.0)
            await _wait(lambda: len(calls) == 3, what="switch reported")
            assert calls[2][0] == ["btcusdt@trade"] and calls[2][1] == "up" and "switched" in calls[2][2]
            assert conn.state == "up" and conn.error is None
        finally:
            await conn.close()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402


@settings(deadline=None, max_examples=150)
@given(n=hst.integers(1, 40), start=hst.integers(1, 40), order=hst.lists(hst.booleans(), max_size=120))
def test_switch_any_interleaving_every_event_once(n: int, start: int, order: list[bool]) -> None:
    """Whatever the interleaving of the old link's copy (1..n) and the replacement's (from
    ``start`` on, which it joins anywhere), each trade reaches the user exactly once, in order:
    no duplicate, nothing lost."""
    start = min(start, n)
    got: list[int] = []
    old, table = _listener(got=got)
    new, _ = _listener(table=table, got=got)
    table.want(["btcusdt@trade"])
    table.begin_switch(old, new)
    a, b = list(range(1, n + 1)), list(range(start, n + 1))
    picks = iter(order)
    while a or b:
        take_old = next(picks, True) if a and b else bool(a)
        _feed(old if take_old else new, (a if take_old else b).pop(0))
    table.finish_switch()
    _feed(new, n + 1, n + 2)
    assert got == list(range(1, n + 3))


@settings(deadline=None, max_examples=150)
@given(n=hst.integers(1, 40), start=hst.integers(1, 40), order=hst.lists(hst.booleans(), max_size=120),
       die_at=hst.integers(0, 80))
def test_switch_replacement_dies_anywhere_every_event_once(n: int, start: int, order: list[bool],
                                                          die_at: int) -> None:
    """The replacement dies (or announces its shutdown) at any point of the switch: the old
    link, which carries every event, gives each one to the user exactly once."""
    start = min(start, n)
    got: list[int] = []
    old, table = _listener(got=got)
    new, _ = _listener(table=table, got=got)
    table.want(["btcusdt@trade"])
    table.begin_switch(old, new)
    a, b = list(range(1, n + 1)), list(range(start, n + 1))
    picks = iter(order)
    steps = 0
    while a or (b and steps < die_at):
        if steps == die_at:
            table.drop_link(new)
            b = []
        take_old = next(picks, True) if a and b else bool(a)
        _feed(old if take_old else new, (a if take_old else b).pop(0))
        steps += 1
    if table.switching:
        table.drop_link(new)
    _feed(old, n + 1)
    assert got == list(range(1, n + 2))
