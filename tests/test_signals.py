"""fastws.signals: detectors on synthetic series, score bounds, event feeding, formatting."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.events import AggTrade, BookTicker, Kline, MiniTicker, Ticker, Trade, WindowTicker
from fastws.signals import (
    BUY,
    REASON_BUY_PRESSURE,
    REASON_NEGATIVE_MOMENTUM,
    REASON_POSITIVE_MOMENTUM,
    REASON_SELL_PRESSURE,
    REASON_VOLUME_SPIKE,
    SELL,
    BarSeries,
    Momentum,
    Signal,
    SignalEngine,
    VolumeSpike,
    format_signal,
    format_ticker,
)

SETTINGS = settings(deadline=None, max_examples=40)
T0 = 1_700_000_000_000
STEP_MS = 250  # four trades a second
N = 4 * 400  # 400 s of trades: every default lookback is covered


def feed(prices, qtys=None, seller_taker=None, *, engine=None, t0=T0, step_ms=STEP_MS):
    eng = engine if engine is not None else SignalEngine("btcusdt")
    for i, p in enumerate(prices):
        q = 1.0 if qtys is None else float(qtys[i])
        m = (i % 2 == 1) if seller_taker is None else bool(seller_taker[i])
        eng.on_trade(t0 + i * step_ms, float(p), q, m)
    return eng


def noise(n=N, seed=7, sd=1e-5):
    """A flat price with tiny noise (no trend)."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(rng.normal(0.0, sd, n))


def trend(total, n=N):
    return 100.0 * np.exp(np.linspace(0.0, total, n))


# -- deterministic series ----------------------------------------------------------------------


def test_steady_uptrend_is_buy_with_positive_momentum():
    eng = feed(trend(0.01))
    a = eng.assess()
    sig = a.signal
    assert sig is not None
    assert sig.symbol == "BTCUSDT" and sig.side == BUY
    assert sig.reasons[0] == REASON_POSITIVE_MOMENTUM
    assert REASON_VOLUME_SPIKE not in sig.reasons  # steady volume: no spike
    assert 0.5 < sig.score <= 1.0
    assert sig.time == T0 + (N - 1) * STEP_MS
    assert a.momentum.ready and a.momentum.fired and a.momentum.z > 2
    assert eng.evaluate() == sig
    assert a.status.startswith("BUY ")


def test_steady_downtrend_is_sell_with_negative_momentum():
    sig = feed(trend(-0.01)).evaluate()
    assert sig is not None and sig.side == SELL
    assert sig.reasons == (REASON_NEGATIVE_MOMENTUM,)


def test_stronger_trend_scores_higher():
    weak = feed(trend(0.01)).evaluate()
    strong = feed(trend(0.03)).evaluate()
    assert weak is not None and strong is not None
    assert strong.score > weak.score


def test_flat_market_gives_no_signal():
    for prices in (np.full(N, 100.0), noise()):
        a = feed(prices).assess()
        assert a.signal is None
        assert a.momentum.ready and a.volume.ready and not a.warming_up
        assert not a.momentum.fired and not a.volume.fired
        assert a.status.startswith("no signal: momentum")


def test_warm_up_gives_no_signal_and_says_so():
    eng = SignalEngine("BTCUSDT")
    a = eng.assess(T0)
    assert a.signal is None and a.warming_up and a.status == "warming up: no data yet"
    # a sharp rise, but only 20 s of data: momentum needs 60 s, volume 70 s
    feed(trend(0.05, n=80), engine=eng)
    a = eng.assess()
    assert a.signal is None and a.warming_up
    assert not a.momentum.ready and not a.volume.ready
    assert a.status == "warming up: momentum needs 60 s of price history, have 20 s"
    assert "volume spike needs 70 s of volume history" in a.volume.detail
    assert eng.evaluate() is None


def test_too_few_updates_in_the_window_is_not_ready():
    eng = SignalEngine("BTCUSDT")
    for i in range(5):  # one trade every 30 s for two minutes
        eng.on_trade(T0 + i * 30_000, 100.0 + i, 1.0)
    a = eng.assess()
    assert not a.momentum.ready and "needs 10 price updates" in a.momentum.detail
    assert a.signal is None


def test_volume_burst_with_clear_taker_side_gives_spike_and_pressure():
    q = np.ones(N)
    q[-40:] = 10.0  # ten times the volume for the last 10 s
    sellers = np.arange(N) % 2 == 1
    sellers[-40:] = False  # the burst is taker buying
    a = feed(noise(), q, sellers).assess()
    assert a.volume.fired and a.volume.z > 3 and a.volume.imbalance == 1.0
    assert a.signal is not None and a.signal.side == BUY
    assert a.signal.reasons == (REASON_VOLUME_SPIKE, REASON_BUY_PRESSURE)
    assert 0.0 < a.signal.score <= 1.0

    sellers[-40:] = True
    sig = feed(noise(), q, sellers).evaluate()
    assert sig is not None and sig.side == SELL
    assert sig.reasons == (REASON_VOLUME_SPIKE, REASON_SELL_PRESSURE)


def test_volume_burst_without_a_side_is_reported_but_not_a_signal():
    q = np.ones(N)
    q[-40:] = 10.0
    a = feed(noise(), q).assess()  # takers alternate buy/sell: no side
    assert a.volume.fired and a.volume.direction == 0
    assert a.signal is None
    assert "volume spike without a clear taker side" in a.status


def test_momentum_confirmed_by_volume_spike_matches_the_seeds_line():
    q = np.ones(N)
    q[-40:] = 10.0
    alone = feed(trend(0.01)).evaluate()
    a = feed(trend(0.01), q).assess()
    sig = a.signal
    assert sig is not None and alone is not None
    assert sig.reasons == (REASON_POSITIVE_MOMENTUM, REASON_VOLUME_SPIKE)
    assert sig.score > alone.score
    expected = 1.0 - (1.0 - a.momentum.score) * (1.0 - a.volume.score)
    assert sig.score == pytest.approx(expected)
    assert sig.format() == f"SIGNAL: BUY | {sig.score:.3f} | Positive momentum, Volume spike"


def test_volume_spike_against_the_momentum_does_not_confirm_it():
    q = np.ones(N)
    q[-40:] = 10.0
    sellers = np.arange(N) % 2 == 1
    sellers[-40:] = True  # heavy taker selling while the price rises
    sig = feed(trend(0.01), q, sellers).evaluate()
    assert sig is not None and sig.side == BUY
    assert sig.reasons == (REASON_POSITIVE_MOMENTUM,)


def test_min_score_suppresses_weak_signals():
    eng = feed(trend(0.01), engine=SignalEngine("BTCUSDT", min_score=0.999))
    a = eng.assess()
    assert a.momentum.fired and a.signal is None
    assert a.status.startswith("no signal: score below min_score")


def test_silence_then_evaluate_later_carries_price_and_counts_zero_volume():
    eng = feed(trend(0.01))
    later = T0 + N * STEP_MS + 120_000  # two silent minutes
    a = eng.assess(later)
    assert a.time == later
    assert not a.momentum.ready  # no price update in the last 60 s
    assert a.volume.ready and not a.volume.fired
    bars = eng.bars(later)
    assert bars is not None and np.all(bars.volume[-100:] == 0.0)
    assert bars.close[-1] == pytest.approx(trend(0.01)[-1])


def test_now_before_the_newest_update_uses_the_newest():
    eng = feed(trend(0.01))
    assert eng.assess(T0).time == T0 + (N - 1) * STEP_MS


def test_late_trades_are_counted_in_the_current_bar():
    eng = SignalEngine("BTCUSDT")
    eng.on_trade(T0 + 5_000, 100.0, 1.0)
    eng.on_trade(T0 + 1_000, 99.0, 2.0)  # from an earlier bar
    assert eng.late_updates == 1 and eng.trade_count == 2
    bars = eng.bars()
    assert bars is not None and bars.volume[-1] == 3.0


def test_bar_size_is_configurable():
    eng = SignalEngine(
        "ETHUSDT",
        momentum=Momentum(window_s=5, volatility_s=30, min_updates=5),
        volume=VolumeSpike(window_s=2, baseline_s=30, min_baseline_s=6),
        bar_s=0.5,
    )
    sig = feed(trend(0.01, n=200), engine=eng, step_ms=100).evaluate()
    assert sig is not None and sig.side == BUY and sig.symbol == "ETHUSDT"


def test_reset_forgets_everything():
    eng = feed(trend(0.01))
    eng.reset()
    assert eng.evaluate() is None and eng.trade_count == 0 and eng.ticker_line() is None
    assert eng.assess().status == "warming up: no data yet"


# -- standalone detectors ------------------------------------------------------------------------


def test_momentum_maths_on_plain_bars():
    closes = 100.0 * np.exp(np.cumsum(np.r_[0.0, np.tile([1e-4, -1e-4], 40)]))
    closes[-11:] = closes[-11] * np.exp(np.arange(11) * 3e-4)  # +0.3 % in the last 10 bars
    bars = BarSeries.from_arrays(closes, np.ones_like(closes))
    det = Momentum(window_s=10, volatility_s=80, min_updates=5, min_move=0.0)
    r = det.evaluate(bars)
    rets = np.diff(np.log(closes))
    expected = math.log(closes[-1] / closes[-11]) / (rets.std() * math.sqrt(10))
    assert r.ready and r.fired and r.z == pytest.approx(expected)
    assert r.score == pytest.approx(math.tanh(expected / 2.0))
    assert r.reason == REASON_POSITIVE_MOMENTUM and r.direction == 1


def test_volume_z_score_maths_on_plain_bars():
    vol = np.r_[np.tile([1.0, 3.0], 30), [9.0] * 5]
    bars = BarSeries.from_arrays(np.full(65, 100.0), vol)
    det = VolumeSpike(window_s=5, baseline_s=60, min_baseline_s=20)
    r = det.evaluate(bars)
    base = vol[:60]
    expected = (45.0 - 5 * base.mean()) / max(math.sqrt(5) * base.std(), 0.1 * 5 * base.mean())
    assert r.ready and r.fired and r.z == pytest.approx(expected)
    assert r.imbalance == 0.0 and r.direction == 0  # from_arrays splits volume evenly
    assert det.evaluate(BarSeries.from_arrays(np.full(10, 1.0), np.ones(10))).ready is False


def test_silent_baseline_then_trading_is_a_spike():
    vol = np.r_[np.zeros(60), np.ones(10)]
    r = VolumeSpike(window_s=10, baseline_s=60).evaluate(BarSeries.from_arrays(np.full(70, 1.0), vol))
    assert r.fired and r.score == 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Momentum(window_s=0),
        lambda: Momentum(threshold=-1),
        lambda: Momentum(min_move=-0.1),
        lambda: Momentum(min_updates=0),
        lambda: Momentum(window_s=math.nan),
        lambda: VolumeSpike(baseline_s=30, min_baseline_s=60),
        lambda: VolumeSpike(pressure=1.5),
        lambda: VolumeSpike(min_ratio=0),
        lambda: SignalEngine(""),
        lambda: SignalEngine("BTCUSDT", bar_s=0),
        lambda: SignalEngine("BTCUSDT", min_score=2),
        lambda: BarSeries.from_arrays([1.0, 2.0], [1.0]),
    ],
)
def test_bad_configuration_is_refused(make):
    with pytest.raises(ValueError):
        make()


# -- input validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, exc",
    [
        ((T0, -1.0, 1.0), ValueError),
        ((T0, 0.0, 1.0), ValueError),
        ((T0, math.nan, 1.0), ValueError),
        ((T0, math.inf, 1.0), ValueError),
        ((T0, 100.0, -1.0), ValueError),
        ((T0, 100.0, math.nan), ValueError),
        ((-5, 100.0, 1.0), ValueError),
        ((True, 100.0, 1.0), TypeError),
        (("1700000000000", 100.0, 1.0), TypeError),
        ((T0, "100.0", 1.0), TypeError),
        ((T0, 100.0, None), TypeError),
    ],
)
def test_bad_trades_raise_and_record_nothing(args, exc):
    eng = SignalEngine("BTCUSDT")
    eng.on_trade(T0, 100.0, 1.0)
    with pytest.raises(exc):
        eng.on_trade(*args)
    assert eng.trade_count == 1 and eng.last_price == 100.0
    bars = eng.bars()
    assert bars is not None and bars.volume[-1] == 1.0


def test_numeric_types_are_accepted():
    eng = SignalEngine("BTCUSDT")
    eng.on_trade(np.int64(T0), np.float64(100.0), 2, True)
    eng.on_trade(float(T0 + 1), 101, np.float32(1.0))
    assert eng.trade_count == 2 and eng.last_price == 101.0


# -- events ----------------------------------------------------------------------------------------


def test_on_event_takes_trades_and_tickers():
    eng = SignalEngine("BTCUSDT")
    assert eng.on_event(Trade("BTCUSDT", 1, 100.0, 2.0, T0, False))
    assert eng.on_event(AggTrade("BTCUSDT", 2, 101.0, 3.0, 5, 7, T0 + 10, True))
    assert eng.trade_count == 2 and eng.last_price == 101.0
    bars = eng.bars()
    assert bars is not None and bars.volume[-1] == 5.0 and bars.buy_volume[-1] == 2.0
    assert eng.on_event(
        Ticker("BTCUSDT", last_price=67234.56, volume=1234.4, price_change_percent=2.449,
               event_time=T0 + 20)
    )
    assert eng.ticker_line() == "BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%"
    assert eng.trade_count == 2  # ticker volume is not traded volume
    bars = eng.bars()
    assert bars is not None and bars.volume[-1] == 5.0 and bars.updates[-1] == 3
    assert eng.on_event(MiniTicker("BTCUSDT", 102.0, 100.0, 103.0, 99.0, 500.0, 51000.0,
                                   event_time=T0 + 30))
    assert eng.ticker_line() == "BTCUSDT: $102.0000 | Vol: 500 | 24h: +2.00%"


def test_on_event_ignores_what_it_cannot_use():
    eng = SignalEngine("BTCUSDT")
    assert not eng.on_event(Trade("ETHUSDT", 1, 100.0, 2.0, T0, False))  # other symbol
    assert not eng.on_event(Kline("BTCUSDT", T0, T0 + 59_999, "1m", 1.0, 2.0, 2.0, 1.0, 10.0))
    assert not eng.on_event(WindowTicker("BTCUSDT", "1h", last_price=5.0, price_change_percent=1.0))
    assert not eng.on_event(BookTicker("BTCUSDT", 1, 99.0, 1.0, 101.0, 1.0))
    assert not eng.on_event({"e": "trade"})
    assert eng.trade_count == 0 and eng.rejected_events == 0
    assert not eng.on_event(Ticker("BTCUSDT", event_time=T0))  # no last price (NaN)
    assert not eng.on_event(Trade("BTCUSDT", 1, 100.0, 2.0, -1, False))  # no time at all
    assert eng.rejected_events == 2 and eng.trade_count == 0


def test_ticker_without_time_updates_the_line_only():
    eng = SignalEngine("BTCUSDT")
    eng.on_ticker(None, 50.0, 10.0, -1.5)
    assert eng.bars() is None
    assert eng.ticker_line() == "BTCUSDT: $50.0000 | Vol: 10 | 24h: -1.50%"


# -- formatting ------------------------------------------------------------------------------------


def test_signal_line_exact():
    sig = Signal("BTCUSDT", "BUY", 0.7234, ("Positive momentum", "Volume spike"), T0)
    assert format_signal(sig) == "SIGNAL: BUY | 0.723 | Positive momentum, Volume spike"
    assert sig.format() == format_signal(sig)
    assert Signal("X", "SELL", 1.0, ("Negative momentum",), 0).format() == (
        "SIGNAL: SELL | 1.000 | Negative momentum"
    )


def test_ticker_line_exact():
    assert format_ticker("BTCUSDT", 67234.56, 1234, 2.45) == (
        "BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%"
    )
    assert format_ticker("ETHUSDT", 3000.1, 98765.4, -0.5) == (
        "ETHUSDT: $3000.1000 | Vol: 98765 | 24h: -0.50%"
    )
    assert format_ticker("X", 1.0, 0.0, -0.001) == "X: $1.0000 | Vol: 0 | 24h: +0.00%"
    assert format_ticker("X", 1.0, None, math.nan) == "X: $1.0000 | Vol: n/a | 24h: n/a"


def test_signal_is_frozen_and_validated():
    sig = Signal("BTCUSDT", "BUY", 0.5, ("Positive momentum",), T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.score = 0.9  # type: ignore[misc]
    with pytest.raises(ValueError, match="side"):
        Signal("BTCUSDT", "HOLD", 0.5, (), T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="within"):
        Signal("BTCUSDT", "BUY", 1.5, (), T0)
    with pytest.raises(ValueError, match="within"):
        Signal("BTCUSDT", "BUY", math.nan, (), T0)
    with pytest.raises(TypeError, match="tuple"):
        Signal("BTCUSDT", "BUY", 0.5, ["x"], T0)  # type: ignore[arg-type]


# -- properties ----------------------------------------------------------------------------------


@st.composite
def market(draw):
    n = draw(st.integers(1, 500))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vol = draw(st.sampled_from([0.0, 1e-4, 1e-2]))
    prices = 100.0 * np.exp(np.cumsum(rng.normal(draw(st.floats(-1e-3, 1e-3)), vol + 1e-12, n)))
    qtys = rng.exponential(1.0, n) * rng.choice([0.0, 1.0, 50.0], n, p=[0.1, 0.85, 0.05])
    steps = rng.choice([0, 1, 100, 1000, 30_000], n, p=[0.2, 0.2, 0.4, 0.19, 0.01])
    times = T0 + np.cumsum(steps)
    sellers = rng.random(n) < draw(st.floats(0.0, 1.0))
    return prices, qtys, times, sellers


@SETTINGS
@given(data=market(), small=st.booleans())
def test_scores_stay_within_unit_interval(data, small):
    prices, qtys, times, sellers = data
    kw = {}
    if small:
        kw = dict(
            momentum=Momentum(window_s=5, volatility_s=20, min_updates=2),
            volume=VolumeSpike(window_s=2, baseline_s=20, min_baseline_s=4),
        )
    eng = SignalEngine("BTCUSDT", **kw)
    for i in range(len(prices)):
        eng.on_trade(int(times[i]), float(prices[i]), float(qtys[i]), bool(sellers[i]))
        if i % 25 == 0 or i == len(prices) - 1:
            for now in (None, int(times[i]) + 3_000):
                a = eng.assess(now)
                for r in (a.momentum, a.volume):
                    assert 0.0 <= r.score <= 1.0
                    assert r.fired <= r.ready
                if a.signal is not None:
                    assert 0.0 <= a.signal.score <= 1.0
                    assert a.signal.side in (BUY, SELL) and a.signal.reasons
                    assert a.signal.reasons[0] in (
                        REASON_POSITIVE_MOMENTUM, REASON_NEGATIVE_MOMENTUM, REASON_VOLUME_SPIKE,
                    )
                    assert a.signal.format().startswith(f"SIGNAL: {a.signal.side} | ")
