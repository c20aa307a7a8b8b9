"""The peers benchmark's pieces: the sim's feed on standard paths, the harness, the report.

The feed (``fastws.sim.feed``) is checked as a client sees it: frames on ``/ws``, ``/stream``
and after SUBSCRIBE, paced frames stamped with the server's monotonic clock, a diff-depth
stream whose ids continue across passes and whose snapshots a dict book can be synced from
(and whose book equals the cycle's reference at every update), the lossy variant's gaps.
The harness: percentiles, the book comparator, the reference built from a capture; the report
writer; and (slow) one real ``bench_peers.py --quick`` run with fastws and a transport.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest

from fastws.sim import Exchange
from fastws.sim.feed import BASE_ID, DepthCycle, FeedSpec
from fastws.sim.market import default_spec
from bench.peers import harness as H
from bench.peers import report as R
from tests.utils import REPO_ROOT, UNIT


# -- a raw picows client that keeps every text frame ----------------------------------------------

async def _collect(url: str, seconds: float, send: bytes | None = None,
                   stamp: bool = False, until: Any = None) -> list[Any]:
    """Text frames of ``url`` for ``seconds``, or (``until``) until ``until(got)`` holds."""
    from picows import WSListener, WSMsgType, ws_connect
    got: list[Any] = []

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, tr: Any, fr: Any) -> None:
            if fr.msg_type == WSMsgType.TEXT:
                msg = orjson.loads(fr.get_payload_as_bytes())
                got.append((time.monotonic_ns(), msg) if stamp else msg)

    tr, _ = await ws_connect(L, url)
    if send is not None:
        tr.send(WSMsgType.TEXT, send)
    if until is None:
        await asyncio.sleep(seconds)
    else:
        end = time.monotonic() + seconds
        while not until(got) and time.monotonic() < end:
            await asyncio.sleep(0.01)
    tr.disconnect()
    return got


def _data(msg: Any) -> Any:
    return msg["data"] if isinstance(msg, dict) and "stream" in msg else msg


# -- feed: tickers, paced ---------------------------------------------------------------------------

async def test_tickers_feed_on_stream_path_and_after_subscribe() -> None:
    async with Exchange(["BTCUSDT", "ETHUSDT"], rest=False, feed=FeedSpec("tickers")) as ex:
        url = ex.venue.stream_url
        got = await _collect(f"{url}/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker",
                             0.3 * UNIT)
        assert len(got) > 10_000
        assert {m["stream"] for m in got} == {"btcusdt@bookTicker", "ethusdt@bookTicker"}
        for sym in ("BTCUSDT", "ETHUSDT"):
            us = [m["data"]["u"] for m in got if m["data"]["s"] == sym]
            assert us == sorted(us) and len(set(us)) == len(us)      # "u" moves on, no repeat
        # raw /ws + SUBSCRIBE: the answer first, then raw payloads of that stream only
        got = await _collect(f"{url}/ws", 0.3 * UNIT,
                             b'{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":7}')
        assert got[0] == {"result": None, "id": 7}
        assert len(got) > 1000 and {m["s"] for m in got[1:]} == {"ETHUSDT"}
        assert all("stream" not in m for m in got[1:])


async def test_paced_feed_rate_and_monotonic_stamps() -> None:
    rate = 2000.0
    async with Exchange(["BTCUSDT"], rest=False, feed=FeedSpec("paced", rate=rate)) as ex:
        t0 = time.monotonic_ns()
        got = await _collect(f"{ex.venue.stream_url}/ws/btcusdt@bookTicker", 0.5 * UNIT,
                             stamp=True)
        t1 = time.monotonic_ns()
    seconds = (t1 - t0) / 1e9
    assert 0.3 * rate * seconds < len(got) <= rate * seconds * 1.1 + 50
    for t_recv, m in got:
        assert t0 <= m["u"] <= t_recv          # stamped by the server's monotonic clock
    us = [m["u"] for _, m in got]
    assert us == sorted(us)


def test_feed_spec_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        FeedSpec("nope")
    with pytest.raises(ValueError):
        FeedSpec("paced", rate=0)
    with pytest.raises(ValueError):
        FeedSpec("depth", events=0)


# -- feed: depth -----------------------------------------------------------------------------------

def _dict_book(snap: dict) -> tuple[dict[float, float], dict[float, float]]:
    return ({float(p): float(q) for p, q in snap["bids"]},
            {float(p): float(q) for p, q in snap["asks"]})


def _apply(book: tuple[dict, dict], d: dict) -> None:
    for side, levels in ((book[0], d["b"]), (book[1], d["a"])):
        for p, q in levels:
            if float(q) == 0:
                side.pop(float(p), None)
            else:
                side[float(p)] = float(q)


def test_depth_cycle_reference_is_the_book_across_passes() -> None:
    cyc = DepthCycle(default_spec("BTCUSDT"), events=300, seed=5)
    book = ({}, {})  # type: tuple[dict, dict]
    book = _dict_book(cyc.snapshot(5000, BASE_ID))
    for k in range(3):                              # the restore update closes the cycle
        for raw, (U, u) in zip(cyc.payloads, cyc.rel):
            d = orjson.loads(raw)
            _apply(book, d)
            uid = BASE_ID + k * cyc.length + u
            assert cyc.reference(uid) == (max(book[0]), min(book[1]))
        assert cyc.reference(BASE_ID + (k + 1) * cyc.length) == (max(book[0]), min(book[1]))
    assert cyc.reference(BASE_ID) is None


async def test_depth_feed_syncs_a_dict_book_and_matches_the_reference() -> None:
    import aiohttp
    async with Exchange(["BTCUSDT", "ETHUSDT"], feed=FeedSpec("depth", events=400)) as ex:
        url = f"{ex.venue.stream_url}/stream?streams=btcusdt@depth@100ms/ethusdt@depth"
        snap: dict[str, Any] = {}

        def past_snapshot(got: list[Any]) -> bool:       # 200 updates beyond the snapshot
            return bool(snap) and bool(got) and got[-1]["data"]["u"] > snap["lastUpdateId"] + 200

        task = asyncio.ensure_future(_collect(url, 10 * UNIT, until=past_snapshot))
        await asyncio.sleep(0.2 * UNIT)
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{ex.venue.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=5000") as r:
                snap.update(await r.json())
        got = await task
        assert ex.feed.snapshots == 1 and ex.snapshots_served == 1
        cyc = ex.feed.cycles["BTCUSDT"]
    events = [m["data"] for m in got if m["stream"] == "btcusdt@depth@100ms"]
    assert any(m["stream"] == "ethusdt@depth" for m in got)
    for a, b in zip(events, events[1:]):
        assert b["U"] == a["u"] + 1                 # ids continue across passes
    last = snap["lastUpdateId"]
    assert (last - BASE_ID) % cyc.length == 0       # a pass boundary
    book = _dict_book(snap)
    applied = 0
    for d in events:
        if d["u"] <= last:
            continue
        if not applied:
            assert d["U"] <= last + 1 <= d["u"]     # Binance's bridging rule holds
        _apply(book, d)
        applied += 1
        assert cyc.reference(d["u"]) == (max(book[0]), min(book[1]))
    assert applied > 50


async def test_lossy_depth_feed_leaves_one_gap_per_lossy_pass() -> None:
    spec = FeedSpec("depth", events=200, drop_every=2)
    async with Exchange(["BTCUSDT"], rest=False, feed=spec) as ex:
        got = await _collect(f"{ex.venue.stream_url}/ws/btcusdt@depth", 0.3 * UNIT)
        L = ex.feed.cycles["BTCUSDT"].length
    ids = [(m["U"], m["u"]) for m in got]
    gaps = [(a[1], b[0]) for a, b in zip(ids, ids[1:]) if b[0] != a[1] + 1]
    passes = (ids[-1][1] - BASE_ID) // L
    assert passes >= 4
    assert abs(len(gaps) - passes // 2) <= 1
    for prev_u, next_U in gaps:
        assert ((prev_u - BASE_ID - 1) // L) % 2 == 1       # only odd passes are lossy


async def test_lossy_depth_feed_staggers_the_symbols() -> None:
    spec = FeedSpec("depth", events=150, drop_every=4)
    async with Exchange(["BTCUSDT", "ETHUSDT"], rest=False, feed=spec) as ex:
        got = await _collect(f"{ex.venue.stream_url}/stream?streams=btcusdt@depth/ethusdt@depth",
                             0.4 * UNIT)
        lengths = {s: c.length for s, c in ex.feed.cycles.items()}
    phases: dict[str, set[int]] = {"BTCUSDT": set(), "ETHUSDT": set()}
    prev: dict[str, int] = {}
    for m in got:
        d = m["data"]
        if d["s"] in prev and d["U"] != prev[d["s"]] + 1:
            phases[d["s"]].add(((d["U"] - BASE_ID - 1) // lengths[d["s"]]) % 4)
        prev[d["s"]] = d["u"]
    assert phases == {"BTCUSDT": {3}, "ETHUSDT": {1}}      # one symbol per lossy pass


# -- harness pieces ---------------------------------------------------------------------------------

def test_percentiles_nearest_rank() -> None:
    vals = list(range(1, 1001))
    assert H.percentile(vals, 0.5) == 500
    assert H.percentile(vals, 0.99) == 990
    assert H.percentile(vals, 0.999) == 999
    assert H.percentile(vals, 1.0) == 1000
    assert H.percentile([], 0.5) != H.percentile([], 0.5)        # NaN
    s = H.latency_summary([x * 1000 for x in reversed(vals)])     # ns in, µs out
    assert (s["p50_us"], s["p99_us"], s["p999_us"], s["max_us"]) == (500, 990, 999, 1000)
    assert s["cdf_us"] == sorted(s["cdf_us"]) and len(s["cdf_us"]) == H.LATENCY_POINTS


def test_ctx_book_comparator() -> None:
    cyc = DepthCycle(default_spec("ETHUSDT"), events=50, seed=2)
    ref = H.Reference(H.Reference.from_cycles({"ETHUSDT": cyc}, BASE_ID))
    ctx = H.Ctx("ws://x", "http://x", ["ETHUSDT"], ref)
    u = BASE_ID + 3 * cyc.length + cyc.rel[10][1]          # pass 3, update 10
    bid, ask = cyc.reference(u)                             # type: ignore[misc]
    ctx.book("ETHUSDT", u, bid, ask)
    ctx.book("ETHUSDT", u, bid - 1.0, ask)                  # a wrong book
    ctx.book("ETHUSDT", u, None, None)                      # an empty one
    ctx.book("ETHUSDT", None, bid, ask)                     # no id: not comparable
    assert (ctx.checked, ctx.matched, ctx.no_id, ctx.books) == (3, 1, 1, 4)
    assert "ETHUSDT" in ctx.synced_at
    # the end check: the last callback must be at the last id sent and right there
    from bench.bench_peers import finish
    last = BASE_ID + 4 * cyc.length
    b, a = cyc.reference(last)                               # type: ignore[misc]
    res: dict[str, Any] = {"book_updates": 1, "synced_s": {"ETHUSDT": 0.5},
                           "last_book": {"ETHUSDT": [last, b, a]}}
    finish(res, ref, {"ETHUSDT": last}, ["ETHUSDT"])
    assert res["end_ok"] is True and res["sync_s"] == 0.5
    res = {"book_updates": 1, "synced_s": {}, "total_books": 5,
           "last_book": {"ETHUSDT": [last - cyc.length, b, a]}}
    finish(res, ref, {"ETHUSDT": last}, ["ETHUSDT"])
    assert res["end_ok"] is False and res["sync_s"] is None
    assert any("never synced" in e for e in res["errors"])


@pytest.mark.slow
def test_reference_from_capture_matches_fastws_book(recorded_dir: Any) -> None:
    from fastws import OrderBook, Parser
    from fastws.captures import RecordKind, read_capture
    paths = [str(recorded_dir / f) for f in ("hftbacktest_spot_btcusdt_20240808_part1.gz",
                                             "hftbacktest_spot_btcusdt_20240809_part2.gz")]
    ref = H.Reference(H.Reference.from_capture(paths))
    book = OrderBook("BTCUSDT", tick_size=0.01)
    parser = Parser("spot")
    events = []
    for rec in read_capture(paths):
        if rec.kind is RecordKind.SNAPSHOT:
            s = orjson.loads(rec.payload)
            book.apply_snapshot(s["lastUpdateId"], s["bids"], s["asks"])
        elif rec.kind is RecordKind.MESSAGE:
            ev = parser.parse(rec.payload)
            if type(ev).__name__ == "DepthUpdate":
                events.append(ev)
    n = 0
    for ev in events:
        if ev.final_update_id <= book.update_id:
            continue
        book.apply(ev)
        assert ref.lookup("BTCUSDT", ev.final_update_id) == (book.best_bid()[0],
                                                             book.best_ask()[0])
        n += 1
    assert n > 6000 and ref.last["BTCUSDT"] == book.update_id


# -- report ----------------------------------------------------------------------------------------

def _run(scen: str, client: str, **kw: Any) -> dict[str, Any]:
    base = {"scenario": scen, "client": client, "errors": [], "rss_end_mb": 50.0}
    base.update(kw)
    return base


def test_report_tables_ratios_and_plots(tmp_path: Any) -> None:
    lat = H.latency_summary([50_000 + i for i in range(1000)])
    runs = [
        _run(R.TICKERS, "fastws", ticks=2_000_000, window_s=1.0, cpu_s=0.5, round=0),
        _run(R.TICKERS, "fastws", ticks=1_000_000, window_s=1.0, cpu_s=0.25, round=1),
        _run(R.TICKERS, "slowlib", ticks=100_000, window_s=1.0, cpu_s=1.0, round=1),
        _run(R.LAT1K, "fastws", ticks=1000, window_s=1.0, cpu_s=0.01, latency=lat),
        _run(R.DEPTH, "fastws", book_updates=500_000, window_s=1.0, cpu_s=1.0, checked=10,
             matched=10, sync_s=0.3, snapshots=4, end_ok=True),
        _run(R.DEPTH, "slowlib", book_updates=5_000, window_s=1.0, cpu_s=1.0, checked=10,
             matched=9, sync_s=None, snapshots=40, end_ok=False,
             errors=["book never synced: BTCUSDT"]),
    ]
    summary = R.summarize(runs)
    assert summary[R.TICKERS]["fastws"]["rate"] == 1_500_000          # median of two rounds
    assert summary[R.TICKERS]["fastws"]["cpu_ns"] == 250
    clients = [{"name": "fastws", "package": "fastws", "pointed": "venue="},
               {"name": "slowlib", "package": "slow", "pointed": "a | patch"},
               {"name": "absent", "package": "gone", "pointed": "", "unavailable": "no module"}]
    md = R.markdown(summary, clients, {"rounds": 2, "seconds": 1.0})
    row = next(line for line in md.splitlines() if line.startswith("| **slowlib**"))
    # ratios against fastws in the same round (round 1: 1 M/s, 250 ns), not across rounds
    assert "100.0 k (10.0x)" in row and "10.0 µs (40.0x)" in row
    assert "never" in row and "90.00 %, end 0/1" in row
    assert "absent" in md and "not run: no module" in md
    assert "book never synced: BTCUSDT" in md and "a / patch" in md
    assert "| fastws | 50.5 |" in md                                   # latency p50, µs
    paths = R.plots(summary, ["fastws", "slowlib"], str(tmp_path), "test machine")
    for name in ("throughput.png", "cpu.png", "latency_cdf.png"):
        p = tmp_path / name
        assert str(p) in paths and p.read_bytes()[:4] == b"\x89PNG"


# -- the real thing, briefly -------------------------------------------------------------------------

@pytest.mark.slow
def test_bench_peers_quick_run_writes_table_and_plots(tmp_path: Any) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, str(REPO_ROOT / "bench" / "bench_peers.py"), "--quick", "--out",
           str(out), "--clients", "fastws,picows+orjson", "--seconds", "0.5", "--no-hook",
           "--scenarios", "tickers,latency-1k,depth"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600 * UNIT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "results.md").read_text()
    assert "| **fastws** |" in md and "| **picows+orjson** |" in md
    for name in ("throughput.png", "cpu.png", "latency_cdf.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "results.json").read_text())
    fast = data["summary"]["tickers"]["fastws"]
    assert fast["rate"] > 0 and fast["cpu_ns"] > 0 and not fast["errors"]
    depth = data["summary"]["depth"]["fastws"]
    # every compared callback was right; whether fastws's book also caught up with the last
    # update within the drain time depends on the machine's load, so only its presence
    assert depth["correct"] == 1.0 and depth["end_ok"][1] == 1
    assert data["summary"]["latency-1k"]["fastws"]["latency"]["p50_us"] > 0
