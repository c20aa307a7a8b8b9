"""fastws.risk: every limit refuses the order that would break it and says which (no sockets)."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from fastws.risk import Position, RiskLimits, RiskManager


def test_no_limits_allow_everything():
    r = RiskManager(RiskLimits(), start_equity=D("1000"))
    assert r.check("BTCUSDT", "BUY", D("10"), D("60000"), now=0).allowed
    assert RiskLimits().describe() == "no limits"


def test_max_position_counts_fills_and_lets_a_position_shrink():
    r = RiskManager(RiskLimits(max_position=D("0.002")), start_equity=D("5000"))
    assert r.check("BTCUSDT", "BUY", D("0.002"), D("60000"), now=0).allowed
    d = r.check("BTCUSDT", "BUY", D("0.003"), D("60000"), now=0)
    assert not d.allowed and d.limit == "max_position" and "0.003" in d.reason
    r.on_fill("BTCUSDT", "BUY", D("0.002"), D("60000"), now=0)
    assert not r.check("BTCUSDT", "BUY", D("0.001"), D("60000"), now=1).allowed
    assert r.check("BTCUSDT", "SELL", D("0.001"), D("60000"), now=1).allowed   # reduces it
    # shorts count too, and other symbols have their own position
    assert not r.check("BTCUSDT", "SELL", D("0.005"), D("60000"), now=1).allowed
    assert r.check("ETHUSDT", "BUY", D("0.002"), D("3000"), now=1).allowed
    assert r.refusals["max_position"] == 3


def test_max_notional_is_the_position_at_the_order_price():
    r = RiskManager(RiskLimits(max_notional=D("100")), start_equity=D("5000"))
    assert r.check("ETHUSDT", "BUY", D("0.03"), D("3000"), now=0).allowed          # 90
    d = r.check("ETHUSDT", "BUY", D("0.04"), D("3000"), now=0)                       # 120
    assert not d.allowed and d.limit == "max_notional" and "120.00" in d.reason


def test_orders_per_minute_is_a_sliding_window():
    r = RiskManager(RiskLimits(max_orders_per_minute=2), start_equity=D("5000"))
    for t in (0.0, 10.0):
        assert r.check("BTCUSDT", "BUY", D("0.001"), D("60000"), now=t).allowed
        r.on_order_sent("BTCUSDT", t)
    d = r.check("ETHUSDT", "BUY", D("0.01"), D("3000"), now=30.0)
    assert not d.allowed and d.limit == "max_orders_per_minute" and "next in 30 s" in d.reason
    assert r.check("ETHUSDT", "BUY", D("0.01"), D("3000"), now=60.5).allowed      # the first expired


def test_drawdown_kill_switch_stops_everything():
    r = RiskManager(RiskLimits(max_drawdown=D("50")), start_equity=D("5000"))
    r.on_fill("BTCUSDT", "BUY", D("0.01"), D("60000"), now=0)
    r.mark("BTCUSDT", D("60500"))                  # +5: the peak
    assert r.peak_equity == D("5005") and r.killed is None
    r.mark("BTCUSDT", D("56000"))                  # -40 from the start, -45 from the peak
    assert r.killed is None
    r.mark("BTCUSDT", D("55400"))                  # -46 - 5 = 51 below the peak
    assert r.killed and "over the max 50" in r.killed
    d = r.check("ETHUSDT", "BUY", D("0.01"), D("3000"), now=1)
    assert not d.allowed and d.limit == "max_drawdown" and "kill switch" in d.reason
    # closing out stays possible when the caller asks for it
    assert not r.check("BTCUSDT", "SELL", D("0.01"), D("55400"), now=1).allowed
    assert r.check("BTCUSDT", "SELL", D("0.01"), D("55400"), now=1, allow_reducing=True).allowed


def test_cooldown_after_a_loss_only_on_that_symbol():
    r = RiskManager(RiskLimits(cooldown_s=30), start_equity=D("5000"))
    r.on_fill("BTCUSDT", "BUY", D("0.01"), D("60000"), now=0)
    pnl = r.on_fill("BTCUSDT", "SELL", D("0.01"), D("59900"), now=5)
    assert pnl == D("-1.00")
    d = r.check("BTCUSDT", "BUY", D("0.01"), D("59900"), now=10)
    assert not d.allowed and d.limit == "cooldown" and "25 s left" in d.reason
    assert r.check("ETHUSDT", "BUY", D("0.01"), D("3000"), now=10).allowed
    assert r.check("BTCUSDT", "BUY", D("0.01"), D("59900"), now=35.1).allowed
    # a winning trade starts no cool-down
    r.on_fill("ETHUSDT", "BUY", D("1"), D("3000"), now=40)
    r.on_fill("ETHUSDT", "SELL", D("1"), D("3010"), now=41)
    assert r.check("ETHUSDT", "BUY", D("1"), D("3010"), now=42).allowed


def test_pnl_average_cost_flip_and_fees():
    r = RiskManager(RiskLimits(), start_equity=D("1000"))
    r.on_fill("X", "BUY", D("1"), D("10"), now=0)
    r.on_fill("X", "BUY", D("1"), D("12"), now=0)
    p = r.position("X")
    assert p.qty == 2 and p.avg_price == 11
    assert r.on_fill("X", "SELL", D("3"), D("13"), now=0, fee=D("0.5")) == D("4")   # closes 2 at +2
    assert p.qty == -1 and p.avg_price == 13                                         # 1 short at 13
    r.mark("X", D("12"))
    assert p.unrealized == 1 and r.realized == 4 and r.fees == D("0.5")
    assert r.equity == D("1004.5")
    assert Position().unrealized == 0


@pytest.mark.parametrize("kw", [{"max_position": 0}, {"max_notional": "-1"}, {"max_drawdown": "x"},
                                {"max_orders_per_minute": 0}, {"max_orders_per_minute": 1.5},
                                {"cooldown_s": -1}, {"max_position": "nan"}])
def test_bad_limits_are_refused(kw):
    with pytest.raises(ValueError):
        RiskLimits(**kw)


def test_bad_orders_are_refused():
    r = RiskManager(RiskLimits())
    with pytest.raises(ValueError):
        r.check("X", "HOLD", D("1"), D("1"), now=0)
    with pytest.raises(ValueError):
        r.check("X", "BUY", D("0"), D("1"), now=0)
