"""Fault matrix, links: each link-level fault of the simulator against MarketStream.

Every case asserts the contract (DESIGN reliability rules, issue 10 contracts 2, 3, 6-9): the
stream stays alive (``ms.error`` is None), no event lost beyond the fault's own window, none
duplicated, the fault's specific behaviour, and, where books are involved, every book synced
and equal to the simulator's own book at the end.

:data:`CASES` are this module's rows of the one table in bench/README.md ("Fault matrix", with
the book faults of tests/test_fault_matrix_books.py), written only after a run where every
test of both modules passed: ``python -m tests.fault_matrix_support bench/README.md``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

import fastws.connection
import fastws.retry
from fastws.events import Trade
from fastws.exceptions import SubscriptionError
from fastws.market_stream import MarketStream
from fastws.sim import Exchange

from tests.fault_matrix_support import DEPTH, SYMS, TRADES, Row, wait_for
from tests.stream_support import (
    FAST, LIMITS, Recorder, assert_no_duplicates, driven, manual_clock, settle_and_compare,
)
from tests.utils import UNIT

#: The rows (fault, what the user saw before, lost / duplicated now, recovered, test).
Case = Row

CASES = [
    Case("`lag_new_links(0.3)` + `server_shutdown()` (replacement runs 0.3 s behind)",
         "~15 trades + 15 depth events per symbol duplicated; switch waited its full 10 s",
         "0 / 0", "switch as soon as the replacement caught up (well under 10 s)",
         "test_lagging_replacement_no_duplicates_quick_switch"),
    Case("`shutdown_new_link()` + `server_shutdown()` (serverShutdown on the replacement)",
         "ignored; the replacement was then closed: unplanned reconnect, events lost",
         "0 / 0", "another replacement is opened while the old link delivers; no reconnect",
         "test_server_shutdown_on_the_replacement"),
    Case("`absurd_trade_id('btcusdt@trade')` (one trade, and one aggTrade, id 10**15 too high)",
         "the stream muted for good (every later trade \"already held\", only a counter moved)",
         "0 / 0", "delivered once; every later trade arrives (no heal), also across a switch",
         "test_one_absurd_trade_id_mutes_nothing"),
    Case("`refuse_upgrades(429, retry_after=2)`",
         "retried after 0.2, 0.7, 1.3, 2.6 s", "outage window only / 0",
         "next attempt >= Retry-After; stream goes on", "test_429_waits_retry_after"),
    Case("`refuse_upgrades(418, ban_seconds=2)`",
         "stream ended for good (`ms.error` set, books claiming synced)",
         "outage window only / 0", "waits the ban's end, reconnects, books resync",
         "test_418_and_403_never_end_the_stream"),
    Case("`refuse_upgrades(403)`", "stream ended for good (`ms.error` set)",
         "outage window only / 0", "long backoff (doubling), then reconnects",
         "test_418_and_403_never_end_the_stream"),
    Case("`drop_new_links(0.3)` (server drops every link 0.3 s after opening)",
         "backoff reset on subscribe: 100+ handshakes a minute", "outage only / 0",
         "backoff keeps growing (resets only after 10 s of data)",
         "test_links_dropped_right_after_opening_back_off"),
    Case("`control_errors_without_id()` during a runtime SUBSCRIBE",
         "error pinned on the SUBSCRIBE, the client UNSUBSCRIBEd the user's stream",
         "0 / 0", "stream stays subscribed; error counted", "test_stray_control_error_keeps_the_stream"),
    Case("`control_errors_without_id(refuse=True)` (SUBSCRIBE refused)",
         "`subscribe()` returned normally", "- / 0",
         "`subscribe()` raises SubscriptionError; other streams go on",
         "test_refused_subscribe_raises"),
    Case("`control_errors_without_id(refuse=True, method='UNSUBSCRIBE', count=None)`",
         "`unsubscribe()` returned normally", "- / 0",
         "`unsubscribe()` raises SubscriptionError after 4 attempts; the frames are dropped",
         "test_refused_unsubscribe_raises"),
    Case("`list_subscriptions_fault('silent', count=None)` or `('garbled', ...)`",
         "`start()` raised a bare TimeoutError after 30 s and tore the stream down",
         "0 / 0", "`start()` succeeds once data flows; the check is retried, then reported",
         "test_list_never_answered_or_garbled"),
    Case("`list_subscriptions_fault('partial', count=None)` (the listing keeps disagreeing)",
         "fixed and re-sent forever", "0 / 0",
         "checked again with backoff 4 times, then reported; the stream goes on",
         "test_disagreeing_listing_is_retried_a_bounded_number_of_times"),
    Case("`refuse_upgrades(503, count=None)` at start",
         "bare `TimeoutError`", "- / -", "`TimeoutError` says what did not answer (HTTP 503)",
         "test_start_timeout_says_what_did_not_answer"),
    Case("`send_unsubscribed('xrpusdt@trade')`",
         "reached type callbacks; the name stayed in `stats()` forever", "0 / 0",
         "counted and dropped; stats bounded to subscribed streams",
         "test_frames_of_unsubscribed_streams_are_dropped"),
    Case("a frame of valid JSON that is no known event (`conn.send_now(...)`)",
         "dropped as \"invalid JSON\" on the live path", "0 / 0",
         "delivered as a dict (`ms.on(dict, ...)`)", "test_unknown_json_reaches_the_user_as_a_dict"),
    Case("`fragment_frames(size=40)`", "(worked)", "0 / 0",
         "reassembled; books equal", "test_fragmented_frames_and_endless_continuation"),
    Case("`endless_continuation()`", "process grew by the whole message (300 MB for 300 MB)",
         "outage window only / 0", "link dropped at 16 MiB with that reason, reconnects",
         "test_fragmented_frames_and_endless_continuation"),
    Case("`mute_stream('btcusdt@trade', 30)` (trades stop, pings go on)",
         "never reported", "the muted window / 0", "silence reported and healed by a new link",
         "test_busy_trade_stream_that_stops_is_healed"),
    Case("`slow(0.3)` then `slow(0)`", "frames reordered when the delay was lifted",
         "0 / 0", "order kept (TCP never reorders)", "test_slow_lifted_keeps_order"),
    Case("`close(code=1011, reason=...)`, `close(how='reset')`",
         "log said \"link lost (code None)\" whatever the cause", "window only / 0",
         "log says the close code and reason, or the reset", "test_drop_cause_is_logged"),
]


def test_every_case_names_a_test_of_this_module() -> None:
    names = {n for n in globals() if n.startswith("test_")}
    missing = [c.test for c in CASES if c.test not in names]
    assert not missing, f"CASES name tests that do not exist: {missing}"


def _no_trade_gaps(rec: Recorder, stream: str) -> None:
    ids = rec.trades[stream]
    assert ids, f"no trades on {stream}"
    assert rec.trade_breaks(stream) == [], f"{stream}: trades lost or repeated"


def _shard(ms: MarketStream) -> Any:
    return ms.pool.shards[0]


# -- contract 2: every event once, make-before-break ------------------------------------------

async def test_lagging_replacement_no_duplicates_quick_switch() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(DEPTH + TRADES, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.lag_new_links(0.3)
                ex.faults.server_shutdown(close_after=15.0)
                t0 = time.monotonic()
                await wait_for(lambda: ms.stats().connects == 2 and ms.connections == 1,
                            timeout=14, what="switch")
                took = time.monotonic() - t0
                n = len(rec.trades["btcusdt@trade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 10, what="trades after")
            await settle_and_compare(ms, ex, SYMS)
            assert ms.error is None and ms.stats().reconnects == 0
            assert_no_duplicates(rec)
            for s in TRADES:
                _no_trade_gaps(rec, s)
            for s in DEPTH:
                assert rec.depth_breaks(s) == []
            assert took < fastws.connection.SWITCH_TIMEOUT * 0.8, f"switch took {took:.1f} s"


async def test_server_shutdown_on_the_replacement() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(DEPTH + TRADES, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.shutdown_new_link(after=0.02, close_after=0.3)
                ex.faults.server_shutdown(close_after=4.0)
                await wait_for(lambda: ms.stats().connects >= 3 and ms.connections == 1,
                            timeout=8, what="second replacement in use")
                n = len(rec.trades["btcusdt@trade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 10, what="trades after")
            await settle_and_compare(ms, ex, SYMS)
            assert ms.error is None
            assert ms.stats().reconnects == 0, "an unplanned reconnect happened"
            assert ms.stats().server_shutdowns == 2
            assert_no_duplicates(rec)
            for s in TRADES:
                _no_trade_gaps(rec, s)
            for s in DEPTH:
                assert rec.depth_breaks(s) == []


ABSURD = 10**15


def _unabsurd(ids: list[int]) -> tuple[list[int], int]:
    """(ids with the absurd offset taken off, how many carried it)."""
    return [i - ABSURD if i >= ABSURD else i for i in ids], sum(i >= ABSURD for i in ids)


async def test_one_absurd_trade_id_mutes_nothing() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES + ["btcusdt@aggTrade"], venue=ex.venue, books=False,
                                **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > 5
                            and len(rec.aggs["btcusdt@aggTrade"]) > 5, what="trades")
                ex.faults.absurd_trade_id("btcusdt@trade", offset=ABSURD)
                ex.faults.absurd_trade_id("btcusdt@aggTrade", offset=ABSURD)
                await wait_for(lambda: any(i >= ABSURD for i in rec.trades["btcusdt@trade"])
                            and any(i >= ABSURD for i in rec.aggs["btcusdt@aggTrade"]),
                            what="the absurd trades delivered")
                n, a = len(rec.trades["btcusdt@trade"]), len(rec.aggs["btcusdt@aggTrade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 30
                            and len(rec.aggs["btcusdt@aggTrade"]) > a + 10, timeout=10,
                            what="later trades (the old high-water mark dropped all of them)")
                # nothing the venue sent was taken for a repeat (counted before the switch,
                # whose overlap is counted there)
                assert all(st["duplicates"] == 0 for st in ms.stats().streams.values())
                # a planned switch soon after: the absurd id is no floor for the new link
                ex.faults.server_shutdown(close_after=5.0)
                await wait_for(lambda: ms.stats().connects == 2 and ms.connections == 1,
                            timeout=10, what="switch")
                n = len(rec.trades["btcusdt@trade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 30, what="trades after")
            assert ms.error is None
            assert ms.stats().heals == 0 and ms.stats().reconnects == 0   # no heal needed
            for ids in (rec.trades["btcusdt@trade"], rec.aggs["btcusdt@aggTrade"]):
                real, odd = _unabsurd(ids)
                assert odd == 1, f"{odd} absurd ids delivered"
                # every trade the venue sent reached the user once, in order: 0 lost, 0 dup
                assert real == list(range(real[0], real[0] + len(real)))
            assert_no_duplicates(rec)
            _no_trade_gaps(rec, "ethusdt@trade")


async def test_sim_absurd_trade_id_seen_without_fastws() -> None:
    """The fault does what it says, seen by a plain websockets client: one event of that
    stream only carries the offset; the next ones and the other streams are normal."""
    import websockets

    from tests.sim_support import drain
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        url = ex.venue.raw_stream_url(["btcusdt@trade", "ethusdt@trade"])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(500)
            await drain(ws)
            ex.faults.absurd_trade_id("btcusdt@trade")
            evs: list[dict[str, Any]] = []
            for _ in range(200):
                if len([e for e in evs if e.get("s") == "BTCUSDT"]) >= 10:
                    break
                await ex.advance(1000)
                evs += [e for e in await drain(ws) if isinstance(e, dict) and e.get("e") == "trade"]
                # drain() marks its end with a LIST_SUBSCRIPTIONS: stay under the venue's
                # 5 incoming messages a second, or the simulator closes the connection (1008)
                await asyncio.sleep(0.25)
        btc = [e["t"] for e in evs if e["s"] == "BTCUSDT"]
        eth = [e["t"] for e in evs if e["s"] == "ETHUSDT"]
        assert btc[0] >= ABSURD and all(t < ABSURD for t in btc[1:]) and btc[1] == btc[0] - ABSURD + 1
        assert eth and all(t < ABSURD for t in eth)
        assert not ex.faults.absurd_trades
        with pytest.raises(ValueError):
            ex.faults.absurd_trade_id("btcusdt@depth")


# -- contract 3: never give up ------------------------------------------------------------------

async def _attempt_times(ex: Exchange, stop: asyncio.Event, out: list[float]) -> None:
    seen = ex.connection_attempts
    while not stop.is_set():
        if ex.connection_attempts != seen:
            out.extend([time.monotonic()] * (ex.connection_attempts - seen))
            seen = ex.connection_attempts
        await asyncio.sleep(0.005)


async def test_429_waits_retry_after() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False, **FAST) as ms:
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.refuse_upgrades(429, count=2, retry_after=1.5)
                times: list[float] = []
                stop = asyncio.Event()
                watcher = asyncio.create_task(_attempt_times(ex, stop, times))
                ex.faults.close(how="reset")
                await wait_for(lambda: ms.connections == 1 and len(times) >= 3, timeout=10,
                            what="reconnected after two 429s")
                stop.set()
                await watcher
                assert times[1] - times[0] >= 1.5 - 0.05, times
                assert times[2] - times[1] >= 1.5 - 0.05, times
                n = ms.stats().messages
                await wait_for(lambda: ms.stats().messages > n + 5, what="trades again")
            assert ms.error is None


async def test_418_and_403_never_end_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastws.retry, "FORBIDDEN_WAIT", 0.5, raising=False)
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(DEPTH, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.refuse_upgrades(418, count=1, retry_after=1.0, ban_seconds=1.0)
                ex.faults.refuse_upgrades(403, count=2)
                ex.faults.close(how="reset")
                states: set[str] = set()

                def watch() -> bool:
                    states.add(ms.stats().streams["btcusdt@depth@100ms"].get("link", "").split(":")[0])
                    return ms.connections == 1 and ms.stats().connects == 2
                await wait_for(watch, timeout=10, what="reconnected after 418 and 403s")
                assert ms.error is None and _shard(ms).error is None
                assert "backing-off" in states, states      # the state was visible meanwhile
                assert ex.refused >= 3
            await settle_and_compare(ms, ex, SYMS)
            assert ms.error is None


async def test_links_dropped_right_after_opening_back_off() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False, **FAST) as ms:
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.drop_new_links(after=0.3)
                before = ex.connection_attempts
                ex.faults.close(how="reset")
                await asyncio.sleep(8 * UNIT)
                attempts = ex.connection_attempts - before
                ex.faults.clear()
                # backoff grows: 0.25, 0.5, 0.8, 1.3, 2.1, 3.4 s... (it used to restart from
                # the bottom on every subscribe: ~15 attempts in 8 s)
                assert attempts <= 10, f"{attempts} handshakes in 8 s"
                await wait_for(lambda: ms.connections == 1, timeout=40, what="recovered")
                n = ms.stats().messages
                await wait_for(lambda: ms.stats().messages > n + 5, what="trades again")
            assert ms.error is None


# -- contract 6: control plane ------------------------------------------------------------------

async def test_stray_control_error_keeps_the_stream() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade"], venue=ex.venue, books=False, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.control_errors_without_id(count=1)
                await ms.subscribe("ethusdt@trade")
                await wait_for(lambda: len(rec.trades["ethusdt@trade"]) > 5, what="eth trades")
                await asyncio.sleep(0.5)
                assert "ethusdt@trade" in ex.connection().state.subscriptions
                assert "ethusdt@trade" in _shard(ms).desired
                assert _shard(ms).stats.stray_control_errors == 1
            assert_no_duplicates(rec)


async def test_refused_subscribe_raises() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade"], venue=ex.venue, books=False, **FAST) as ms:
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.control_errors_without_id(count=1, refuse=True,
                                                    msg="Invalid request: too many streams")
                with pytest.raises(SubscriptionError, match="ethusdt@trade"):
                    await ms.subscribe("ethusdt@trade")
                assert "ethusdt@trade" not in _shard(ms).desired
                assert "ethusdt@trade" not in ms.streams      # MarketStream forgot it too
                n = ms.stats().messages
                await wait_for(lambda: ms.stats().messages > n + 5, what="btc trades go on")
            assert ms.error is None


async def test_refused_unsubscribe_raises() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False, **FAST) as ms:
            seen: list[str] = []
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.control_errors_without_id(count=None, refuse=True, method="UNSUBSCRIBE")
                with pytest.raises(SubscriptionError, match="UNSUBSCRIBE of ethusdt@trade"):
                    await ms.unsubscribe("ethusdt@trade")
                ms.on(Trade, lambda ev: seen.append(ev.stream))
                await asyncio.sleep(0.5)
            assert "ethusdt@trade" in ex.connection().state.subscriptions   # the venue kept it
            assert set(seen) == {"btcusdt@trade"}                          # we drop its frames
            assert ms.error is None


@pytest.mark.parametrize("mode", ["silent", "garbled"])
async def test_list_never_answered_or_garbled(mode: str) -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        ex.faults.list_subscriptions_fault(mode, count=None)
        ms = MarketStream(DEPTH, venue=ex.venue, **FAST)
        async with driven(ex):
            await ms.start()            # data flows: no wait for the LIST answer
            _shard(ms).control_timeout = 0.3 * UNIT
            try:
                await ms.wait_synced(timeout=5 * UNIT)
                await wait_for(lambda: _shard(ms).stats.listing_failures >= 1, timeout=15,
                            what="the failed check reported")
                assert ms.connections == 1 and ms.stats().reconnects == 0
            finally:
                pass
        await settle_and_compare(ms, ex, SYMS)
        assert ms.error is None
        await ms.close()


async def test_disagreeing_listing_is_retried_a_bounded_number_of_times() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        ex.faults.list_subscriptions_fault("partial", count=None)
        async with MarketStream(DEPTH, venue=ex.venue, **FAST) as ms:
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                await asyncio.sleep(6 * UNIT)      # 4 checks, 0.5 + 1 + 2 s apart
                lists = [m for m in ex.connection().received if b"LIST_SUBSCRIPTIONS" in m]
                assert len(lists) == 4, f"{len(lists)} LIST_SUBSCRIPTIONS sent"
                assert _shard(ms).stats.listing_failures == 1
                assert ms.connections == 1 and ms.stats().reconnects == 0
            await settle_and_compare(ms, ex, SYMS)
            assert ms.error is None


async def test_start_timeout_says_what_did_not_answer() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        ex.faults.refuse_upgrades(503, count=None)
        ms = MarketStream(TRADES, venue=ex.venue, books=False,
                          **{**FAST, "connect_timeout": 2 * UNIT})
        with pytest.raises(TimeoutError, match="HTTP 503"):
            await ms.start()
        await ms.close()


# -- contract 7: frames -----------------------------------------------------------------------

async def test_frames_of_unsubscribed_streams_are_dropped() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade"], venue=ex.venue, books=False, **FAST) as ms:
            seen: list[str] = []
            ms.on(Trade, lambda ev: seen.append(ev.stream))
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.faults.send_unsubscribed("xrpusdt@trade", count=5)
                await wait_for(lambda: _shard(ms).stats.unsubscribed_frames == 5, what="counted")
            assert set(seen) == {"btcusdt@trade"}
            assert set(ms.stats().streams) == {"btcusdt@trade"}


async def test_unknown_json_reaches_the_user_as_a_dict() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(["btcusdt@trade"], venue=ex.venue, books=False, **FAST) as ms:
            seen: list[dict] = []
            ms.on(dict, seen.append)
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                ex.connection().send_now(b'{"e":"brandNewEvent","E":1,"x":[1,{"y":null}]}')
                await wait_for(lambda: bool(seen), what="the dict")
            assert seen == [{"e": "brandNewEvent", "E": 1, "x": [1, {"y": None}]}]
            assert ms.stats().parse_errors == 0


async def test_fragmented_frames_and_endless_continuation(caplog: pytest.LogCaptureFixture) -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(DEPTH + TRADES, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.fragment_frames(size=40, count=50)
                await asyncio.sleep(0.5)
                assert ms.stats().parse_errors == 0 and ms.stats().reconnects == 0
                with caplog.at_level(logging.WARNING, logger="fastws.connection"):
                    ex.faults.endless_continuation(chunk=1 << 20)
                    await wait_for(lambda: ms.stats().reconnects == 1 and ms.connections == 1,
                                timeout=10, what="dropped at the cap and reconnected")
                assert any("message too big" in r.getMessage() for r in caplog.records)
                assert _shard(ms).stats.too_big == 1
                n = len(rec.trades["btcusdt@trade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 5, what="trades again")
            await settle_and_compare(ms, ex, SYMS)
            assert_no_duplicates(rec)


# -- contract 8: silence of event streams -----------------------------------------------------

async def test_busy_trade_stream_that_stops_is_healed(caplog: pytest.LogCaptureFixture) -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False,
                                **{**FAST, "max_silence": 3 * UNIT}) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await asyncio.sleep(3 * UNIT)         # the rate is learnt
                assert len(rec.trades["btcusdt@trade"]) > 40
                with caplog.at_level(logging.WARNING, logger="fastws.connection"):
                    ex.faults.mute_stream("btcusdt@trade", 60.0)
                    await wait_for(lambda: ms.stats().silences >= 1, timeout=5, what="reported")
                    await wait_for(lambda: ms.stats().heals >= 1 and ms.connections == 1
                                and ms.stats().connects == 2, timeout=10, what="healed")
                assert any("btcusdt@trade" in r.getMessage() and "silent" in r.getMessage()
                           for r in caplog.records)
                n = len(rec.trades["btcusdt@trade"])
                await wait_for(lambda: len(rec.trades["btcusdt@trade"]) > n + 5, what="trades again")
            assert ms.error is None and ms.stats().reconnects == 0
            assert_no_duplicates(rec)
            _no_trade_gaps(rec, "ethusdt@trade")      # the other stream lost nothing


async def test_quiet_trade_stream_is_not_healed_when_configured_off() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False,
                                **{**FAST, "max_silence": 2 * UNIT}) as ms:
            ms.pool.set_silence("btcusdt@trade", None)
            async with driven(ex):
                await asyncio.sleep(3 * UNIT)
                ex.faults.mute_stream("btcusdt@trade", 60.0)
                await asyncio.sleep(4 * UNIT)
                assert ms.stats().heals == 0 and ms.stats().silences == 0


# -- the slow fault ---------------------------------------------------------------------------

async def test_slow_lifted_keeps_order() -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(DEPTH + TRADES, venue=ex.venue, **FAST) as ms:
            rec = Recorder(ms)
            async with driven(ex):
                await ms.wait_synced(timeout=5 * UNIT)
                ex.faults.slow(0.3)
                await asyncio.sleep(0.5)
                ex.faults.slow(0.0)
                await asyncio.sleep(0.5)
            await settle_and_compare(ms, ex, SYMS)
            assert ms.stats().gaps == 0
            for s in TRADES:
                _no_trade_gaps(rec, s)
            for s in DEPTH:
                assert rec.depth_breaks(s) == []


# -- contract 9: diagnosable ------------------------------------------------------------------

async def test_drop_cause_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock()) as ex:
        async with MarketStream(TRADES, venue=ex.venue, books=False, **FAST) as ms:
            async with driven(ex):
                await wait_for(lambda: ms.stats().messages > 5, what="trades")
                with caplog.at_level(logging.WARNING, logger="fastws.connection"):
                    ex.faults.close(code=1011, reason="backend restart")
                    await wait_for(lambda: ms.stats().reconnects == 1 and ms.connections == 1)
                    ex.faults.close(how="reset")
                    await wait_for(lambda: ms.stats().reconnects == 2 and ms.connections == 1)
            text = "\n".join(r.getMessage() for r in caplog.records)
            assert "code 1011 backend restart" in text
            assert "connection reset" in text
            assert "code None" not in text


def test_tls_advice_matches_the_failure() -> None:
    import ssl

    from fastws.connection import tls_advice

    def err(code: int, msg: str) -> ssl.SSLCertVerificationError:
        e = ssl.SSLCertVerificationError(1, msg)
        e.verify_code = code
        e.verify_message = msg
        return e
    assert "ca_file" not in tls_advice(err(62, "Hostname mismatch"))
    assert "host name" in tls_advice(err(62, "Hostname mismatch"))
    assert "expired" in tls_advice(err(10, "certificate has expired"))
    assert "ca_file" not in tls_advice(err(10, "certificate has expired"))
    assert "ca_file" in tls_advice(err(19, "self-signed certificate in certificate chain"))

