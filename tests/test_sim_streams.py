"""Simulator market streams checked with a client that is not fastws (``websockets``).

Payload keys and JSON types against SPEC §2.5 / §4.3 and against the documented samples, update
id continuity, and the SPEC §3 book sync against REST and WS API snapshots.
"""
from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from fastws.testing import ReferenceBook, fast_limits
from tests.sim_support import as_decimal_book, drain, get_json, recv
from tests.utils import UNIT

S, I, B, T = "S", "I", "B", "T"

SPOT_FIELDS = {
    "trade": {"e": T, "E": I, "s": T, "t": I, "p": S, "q": S, "T": I, "m": B, "M": B},
    "aggTrade": {"e": T, "E": I, "s": T, "a": I, "p": S, "q": S, "f": I, "l": I, "T": I,
                 "m": B, "M": B},
    "blockTrade": {"e": T, "E": I, "s": T, "t": I, "p": S, "q": S, "T": I, "m": B},
    "kline_1m": {"e": T, "E": I, "s": T, "k": {"t": I, "T": I, "s": T, "i": T, "f": I, "L": I,
                                               "o": S, "c": S, "h": S, "l": S, "v": S, "n": I,
                                               "x": B, "q": S, "V": S, "Q": S, "B": S}},
    "miniTicker": {"e": T, "E": I, "s": T, "c": S, "o": S, "h": S, "l": S, "v": S, "q": S},
    "ticker": {"e": T, "E": I, "s": T, "p": S, "P": S, "w": S, "x": S, "c": S, "Q": S, "b": S,
               "B": S, "a": S, "A": S, "o": S, "h": S, "l": S, "v": S, "q": S, "O": I, "C": I,
               "F": I, "L": I, "n": I},
    "ticker_1h": {"e": T, "E": I, "s": T, "p": S, "P": S, "o": S, "h": S, "l": S, "c": S,
                  "w": S, "v": S, "q": S, "O": I, "C": I, "F": I, "L": I, "n": I},
    "bookTicker": {"u": I, "s": T, "b": S, "B": S, "a": S, "A": S},
    "avgPrice": {"e": T, "E": I, "s": T, "i": T, "w": S, "T": I},
    "referencePrice": {"e": T, "s": T, "r": S, "t": I},
    "depth5": {"lastUpdateId": I, "bids": "L", "asks": "L"},
    "depth@100ms": {"e": T, "E": I, "s": T, "U": I, "u": I, "b": "L", "a": "L"},
}
SPOT_SAMPLES = {"trade": "spot_stream_trade.json", "aggTrade": "spot_stream_aggTrade.json",
                "blockTrade": "spot_stream_blockTrade.json", "kline_1m": "spot_stream_kline.json",
                "miniTicker": "spot_stream_miniTicker.json", "ticker": "spot_stream_ticker.json",
                "ticker_1h": "spot_stream_ticker_1h.json",
                "bookTicker": "spot_stream_bookTicker.json",
                "avgPrice": "spot_stream_avgPrice.json",
                "referencePrice": "spot_stream_referencePrice.json",
                "depth5": "spot_stream_depth_partial.json",
                "depth@100ms": "spot_stream_depthUpdate.json"}

USDM_FIELDS = {
    "aggTrade": {"e": T, "E": I, "s": T, "a": I, "p": S, "q": S, "f": I, "l": I, "T": I,
                 "m": B},
    "markPrice@1s": {"e": T, "E": I, "s": T, "p": S, "i": S, "P": S, "r": S, "T": I},
    "kline_1m": SPOT_FIELDS["kline_1m"],
    "miniTicker": SPOT_FIELDS["miniTicker"],
    "ticker": {"e": T, "E": I, "s": T, "p": S, "P": S, "w": S, "c": S, "Q": S, "o": S, "h": S,
               "l": S, "v": S, "q": S, "O": I, "C": I, "F": I, "L": I, "n": I},
    "bookTicker": {"e": T, "u": I, "E": I, "T": I, "s": T, "b": S, "B": S, "a": S, "A": S},
    "depth@100ms": {"e": T, "E": I, "T": I, "s": T, "U": I, "u": I, "pu": I, "b": "L",
                    "a": "L"},
    "depth5@100ms": {"e": T, "E": I, "T": I, "s": T, "U": I, "u": I, "pu": I, "b": "L",
                     "a": "L"},
    "btcusdt_perpetual@continuousKline_1m": {
        "e": T, "E": I, "ps": T, "ct": T, "k": {"t": I, "T": I, "i": T, "f": I, "L": I, "o": S,
                                               "c": S, "h": S, "l": S, "v": S, "n": I, "x": B,
                                               "q": S, "V": S, "Q": S, "B": S}},
    "forceOrder": {"e": T, "E": I, "o": {"s": T, "S": T, "o": T, "f": T, "q": S, "p": S,
                                         "ap": S, "X": T, "l": S, "z": S, "T": I}},
}
USDM_SAMPLES = {"aggTrade": "usdm_stream_aggTrade.json",
                "markPrice@1s": "usdm_stream_markPriceUpdate.json",
                "kline_1m": "usdm_stream_kline.json", "miniTicker": "usdm_stream_miniTicker.json",
                "ticker": "usdm_stream_ticker.json", "bookTicker": "usdm_stream_bookTicker.json",
                "depth@100ms": "usdm_stream_depthUpdate.json",
                "depth5@100ms": "usdm_stream_depth_partial.json",
                "btcusdt_perpetual@continuousKline_1m": "usdm_stream_continuous_kline.json",
                "forceOrder": "usdm_stream_forceOrder.json"}


def full_name(k: str) -> str:
    return k if k.startswith("btcusdt") else f"btcusdt@{k}"


def check_types(payload: dict, fields: dict, where: str) -> None:
    assert set(payload) == set(fields), f"{where}: keys {sorted(payload)} != {sorted(fields)}"
    for k, t in fields.items():
        v = payload[k]
        if isinstance(t, dict):
            check_types(v, t, f"{where}.{k}")
        elif t == S:
            assert isinstance(v, str), f"{where}.{k} = {v!r} is not a string decimal"
            Decimal(v)
        elif t == I:
            assert isinstance(v, int) and not isinstance(v, bool), f"{where}.{k} = {v!r}"
        elif t == B:
            assert isinstance(v, bool), f"{where}.{k} = {v!r}"
        elif t == T:
            assert isinstance(v, str), f"{where}.{k} = {v!r}"
        elif t == "L":
            assert isinstance(v, list), f"{where}.{k}"
            for lvl in v:
                assert len(lvl) == 2 and all(isinstance(x, str) for x in lvl), lvl
                Decimal(lvl[0]), Decimal(lvl[1])


def sample_types(sample: dict) -> dict:
    def kind(v):
        if isinstance(v, bool):
            return B
        if isinstance(v, int):
            return I
        if isinstance(v, dict):
            return {k: kind(x) for k, x in v.items()}
        if isinstance(v, list):
            return "L"
        return "str"
    return {k: kind(v) for k, v in sample.items()}


def same_shape_as_sample(payload: dict, sample: dict, where: str) -> None:
    want = sample_types(sample)
    assert set(payload) == set(want), f"{where}: {sorted(payload)} vs sample {sorted(want)}"
    for k, t in want.items():
        v = payload[k]
        if t == "str":
            # the sample's referencePrice "r" may be a string or null
            assert isinstance(v, str) or (v is None and sample[k] is None), (where, k, v)
        elif isinstance(t, dict):
            same_shape_as_sample(v, sample[k], f"{where}.{k}")
        elif t == "L":
            assert isinstance(v, list)
        elif t == B:
            assert isinstance(v, bool)
        else:
            assert isinstance(v, int) and not isinstance(v, bool), (where, k, v)


async def _collect_streams(ex: Exchange, url: str, wanted: set, advance_ms: int) -> dict:
    seen: dict = {}
    async with websockets.connect(url, max_size=None) as ws:
        await ex.wait_connections(1, 5 * UNIT)
        for _ in range(advance_ms // 500):
            await ex.advance(500)
            for msg in await drain(ws):
                seen.setdefault(msg["stream"], msg["data"])
            if wanted <= set(seen):
                break
    return seen


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_payload_fields_and_types(market, samples_dir):
    fields = SPOT_FIELDS if market == "spot" else USDM_FIELDS
    samples = SPOT_SAMPLES if market == "spot" else USDM_SAMPLES
    async with Exchange(["BTCUSDT"], market=market, clock=ManualClock(), rate=200,
                        limits=fast_limits(market, ping_interval=30,
                                           max_incoming_per_second=1000)) as ex:
        names = [full_name(k) for k in fields]
        by_route: dict = {}
        for n in names:
            by_route.setdefault(ex.venue.route(n), []).append(n)
        seen: dict = {}
        for streams in by_route.values():
            url = ex.venue.combined_stream_url(streams)
            seen.update(await _collect_streams(ex, url, set(streams), 90_000))
    for k, f in fields.items():
        name = full_name(k)
        assert name in seen, f"no {name} event"
        check_types(seen[name], f, name)
        sample = json.loads((samples_dir / samples[k]).read_text())
        same_shape_as_sample(seen[name], sample, name)
        if "s" in seen[name]:
            assert seen[name]["s"] == "BTCUSDT"


async def test_raw_stream_and_all_market_arrays():
    async with Exchange(["BTCUSDT", "ETHUSDT"], clock=ManualClock(), rate=100,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=1000)) as ex:
        async with websockets.connect(ex.venue.raw_stream_url(["!miniTicker@arr"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(1000)
            msgs = await drain(ws)
        assert msgs and isinstance(msgs[0], list)
        assert {d["s"] for d in msgs[0]} == {"BTCUSDT", "ETHUSDT"}
        assert all(d["e"] == "24hrMiniTicker" for d in msgs[0])
        # spot !ticker@arr was retired on 2026-03-26: subscribed, but nothing comes
        async with websockets.connect(ex.venue.raw_stream_url(["!ticker@arr"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(3000)
            assert await drain(ws) == []


async def test_kline_closes_and_trade_ids_are_gap_free():
    async with Exchange(["ETHUSDT"], clock=ManualClock(), rate=100,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=1000)) as ex:
        url = ex.venue.combined_stream_url(["ethusdt@trade", "ethusdt@aggTrade",
                                            "ethusdt@kline_1s"])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            msgs = []
            for _ in range(6):
                await ex.advance(1000)
                msgs += await drain(ws)
    trades = [m["data"] for m in msgs if m["stream"] == "ethusdt@trade"]
    aggs = [m["data"] for m in msgs if m["stream"] == "ethusdt@aggTrade"]
    klines = [m["data"]["k"] for m in msgs if m["stream"] == "ethusdt@kline_1s"]
    assert len(trades) > 10
    ids = [t["t"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert [a["a"] for a in aggs] == list(range(aggs[0]["a"], aggs[0]["a"] + len(aggs)))
    assert aggs[0]["f"] == ids[0] and aggs[-1]["l"] == ids[-1]
    closed = [k for k in klines if k["x"]]
    assert closed, "a 1s kline must close within 6 s"
    for k in closed:
        assert k["T"] == k["t"] + 999
        inside = [t for t in trades if k["t"] <= t["T"] <= k["T"]]
        if inside:
            assert k["n"] == len(inside)
            assert k["f"] == inside[0]["t"] and k["L"] == inside[-1]["t"]
            assert Decimal(k["v"]) == sum(Decimal(t["q"]) for t in inside)
            assert Decimal(k["h"]) == max(Decimal(t["p"]) for t in inside)


async def _sync(ex: Exchange, market: str, snapshot_via: str) -> None:
    stream = "btcusdt@depth@100ms"
    url = ex.venue.raw_stream_url([stream])
    book = ReferenceBook("BTCUSDT", market)
    async with websockets.connect(url, max_size=None) as ws:
        await ex.wait_connections(1, 5 * UNIT)
        await ex.advance(500)
        buffered = await drain(ws)
        assert buffered, "no depth event in 500 ms"
        if snapshot_via == "rest":
            status, headers, snap = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT",
                                                   limit=1000)
            assert status == 200
            assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= (50 if market == "spot" else 20)
        else:
            async with websockets.connect(ex.venue.ws_api_url) as api:
                await api.send(orjson.dumps({"id": "snap1", "method": "depth", "params": {
                    "symbol": "BTCUSDT", "limit": 1000}}).decode())
                resp = await recv(api)
                assert resp["id"] == "snap1" and resp["status"] == 200
                snap = resp["result"]
        await ex.advance(1000)
        buffered += await drain(ws)
    if market == "spot":
        assert snap["lastUpdateId"] >= buffered[0]["U"]
    else:
        assert {"E", "T"} <= set(snap)
    book.apply_snapshot(snap)
    applied = sum(book.apply(ev) for ev in buffered)
    assert applied > 0
    prev = None
    for ev in buffered:
        if prev is not None:
            if market == "spot":
                assert ev["U"] == prev["u"] + 1
            else:
                assert ev["pu"] == prev["u"]
        prev = ev
    assert book.update_id == ex.update_id("BTCUSDT")
    bids, asks = ex.book("BTCUSDT")
    assert book.top(10_000) == (as_decimal_book(bids), as_decimal_book(asks))


@pytest.mark.parametrize("market", ["spot", "usdm"])
@pytest.mark.parametrize("via", ["rest", "wsapi"])
async def test_book_sync_against_snapshot(market, via):
    # The clock starts on a 100 ms boundary, so that after advance() every change has been
    # pushed and the client's book must equal the simulator's.
    async with Exchange(["BTCUSDT"], market=market, clock=ManualClock(1_700_000_000_000),
                        rate=300, limits=fast_limits(market, ping_interval=30,
                                                     max_incoming_per_second=1000)) as ex:
        await _sync(ex, market, via)


async def test_usdm_updates_skip_ids_but_chain_pu():
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(), rate=300,
                        limits=fast_limits("usdm", ping_interval=30,
                                           max_incoming_per_second=1000)) as ex:
        async with websockets.connect(ex.venue.raw_stream_url(["btcusdt@depth@0ms"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(2000)
            evs = await drain(ws)
    assert len(evs) > 50
    assert all(b["pu"] == a["u"] for a, b in zip(evs, evs[1:]))
    assert any(b["U"] != a["u"] + 1 for a, b in zip(evs, evs[1:]))
    assert all(e["T"] <= e["E"] for e in evs)


async def test_usdm_routes_withhold_streams_on_the_wrong_route():
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(), rate=300,
                        limits=fast_limits("usdm", ping_interval=30,
                                           max_incoming_per_second=1000)) as ex:
        base = ex.venue.stream_url
        # depth belongs to /public: asked on /market it delivers nothing; aggTrade the reverse
        async with websockets.connect(f"{base}/market/ws/btcusdt@depth@100ms") as wrong, \
                websockets.connect(f"{base}/public/ws/btcusdt@depth@100ms") as right, \
                websockets.connect(f"{base}/ws/btcusdt@depth@100ms") as legacy:
            await ex.wait_connections(3, 5 * UNIT)
            await ex.advance(1000)
            assert await drain(wrong) == []
            assert await drain(legacy) == []
            assert len(await drain(right)) >= 5
            # the control channel still answers on the wrong route, as on Binance
            await wrong.send('{"method":"LIST_SUBSCRIPTIONS","id":7}')
            assert await recv(wrong) == {"result": ["btcusdt@depth@100ms"], "id": 7}


async def test_book_ticker_follows_the_book():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rate=200,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=1000)) as ex:
        async with websockets.connect(ex.venue.raw_stream_url(["btcusdt@bookTicker"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(2000)
            ticks = await drain(ws)
        m = ex.market_of("BTCUSDT")
        last = ticks[-1]
        assert last["u"] <= m.update_id
        assert Decimal(last["b"]) == m.price_decimal(m.best_bid)
        assert Decimal(last["a"]) == m.price_decimal(m.best_ask)
        assert all(Decimal(t["b"]) < Decimal(t["a"]) for t in ticks)
        assert [t["u"] for t in ticks] == sorted(t["u"] for t in ticks)


async def test_same_seed_same_market():
    async def run():
        async with Exchange(["BTCUSDT"], clock=ManualClock(1_700_000_000_000), seed=7,
                            rest=False) as ex:
            await ex.advance(3000)
            return ex.book("BTCUSDT", 20), ex.update_id("BTCUSDT")
    assert await run() == await run()


async def test_time_unit_microsecond():
    async with Exchange(["BTCUSDT"], clock=ManualClock(T0 := 1_700_000_000_000), rate=200,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=1000)) as ex:
        names = ["btcusdt@trade", "btcusdt@kline_1s", "btcusdt@ticker", "btcusdt@depth@100ms"]
        url = ex.venue.combined_stream_url(names)
        async with websockets.connect(url + "&timeUnit=MICROSECOND") as us, \
                websockets.connect(url) as ms:
            await ex.wait_connections(2, 5 * UNIT)
            await ex.advance(2000)
            a, b = await drain(us), await drain(ms)
        assert len(a) == len(b) and a
        for x, y in zip(a, b):
            dx, dy = x["data"], y["data"]
            assert dx["E"] == dy["E"] * 1000 and dx["E"] > T0 * 1000
            if dx["e"] == "trade":
                assert dx["T"] == dy["T"] * 1000 and dx["t"] == dy["t"]      # ids unchanged
            if dx["e"] == "kline":
                assert dx["k"]["t"] == dy["k"]["t"] * 1000 and dx["k"]["f"] == dy["k"]["f"]
            if dx["e"] == "24hrTicker":
                assert (dx["O"], dx["C"]) == (dy["O"] * 1000, dy["C"] * 1000)
            if dx["e"] == "depthUpdate":
                assert dx["U"] == dy["U"]
        async with websockets.connect(ex.venue.ws_api_url + "?timeUnit=microsecond") as api:
            await api.send('{"id":1,"method":"time"}')
            assert (await recv(api))["result"]["serverTime"] == ex.now_ms() * 1000
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(url + "&timeUnit=NANOSECOND"):
                pass
        assert err.value.response.status_code == 400
        assert orjson.loads(err.value.response.body)["code"] == -1194
