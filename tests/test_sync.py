"""fastws.sync.BookSync: the SPEC §3.1/§3.2 state machine, without sockets.

Unit tests drive it with hand-made events; the fault-injection tests replay real captures
(decoded here with orjson, independently of fastws.parser) with a dropped, duplicated or
swapped event or a stale snapshot, feed snapshots built from a dict reference book, and check
after every step that a book reported as synced shows the true best bid and ask.
"""
from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import orjson
import pytest

from fastws.book import OrderBook
from fastws.captures import RecordKind, read_capture
from fastws.events import DepthUpdate
from fastws.exceptions import InvalidUsage
from fastws.sync import BookSync, SyncAction, SyncState
from tests.reference_book import ReferenceBook

A = SyncAction


def ev(U, u, pu=-1, bids=(), asks=(), symbol="BTCUSDT"):
    return DepthUpdate(symbol, U, u, np.array(bids, dtype=float).reshape(-1, 2),
                       np.array(asks, dtype=float).reshape(-1, 2), prev_final_update_id=pu)


SNAP_B = [["100.00", "1"], ["99.00", "2"]]
SNAP_A = [["101.00", "1"], ["102.00", "2"]]


def new_sync(market="spot", **kw):
    return BookSync("BTCUSDT", market, OrderBook("BTCUSDT", "0.01"), **kw)


# ---------------------------------------------------------------- spot procedure

def test_spot_buffer_snapshot_drop_bridge_apply():
    s = new_sync()
    assert s.state is SyncState.WAITING and s.needs_snapshot
    assert s.on_event(ev(90, 95, bids=[[100.0, 5.0]])) is A.NEED_SNAPSHOT
    assert s.on_event(ev(96, 101, bids=[[100.0, 6.0]])) is A.BUFFERED
    assert s.on_event(ev(102, 104, asks=[[101.0, 3.0]])) is A.BUFFERED
    assert s.buffered == 3 and s.first_buffered_id == 90
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    book = s.book
    assert book.is_synced and book.update_id == 104 and s.state is SyncState.SYNCED
    assert book.best_bid() == (100.0, 6.0) and book.best_ask() == (101.0, 3.0)
    assert s.stats.applied == 2 and s.stats.syncs == 1 and s.buffered == 0
    assert s.on_event(ev(105, 105, bids=[[100.5, 1.0]])) is A.APPLIED
    assert book.best_bid() == (100.5, 1.0)


def test_spot_first_event_with_U_equal_to_last_update_id_plus_one_bridges():
    s = new_sync()
    s.on_event(ev(101, 103))
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 103


def test_spot_stale_snapshot_asks_again_and_keeps_buffering():
    s = new_sync()
    s.on_event(ev(200, 210))
    assert s.on_snapshot(150, SNAP_B, SNAP_A) is A.STALE_SNAPSHOT
    assert A.STALE_SNAPSHOT.needs_snapshot
    assert not s.book.is_synced and s.stats.stale_snapshots == 1
    assert s.on_event(ev(211, 215)) is A.BUFFERED
    assert s.on_snapshot(212, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 215 and s.book.is_synced


def test_snapshot_newer_than_everything_buffered():
    s = new_sync()
    s.on_event(ev(1, 5))
    assert s.on_snapshot(50, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 50
    assert s.on_event(ev(40, 50)) is A.IGNORED
    assert s.on_event(ev(45, 55)) is A.APPLIED  # U <= 51 <= u bridges


def test_snapshot_before_any_event_then_first_event_must_bridge():
    s = new_sync()
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.on_event(ev(103, 110)) is A.GAP  # 101 and 102 were never seen
    assert not s.book.is_synced and s.book.is_stale


def test_spot_gap_marks_stale_buffers_and_resyncs():
    s = new_sync()
    s.on_event(ev(101, 101))
    s.on_snapshot(100, SNAP_B, SNAP_A)
    assert s.on_event(ev(102, 102, bids=[[100.0, 7.0]])) is A.APPLIED
    assert s.on_event(ev(104, 104)) is A.GAP
    assert s.last_gap is not None and s.last_gap.expected == 103 and s.last_gap.got == 104
    book = s.book
    assert book.is_stale and not book.is_synced
    assert book.best_bid() == (100.0, 7.0)  # readable while stale
    assert s.on_event(ev(105, 106)) is A.BUFFERED  # keeps buffering, snapshot already asked
    assert s.buffered == 2
    assert s.on_snapshot(105, [["90.00", "1"]], [["95.00", "1"]]) is A.SYNCED
    assert book.is_synced and book.update_id == 106 and book.best_bid() == (90.0, 1.0)
    assert s.stats.gaps == 1 and s.stats.syncs == 2 and s.stats.resyncs == 1


def test_gap_warning_and_reason_name_the_symbol_once(caplog):
    s = new_sync()
    s.on_event(ev(101, 101))
    s.on_snapshot(100, SNAP_B, SNAP_A)
    with caplog.at_level("WARNING", logger="fastws"):
        assert s.on_event(ev(104, 104)) is A.GAP
    lines = [r.getMessage() for r in caplog.records if "gap" in r.getMessage()]
    assert lines and all(m.count("BTCUSDT") == 1 for m in lines), lines
    assert s.stale_reason is not None and "BTCUSDT" not in s.stale_reason, s.stale_reason


def test_gap_inside_the_buffer_is_reported_by_on_snapshot():
    s = new_sync()
    s.on_event(ev(101, 102))
    s.on_event(ev(105, 106))  # 103..104 missing
    s.on_event(ev(107, 108))
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.GAP
    assert s.book.is_stale and s.buffered == 2 and s.first_buffered_id == 105
    assert s.on_snapshot(106, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 108


def test_duplicates_and_old_events_are_ignored_not_applied():
    s = new_sync()
    s.on_event(ev(101, 101))
    s.on_snapshot(100, SNAP_B, SNAP_A)
    e = ev(102, 103, bids=[[100.0, 9.0]])
    assert s.on_event(e) is A.APPLIED
    assert s.on_event(ev(104, 104, bids=[[100.0, 3.0]])) is A.APPLIED
    assert s.on_event(e) is A.IGNORED  # a late duplicate must not bring 9.0 back
    assert s.book.best_bid() == (100.0, 3.0) and s.book.is_synced
    assert s.stats.ignored == 1


def test_unrequested_snapshot_over_a_synced_book_is_ignored():
    s = new_sync()
    s.on_snapshot(100, SNAP_B, SNAP_A)
    assert s.on_snapshot(50, [["1.00", "1"]], [["2.00", "1"]]) is A.IGNORED
    assert s.book.update_id == 100 and s.book.best_bid() == (100.0, 1.0)


def test_crossed_snapshot_and_crossing_event():
    s = new_sync()
    s.on_event(ev(101, 101))
    assert s.on_snapshot(100, [["101.00", "1"]], [["100.00", "1"]]) is A.CROSSED
    assert A.CROSSED.needs_snapshot and s.needs_snapshot
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.on_event(ev(102, 102, bids=[[101.5, 1.0]])) is A.CROSSED
    assert not s.book.is_synced and s.book.is_crossed and s.stats.crossed == 2
    assert s.on_event(ev(103, 103)) is A.BUFFERED
    assert s.on_snapshot(102, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 103 and s.book.is_synced


def test_rejected_event_marks_stale_and_resyncs_past_it():
    s = new_sync()
    s.on_snapshot(100, SNAP_B, SNAP_A)
    assert s.on_event(ev(101, 101, bids=[[100.005, 1.0]])) is A.REJECTED  # off the 0.01 grid
    assert A.REJECTED.needs_snapshot and s.book.is_stale and s.stats.rejected == 1
    assert "tick grid" in str(s.last_error)
    assert s.book.best_bid() == (100.0, 1.0)  # untouched
    assert s.on_event(ev(102, 102)) is A.BUFFERED
    assert s.on_snapshot(101, SNAP_B, SNAP_A) is A.SYNCED and s.book.update_id == 102


def test_bad_snapshot_rows_raise_and_keep_waiting():
    s = new_sync()
    s.on_event(ev(101, 101))
    s.on_event(ev(102, 102))
    with pytest.raises(ValueError):
        s.on_snapshot(101, [["100.005", "1"]], SNAP_A)
    assert s.needs_snapshot and s.buffered == 2  # nothing dropped for a refused snapshot
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 102


def test_buffer_is_bounded_and_drops_the_oldest():
    s = new_sync(max_buffer=3)
    for i in range(5):
        s.on_event(ev(10 * i + 1, 10 * i + 10))
    assert s.buffered == 3 and s.stats.buffer_dropped == 2 and s.first_buffered_id == 21
    assert s.on_snapshot(25, SNAP_B, SNAP_A) is A.SYNCED and s.book.update_id == 50


def test_reset_and_repr_and_stats():
    s = new_sync()
    s.on_event(ev(1, 1))
    s.reset()
    assert s.buffered == 0 and s.needs_snapshot
    assert s.on_event(ev(2, 2)) is A.NEED_SNAPSHOT
    assert "BTCUSDT" in repr(s) and "waiting" in repr(s)
    d = s.stats.as_dict()
    assert d["events"] == 2 and d["resyncs"] == 0


def test_misuse_is_reported():
    with pytest.raises(InvalidUsage):
        BookSync("BTCUSDT", "coinm")
    with pytest.raises(InvalidUsage):
        BookSync("BTCUSDT", "spot", max_buffer=0)
    s = new_sync()
    with pytest.raises(InvalidUsage):
        s.on_event({"e": "depthUpdate"})  # type: ignore[arg-type]
    with pytest.raises(InvalidUsage):
        s.on_event(ev(1, 1, symbol="ETHUSDT"))
    with pytest.raises(InvalidUsage):
        new_sync("usdm").on_event(ev(1, 1))  # USD-M events carry pu


def test_default_book_infers_tick():
    s = BookSync("BTCUSDT", "spot")
    s.on_snapshot(1, SNAP_B, SNAP_A)
    assert s.book.tick_size == 1.0 and s.book.symbol == "BTCUSDT"


@pytest.mark.parametrize("action", list(SyncAction))
def test_needs_snapshot_flags(action):
    assert action.needs_snapshot == (
        action in {A.NEED_SNAPSHOT, A.GAP, A.STALE_SNAPSHOT, A.CROSSED, A.REJECTED})


# ---------------------------------------------------------------- USD-M procedure

def test_usdm_drop_bridge_and_pu_chain():
    s = new_sync("usdm")
    assert s.on_event(ev(80, 90, 70)) is A.NEED_SNAPSHOT
    s.on_event(ev(91, 100, 90))   # u == L is kept (USD-M drops u < L only) and bridges
    s.on_event(ev(101, 120, 100, bids=[[100.0, 4.0]]))
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 120 and s.book.best_bid() == (100.0, 4.0)
    assert s.on_event(ev(125, 130, 120)) is A.APPLIED  # U != prev u + 1 is normal on futures
    assert s.on_event(ev(131, 140, 129)) is A.GAP      # pu != prev u
    assert s.last_gap.expected == 130 and s.last_gap.got == 129


def test_usdm_snapshot_at_an_event_boundary():
    s = new_sync("usdm")
    s.on_event(ev(205, 210, 200))
    assert s.on_snapshot(200, SNAP_B, SNAP_A) is A.SYNCED  # pu == lastUpdateId bridges
    assert s.book.update_id == 210


def test_usdm_stale_snapshot():
    s = new_sync("usdm")
    s.on_event(ev(200, 210, 190))
    assert s.on_snapshot(199, SNAP_B, SNAP_A) is A.STALE_SNAPSHOT  # needs U <= L
    assert s.on_snapshot(200, SNAP_B, SNAP_A) is A.SYNCED


# ---------------------------------------------------------------- fault injection on captures

CAPTURES = {
    "spot": ("hftbacktest_spot_btcusdt_20240808_part1.gz",),
    "usdm": ("hftbacktest_usdm_btcusdt_20240808.gz",),
}
N_EVENTS = 1200


@functools.lru_cache(maxsize=None)
def _capture(recorded_dir, market):
    """(symbol, snapshot doc, chain of events from the bridging one on), decoded with orjson."""
    snap = None
    raw: list[DepthUpdate] = []
    for rec in read_capture([recorded_dir / f for f in CAPTURES[market]]):
        if rec.kind is RecordKind.SNAPSHOT:
            snap = orjson.loads(rec.payload)
        elif b"@depth" in rec.payload[:40]:
            d = orjson.loads(rec.payload)["data"]
            raw.append(DepthUpdate(
                d["s"], d["U"], d["u"], np.array(d["b"], dtype=float).reshape(-1, 2),
                np.array(d["a"], dtype=float).reshape(-1, 2), prev_final_update_id=d.get("pu", -1)))
            if snap is not None and len(raw) > N_EVENTS + 20:
                break
    L = snap["lastUpdateId"]
    chain = [e for e in raw if (e.final_update_id > L if market == "spot" else e.final_update_id >= L)]
    return raw[0].symbol, snap, chain[:N_EVENTS]


class Truth:
    """The reference book along the true event chain: tops by update id, snapshots on demand."""

    def __init__(self, snap: dict[str, Any], chain: list[DepthUpdate]) -> None:
        self.chain = chain
        ref = ReferenceBook()
        ref.snapshot(snap["lastUpdateId"], [[float(p), float(q)] for p, q in snap["bids"]],
                     [[float(p), float(q)] for p, q in snap["asks"]])
        self.start = (ref.update_id, *ref.snapshot_rows())
        self.tops = {ref.update_id: (ref.best_bid(), ref.best_ask())}
        for e in chain:
            ref.apply(e.bids.tolist(), e.asks.tolist(), e.final_update_id)
            self.tops[e.final_update_id] = (ref.best_bid(), ref.best_ask())
        self._ref = ReferenceBook()
        self._ref.snapshot(self.start[0], self.start[1], self.start[2])
        self._next = 0

    def snapshot_after(self, index: int):
        """Snapshot of the true book after chain[index] (index -1: the capture's snapshot)."""
        if index + 1 < self._next:  # going back: rebuild from the start
            self._ref.snapshot(*self.start)
            self._next = 0
        while self._next <= index:
            e = self.chain[self._next]
            self._ref.apply(e.bids.tolist(), e.asks.tolist(), e.final_update_id)
            self._next += 1
        return (self._ref.update_id, *self._ref.snapshot_rows())


def run_faulty(market, recorded_dir, order, *, delay=0, stale_first=False):
    """Feed chain events in ``order`` (indices), serving snapshots from the truth.

    ``delay``: events delivered between a snapshot request and the snapshot.
    ``stale_first``: answer the first resync request with a too-old snapshot.
    Returns (sync, truth, actions). Fails if a synced book ever shows a wrong top.
    """
    symbol, snap, chain = _capture(recorded_dir, market)
    truth = Truth(snap, chain)
    sync = BookSync(symbol, market)
    assert sync.on_snapshot(*truth.snapshot_after(-1)) is A.SYNCED
    actions: list[SyncAction] = []
    waiting = None  # events left before the requested snapshot is served
    gave_stale = False
    seen_max = -1
    for i in order:
        action = sync.on_event(chain[i])
        actions.append(action)
        seen_max = max(seen_max, i)
        if action.needs_snapshot and waiting is None:
            waiting = delay
        elif waiting is not None:
            waiting -= 1
        if waiting is not None and waiting <= 0:
            if stale_first and not gave_stale:
                gave_stale = True
                old = truth.snapshot_after(max(-1, seen_max - delay - 10))
                assert sync.on_snapshot(*old) is A.STALE_SNAPSHOT
                assert not sync.book.is_synced
            res = sync.on_snapshot(*truth.snapshot_after(seen_max))
            actions.append(res)
            waiting = None if not res.needs_snapshot else delay
        book = sync.book
        if book.is_synced:  # never a wrong best price while reported synced
            assert (book.best_bid(), book.best_ask()) == truth.tops[book.update_id], \
                f"wrong top at u={book.update_id}"
    return sync, truth, actions


@pytest.fixture(params=["spot", "usdm"])
def market(request):
    return request.param


def test_clean_capture_chain_stays_synced(market, recorded_dir):
    sync, truth, actions = run_faulty(market, recorded_dir, range(N_EVENTS))
    assert set(actions) == {A.APPLIED}
    assert sync.book.is_synced and sync.stats.gaps == 0
    assert (sync.book.best_bid(), sync.book.best_ask()) == truth.tops[sync.book.update_id]


@pytest.mark.parametrize("delay", [0, 4])
def test_dropped_event_is_detected_and_resynced(market, recorded_dir, delay):
    order = [i for i in range(N_EVENTS) if i != 300]
    sync, truth, actions = run_faulty(market, recorded_dir, order, delay=delay)
    assert actions.count(A.GAP) == 1 and sync.stats.gaps == 1
    assert sync.stats.syncs == 2 and sync.stats.resyncs == 1
    first_gap = actions.index(A.GAP)
    assert all(a is A.BUFFERED for a in actions[first_gap + 1:first_gap + delay])
    assert sync.book.is_synced and sync.book.update_id == truth.chain[-1].final_update_id


@pytest.mark.parametrize("late", [1, 7])
def test_duplicated_event_is_detected_and_ignored(market, recorded_dir, late):
    """A repeated event (the book already holds it) is reported IGNORED and changes nothing.

    SPEC §3.1 ignores ``u < update_id`` and notes re-applying ``u == update_id`` is harmless;
    ignoring every event the book already holds is what lets a reconnect overlap old and new
    connections without a resync. A duplicate that arrives late would otherwise roll levels
    back; the truth check after every step proves it does not.
    """
    order = list(range(N_EVENTS))
    order.insert(500 + late, 500)
    sync, truth, actions = run_faulty(market, recorded_dir, order)
    assert actions.count(A.IGNORED) == 1 and sync.stats.ignored == 1
    assert actions[500 + late] is A.IGNORED
    assert sync.stats.gaps == 0 and sync.book.is_synced


def test_swapped_events_are_detected_and_resynced(market, recorded_dir):
    order = list(range(N_EVENTS))
    order[400], order[401] = order[401], order[400]
    sync, truth, actions = run_faulty(market, recorded_dir, order, delay=2)
    assert sync.stats.gaps == 1 and sync.stats.resyncs == 1
    assert actions[400] is A.GAP
    assert sync.book.is_synced and sync.book.update_id == truth.chain[-1].final_update_id


def test_stale_snapshot_is_rejected_then_resynced(market, recorded_dir):
    order = [i for i in range(N_EVENTS) if i not in (200, 201)]
    sync, truth, actions = run_faulty(market, recorded_dir, order, delay=3, stale_first=True)
    assert sync.stats.stale_snapshots == 1 and sync.stats.gaps == 1 and sync.stats.resyncs == 1
    assert sync.book.is_synced and sync.book.update_id == truth.chain[-1].final_update_id


def test_many_faults_in_one_run(market, recorded_dir):
    order = list(range(N_EVENTS))
    del order[900]
    order[700], order[702] = order[702], order[700]
    order.insert(100, 95)
    del order[50]
    sync, truth, actions = run_faulty(market, recorded_dir, order, delay=1)
    assert sync.stats.gaps >= 3 and sync.stats.ignored >= 1
    assert sync.book.is_synced and sync.book.update_id == truth.chain[-1].final_update_id


def test_truth_matches_capture_snapshot_bridge(market, recorded_dir):
    """Sanity of the harness itself: the chain is contiguous as the recordings README says."""
    _, snap, chain = _capture(recorded_dir, market)
    L = snap["lastUpdateId"]
    if market == "spot":
        assert chain[0].first_update_id <= L + 1 <= chain[0].final_update_id
        assert all(b.first_update_id == a.final_update_id + 1 for a, b in itertools.pairwise(chain))
    else:
        assert chain[0].first_update_id <= L <= chain[0].final_update_id
        assert all(b.prev_final_update_id == a.final_update_id for a, b in itertools.pairwise(chain))


# ---------------------------------------------------------------- property: random faults

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def faulty_run(draw):
    market = draw(st.sampled_from(["spot", "usdm"]))
    n = draw(st.integers(5, 60))
    # the true chain: ids advance by 1..5 per event; usdm U skips ahead like futures do
    chain = []
    u = 1000
    rng_levels = st.lists(st.tuples(st.integers(1, 40), st.sampled_from([0.0, 0.5, 1.0, 2.5])),
                          max_size=6)
    for _ in range(n):
        step = draw(st.integers(1, 5))
        U = u + 1 if market == "spot" else u + draw(st.integers(1, 3))
        new_u = U + step - 1
        bids = [[100.0 - o * 0.01, q] for o, q in draw(rng_levels)]
        asks = [[100.01 + o * 0.01, q] for o, q in draw(rng_levels)]
        chain.append(ev(U, new_u, u if market == "usdm" else -1, bids, asks))
        u = new_u
    order = list(range(n))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["drop", "dup", "swap"]))
        if len(order) < 3:
            break
        i = draw(st.integers(0, len(order) - 2))
        if kind == "drop":
            del order[i]
        elif kind == "dup":
            order.insert(draw(st.integers(i + 1, len(order))), order[i])
        else:
            order[i], order[i + 1] = order[i + 1], order[i]
    delay = draw(st.integers(0, 3))
    return market, chain, order, delay


@settings(max_examples=150, deadline=None)
@given(faulty_run())
def test_random_faults_never_serve_a_wrong_top(run):
    market, chain, order, delay = run
    ref = ReferenceBook()
    ref.snapshot(1000, [[100.0, 1.0]], [[100.01, 1.0]])
    tops = {1000: (ref.best_bid(), ref.best_ask())}
    states = {-1: (1000, *ref.snapshot_rows())}
    for i, e in enumerate(chain):
        ref.apply(e.bids.tolist(), e.asks.tolist(), e.final_update_id)
        tops[e.final_update_id] = (ref.best_bid(), ref.best_ask())
        states[i] = (e.final_update_id, *ref.snapshot_rows())
    sync = BookSync("BTCUSDT", market, OrderBook("BTCUSDT", "0.01"))
    assert sync.on_snapshot(*states[-1]) is A.SYNCED
    waiting = None
    seen = -1
    for i in order:
        action = sync.on_event(chain[i])
        seen = max(seen, i)
        if action.needs_snapshot and waiting is None:
            waiting = delay
        elif waiting is not None:
            waiting -= 1
        if waiting is not None and waiting <= 0:
            res = sync.on_snapshot(*states[seen])
            waiting = delay if res.needs_snapshot else None
        if sync.book.is_synced:
            assert (sync.book.best_bid(), sync.book.best_ask()) == tops[sync.book.update_id]
    if sync.needs_snapshot:  # the stream ended while waiting: one more snapshot must do
        assert sync.on_snapshot(*states[seen]) is A.SYNCED
    assert sync.book.is_synced
    assert (sync.book.best_bid(), sync.book.best_ask()) == tops[sync.book.update_id]
    if sorted(set(order)) == list(range(len(chain))) and order == sorted(order):
        assert sync.stats.gaps == 0  # only duplicates: nothing to resync


# ---------------------------------------------------------------- trust checks (issue 10)

def synced(market="spot", **kw):
    s = new_sync(market, **kw)
    assert s.on_snapshot(100, SNAP_B, SNAP_A) is A.SYNCED
    assert s.stale_reason is None
    if market == "spot":
        for U in range(101, 111):
            assert s.on_event(ev(U, U, bids=[[99.5, float(U)]])) is A.APPLIED
    else:
        assert s.on_event(ev(95, 101, 94, bids=[[99.5, 1.0]])) is A.APPLIED
        for u in range(102, 111):
            assert s.on_event(ev(u, u, u - 1, bids=[[99.5, float(u)]])) is A.APPLIED
    assert s.book.update_id == 110
    return s


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_ids_restarting_lower_mark_the_book_stale_and_resync(market):
    """The testnet-reset case: ids restart far lower. Old code: every event "already held",
    the book kept its old content and stayed synced."""
    s = synced(market)
    first = ev(5, 7, 4, asks=[[101.0, 9.0]])
    assert s.on_event(first) is A.GAP
    assert not s.book.is_synced and "backwards" in s.stale_reason
    assert s.stats.backwards == 1
    assert s.on_event(ev(8, 9, 7)) is A.BUFFERED          # the new sequence is buffered
    assert s.on_snapshot(6, SNAP_B, [["101.00", "5"]]) is A.SYNCED
    assert s.book.update_id == 9 and s.book.best_ask() == (101.0, 9.0)


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_a_repeat_of_a_recent_event_is_still_ignored_cheaply(market):
    s = synced(market)
    assert s.on_event(ev(108, 108, 107)) is A.IGNORED
    assert s.book.is_synced and s.stale_reason is None and s.stats.ignored == 1
    assert s.on_event(ev(111, 111, 110)) is A.APPLIED


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_an_absurd_u_never_freezes_the_book(market):
    s = synced(market)
    assert s.on_event(ev(111, 10**15, 110, bids=[[99.0, 7.0]])) is A.GAP
    assert "implausible" in s.stale_reason and s.stats.implausible == 1
    assert s.buffered == 0                                  # the absurd event is not kept
    assert s.on_event(ev(112, 112, 111)) is A.BUFFERED
    assert s.on_snapshot(111, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 112
    # an absurd event while waiting is dropped too
    s.mark_stale("test")
    assert s.on_event(ev(113, 10**15, 112)) is A.NEED_SNAPSHOT
    assert s.buffered == 0


def test_a_run_of_events_that_do_not_advance_the_book_is_stale():
    s = synced("spot", max_stall=5)
    for i in range(4):
        assert s.on_event(ev(110, 110)) is A.IGNORED
    assert s.on_event(ev(110, 110)) is A.GAP
    assert "did not advance" in s.stale_reason and s.stats.stalls == 1


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_a_new_link_must_bridge_the_book(market):
    s = synced(market)
    s.link_changed()
    assert s.on_event(ev(111, 112, 110)) is A.APPLIED       # it bridges: no resync
    s.link_changed()
    assert s.on_event(ev(112, 112, 111)) is A.GAP           # already held: does not bridge
    assert "does not bridge" in s.stale_reason and s.stats.no_bridge == 1
    s2 = synced(market)
    s2.link_changed()
    assert s2.on_event(ev(120, 121, 119)) is A.GAP          # skips ahead: a gap
    assert not s2.book.is_synced


def test_link_down_is_not_synced_and_blocks_snapshots_until_events_flow():
    s = synced("spot")
    s.link_down("stream down: link lost")
    assert not s.book.is_synced and s.stale_reason == "stream down: link lost"
    assert s.link_is_down and s.stats.link_downs == 1
    assert s.on_snapshot(200, SNAP_B, SNAP_A) is A.IGNORED   # in flight when the link fell
    assert not s.book.is_synced
    s.link_changed()
    assert s.on_event(ev(300, 301)) is A.NEED_SNAPSHOT       # a new link: fresh snapshot
    assert not s.link_is_down
    assert s.on_snapshot(300, SNAP_B, SNAP_A) is A.SYNCED and s.book.update_id == 301


def test_link_changed_while_waiting_drops_the_old_links_events():
    s = new_sync()
    assert s.on_event(ev(5000, 5001)) is A.NEED_SNAPSHOT
    s.link_changed()
    assert s.buffered == 0
    assert s.on_event(ev(10, 11)) is A.NEED_SNAPSHOT
    assert s.on_snapshot(10, SNAP_B, SNAP_A) is A.SYNCED and s.book.update_id == 11


def test_ids_going_backwards_while_buffering_restart_the_buffer():
    s = new_sync()
    s.on_event(ev(5000, 5001))
    s.on_event(ev(5002, 5003))
    assert s.on_event(ev(10, 11)) is A.BUFFERED
    assert s.buffered == 1 and s.stats.backwards == 1
    assert s.on_snapshot(10, SNAP_B, SNAP_A) is A.SYNCED


def test_buffer_is_bounded_by_bytes_not_a_small_count():
    s = new_sync(max_buffer_bytes=10_000)
    big = [[100.0 - i * 0.01, 1.0] for i in range(100)]       # 1600 bytes of levels
    for U in range(1, 51):
        s.on_event(ev(U, U, bids=big))
    assert 1 <= s.buffered <= 6 and s.buffered_bytes <= 10_000
    assert s.stats.buffer_dropped == 50 - s.buffered
    s2 = new_sync()
    for U in range(1, 30_001):                                  # more than the old 10 000
        s2.on_event(ev(U, U, bids=[[99.0, 1.0]]))
    assert s2.buffered == 30_000 and s2.stats.buffer_dropped == 0
    assert s2.on_snapshot(15_000, SNAP_B, SNAP_A) is A.SYNCED and s2.book.update_id == 30_000


def test_stale_reason_and_trust_options():
    s = new_sync()
    assert s.stale_reason == "waiting for the first snapshot"
    s.on_event(ev(101, 101))
    s.on_snapshot(100, SNAP_B, SNAP_A)
    assert s.stale_reason is None and "stale_reason" not in repr(s)
    s.mark_stale("consumer asked")
    assert s.stale_reason == "consumer asked" and "consumer asked" in repr(s)
    for bad in (dict(max_buffer_bytes=0), dict(max_id_jump=0), dict(max_stall=0), dict(max_buffer=0)):
        with pytest.raises(InvalidUsage):
            new_sync(**bad)


# ---------------------------------------------------------------- property: a venue that lies

@st.composite
def hostile_run(draw):
    """A venue's event sequence with repeats, swaps, an id restart (a new epoch with its own
    book) and absurd ids; each step also says which epoch the venue is in."""
    market = draw(st.sampled_from(["spot", "usdm"]))
    epochs = []
    # each restart goes clearly lower (what a venue reset does); it comes with a reconnect
    # (announced with link_changed) or, worse, without one
    starts = sorted(draw(st.sets(st.sampled_from([10, 1000, 10**6]), min_size=1)), reverse=True)
    for k, start in enumerate(starts):
        announced = k > 0 and draw(st.booleans())
        chain = []
        u = start
        for _ in range(draw(st.integers(3, 25))):
            U = u + 1 if market == "spot" else u + draw(st.integers(1, 3))
            new_u = U + draw(st.integers(0, 4))
            bids = [[100.0 - o * 0.01, q] for o, q in draw(st.lists(
                st.tuples(st.integers(1, 20), st.sampled_from([0.0, 1.0, 2.5])), max_size=4))]
            chain.append(ev(U, new_u, u if market == "usdm" else -1, bids, ()))
            u = new_u
        epochs.append((start, chain, announced))
    script = []          # (epoch, event index) in arrival order
    for e, (_, chain, _) in enumerate(epochs):
        order = list(range(len(chain)))
        for _ in range(draw(st.integers(0, 3))):
            i = draw(st.integers(0, len(order) - 2))
            kind = draw(st.sampled_from(["dup", "swap", "absurd"]))
            if kind == "dup":
                order.insert(i + 1, order[i])
            elif kind == "swap":
                order[i], order[i + 1] = order[i + 1], order[i]
            else:
                order.insert(i + 1, -1 - order[i])     # an absurd copy of event order[i]
        script += [(e, i) for i in order]
    return market, epochs, script


@settings(max_examples=200, deadline=None)
@given(hostile_run())
def test_a_synced_book_always_equals_the_venues_book(run):
    """Whatever the venue repeats, swaps, restarts or garbles, a book that says synced holds
    exactly the venue's current book at its update id (checked after every event)."""
    market, epochs, script = run
    truths = []
    for start, chain, _ in epochs:
        ref = ReferenceBook()
        ref.snapshot(start, [[99.0, 1.0]], [[100.01, 1.0]])
        states = {start: (start, *ref.snapshot_rows())}
        for e in chain:
            ref.apply(e.bids.tolist(), e.asks.tolist(), e.final_update_id)
            states[e.final_update_id] = (e.final_update_id, *ref.snapshot_rows())
        truths.append(states)
    sync = BookSync("BTCUSDT", market, OrderBook("BTCUSDT", "0.01"), max_stall=10)
    assert sync.on_snapshot(*truths[0][epochs[0][0]]) is A.SYNCED
    latest = {0: epochs[0][0]}
    current = 0
    for epoch, i in script:
        chain = epochs[epoch][1]
        if epoch != current:
            current = epoch
            if epochs[epoch][2]:
                sync.link_changed()
        e = chain[i] if i >= 0 else chain[-1 - i]
        if i < 0:
            e = ev(e.first_update_id, e.final_update_id + 10**12, e.prev_final_update_id)
        else:
            latest[epoch] = max(latest.get(epoch, -1), e.final_update_id)
        action = sync.on_event(e)
        if action.needs_snapshot or (not sync.book.is_synced and not sync._requested):
            snap = truths[epoch][latest.get(epoch, epochs[epoch][0])]
            sync.on_snapshot(*snap)
        if sync.book.is_synced:
            uid = sync.book.update_id
            assert uid in truths[epoch], f"synced at {uid}, not an id of the venue's epoch {epoch}"
            _, bids, asks = truths[epoch][uid]
            got_b, got_a = sync.book.top(None)
            assert got_b.tolist() == [[float(p), float(q)] for p, q in bids]


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_a_stream_lagging_behind_its_snapshot_catches_up_without_a_resync(market):
    # Under a flood the snapshot (another connection) can be far ahead of the stream: every
    # event up to lastUpdateId is dropped (SPEC §3.1), however many there are; the book is
    # right meanwhile and advances as soon as the stream passes the snapshot.
    s = new_sync(market)
    assert s.on_event(ev(1, 1, 0)) is A.NEED_SNAPSHOT
    for i in range(2, 11):
        assert s.on_event(ev(i, i, i - 1)) is A.BUFFERED
    assert s.on_snapshot(500, SNAP_B, SNAP_A) is A.SYNCED
    assert s.book.update_id == 500
    for i in range(11, 500):                                  # 489 events older than the book
        assert s.on_event(ev(i, i, i - 1)) is A.IGNORED, i
    assert s.book.is_synced and s.stale_reason is None and s.stats.stalls == 0
    assert s.on_event(ev(500, 501, 499, bids=[[100.5, 1.0]])) is A.APPLIED
    assert s.book.best_bid() == (100.5, 1.0)


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_a_lagging_stream_that_breaks_its_chain_still_stalls(market):
    # catching up is an unbroken chain of events; repeats or a restart count as before
    s = new_sync(market, max_stall=5)
    assert s.on_event(ev(1, 1, 0)) is A.NEED_SNAPSHOT
    assert s.on_snapshot(500, SNAP_B, SNAP_A) is A.SYNCED
    assert s.on_event(ev(2, 2, 1)) is A.IGNORED               # continues the chain
    actions = [s.on_event(ev(2, 2, 1)) for _ in range(5)]     # the same event again and again
    assert A.GAP in actions and "did not advance" in s.stale_reason
