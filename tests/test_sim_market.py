"""The synthetic market on its own (no I/O): book invariants, exact decimals, ids, klines."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.sim.market import (SymbolMarket, SymbolSpec, default_spec, format_units,
                               kline_end, kline_start)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 10_000), market=st.sampled_from(["spot", "usdm"]),
       symbol=st.sampled_from(["BTCUSDT", "XRPUSDT", "BNBBTC", "ZZZUSDT"]),
       process=st.sampled_from(["flat", "regimes"]))
def test_book_invariants_step_by_step(seed, market, symbol, process):
    m = SymbolMarket(default_spec(symbol, market), market, seed=seed, rate=100, levels=60,
                     process=process)
    top = (m.best_bid, m.bids[m.best_bid], m.best_ask, m.asks[m.best_ask])
    uid = m.update_id
    tid = m.trade_id
    ref = {True: dict(m.bids), False: dict(m.asks)}      # rebuilt from the changes alone
    for _ in range(1500):
        res = m.step()
        assert m.best_bid == max(m.bids) and m.best_ask == min(m.asks)
        assert m.best_bid < m.best_ask, "the book never crosses"
        assert all(q > 0 for q in m.bids.values()) and all(q > 0 for q in m.asks.values())
        new_top = (m.best_bid, m.bids[m.best_bid], m.best_ask, m.asks[m.best_ask])
        if new_top != top:
            assert res.top_changed
        top = new_top
        for is_bid, tick, lots, u in res.changes:
            assert u > uid
            if market == "spot":
                assert u == uid + 1
            uid = u
            if lots:
                ref[is_bid][tick] = lots
            else:
                del ref[is_bid][tick]
        assert ref[True] == m.bids and ref[False] == m.asks
        for f in res.fills:
            assert f.trade_id == tid + 1
            tid = f.trade_id
        assert uid == m.update_id


def test_prices_and_quantities_are_exact_decimals():
    spec = SymbolSpec("ABCUSDT", "ABC", "USDT", tick_size="0.0001", step_size="0.1",
                      price="1.2345")
    spot = SymbolMarket(spec, "spot")
    usdm = SymbolMarket(spec, "usdm")
    assert spot.px(12345) == "1.23450000" and usdm.px(12345) == "1.2345"
    assert spot.qty(7) == "0.70000000" and usdm.qty(7) == "0.7"
    for m in (spot, usdm):
        for t, q in list(m.bids.items())[:50]:
            assert Decimal(m.px(t)) == t * Decimal("0.0001")
            assert Decimal(m.qty(q)) == q * Decimal("0.1")
    assert format_units(-5, 2) == "-0.05" and format_units(12, 0) == "12"


def test_default_specs_are_realistic():
    btc = default_spec("btcusdt")
    assert (btc.symbol, btc.base_asset, btc.quote_asset) == ("BTCUSDT", "BTC", "USDT")
    assert (btc.tick_size, btc.step_size) == ("0.01", "0.00001")
    assert default_spec("BTCUSDT", "usdm").tick_size == "0.10"
    assert default_spec("BNBBTC").quote_asset == "BTC"


def test_same_seed_same_market_different_seed_different_market():
    a, b, c = (SymbolMarket(default_spec("ETHUSDT"), seed=s) for s in (5, 5, 6))
    for _ in range(500):
        a.step(), b.step(), c.step()
    assert a.bids == b.bids and a.update_id == b.update_id
    assert a.bids != c.bids


@pytest.mark.parametrize("interval,offset", [("1m", 0), ("1h", 0), ("1d", 8 * 3_600_000),
                                             ("1w", 0), ("1M", 0), ("3d", 0)])
def test_kline_boundaries(interval, offset):
    t = 1_700_000_123_456
    start = kline_start(t, interval, offset)
    end = kline_end(start, interval, offset)
    assert start <= t <= end
    assert kline_start(end + 1, interval, offset) == end + 1     # the next kline opens there
    d = dt.datetime.fromtimestamp((start + offset) / 1000, dt.timezone.utc)
    if interval == "1w":
        assert d.weekday() == 0 and (d.hour, d.minute) == (0, 0)
    if interval == "1M":
        assert (d.day, d.hour) == (1, 0)


def test_rolling_window_statistics_follow_the_trades():
    m = SymbolMarket(default_spec("BTCUSDT"), seed=3, start_ms=1_700_000_000_000, rate=200,
                     history=False)
    fills = []
    while m.time < 1_700_000_000_000 + 180_000:
        fills += m.step().fills
    s = m.window_stats(86_400_000, m.time)
    assert s["n"] == len(fills) and s["vol"] == sum(f.lots for f in fills)
    assert s["first"] == fills[0].trade_id and s["last"] == fills[-1].trade_id
    assert s["high"] == max(f.price for f in fills) and s["low"] == min(f.price for f in fills)
    assert s["open"] == fills[0].price and s["close"] == fills[-1].price
    w = m.window_stats(60_000, m.time)                 # opens on a minute boundary
    assert w["open_time"] % 60_000 == 0 and 0 < w["n"] < s["n"]


# -- the price process: a market worth watching ------------------------------------------------

from fastws.sim.market import PriceProcess  # noqa: E402

T0 = 1_700_000_000_000


def _run(m, seconds):
    fills = []
    while m.time < T0 + seconds * 1000:
        fills += m.step().fills
    return fills


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"])
def test_the_price_moves_through_regimes_and_the_book_follows(symbol):
    m = SymbolMarket(default_spec(symbol), seed=1, start_ms=T0, rate=80, process="regimes")
    start = m.mid_tick()
    mids = []
    while m.time < T0 + 120_000:
        m.step()
        assert m.best_bid < m.best_ask
        mids.append(m.mid_tick())
    assert len(set(m.process.regimes_seen)) >= 2, m.process.regimes_seen
    # it moves: more than 0.05 % from low to high within two minutes, never more than 15 %
    assert (max(mids) - min(mids)) / start > 0.0005
    assert abs(mids[-1] / start - 1) < 0.15
    # the book chases the fair price: the mid stays within 0.1 % of it
    assert abs(m.mid_tick() / m.fair - 1) < 0.001
    # and keeps depth on both sides
    assert len(m.bids) > 20 and len(m.asks) > 20


def test_volume_bursts_raise_the_activity_and_lean_to_one_side():
    p = PriceProcess(6_000_000, seed=4, start_ms=T0)
    seen = []
    for t in range(T0, T0 + 120_000, 100):
        p.advance(t)
        seen.append((p.activity, p.bias))
    bursts = [a for a, b in seen if a > 1]
    assert bursts and all(3 <= a <= 6 for a in bursts)
    assert all(0.3 <= abs(b) <= 0.45 for a, b in seen if a > 1)
    assert sum(1 for a, _ in seen if a == 1.0) > len(seen) / 2, "bursts are the exception"


def test_same_seed_same_path():
    a = SymbolMarket(default_spec("BTCUSDT"), seed=9, start_ms=T0, process="regimes")
    b = SymbolMarket(default_spec("BTCUSDT"), seed=9, start_ms=T0, process="regimes")
    fa, fb = _run(a, 20), _run(b, 20)
    assert [(f.price, f.lots) for f in fa] == [(f.price, f.lots) for f in fb]


def test_24h_statistics_come_with_a_day_of_history():
    m = SymbolMarket(default_spec("BTCUSDT"), seed=2, start_ms=T0, rate=80, process="regimes",
                     history=True)
    first_live_id = m.trade_id + 1
    s = m.window_stats(86_400_000, T0)
    assert s["n"] > 100_000 and s["vol"] > 0 and s["qvol"] > 0
    change = (s["close"] - s["prev_close"]) / s["prev_close"]
    assert 0 < abs(change) < 0.2, change                 # a day's change: not zero, not absurd
    assert s["low"] <= min(s["open"], s["close"]) <= max(s["open"], s["close"]) <= s["high"]
    assert s["close"] == m.last_price                    # the history ends where the book is
    assert s["last"] == first_live_id - 1 and s["first"] < s["last"]
    fills = _run(m, 30)
    after = m.window_stats(86_400_000, m.time)
    assert fills[0].trade_id == first_live_id
    assert after["close"] == fills[-1].price and after["last"] == fills[-1].trade_id
    assert after["vol"] > s["vol"] - m.buckets[0].vol  # the live trades are counted in


def test_the_default_is_the_old_flat_market():
    m = SymbolMarket(default_spec("BTCUSDT"), seed=3, start_ms=T0)
    start = m.mid_tick()
    _run(m, 60)
    assert m.process is None and abs(m.mid_tick() / start - 1) < 0.0005
    with pytest.raises(ValueError):
        SymbolMarket(default_spec("BTCUSDT"), process="wild")


def test_short_signal_windows_fire_on_the_simulated_market():
    # offline, simulated time: the demo's signal engines fed by the simulator's trades
    from fastws.live import short_engine
    fired = 0
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"):
        m = SymbolMarket(default_spec(symbol), seed=1, start_ms=T0, rate=80, process="regimes")
        eng = short_engine(symbol)
        next_eval = T0 + 1000
        while m.time < T0 + 20_000:
            for f in m.step().fills:
                eng.on_trade(f.time, float(m.price_decimal(f.price)), float(m.qty_decimal(f.lots)),
                             f.buyer_is_maker)
            if m.time >= next_eval:
                next_eval += 1000
                fired += eng.evaluate(m.time) is not None
    assert fired >= 3, "a 20 s demo on the default market shows signals"


@pytest.mark.parametrize("bad", ["BTC-USDT", "btc/usdt", "BTC USDT", "", "X"])
def test_the_simulator_invents_no_impossible_symbol(bad):
    with pytest.raises(ValueError, match="not a Binance symbol"):
        default_spec(bad)


def test_liven_a_running_market_adds_the_day_before_it():
    m = SymbolMarket(default_spec("ETHUSDT"), seed=4, start_ms=T0, rate=80)
    first_live = m.trade_id + 1
    start_price = m.last_price
    fills = _run(m, 30)                         # flat so far: the statistics are the live trades
    assert m.window_stats(86_400_000, m.time)["n"] == len(fills)
    m.liven()
    m.liven()                                   # idempotent
    s = m.window_stats(86_400_000, m.time)
    assert s["n"] > len(fills) + 100_000 and s["last"] == fills[-1].trade_id
    hist_last = [b for b in m.buckets if b.minute < T0 // 60_000][-1]
    assert hist_last.close == start_price and hist_last.last == first_live - 1
    moved = _run(m, 60)
    assert m.process is not None and moved and m.best_bid < m.best_ask
