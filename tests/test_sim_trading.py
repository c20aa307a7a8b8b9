"""Simulator: the matching engine and the trading methods of the WS API (SPEC §5.5, §6)."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from fastws.testing import ReferenceBook
from tests.sim_trading_support import Client, kinds, types_of
from tests.utils import UNIT

T0 = 1_700_000_000_000
SYM = "BTCUSDT"


def sample(samples_dir, name):
    return json.loads((samples_dir / name).read_text())


def _ex(**kw) -> Exchange:
    kw.setdefault("clock", ManualClock(T0))
    return Exchange([SYM], rest=False, **kw)


async def _setup(ex, kt="HMAC", **bal):
    acct = ex.add_account(balances=bal or {"USDT": "1000000", "BTC": "10"}, keys=[kt])
    c = await Client.connect(ex, acct.keys[0])
    return acct, c


def limit(side, price, qty, **kw):
    return dict({"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": "GTC",
                 "price": price, "quantity": qty}, **kw)


def best(ex):
    bids, asks = ex.book(SYM, 5)
    return bids, asks


async def test_order_place_shapes(samples_dir):
    async with _ex() as ex:
        acct, c = await _setup(ex)
        bids, asks = best(ex)
        far = str(Decimal(bids[0][0]) - 100)
        for resp, name in (("ACK", "ack"), ("RESULT", "result"), ("FULL", "full")):
            r = await c.call("order.place", limit("BUY", far, "0.001", newOrderRespType=resp))
            want = sample(samples_dir, f"wsapi_order_place_response_{name}.json")
            assert r["status"] == 200
            got_keys = set(r["result"]) - {"selfTradePreventionMode"}
            assert got_keys == set(want["result"]) - {"selfTradePreventionMode"}
            for k, v in want["result"].items():
                if k in r["result"] and k != "fills":
                    assert type(r["result"][k]) is type(v), k
            assert [x["rateLimitType"] for x in r["rateLimits"]] == \
                [x["rateLimitType"] for x in want["rateLimits"]]
        # defaults: LIMIT and MARKET answer FULL, LIMIT_MAKER ACK (SPEC §5.5)
        r = await c.call("order.place", limit("BUY", far, "0.001"))
        assert "fills" in r["result"]
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "LIMIT_MAKER",
                                         "price": far, "quantity": "0.001"})
        assert set(r["result"]) == {"symbol", "orderId", "orderListId", "clientOrderId",
                                    "transactTime"}
        # success costs no weight, a failure costs 1 (SPEC timeline 2026-04-02)
        before = ex.weights.count()
        await c.call("order.place", limit("BUY", far, "0.001"))
        assert ex.weights.count() == before
        await c.call("order.place", limit("BUY", far, "0.0011111"))
        assert ex.weights.count() == before + 1
        r = await c.call("order.status", {"symbol": SYM, "orderId": 1000001})
        want = sample(samples_dir, "wsapi_order_status_response.json")["result"]
        assert set(r["result"]) <= set(want) and {k: type(want[k]).__name__
                                                  for k in r["result"]} == types_of(r["result"])
        r = await c.call("openOrders.status", {"symbol": SYM})
        assert len(r["result"]) == 6
        r = await c.call("allOrders", {"symbol": SYM})
        assert len(r["result"]) == 6
        r = await c.call("order.test", limit("BUY", far, "0.001"))
        assert r["result"] == {}
        r = await c.call("order.test", limit("BUY", far, "0.001", computeCommissionRates=True))
        want = sample(samples_dir, "wsapi_order_test_response_computeCommissionRates.json")
        assert set(r["result"]) == set(want["result"])
        r = await c.call("account.rateLimits.orders")
        want = sample(samples_dir, "wsapi_account_rateLimits_orders_response.json")
        assert [set(x) for x in r["result"]] == [set(x) for x in want["result"]]
        assert r["result"][0]["count"] == 6
        r = await c.call("account.status")
        want = sample(samples_dir, "wsapi_account_status_response.json")["result"]
        assert types_of(r["result"]) == types_of(want)
        await c.close()


async def test_filters_and_balance_errors():
    async with _ex() as ex:
        acct, c = await _setup(ex, USDT="100")
        bids, asks = best(ex)
        p = bids[2][0]
        cases = [
            (limit("BUY", "59000.001", "0.001"), -1013, "Filter failure: PRICE_FILTER"),
            (limit("BUY", p, "0.0000001"), -1013, "Filter failure: LOT_SIZE"),
            (limit("BUY", p, "0.00001"), -1013, "Filter failure: NOTIONAL"),
            (limit("BUY", p, "0.01"), -2010,
             "Account has insufficient balance for requested action."),
            (limit("SELL", asks[3][0], "0.01"), -2010,
             "Account has insufficient balance for requested action."),
            ({"symbol": SYM, "side": "BUY", "type": "LIMIT_MAKER", "price": asks[0][0],
              "quantity": "0.001"}, -2010, "Order would immediately match and take."),
            ({"symbol": SYM, "side": "BUY", "type": "LIMIT", "price": p,
              "quantity": "0.001"}, -1102, None),
            ({"symbol": "NOPE", "side": "BUY", "type": "MARKET", "quantity": "1"}, -1121, None),
            ({"symbol": SYM, "side": "UP", "type": "MARKET", "quantity": "1"}, -1117, None),
            ({"symbol": SYM, "side": "BUY", "type": "WHAT", "quantity": "1"}, -1116, None),
            ({"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.001",
              "price": p}, -1106, None),
        ]
        for params, code, msg in cases:
            r = await c.call("order.place", params)
            assert r["status"] == 400 and r["error"]["code"] == code, (params, r)
            if msg:
                assert r["error"]["msg"] == msg
        assert acct.balance("USDT") == (Decimal("100"), 0)
        assert ex.orders(acct) == []
        await c.close()


async def test_partial_fill_rests_and_streams_agree():
    async with _ex() as ex:
        acct, c = await _setup(ex, "ED25519")
        async with websockets.connect(ex.venue.stream_url + "/stream?streams=btcusdt@trade/"
                                      "btcusdt@depth@100ms/btcusdt@bookTicker") as st:
            await asyncio.sleep(0.05 * UNIT)
            r = await c.call("depth", {"symbol": SYM, "limit": 1000}, signed=False)
            ref = ReferenceBook(SYM)
            ref.apply_snapshot(r["result"])
            bids, asks = best(ex)
            # take the first two ask levels and rest the rest one tick above them
            lvl = asks[1][0]
            avail = Decimal(asks[0][1]) + Decimal(asks[1][1])
            qty = avail + Decimal("0.01")
            r = await c.call("order.place", limit("BUY", lvl, str(qty)))
            res = r["result"]
            assert res["status"] == "PARTIALLY_FILLED"
            assert Decimal(res["executedQty"]) == avail
            assert [f["price"] for f in res["fills"]] == [asks[0][0], asks[1][0]]
            # the rest is on the book at lvl, as the best bid
            nb, na = best(ex)
            assert nb[0] == [lvl, "0.01000000"]
            assert Decimal(na[0][0]) > Decimal(lvl)
            await ex.advance(200)
            trades, diffs = [], []
            while True:
                try:
                    msg = json.loads(await asyncio.wait_for(st.recv(), 0.3 * UNIT))
                except asyncio.TimeoutError:
                    break
                if msg["stream"].endswith("@trade"):
                    trades.append(msg["data"])
                elif "@depth" in msg["stream"]:
                    diffs.append(msg["data"])
            tids = {f["tradeId"] for f in res["fills"]}
            mine = [t for t in trades if t["t"] in tids]
            assert len(mine) == 2 and all(t["m"] is False for t in mine)
            assert sorted((t["p"], t["q"]) for t in mine) == sorted(
                (f["price"], f["qty"]) for f in res["fills"])
            for d in diffs:
                ref.apply(d)                       # contiguous ids, or SequenceGap
            rb, ra = ref.top(5)
            nb, na = best(ex)                         # the market moved on meanwhile
            assert [[f"{p:.8f}", f"{q:.8f}"] for p, q in rb] == nb
            assert [[f"{p:.8f}", f"{q:.8f}"] for p, q in ra] == na
        await c.close()


async def test_synthetic_trades_fill_resting_orders():
    async with _ex(rate=200) as ex:
        acct, c = await _setup(ex)
        r = await c.call("userDataStream.subscribe.signature")
        bids, asks = best(ex)
        r = await c.call("order.place", limit("BUY", bids[0][0], "0.001"))
        oid = r["result"]["orderId"]
        for _ in range(200):
            await ex.advance(100)
            o = ex.engine.orders[oid]
            if o.status == "FILLED":
                break
        assert ex.engine.orders[oid].status == "FILLED"
        await c.settle()
        fills = [e for e in kinds(c.events, "executionReport") if e["x"] == "TRADE"]
        assert fills and all(e["m"] is True for e in fills)
        assert sum(Decimal(e["l"]) for e in fills) == Decimal("0.001")
        r = await c.call("myTrades", {"symbol": SYM})
        assert {t["id"] for t in r["result"]} == {e["t"] for e in fills}
        assert acct.balance("BTC")[0] == Decimal("10.001")
        await c.close()


async def test_ioc_fok_market_and_quote_qty():
    async with _ex() as ex:
        acct, c = await _setup(ex)
        bids, asks = best(ex)
        a0 = Decimal(asks[0][1])
        r = await c.call("order.place", limit("BUY", asks[0][0], str(a0 + 1), timeInForce="IOC"))
        assert r["result"]["status"] == "EXPIRED" and Decimal(r["result"]["executedQty"]) == a0
        bids, asks = best(ex)
        r = await c.call("order.place", limit("BUY", asks[0][0], str(Decimal(asks[0][1]) + 1),
                                              timeInForce="FOK"))
        assert r["result"]["status"] == "EXPIRED" and r["result"]["executedQty"] == "0.00000000"
        assert best(ex)[1][0] == asks[0]                        # nothing taken
        r = await c.call("order.place", {"symbol": SYM, "side": "SELL", "type": "MARKET",
                                         "quantity": "0.005"})
        assert r["result"]["status"] == "FILLED" and r["result"]["type"] == "MARKET"
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                         "quoteOrderQty": "100"})
        res = r["result"]
        assert res["status"] == "FILLED" and res["origQuoteOrderQty"] == "100.00000000"
        assert Decimal(res["cummulativeQuoteQty"]) <= 100
        assert acct.balance("USDT")[1] == 0                     # nothing left locked
        await c.close()


async def test_self_trade_prevention():
    async with _ex() as ex:
        acct, c = await _setup(ex)
        bids, asks = best(ex)
        px = str(Decimal(asks[0][0]) - Decimal("0.01"))         # inside the spread
        r = await c.call("order.place", limit("SELL", px, "0.001"))
        maker = r["result"]["orderId"]
        r = await c.call("userDataStream.subscribe.signature")
        # EXPIRE_MAKER (the default): the resting order goes, the taker goes on
        r = await c.call("order.place", limit("BUY", px, "0.001", newOrderRespType="RESULT"))
        assert r["result"]["status"] == "NEW"
        r2 = await c.call("order.status", {"symbol": SYM, "orderId": maker})
        assert r2["result"]["status"] == "EXPIRED_IN_MATCH"
        assert r2["result"]["preventedQuantity"] == "0.00100000"
        await c.settle()
        ev = [e for e in kinds(c.events, "executionReport") if e["x"] == "TRADE_PREVENTION"]
        assert ev and ev[0]["X"] == "EXPIRED_IN_MATCH" and ev[0]["l"] == "0.00000000"
        assert {"v", "A", "B", "U", "pl", "pL", "pY"} <= set(ev[0])
        # EXPIRE_TAKER: the new order expires, the resting one stays
        r = await c.call("order.place", limit("SELL", px, "0.001",
                                              selfTradePreventionMode="EXPIRE_TAKER"))
        assert r["result"]["status"] == "EXPIRED_IN_MATCH"
        assert len(ex.orders(acct)) == 1
        # NONE: it trades with itself
        r = await c.call("order.place", limit("SELL", px, "0.001",
                                              selfTradePreventionMode="NONE"))
        assert r["result"]["status"] == "FILLED"
        await c.close()


async def test_cancel_and_cancel_replace(samples_dir):
    async with _ex() as ex:
        acct, c = await _setup(ex)
        bids, asks = best(ex)
        far = str(Decimal(bids[0][0]) - 50)
        r = await c.call("order.place", limit("BUY", far, "0.001", newClientOrderId="mine1"))
        oid = r["result"]["orderId"]
        r = await c.call("order.cancel", {"symbol": SYM, "origClientOrderId": "mine1",
                                          "cancelRestrictions": "ONLY_PARTIALLY_FILLED"})
        assert r["error"] == sample(samples_dir,
                                    "wsapi_order_cancel_error_-2011_cancel_restrictions_not_met.json")
        r = await c.call("order.cancel", {"symbol": SYM, "orderId": oid,
                                          "cancelRestrictions": "NOPE"})
        assert r["error"]["code"] == -1145
        r = await c.call("order.cancel", {"symbol": SYM, "orderId": oid})
        want = sample(samples_dir, "wsapi_order_cancel_response_order.json")["result"]
        assert r["result"]["status"] == "CANCELED" and set(r["result"]) <= set(want)
        assert r["result"]["origClientOrderId"] == "mine1"
        r = await c.call("order.cancel", {"symbol": SYM, "orderId": oid})
        assert r["error"]["code"] == -2011
        assert acct.balance("USDT") == (Decimal("1000000"), 0)
        # cancelReplace: both succeed
        r = await c.call("order.place", limit("BUY", far, "0.001"))
        oid = r["result"]["orderId"]
        new = limit("BUY", str(Decimal(far) - 1), "0.002", cancelReplaceMode="STOP_ON_FAILURE",
                    cancelOrderId=oid)
        r = await c.call("order.cancelReplace", new)
        want = sample(samples_dir, "wsapi_order_cancelReplace_response_200_both_succeed.json")
        assert r["status"] == 200 and set(r["result"]) == set(want["result"])
        oid = r["result"]["newOrderResponse"]["orderId"]
        # cancel fails, STOP_ON_FAILURE: 400, new order not attempted
        r = await c.call("order.cancelReplace", dict(new, cancelOrderId=1))
        want = sample(samples_dir,
                      "wsapi_order_cancelReplace_response_400_stop_on_failure_cancel_failed.json")
        assert r["status"] == 400 and r["error"] == want["error"]
        # cancel fails, ALLOW_FAILURE, new order ok: 409
        r = await c.call("order.cancelReplace", dict(new, cancelOrderId=1,
                                                     cancelReplaceMode="ALLOW_FAILURE"))
        assert r["status"] == 409 and r["error"]["code"] == -2021
        assert r["error"]["data"]["cancelResult"] == "FAILURE"
        assert r["error"]["data"]["newOrderResult"] == "SUCCESS"
        # cancel ok, new order fails (LIMIT_MAKER would take): 409
        bad = {"symbol": SYM, "side": "BUY", "type": "LIMIT_MAKER", "price": asks[0][0],
               "quantity": "0.001", "cancelReplaceMode": "STOP_ON_FAILURE",
               "cancelOrderId": oid}
        r = await c.call("order.cancelReplace", bad)
        want = sample(samples_dir, "wsapi_order_cancelReplace_response_409_new_order_failed.json")
        assert r["status"] == 409 and r["error"]["data"]["newOrderResponse"] == \
            want["error"]["data"]["newOrderResponse"]
        # both fail: 400
        r = await c.call("order.cancelReplace", dict(bad, cancelOrderId=1,
                                                     cancelReplaceMode="ALLOW_FAILURE"))
        want = sample(samples_dir, "wsapi_order_cancelReplace_response_400_both_failed.json")
        assert r["status"] == 400 and r["error"] == want["error"]
        # cancel all
        r = await c.call("openOrders.cancelAll", {"symbol": SYM})
        assert r["status"] == 200 and all(x["status"] == "CANCELED" for x in r["result"])
        assert ex.orders(acct) == [] and acct.balance("USDT") == (Decimal("1000000"), 0)
        r = await c.call("openOrders.cancelAll", {"symbol": SYM})
        assert r["error"]["code"] == -2011
        await c.close()


async def test_oco(samples_dir):
    async with _ex() as ex:
        acct, c = await _setup(ex)
        bids, asks = best(ex)
        last = ex.market_of(SYM)
        lp = Decimal(last.px(last.last_price))
        params = {"symbol": SYM, "side": "SELL", "quantity": "0.01",
                  "aboveType": "LIMIT_MAKER", "abovePrice": str(lp + 500),
                  "belowType": "STOP_LOSS_LIMIT", "belowPrice": str(lp - 600),
                  "belowStopPrice": str(lp - 500), "belowTimeInForce": "GTC"}
        r = await c.call("orderList.place.oco", params)
        want = sample(samples_dir, "wsapi_orderList_place_oco_response.json")
        assert r["status"] == 200 and set(r["result"]) == set(want["result"])
        lid = r["result"]["orderListId"]
        assert acct.balance("BTC") == (Decimal("9.99"), Decimal("0.01"))
        r = await c.call("orderList.status", {"orderListId": lid})
        want = sample(samples_dir, "wsapi_orderList_status_response.json")
        assert set(r["result"]) == set(want["result"])
        r = await c.call("openOrderLists.status")
        assert len(r["result"]) == 1
        r = await c.call("orderList.cancel", {"symbol": SYM, "orderListId": lid})
        want = sample(samples_dir, "wsapi_orderList_cancel_response.json")
        assert set(r["result"]) == set(want["result"])
        assert r["result"]["listOrderStatus"] == "ALL_DONE"
        assert acct.balance("BTC") == (Decimal("10"), 0)
        bad = dict(params, abovePrice=str(lp - 1000))
        r = await c.call("orderList.place.oco", bad)
        assert r["status"] == 400 and r["error"]["code"] == -2010
        # another account's buy takes the limit leg: the stop leg expires, the lock is spent
        bids, asks = best(ex)
        last.last_price = last.best_bid                 # SELL: limit > last > stop
        tight = dict(params, abovePrice=asks[0][0])     # joins the best ask, behind its lots
        r = await c.call("orderList.place.oco", tight)
        assert r["status"] == 200, r
        other, c2 = await _setup(ex)
        r = await c2.call("order.place", limit("BUY", asks[0][0],
                                               str(Decimal(asks[0][1]) + Decimal("0.01"))))
        assert r["result"]["status"] == "FILLED"
        assert {f["price"] for f in r["result"]["fills"]} == {asks[0][0]}
        assert acct.balance("BTC") == (Decimal("9.99"), 0)
        assert acct.balance("USDT")[0] == Decimal("1000000") + Decimal(tight["abovePrice"]) / 100
        r = await c.call("openOrderLists.status")
        assert r["result"] == []
        await c2.close()
        await c.close()


async def test_order_rate_limit_then_ban():
    async with _ex(order_limits=(3, 100)) as ex:
        ex.weights.ban_after = 2
        acct, c = await _setup(ex)
        far = str(Decimal(best(ex)[0][0][0]) - 50)
        for _ in range(3):
            r = await c.call("order.place", limit("BUY", far, "0.001"))
            assert r["status"] == 200
        r = await c.call("order.place", limit("BUY", far, "0.001"))
        assert r["status"] == 429 and r["error"]["code"] == -1015
        assert r["error"]["msg"] == "Too many new orders; current limit is 3 orders per 10 " \
                                    "SECOND."
        assert r["error"]["data"]["retryAfter"] == (T0 // 10_000 + 1) * 10_000
        counts = {x["interval"]: x["count"] for x in r["rateLimits"]
                  if x["rateLimitType"] == "ORDERS"}
        assert counts == {"SECOND": 3, "DAY": 3}
        # honouring retryAfter works
        await ex.advance(10_000)
        r = await c.call("order.place", limit("BUY", far, "0.001"))
        assert r["status"] == 200
        # ignoring the 429s gets the IP banned (418) and the connection dropped
        statuses = []
        for _ in range(6):
            try:
                statuses.append((await c.call("order.place", limit("BUY", far, "0.001")))["status"])
            except websockets.ConnectionClosed:
                break
        assert 429 in statuses and statuses[-1] == 418
        with pytest.raises((websockets.ConnectionClosed, asyncio.TimeoutError)):
            await c.call("ping", signed=False)
        await c.close()


async def test_outcome_unknown_order_did_execute():
    async with _ex() as ex:
        acct, c = await _setup(ex)
        ex.faults.outcome_unknown()
        bids, asks = best(ex)
        r = await c.call("order.place", limit("BUY", asks[0][0], "0.0001",
                                              newClientOrderId="unsure"))
        assert r["status"] == 503 and r["error"]["code"] == -1007
        assert r["error"]["msg"].startswith("Timeout waiting for response from backend server.")
        r = await c.call("order.status", {"symbol": SYM, "origClientOrderId": "unsure"})
        assert r["status"] == 200 and r["result"]["status"] == "FILLED"
        await c.close()


async def test_drop_after_accept_and_delay():
    async with _ex() as ex:
        acct, c = await _setup(ex)
        far = str(Decimal(best(ex)[0][0][0]) - 50)
        ex.faults.drop_after_accept()
        with pytest.raises(websockets.ConnectionClosed):
            await c.call("order.place", limit("BUY", far, "0.001", newClientOrderId="lost"))
        c2 = await Client.connect(ex, acct.keys[0])
        r = await c2.call("order.status", {"symbol": SYM, "origClientOrderId": "lost"})
        assert r["result"]["status"] == "NEW"
        ex.faults.delay_responses(0.2, count=1, methods="ping")
        rid = await c2.send("ping", signed=False)
        rid2 = await c2.send("time", signed=False)
        first = await c2.recv()
        assert first["id"] == rid2                    # the delayed answer comes second
        assert (await c2.recv())["id"] == rid
        assert not ex.faults.api_faults
        await c2.close()


async def test_usdm_orders(samples_dir):
    async with _ex(market="usdm") as ex:
        acct, c = await _setup(ex, USDT="10000")
        bids, asks = best(ex)
        far = str(Decimal(bids[0][0]) - 100)
        r = await c.call("order.place", limit("BUY", far, "0.010"))
        want = sample(samples_dir, "usdm_wsapi_envelope_response_success.json")
        assert r["status"] == 200 and set(r["result"]) == set(want["result"])
        assert types_of(r["result"]) == types_of(want["result"])
        assert {x["rateLimitType"] for x in r["rateLimits"]} == {"ORDERS", "REQUEST_WEIGHT"}
        oid = r["result"]["orderId"]
        r = await c.call("order.modify", {"symbol": SYM, "orderId": oid, "side": "BUY",
                                          "price": str(Decimal(far) - 10), "quantity": "0.020"})
        want = sample(samples_dir, "usdm_wsapi_order_modify_response.json")
        assert set(r["result"]) == set(want["result"]) and r["result"]["origQty"] == "0.020"
        r = await c.call("order.status", {"symbol": SYM, "orderId": oid})
        assert r["result"]["time"] > 0
        r = await c.call("order.cancel", {"symbol": SYM, "orderId": oid})
        assert r["result"]["status"] == "CANCELED"
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                         "quantity": "0.050"})
        assert r["status"] == 200
        r = await c.call("account.position", {"symbol": SYM})
        assert r["result"][0]["positionAmt"] == "0.05"
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                         "quantity": "100"})
        assert r["error"]["code"] == -2019
        r = await c.call("account.balance")
        assert r["result"][0]["asset"] == "USDT"
        await c.close()


async def test_bad_params_get_clear_errors_never_500():
    async with _ex() as ex:
        acct, c = await _setup(ex)
        p = best(ex)[0][1][0]
        weird = [
            limit("BUY", {"x": 1}, "0.001"), limit("BUY", [1], "0.001"),
            limit("BUY", p, True), limit("BUY", p, "-1"), limit("BUY", p, "1e999"),
            limit("BUY", "NaN", "0.001"), limit("BUY", p, "0.001", timeInForce="GTX"),
            limit("BUY", p, "0.001", selfTradePreventionMode="DECREMENT"),
            limit("BUY", p, "0.001", newClientOrderId="x" * 40),
            limit("BUY", p, "0.001", strategyType=5),
            dict(limit("BUY", p, "0.001"), symbol=5), dict(limit("BUY", p, "0.001"), side=None),
            {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "0.001",
             "quoteOrderQty": "10"},
        ]
        for params in weird:
            r = await c.call("order.place", params)
            assert r["status"] == 400, (params, r)
            assert isinstance(r["error"]["code"], int) and r["error"]["msg"]
        for method, params in [("order.cancel", {"symbol": SYM, "orderId": "abc"}),
                               ("order.cancel", {"symbol": SYM}),
                               ("order.status", {"symbol": SYM, "orderId": 12345}),
                               ("order.cancelReplace", {"symbol": SYM}),
                               ("orderList.status", {}),
                               ("userDataStream.unsubscribe", {"subscriptionId": "zz"}),
                               ("myTrades", {"symbol": SYM, "limit": "many"})]:
            r = await c.call(method, params)
            assert r["status"] == 400, (method, r)
        assert acct.balance("USDT") == (Decimal("1000000"), 0) and ex.orders(acct) == []
        r = await c.call("ping", signed=False)
        assert r["status"] == 200
        await c.close()
