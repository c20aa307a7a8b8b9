"""High availability of the NATS bus, against the real nats-server and the simulator.

* one of two feed handlers killed mid-stream (SIGKILL of its own process: no close, no flush,
  its NATS connection cut by the kernel): the consumer's trades and depth events are exactly
  what the simulator sent (0 lost, 0 duplicated), books equal the simulator's;
* the NATS server restarted: the feed handler and the consumer reconnect by themselves, the
  books resync from the bus (never from the venue) and equal the simulator's, the statistics
  say what happened; what was lost is only inside the outage;
* a slow consumer (its own process, blocked on every event) slows neither the feed handler
  nor a fast consumer: the fast one's latency and the handler's publish lag are measured
  with and without it.

The oracle is the simulator's own record of what it sent (:class:`SentRecord`, every trade id
and depth ``(U, u)`` it emitted per stream), not the consumer's view of itself.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from typing import Any

import orjson
import pytest

from fastws.bus import BusStream, FeedHandler
from fastws.events import Trade
from fastws.sim import Exchange

from tests.bus_procs import BusProc
from tests.bus_support import SnapshotCounter, nats_server, needs_bus, wait_for  # noqa: F401
from tests.stream_support import (
    FAST, LIMITS, Recorder, assert_no_duplicates, driven, manual_clock, settle_and_compare,
)
from tests.utils import UNIT

pytestmark = [needs_bus, pytest.mark.slow]

SYMS = ["BTCUSDT", "ETHUSDT"]
STREAMS = ["btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@depth@100ms", "ethusdt@trade"]
TRADES = ["btcusdt@trade", "ethusdt@trade"]
DEPTHS = ["btcusdt@depth@100ms", "ethusdt@depth@100ms"]


class SentRecord:
    """What the simulator sent: every trade id and depth ``(U, u)`` it emitted per stream
    while some connection was subscribed, and when (``time.monotonic()``)."""

    def __init__(self, ex: Exchange) -> None:
        self.trades: dict[str, list[int]] = defaultdict(list)
        self.depth: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.trade_time: dict[tuple[str, int], float] = {}
        hub = ex._hub
        orig = hub.emit

        def emit(name: str, raw: bytes, kind: str = "", symbol: Any = None) -> None:
            if hub.subs.get(name):
                if name.endswith("@trade"):
                    t = orjson.loads(raw)["t"]
                    self.trades[name].append(t)
                    self.trade_time[(name, t)] = time.monotonic()
                elif "@depth" in name:
                    d = orjson.loads(raw)
                    self.depth[name].append((d["U"], d["u"]))
            orig(name, raw, kind, symbol)

        hub.emit = emit  # type: ignore[method-assign]


def sent_window(got: list[Any], sent: list[Any]) -> list[Any]:
    """What the simulator sent from the consumer's first event to its last (the simulator
    goes on while a test ends; :func:`settle` made sure the consumer reached the settled
    end)."""
    assert got, "the consumer got nothing"
    return sent[sent.index(got[0]):sent.index(got[-1]) + 1]


def lost_and_duplicated(got: list[int], sent: list[int]) -> tuple[list[int], list[int]]:
    """Ids the simulator sent between the consumer's first and last that the consumer lacks,
    and ids the consumer got more than once."""
    want = sent_window(got, sent)
    have = set(got)
    dup = sorted({i for i in got if got.count(i) > 1}) if len(have) != len(got) else []
    return [i for i in want if i not in have], dup


def assert_exactly_what_was_sent(rec: Recorder, sent: SentRecord) -> dict[str, int]:
    """Every trade and depth event the simulator sent after the consumer's first one reached
    the consumer once, in order. Returns how many were compared per stream."""
    counts: dict[str, int] = {}
    for s in TRADES:
        lost, dup = lost_and_duplicated(rec.trades[s], sent.trades[s])
        assert not lost and not dup, f"{s}: {len(lost)} lost {lost[:5]}, {len(dup)} duplicated {dup[:5]}"
        assert rec.trades[s] == sent_window(rec.trades[s], sent.trades[s]), f"{s}: not in the order sent"
        counts[s] = len(rec.trades[s])
    for s in DEPTHS:
        got = [(U, u) for U, u, _ in rec.depth[s]]
        ids = [u for _, u in got]
        lost, dup = lost_and_duplicated(ids, [u for _, u in sent.depth[s]])
        assert not lost and not dup, f"{s}: {len(lost)} lost, {len(dup)} duplicated"
        assert got == sent_window(got, sent.depth[s]), f"{s}: depth events differ from what was sent"
        counts[s] = len(got)
    return counts


def _feed(ex: Exchange, url: str, **kw: Any) -> FeedHandler:
    return FeedHandler(STREAMS, venue=ex.venue, nats=url, book_interval=0.1 * UNIT, **FAST, **kw)


def _bus(ex: Exchange, url: str, **kw: Any) -> BusStream:
    return BusStream(STREAMS, venue=ex.venue, nats=url, connect_timeout=10 * UNIT, **kw)


async def settle(bs: BusStream, ex: Exchange, rec: Recorder, sent: SentRecord) -> None:
    """settle_and_compare, then wait until the last trade the simulator had sent by then
    arrived too (a book's last depth event may overtake a trade of the same push)."""
    await settle_and_compare(bs, ex, SYMS)
    last = {s: sent.trades[s][-1] for s in TRADES}
    await wait_for(lambda: all(rec.trades[s] and rec.trades[s][-1] >= last[s] for s in TRADES),
                   5, "the last trades")


async def _more(bs: BusStream, n: int, what: str, timeout: float = 10.0) -> None:
    m = bs.stats().messages
    await wait_for(lambda: bs.stats().messages >= m + n, timeout, what)


async def test_one_of_two_feed_handlers_killed_loses_and_repeats_nothing(nats_server) -> None:
    """Two feed handlers publish the same streams, one in a process of its own; that process
    is SIGKILLed mid-stream. The consumer's trades and depth events are exactly the
    simulator's (0 lost, 0 duplicated, in order), its books equal the simulator's, it never
    resynced, and the venue served only the feed handlers' own snapshots."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        sent = SentRecord(ex)
        snaps = SnapshotCounter(ex)
        async with driven(ex):
            victim = await BusProc.start("feed", ex.venue, nats_server.url, STREAMS,
                                         name="victim", book_interval=0.1 * UNIT, **FAST)
            try:
                async with _feed(ex, nats_server.url, name="survivor") as survivor:
                    await survivor.wait_synced(timeout=10 * UNIT)
                    async with _bus(ex, nats_server.url) as bs:
                        rec = Recorder(bs)
                        await bs.wait_synced(timeout=10 * UNIT)
                        await _more(bs, 150, "events from both feed handlers")
                        v0, s0, c0 = (victim.last.get("published", 0),
                                      survivor.stats().published, bs.stats().messages)
                        await _more(bs, 150, "more events")
                        v1, s1, c1 = (victim.last.get("published", 0),
                                      survivor.stats().published, bs.stats().messages)
                        victim_snaps = victim.last.get("snapshots", 0)
                        rc = await victim.kill()                 # mid-stream, no goodbye
                        await _more(bs, 300, "events after the kill")
                        await settle(bs, ex, rec, sent)
                        st = bs.stats()
                        survivor_snaps = survivor.ms.stats().snapshots
            finally:
                await victim.kill()
        assert rc == -9
        counts = assert_exactly_what_was_sent(rec, sent)
        # both handlers really were publishing every event before the kill
        assert v1 - v0 > 0.7 * (c1 - c0) and s1 - s0 > 0.7 * (c1 - c0), (v1 - v0, s1 - s0, c1 - c0)
        assert all(n > 50 for n in counts.values()), counts
        assert st.gaps == 0 and st.resyncs == 0 and st.duplicates == 0
        assert_no_duplicates(rec)
        # the venue served the feed handlers' own snapshots (one per book each), none for the bus
        assert victim_snaps >= 2 and survivor_snaps >= 2
        assert snaps.count == victim_snaps + survivor_snaps


async def test_nats_server_restart_everyone_recovers_and_books_resync(nats_server) -> None:
    """The NATS server restarts mid-stream (down ~1 s). The feed handler and the consumer
    reconnect by themselves; every consumer book goes stale, resyncs from the bus and equals
    the simulator's; the feed handler's venue side never noticed. Events sent while the server
    was down are lost to the consumer (the memory stream and the live subjects had no server);
    none outside that window, none twice."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=100.0) as ex:
        sent = SentRecord(ex)
        snaps = SnapshotCounter(ex)
        async with _feed(ex, nats_server.url) as fh, driven(ex):
            await fh.wait_synced(timeout=10 * UNIT)
            async with _bus(ex, nats_server.url) as bs:
                rec = Recorder(bs)
                await bs.wait_synced(timeout=10 * UNIT)
                await _more(bs, 100, "events before the restart")
                syncs0 = {s: bs.syncs[s].stats.syncs for s in SYMS}
                n_before = {s: len(rec.trades[s]) for s in TRADES}
                await nats_server.restart(down_for=1.0 * UNIT)
                await wait_for(lambda: bs.stats().reconnects >= 1 and fh.stats().nats_reconnects >= 1,
                               15, "both reconnected")
                await wait_for(lambda: all(bs.syncs[s].stats.syncs > syncs0[s] for s in SYMS),
                               15, "both books resynced from the bus")
                await _more(bs, 200, "events after the restart")
                await settle(bs, ex, rec, sent)
                st, fst = bs.stats(), fh.stats()
        # what the statistics say
        assert bs.nats_disconnects >= 1 and st.reconnects >= 1 and st.connections == 1
        assert fst.nats_disconnects >= 1 and fst.nats_reconnects >= 1 and fst.connected
        assert all(bs.syncs[s].stats.link_downs >= 1 for s in SYMS)
        assert fst.market.gaps == 0 and fst.market.reconnects == 0      # the venue side never saw it
        assert snaps.count == fst.market.snapshots                      # resynced from the bus only
        assert not st.stale
        # what was lost: only trades the simulator sent during the outage
        outage: dict[str, int] = {}
        for s in TRADES:
            got, want = rec.trades[s], sent.trades[s]
            assert len(set(got)) == len(got), f"{s}: a trade delivered twice"
            before, after = got[:n_before[s]], got[n_before[s]:]
            assert before == sent_window(before, want) and after == sent_window(after, want), \
                f"{s}: holes outside the outage"
            lost = want[want.index(before[-1]) + 1:want.index(after[0])]
            outage[s] = len(lost)
        print(f"\ntrades lost in the outage (sent while nobody could store or deliver them): {outage}")
        for s in DEPTHS:
            us = [u for _, u, _ in rec.depth[s]]
            assert len(set(us)) == len(us), f"{s}: a depth event delivered twice"


def _lat_ms(sent: SentRecord, got: list[tuple[str, int, float]]) -> list[float]:
    return [(t - sent.trade_time[(s, i)]) * 1000 for s, i, t in got if (s, i) in sent.trade_time]


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


async def test_slow_consumer_slows_neither_the_feed_handler_nor_a_fast_consumer(nats_server) -> None:
    """A consumer in its own process blocks 20 ms on every event (it can take ~50 a second of
    the ~600 sent). Measured with and without it, same run: the fast consumer's latency from
    the simulator's send to its callback, and the feed handler's publish lag (send -> NATS
    publish). With the slow one the fast consumer still gets every trade once, the feed
    handler drops nothing, and neither lag grows beyond noise (bounds are generous: a
    consumer that held the feed handler back would add seconds)."""
    async with Exchange(SYMS, limits=LIMITS, clock=manual_clock(), rate=300.0) as ex:
        sent = SentRecord(ex)
        async with _feed(ex, nats_server.url) as fh, driven(ex, step_ms=20):
            await fh.wait_synced(timeout=10 * UNIT)
            pub: list[tuple[str, int, float]] = []
            orig_publish = fh._nc.publish

            async def timed_publish(subject: str, payload: bytes = b"", reply: str = "",
                                    headers: Any = None) -> None:
                mid = (headers or {}).get("Nats-Msg-Id", "")
                if "@trade:t" in mid:
                    stream, t = mid.rsplit("/", 1)[-1].split(":t", 1)
                    pub.append((stream, int(t), time.monotonic()))
                await orig_publish(subject, payload, reply=reply, headers=headers)

            fh._nc.publish = timed_publish
            async with _bus(ex, nats_server.url) as fast:
                rec = Recorder(fast)
                got: list[tuple[str, int, float]] = []
                fast.on(Trade, lambda ev: got.append((ev.stream, ev.trade_id, time.monotonic())))
                await fast.wait_synced(timeout=10 * UNIT)
                window = 2.0 * UNIT
                await asyncio.sleep(window)
                alone = (_lat_ms(sent, got), _lat_ms(sent, pub), len(got))
                got.clear()
                pub.clear()
                slow = await BusProc.start("slow", ex.venue, nats_server.url, STREAMS, delay=0.02,
                                           connect_timeout=10 * UNIT)
                try:
                    await asyncio.sleep(window)
                    withslow = (_lat_ms(sent, got), _lat_ms(sent, pub), len(got))
                    slow_last = dict(slow.last)
                finally:
                    await slow.kill()
                await settle(fast, ex, rec, sent)
        print(f"\nfast consumer latency ms p50/p99 alone {_pct(alone[0], .5):.2f}/"
              f"{_pct(alone[0], .99):.2f} ({alone[2]} trades), with the slow one "
              f"{_pct(withslow[0], .5):.2f}/{_pct(withslow[0], .99):.2f} ({withslow[2]} trades); "
              f"publish lag ms p50/p99 alone {_pct(alone[1], .5):.2f}/{_pct(alone[1], .99):.2f}, "
              f"with {_pct(withslow[1], .5):.2f}/{_pct(withslow[1], .99):.2f}; slow consumer {slow_last}")
        # the slow one really was slow: it handled a small part of what the fast one did
        assert slow_last and slow_last["got"] < withslow[2] / 3, (slow_last, withslow[2])
        assert alone[2] > 200 and withslow[2] > 200
        # the fast consumer got every trade the simulator sent, once, in order; books equal
        assert_exactly_what_was_sent(rec, sent)
        assert fh.stats().dropped == 0 and fh.stats().publish_errors == 0
        assert fast.stats().gaps == 0
        # neither lag grew (generous: held back by the slow one, they would grow by seconds)
        assert _pct(withslow[1], .99) < max(4 * _pct(alone[1], .99), 100 * UNIT)
        assert _pct(withslow[0], .5) < max(4 * _pct(alone[0], .5), 50 * UNIT)
        assert _pct(withslow[0], .99) < max(4 * _pct(alone[0], .99), 250 * UNIT)
