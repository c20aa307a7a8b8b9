"""Property test of the simulator's matching engine (no sockets): random orders, cancels and
market steps from two accounts keep the books uncrossed, the locks equal to what open orders
hold, and every balance equal to its start plus its own fills."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.sim import Exchange, ManualClock
from fastws.sim.trading import Ctx, Session
from fastws.sim.wsapi import ApiError

T0 = 1_700_000_000_000
SYM = "BTCUSDT"
START = {"USDT": Decimal("100000"), "BTC": Decimal("2")}

op = st.one_of(
    st.tuples(st.just("limit"), st.integers(0, 1), st.sampled_from(["BUY", "SELL"]),
              st.integers(-6, 6), st.integers(1, 400), st.sampled_from(["GTC", "IOC", "FOK"]),
              st.sampled_from(["NONE", "EXPIRE_MAKER", "EXPIRE_TAKER", "EXPIRE_BOTH"])),
    st.tuples(st.just("market"), st.integers(0, 1), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 300)),
    st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.integers(1, 400)),
)


def _conn(ex, acct):
    s = Session(ex.now_ms())
    s.key, s.account = acct.keys[0], acct
    return SimpleNamespace(session=s, return_rate_limits=False)


def _call(ex, conn, name, params):
    try:
        return ex.trading.call(name, dict(params, timestamp=ex.now_ms()), conn, Ctx())
    except ApiError as e:
        assert e.status in (400, 429), (e.code, e.msg)
        return None


def _check(ex, accts):
    m = ex.market_of(SYM)
    if m.bids and m.asks:
        assert max(m.bids) < min(m.asks)
    bids, asks = ex.engine.queues[SYM]
    for side, book in ((bids, m.bids), (asks, m.asks)):
        for tick, q in side.items():
            assert q and all(o.open and o.on_book and o.price == tick for o in q)
            assert book[tick] >= sum(o.remaining for o in q)
    for a in accts:
        for asset in START:
            free, locked = a.balance(asset)
            assert free >= 0 and locked >= 0
            held = sum(o.lock_left for o in ex.engine.open_orders(a) if o.lock_asset == asset)
            assert locked == held
        d_base = sum((t.order.m.qty_decimal(t.lots) * (1 if t.order.buy else -1))
                     for t in ex.engine.trades.get(a.uid, []))
        d_quote = sum((-t.quote if t.order.buy else t.quote)
                      for t in ex.engine.trades.get(a.uid, []))
        assert sum(a.balance("BTC")) == START["BTC"] + d_base
        assert sum(a.balance("USDT")) == START["USDT"] + d_quote


@settings(max_examples=40, deadline=None)
@given(st.lists(op, min_size=1, max_size=40))
def test_engine_keeps_books_locks_and_balances_consistent(ops):
    ex = Exchange([SYM], clock=ManualClock(T0), rest=False, order_limits=(10_000, 100_000),
                  rate=100)
    accts = [ex.add_account(balances=START, keys=["HMAC"]) for _ in range(2)]
    conns = [_conn(ex, a) for a in accts]
    m = ex.market_of(SYM)
    for o in ops:
        kind = o[0]
        if kind == "limit":
            _, who, side, off, lots, tif, stp = o
            ref = m.best_bid if side == "BUY" else m.best_ask
            _call(ex, conns[who], "order.place", {
                "symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": tif,
                "price": m.px(ref + off), "quantity": m.qty(lots),
                "selfTradePreventionMode": stp})
        elif kind == "market":
            _, who, side, lots = o
            _call(ex, conns[who], "order.place", {"symbol": SYM, "side": side,
                                                  "type": "MARKET", "quantity": m.qty(lots)})
        elif kind == "cancel":
            _, who, i = o
            open_ = ex.engine.open_orders(accts[who], SYM)
            if open_:
                _call(ex, conns[who], "order.cancel", {
                    "symbol": SYM, "orderId": open_[i % len(open_)].order_id})
        else:
            ex.clock.advance(o[1])
            ex._hub.advance_to(ex.now_ms())
        _check(ex, accts)
