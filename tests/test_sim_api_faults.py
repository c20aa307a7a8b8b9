"""The simulator's WS API answer faults, raw on the wire: rewrite_answers (an odd result or an
error in place of the simulator's, its rateLimits), order_window (an extra ORDERS window, e.g.
per second) and hide_order_limits (ORDERS windows left out of rateLimits)."""
from __future__ import annotations

import pytest

from fastws.sim import Exchange, ManualClock
from tests.sim_api_support import old_grid
from tests.sim_trading_support import Client

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.1", "price": "90.00"}


def orders_limits(answer: dict) -> list[dict]:
    return [r for r in answer.get("rateLimits", []) if r["rateLimitType"] == "ORDERS"]


async def _setup(ex: Exchange) -> tuple:
    acct = ex.add_account(balances={"USDT": "100000"}, keys=["HMAC"])
    return acct, await Client.connect(ex, acct.keys[0])


async def test_order_window_is_listed_counted_and_enforced():
    clock = ManualClock(1_800_000_000_000)         # a second starts: the window is fresh
    async with Exchange([old_grid()], clock=clock) as ex:
        acct, c = await _setup(ex)
        ex.faults.order_window(2, seconds=1)
        info = await c.call("exchangeInfo", {"symbol": "BTCUSDT"}, signed=False)
        assert {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
                "limit": 2} in info["result"]["rateLimits"]
        for n in (1, 2):
            r = await c.call("order.place", ORDER)
            assert r["status"] == 200
            assert orders_limits(r)[0] == {"rateLimitType": "ORDERS", "interval": "SECOND",
                                           "intervalNum": 1, "limit": 2, "count": n}
            assert len(orders_limits(r)) == 3          # Binance's 10 s and day windows follow
        r = await c.call("order.place", ORDER)
        assert r["status"] == 429 and r["error"]["code"] == -1015
        assert "2 orders per 1 SECOND" in r["error"]["msg"]
        assert r["error"]["data"]["retryAfter"] == 1_800_000_001_000
        assert len(ex.orders(acct)) == 2                # the refused order did not run
        await ex.advance(1000)                          # the next second: room again
        r = await c.call("order.place", ORDER)
        assert r["status"] == 200 and orders_limits(r)[0]["count"] == 1
        ex.faults.clear()                               # gone from answers and exchangeInfo
        r = await c.call("order.place", ORDER)
        assert len(orders_limits(r)) == 2
        info = await c.call("exchangeInfo", {"symbol": "BTCUSDT"}, signed=False)
        assert not any(x["intervalNum"] == 1 and x["interval"] == "SECOND"
                       for x in info["result"]["rateLimits"])
        await c.close()


async def test_hidden_order_limits_are_still_enforced():
    async with Exchange([old_grid()], clock=ManualClock(1_800_000_000_000),
                        order_limits=(2, 1000)) as ex:
        acct, c = await _setup(ex)
        ex.faults.hide_order_limits()
        for _ in range(2):
            r = await c.call("order.place", ORDER)
            assert r["status"] == 200 and not orders_limits(r)
            assert [x["rateLimitType"] for x in r["rateLimits"]] == ["REQUEST_WEIGHT"]
        r = await c.call("order.place", ORDER)
        assert r["status"] == 429 and not orders_limits(r)
        info = await c.call("exchangeInfo", {"symbol": "BTCUSDT"}, signed=False)
        assert sum(x["rateLimitType"] == "ORDERS" for x in info["result"]["rateLimits"]) == 2
        ex.faults.hide_order_limits(False)
        await ex.advance(10_000)
        r = await c.call("order.place", ORDER)
        assert len(orders_limits(r)) == 2
        await c.close()


async def test_rewritten_answers_replace_result_or_error_and_rate_limits():
    async with Exchange([old_grid()], clock=ManualClock(1_800_000_000_000)) as ex:
        acct, c = await _setup(ex)
        odd = {"note": 'a "quoted" } ] text\\', "nested": [{"x": [1, {"y": "}"}]}], "u": "\u00e9"}
        rl = [{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
               "limit": 61000, "count": 4}]
        ex.faults.rewrite_answers(odd, rl, count=2, methods="order.place")
        for _ in range(2):
            rid = await c.send("order.place", ORDER)
            r = await c.answer(rid)
            assert r == {"id": rid, "status": 200, "result": odd, "rateLimits": rl}
        assert len(ex.orders(acct)) == 2                # the orders did run
        r = await c.call("order.place", ORDER)          # count spent: the true answer
        assert r["status"] == 200 and r["result"]["symbol"] == "BTCUSDT"
        ex.faults.rewrite_answers(error=(400, -1100, "odd"), methods="ping")
        r = await c.call("ping", signed=False)
        assert r["status"] == 400 and r["error"] == {"code": -1100, "msg": "odd"}
        assert r["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"   # the true ones kept
        assert (await c.call("ping", signed=False))["status"] == 200
        await c.close()


def test_bad_fault_arguments_are_refused():
    ex = Exchange(["BTCUSDT"])
    with pytest.raises(ValueError, match="seconds"):
        ex.faults.order_window(5, seconds=10)
    with pytest.raises(ValueError, match="limit"):
        ex.faults.order_window(0)
    with pytest.raises(ValueError, match="count"):
        ex.faults.rewrite_answers({}, count=0)
    with pytest.raises(ValueError, match="error"):
        ex.faults.rewrite_answers(error=("400", -1, "x"))  # type: ignore[arg-type]
