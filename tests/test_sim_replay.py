"""Replay of the recorded captures: bytes as recorded, snapshots served, books rebuilt, pace."""
from __future__ import annotations

import asyncio
import gzip

import orjson
import pytest
import websockets

from fastws.sim import Exchange
from fastws.testing import ReferenceBook
from tests.sim_support import get_json
from tests.utils import UNIT


def _ws_lines(path):
    with gzip.open(path, "rb") as f:
        lines = [ln.rstrip(b"\n") for ln in f if ln.strip()]
    url = lines[0].split(b" <-> ")[0].decode()
    return url, [ln.split(b": ", 1)[1] for ln in lines[1:]]


async def _receive_all(ws, idle=0.3):
    out = []
    try:
        while True:
            out.append(await asyncio.wait_for(ws.recv(), idle * UNIT))
    except asyncio.TimeoutError:
        return out


@pytest.mark.parametrize("market,stem", [("usdm", "cryptofeed_usdm_4symbols_20210722"),
                                         ("spot", "cryptofeed_spot_4symbols_20211012")])
async def test_replay_bytes_snapshots_and_books(recorded_dir, market, stem):
    ws_file, http_file = recorded_dir / f"{stem}_ws.txt.gz", recorded_dir / f"{stem}_http.txt.gz"
    url, recorded = _ws_lines(ws_file)
    streams = url.split("streams=")[1].split("/")
    async with Exchange(replay=[ws_file, http_file], replay_speed=0,
                        replay_start="manual") as ex:
        assert ex.market == market
        got = []
        if market == "usdm":
            # USD-M streams live on two routes (SPEC §4.1): one connection per route
            routes: dict = {}
            for s in streams:
                routes.setdefault(ex.venue.route(s), []).append(s)
            conns = [await websockets.connect(ex.venue.combined_stream_url(ss), max_queue=None)
                     for ss in routes.values()]
        else:
            conns = [await websockets.connect(ex.venue.combined_stream_url(streams),
                                              max_queue=None)]
        await ex.wait_connections(len(conns), 5 * UNIT)
        ex.replay.play()
        for c in conns:
            got += [m.encode() for m in await _receive_all(c)]
            await c.close()
        await asyncio.wait_for(ex.replay.done.wait(), 5 * UNIT)
        books = {}
        for sym in ex.symbols:
            st, _, snap = await get_json(ex.venue.rest_depth_url, symbol=sym, limit=1000)
            assert st == 200
            books[sym] = ReferenceBook(sym, market)
            books[sym].apply_snapshot(snap)
    # every recorded message came out byte for byte (in recorded order on each connection)
    if market == "usdm":
        assert sorted(got) == sorted(recorded)
    else:
        assert got == recorded
    applied = 0
    for raw in recorded:
        msg = orjson.loads(raw)
        if "@depth" in msg["stream"]:
            sym = msg["data"]["s"]
            applied += books[sym].apply(msg["data"])
    assert applied > 0


@pytest.mark.slow
async def test_replay_hftbacktest_spot_session_rebuilds_the_book(recorded_dir):
    files = [recorded_dir / "hftbacktest_spot_btcusdt_20240808_part1.gz",
             recorded_dir / "hftbacktest_spot_btcusdt_20240809_part2.gz"]
    async with Exchange(replay=files, replay_speed=0) as ex:
        assert (ex.market, ex.symbols) == ("spot", ["BTCUSDT"])
        book = ReferenceBook("BTCUSDT", "spot")
        depth = []
        async with websockets.connect(ex.venue.combined_stream_url(["btcusdt@depth@100ms"]),
                                      max_queue=None) as ws:
            depth = [orjson.loads(m)["data"] for m in await _receive_all(ws)]
        _, _, snap = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT", limit=1000)
    assert len(depth) == 6495
    assert snap["lastUpdateId"] == 50093239218 and len(snap["bids"]) == 1000
    book.apply_snapshot(snap)
    assert sum(book.apply(ev) for ev in depth) == 6493      # two events precede the snapshot


async def test_replay_pace(recorded_dir):
    # the spot capture spans 30 s; at 60x it must take about half a second, not zero
    files = [recorded_dir / "cryptofeed_spot_4symbols_20211012_ws.txt.gz"]
    async with Exchange(replay=files, replay_speed=60, rest=False) as ex:
        loop = asyncio.get_running_loop()
        async with websockets.connect(ex.venue.combined_stream_url(["nknusdt@depth@100ms"]),
                                      max_queue=None):
            t0 = loop.time()
            await asyncio.wait_for(ex.replay.done.wait(), 10 * UNIT)
            elapsed = loop.time() - t0
    assert elapsed >= 0.4


async def test_replay_loop_plays_the_capture_again(recorded_dir):
    """``replay_loop=3``: the same recorded messages come out three times, byte for byte."""
    ws_file = recorded_dir / "cryptofeed_spot_4symbols_20211012_ws.txt.gz"
    url, recorded = _ws_lines(ws_file)
    streams = url.split("streams=")[1].split("/")
    async with Exchange(replay=[ws_file], replay_speed=0, replay_start="manual",
                        replay_loop=3, rest=False) as ex:
        async with websockets.connect(ex.venue.combined_stream_url(streams),
                                      max_queue=None) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.replay.play()
            await asyncio.wait_for(ex.replay.done.wait(), 10 * UNIT)
            got = [m.encode() for m in await _receive_all(ws)]
        assert ex.replay.passes == 3
    assert got == recorded * 3


def test_replay_loop_flag_of_the_cli():
    from fastws.sim.cli import build_parser
    p = build_parser()
    assert p.parse_args(["--replay-loop"]).replay_loop == 0          # forever
    assert p.parse_args(["--replay-loop", "4"]).replay_loop == 4
    assert p.parse_args([]).replay_loop == 1
