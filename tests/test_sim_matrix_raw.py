"""Operation matrix, raw client: the simulator against Binance's documented payloads
(``../shared/binance/samples``), with a client that signs with its own code
(``tests.sim_trading_support``) and plain aiohttp for REST.

Each test names the deviation it guards (issue 11); they fail on the simulator before it.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from fastws.sim import Exchange, ManualClock
from fastws.sim.control import ControlState, handle_control
from tests.sim_trading_support import Client, kinds
from tests.utils import UNIT

T0 = 1_700_000_000_000
SYM = "BTCUSDT"


def sample(samples_dir, name):
    return json.loads((samples_dir / f"{name}.json").read_text())["result"]


CONDITIONAL = {"icebergQty", "preventedMatchId", "preventedQuantity", "stopPrice",
               "strategyId", "strategyType", "trailingDelta", "trailingTime", "usedSor",
               "workingFloor", "pegPriceType", "pegOffsetType", "pegOffsetValue", "peggedPrice",
               "expiryReason"}
"""Order fields present "only under some conditions" (SPEC §5.5)."""


def same_shape(got, want, where=""):
    """Same keys (less the conditional ones), same JSON types, recursively (lists: the first
    item)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        assert set(got) - set(want) == set(), (where, set(got) - set(want))
        assert set(want) - set(got) - CONDITIONAL == set(), (where, set(want) - set(got))
        for k in want:
            if k in got:
                same_shape(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), where
        if want and got:
            same_shape(got[0], want[0], where + "[0]")
    else:
        assert type(got) is type(want) or {type(got), type(want)} <= {int, float}, \
            (where, got, want)


def lim(side, price, qty, **kw):
    return dict({"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": "GTC",
                 "price": price, "quantity": qty}, **kw)


async def market(ex, ms=120_000):
    await ex.advance(ms)


# -- control messages ---------------------------------------------------------------------------
def test_usdm_control_takes_the_string_ids_binance_accepts():
    r = orjson_loads(handle_control(b'{"method":"LIST_SUBSCRIPTIONS","id":"9d32157c-a556-4d27-'
                                    b'9866-66760a174b57"}', ControlState(market="usdm")).response)
    assert r == {"result": [], "id": "9d32157c-a556-4d27-9866-66760a174b57"}


def orjson_loads(b):
    return json.loads(b)


# -- parameters ---------------------------------------------------------------------------------
async def test_boolean_strings_and_exponent_quantities():
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "1"}, keys=["HMAC"])
        ex.add_account(balances={"USDT": "0"})
        c = await Client.connect(ex, acct.keys[0])
        bids, _ = ex.book(SYM, 1)
        px = str(Decimal(bids[0][0]) - 100)
        r = await c.call("order.test", lim("BUY", px, "0.001", computeCommissionRates="true"))
        assert "standardCommissionForOrder" in r["result"]
        r = await c.call("order.test", lim("BUY", px, "0.001", computeCommissionRates="false"))
        assert r["result"] == {}
        acct.free["ETH"] = Decimal(0)
        r = await c.call("account.status", {"omitZeroBalances": "true"})
        assert {b["asset"] for b in r["result"]["balances"]} == {"USDT", "BTC"}
        r = await c.call("time", {"returnRateLimits": "false"}, signed=False)
        assert "rateLimits" not in r
        r = await c.call("order.test", lim("BUY", px, "0.001", computeCommissionRates="yes"))
        assert r["error"]["code"] == -1130
        for q in ("1e-3", "-0.001", "0x1"):
            r = await c.call("order.place", lim("BUY", px, q))
            assert r["error"] == {"code": -1100, "msg": "Illegal characters found in parameter "
                                  "'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."}
        await c.close()


# -- WS API market data -------------------------------------------------------------------------
SPOT_MD = [
    ("trades.recent", {"symbol": SYM, "limit": 3}, "wsapi_trades_recent_response"),
    ("trades.historical", {"symbol": SYM, "limit": 3}, "wsapi_trades_historical_response"),
    ("trades.aggregate", {"symbol": SYM, "limit": 3}, "wsapi_trades_aggregate_response"),
    ("klines", {"symbol": SYM, "interval": "1m", "limit": 3}, "wsapi_klines_response"),
    ("uiKlines", {"symbol": SYM, "interval": "1m", "limit": 3}, "wsapi_uiKlines_response"),
    ("avgPrice", {"symbol": SYM}, "wsapi_avgPrice_response"),
    ("ticker.24hr", {"symbol": SYM}, "wsapi_ticker_24hr_response_full_single"),
    ("ticker.24hr", {"symbol": SYM, "type": "MINI"}, "wsapi_ticker_24hr_response_mini_single"),
    ("ticker.24hr", {"symbols": [SYM, "ETHUSDT"]}, "wsapi_ticker_24hr_response_full_multi"),
    ("ticker.tradingDay", {"symbol": SYM}, "wsapi_ticker_tradingDay_response_full_single"),
    ("ticker.tradingDay", {"symbols": [SYM], "type": "MINI"},
     "wsapi_ticker_tradingDay_response_mini_multi"),
    ("ticker", {"symbol": SYM, "windowSize": "7m"}, "wsapi_ticker_response_full_single"),
    ("ticker", {"symbol": SYM, "type": "MINI"}, "wsapi_ticker_response_mini_single"),
    ("ticker.price", {"symbol": SYM}, "wsapi_ticker_price_response_single"),
    ("ticker.price", {}, "wsapi_ticker_price_response_multi"),
    ("ticker.book", {"symbol": SYM}, "wsapi_ticker_book_response_single"),
    ("ticker.book", {"symbols": [SYM]}, "wsapi_ticker_book_response_multi"),
]


async def test_spot_ws_api_market_data_shapes_and_truth(samples_dir):
    async with Exchange([SYM, "ETHUSDT"], clock=ManualClock(T0), rest=False) as ex:
        await market(ex)
        c = await Client.connect(ex)
        for method, params, name in SPOT_MD:
            r = await c.call(method, params, signed=False)
            assert r["status"] == 200, (method, r)
            same_shape(r["result"], sample(samples_dir, name), method)
        m = ex.market_of(SYM)
        recent = (await c.call("trades.recent", {"symbol": SYM, "limit": 5}, signed=False))
        rows = recent["result"]
        assert len(rows) == 5 and rows[-1]["id"] == m.trade_id
        assert [r["id"] for r in rows] == list(range(m.trade_id - 4, m.trade_id + 1))
        hist = await c.call("trades.historical", {"symbol": SYM, "fromId": rows[1]["id"],
                                                   "limit": 2}, signed=False)
        assert hist["result"] == rows[1:3]
        book = (await c.call("ticker.book", {"symbol": SYM}, signed=False))["result"]
        bids, asks = ex.book(SYM, 1)
        assert (book["bidPrice"], book["bidQty"], book["askPrice"], book["askQty"]) == \
            (*bids[0], *asks[0])
        kl = (await c.call("klines", {"symbol": SYM, "interval": "1m", "limit": 2},
                           signed=False))["result"]
        assert kl[-1][6] - kl[-1][0] == 59_999 and kl[0][6] + 1 == kl[1][0]
        assert sum(k[8] for k in kl) > 0
        r = await c.call("klines", {"symbol": SYM, "interval": "7m"}, signed=False)
        assert r["error"]["code"] == -1120
        r = await c.call("ticker", {"symbol": SYM, "windowSize": "8d"}, signed=False)
        assert r["error"]["code"] == -1130
        await c.close()


async def test_usdm_ws_api_ticker_methods(samples_dir):
    async with Exchange([SYM, "ETHUSDT"], market="usdm", clock=ManualClock(T0),
                        rest=False) as ex:
        await market(ex, 5000)
        c = await Client.connect(ex)
        for method, params, name in [
                ("ticker.price", {"symbol": SYM}, "usdm_wsapi_ticker_price_response_single"),
                ("ticker.price", {}, "usdm_wsapi_ticker_price_response_multi"),
                ("ticker.book", {"symbol": SYM}, "usdm_wsapi_ticker_book_response_single"),
                ("ticker.book", {}, "usdm_wsapi_ticker_book_response_multi")]:
            r = await c.call(method, params, signed=False)
            same_shape(r["result"], sample(samples_dir, name), method)
        r = await c.call("ticker.book", {"symbol": SYM}, signed=False)
        assert r["result"]["lastUpdateId"] == ex.update_id(SYM)
        await c.close()


# -- account methods ----------------------------------------------------------------------------
async def test_commission_prevented_matches_and_amend(samples_dir):
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000000", "BTC": "10"}, keys=["ED25519"],
                              maker_commission="0.001")
        c = await Client.connect(ex, acct.keys[0])
        r = await c.call("account.commission", {"symbol": SYM})
        same_shape(r["result"], sample(samples_dir, "wsapi_account_commission_response"))
        assert r["result"]["standardCommission"]["maker"] == "0.00100000"
        _, asks = ex.book(SYM, 1)
        px = str(Decimal(asks[0][0]) - Decimal("0.01"))
        maker = (await c.call("order.place", lim("SELL", px, "0.002")))["result"]["orderId"]
        await c.call("order.place", lim("BUY", px, "0.001", newOrderRespType="RESULT"))
        r = await c.call("myPreventedMatches", {"symbol": SYM, "orderId": maker})
        same_shape(r["result"], sample(samples_dir, "wsapi_myPreventedMatches_response"))
        assert r["result"][0]["makerOrderId"] == maker
        assert r["result"][0]["makerPreventedQuantity"] == "0.00100000"
        # amend: lower the quantity, keep the place in the queue
        bids, _ = ex.book(SYM, 1)
        low = str(Decimal(bids[0][0]) - 50)
        first = (await c.call("order.place", lim("BUY", low, "0.010")))["result"]
        second = (await c.call("order.place", lim("BUY", low, "0.010")))["result"]
        level_before = dict(ex.book(SYM)[0])[ex.market_of(SYM).px(
            int(Decimal(low) / ex.market_of(SYM)._tick_dec))]
        r = await c.call("order.amend.keepPriority", {"symbol": SYM,
                                                       "orderId": first["orderId"],
                                                       "newQty": "0.004"})
        same_shape(r["result"], sample(samples_dir, "wsapi_order_amend_keepPriority_"
                                       "response_order"))
        am = r["result"]["amendedOrder"]
        assert am["qty"] == "0.00400000" and am["origClientOrderId"] == first["clientOrderId"]
        queue = ex.engine.queues[SYM][0][int(Decimal(low) / ex.market_of(SYM)._tick_dec)]
        assert [o.order_id for o in queue] == [first["orderId"], second["orderId"]]
        level_after = dict(ex.book(SYM)[0])[am["price"]]
        assert Decimal(level_before) - Decimal(level_after) == Decimal("0.006")
        r = await c.call("order.amend.keepPriority", {"symbol": SYM,
                                                       "orderId": first["orderId"],
                                                       "newQty": "0.005"})
        assert r["error"]["code"] == -2038
        await c.close()


async def test_usdm_account_status_is_the_documented_object():
    async with Exchange([SYM], market="usdm", clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "10000"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        r = (await c.call("account.status"))["result"]
        assert isinstance(r, dict) and r["totalWalletBalance"] == "10000.00000000"
        assert {"feeTier", "canTrade", "assets", "positions", "availableBalance"} <= set(r)
        assert r["positions"][0]["symbol"] == SYM
        r2 = (await c.call("v2/account.status"))["result"]
        assert "feeTier" not in r2 and r2["positions"] == []
        r3 = (await c.call("v2/account.position"))["result"]
        assert r3 == []
        r4 = (await c.call("account.balance"))["result"]
        assert r4[0]["asset"] == "USDT" and r4[0]["balance"] == "10000.00000000"
        await c.close()


async def test_revoked_key_while_logged_on():
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "100"}, keys=["ED25519"])
        key = acct.keys[0]
        c = await Client.connect(ex, key)
        assert (await c.call("session.logon"))["status"] == 200
        assert (await c.call("account.status", key=None))["status"] == 200
        ex.revoke_key(key.api_key)
        r = await c.call("account.status", key=None)
        assert r["status"] == 401 and r["error"]["code"] == -2015
        extra = await c.recv()
        assert extra == {"id": None, "status": 401, "error": {
            "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}}
        s = (await c.call("session.status", signed=False))["result"]
        assert s["apiKey"] is None
        await c.close()


async def test_micro_time_unit_on_order_answers():
    import websockets
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "100000"}, keys=["HMAC"])
        ws = await websockets.connect(ex.venue.ws_api_url + "?timeUnit=MICROSECOND")
        c = Client(ws, ex, acct.keys[0])
        await c.call("userDataStream.subscribe.signature")
        bids, _ = ex.book(SYM, 1)
        r = (await c.call("order.place", lim("BUY", str(Decimal(bids[0][0]) - 100), "0.001",
                                             newOrderRespType="RESULT")))["result"]
        assert r["transactTime"] == ex.now_ms() * 1000
        await c.settle()
        reps = kinds(c.events, "executionReport")
        assert reps, "the new order's executionReport"
        # user data on this connection is in microseconds too, as every answer
        assert reps[0]["E"] == reps[0]["T"] == ex.now_ms() * 1000 and reps[0]["O"] == ex.now_ms() * 1000
        assert r["workingTime"] == ex.now_ms() * 1000
        s = (await c.call("order.status", {"symbol": SYM, "orderId": r["orderId"]}))["result"]
        assert s["time"] == s["updateTime"] == ex.now_ms() * 1000
        k = (await c.call("klines", {"symbol": SYM, "interval": "1s", "limit": 1},
                          signed=False))["result"]
        assert k == [] or k[0][0] % 1_000_000 == 0
        await c.close()


# -- exchangeInfo filters -----------------------------------------------------------------------
async def test_exchange_info_filters_are_served_and_enforced():
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        await market(ex, 10_000)
        acct = ex.add_account(balances={"USDT": "10000000", "BTC": "100"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        info = (await c.call("exchangeInfo", {"symbol": SYM}, signed=False))["result"]
        s = info["symbols"][0]
        assert [f["filterType"] for f in s["filters"]] == [
            "PRICE_FILTER", "LOT_SIZE", "ICEBERG_PARTS", "MARKET_LOT_SIZE", "TRAILING_DELTA",
            "PERCENT_PRICE_BY_SIDE", "NOTIONAL", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS"]
        assert {"STOP_LOSS", "TAKE_PROFIT"} <= set(s["orderTypes"])
        assert "opoAllowed" in s and "pegInstructionsAllowed" in s
        r = await c.call("order.place", lim("BUY", "1.00", "0.01"))
        assert r["error"] == {"code": -1013, "msg": "Filter failure: PERCENT_PRICE_BY_SIDE"}
        r = await c.call("order.place", lim("SELL", "400000.00", "0.001"))
        assert r["error"]["msg"] == "Filter failure: PERCENT_PRICE_BY_SIDE"
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                         "quantity": "101"})
        assert r["error"] == {"code": -1013, "msg": "Filter failure: MARKET_LOT_SIZE"}
        bids, asks = ex.book(SYM, 1)
        hi = str(Decimal(asks[0][0]) + 1000)
        for _ in range(5):
            r = await c.call("order.place", {"symbol": SYM, "side": "BUY",
                                             "type": "STOP_LOSS", "quantity": "0.001",
                                             "stopPrice": hi})
            assert r["status"] == 200, r
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "STOP_LOSS",
                                         "quantity": "0.001", "stopPrice": hi})
        assert r["error"] == {"code": -2010, "msg": "Filter failure: MAX_NUM_ALGO_ORDERS"}
        await c.close()


async def test_usdm_percent_price():
    async with Exchange([SYM], market="usdm", clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000000"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        _, asks = ex.book(SYM, 1)
        r = await c.call("order.place", lim("BUY", str(Decimal(asks[0][0]) * 2), "0.001"))
        assert r["error"]["code"] == -4016
        assert r["error"]["msg"].startswith("Limit price can't be higher than ")
        await c.close()


# -- REST ---------------------------------------------------------------------------------------
async def _rest(session, verb, url, key=None, params=None, body=False, bad=False):
    params = dict(params or {})
    headers = {}
    if key is not None:
        headers["X-MBX-APIKEY"] = key.api_key
        q = urlencode(params)
        if key.key_type == "HMAC":
            sig = hmac.new(key.secret.encode(), q.encode(), hashlib.sha256).hexdigest()
        else:
            import base64
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding
            priv = serialization.load_pem_private_key(key.private_pem.encode(), None)
            raw = (priv.sign(q.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore
                   if key.key_type == "RSA" else priv.sign(q.encode()))  # type: ignore
            sig = base64.b64encode(raw).decode()
        if bad:
            sig = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
        text = q + "&" + urlencode({"signature": sig})
    else:
        text = urlencode(params)
    kw = {"data": text, "headers": dict(headers, **{
        "Content-Type": "application/x-www-form-urlencoded"})} if body else {
        "headers": headers}
    full = url + ("" if body or not text else "?" + text)
    async with session.request(verb, full, **kw) as r:
        return r.status, dict(r.headers), json.loads(await r.read())


@pytest.mark.parametrize("kt", ["HMAC", "RSA", "ED25519"])
async def test_rest_signed_spot_endpoints(kt, samples_dir):
    import aiohttp
    async with Exchange([SYM], clock=ManualClock(int(time.time() * 1000))) as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "1"}, keys=[kt])
        key = acct.keys[0]
        base = ex.venue.rest_url + "/api/v3"
        bids, _ = ex.book(SYM, 1)
        px = str(Decimal(bids[0][0]) - 100)
        ts = ex.now_ms()
        async with aiohttp.ClientSession() as s:
            st, h, r = await _rest(s, "POST", base + "/order", key,
                                   lim("BUY", px, "0.001", timestamp=ts), body=True)
            assert st == 200 and r["status"] == "NEW" and h["X-MBX-ORDER-COUNT-10S"] == "1"
            oid = r["orderId"]
            st, _, r = await _rest(s, "GET", base + "/order", key,
                                   {"symbol": SYM, "orderId": oid, "timestamp": ts})
            same_shape(r, sample(samples_dir, "wsapi_order_status_response"))
            st, _, r = await _rest(s, "GET", base + "/openOrders", key,
                                   {"symbol": SYM, "timestamp": ts})
            assert [o["orderId"] for o in r] == [oid]
            st, _, r = await _rest(s, "GET", base + "/account", key, {"timestamp": ts})
            same_shape(r, sample(samples_dir, "wsapi_account_status_response"))
            st, _, r = await _rest(s, "DELETE", base + "/order", key,
                                   {"symbol": SYM, "orderId": oid, "timestamp": ts})
            assert st == 200 and r["status"] == "CANCELED"
            st, _, r = await _rest(s, "GET", base + "/allOrders", key,
                                   {"symbol": SYM, "timestamp": ts})
            assert [o["status"] for o in r] == ["CANCELED"]
            st, _, r = await _rest(s, "GET", base + "/myTrades", key,
                                   {"symbol": SYM, "timestamp": ts})
            assert st == 200 and r == []
            st, _, r = await _rest(s, "GET", base + "/account/commission", key,
                                   {"symbol": SYM, "timestamp": ts})
            assert st == 200 and r["symbol"] == SYM
            st, _, r = await _rest(s, "GET", base + "/account", key, {"timestamp": ts},
                                   bad=True)
            assert (st, r["code"]) == (400, -1022)
            st, _, r = await _rest(s, "GET", base + "/account", None, {"timestamp": ts})
            assert (st, r["code"]) == (401, -2014)
            async with s.get(base + "/time", headers={"X-MBX-TIME-UNIT": "MICROSECOND"}) as rr:
                assert (await rr.json())["serverTime"] == ex.now_ms() * 1000


async def test_rest_market_data_and_usdm_signed():
    import aiohttp
    async with Exchange([SYM], market="usdm", clock=ManualClock(int(time.time() * 1000))) as ex:
        await market(ex, 5000)
        acct = ex.add_account(balances={"USDT": "100000"}, keys=["HMAC"])
        key = acct.keys[0]
        base = ex.venue.rest_url + "/fapi"
        async with aiohttp.ClientSession() as s:
            for path, params in [("/v1/trades", {"symbol": SYM}),
                                 ("/v1/aggTrades", {"symbol": SYM}),
                                 ("/v1/klines", {"symbol": SYM, "interval": "1m"}),
                                 ("/v1/ticker/24hr", {"symbol": SYM}),
                                 ("/v2/ticker/price", {"symbol": SYM}),
                                 ("/v1/ticker/bookTicker", {"symbol": SYM}),
                                 ("/v1/premiumIndex", {"symbol": SYM})]:
                st, h, r = await _rest(s, "GET", base + path, None, params)
                assert st == 200 and r, path
                assert "X-MBX-USED-WEIGHT-1M" in h
            ts = ex.now_ms()
            bids, _ = ex.book(SYM, 1)
            px = str(Decimal(bids[0][0]) - 100)
            st, _, r = await _rest(s, "POST", base + "/v1/order", key,
                                   lim("BUY", px, "0.001", timestamp=ts), body=True)
            assert st == 200 and r["status"] == "NEW" and r["symbol"] == SYM
            st, _, r = await _rest(s, "GET", base + "/v2/account", key, {"timestamp": ts})
            assert st == 200 and r["totalOpenOrderInitialMargin"] != "0.00000000"
            st, _, r = await _rest(s, "GET", base + "/v3/positionRisk", key, {"timestamp": ts})
            assert st == 200 and r == []
            st, _, r = await _rest(s, "GET", base + "/v2/balance", key, {"timestamp": ts})
            assert st == 200 and r[0]["asset"] == "USDT"


async def test_user_data_shows_the_amend(samples_dir):
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "100000"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        await c.call("userDataStream.subscribe.signature")
        bids, _ = ex.book(SYM, 1)
        o = (await c.call("order.place", lim("BUY", str(Decimal(bids[0][0]) - 9), "0.01")))
        await c.call("order.amend.keepPriority", {"symbol": SYM,
                                                   "orderId": o["result"]["orderId"],
                                                   "newQty": "0.002"})
        await c.settle()
        reps = [e for e in kinds(c.events, "executionReport") if e["x"] == "REPLACED"]
        assert reps and reps[0]["q"] == "0.00200000"
        await asyncio.wait_for(c.close(), 5 * UNIT)


def test_simulator_modules_import_no_client_code():
    """Every module of fastws.sim, the new ones included, imports from fastws only what is not
    under test (venues, exceptions, captures): never the parser, book, sync or signing code."""
    import ast
    import pathlib

    import fastws.sim
    allowed = {"fastws.sim", "fastws.exceptions", "fastws.venues", "fastws.captures",
               "fastws.cliargs"}  # argparse helpers; import nothing of fastws
    bad = []
    for path in pathlib.Path(fastws.sim.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if (n == "fastws" or n.startswith("fastws.")) and \
                        not any(n == a or n.startswith(a + ".") for a in allowed):
                    bad.append((path.name, n))
    assert bad == []


async def test_oto_list(samples_dir):
    """orderList.place.oto: the pending order waits (PENDING_NEW, nothing locked) until the
    working order fills, then is placed; canceling either leg cancels the list."""
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000000", "BTC": "10"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        bids, _ = ex.book(SYM, 1)
        low = str(Decimal(bids[0][0]) - 100)
        p = {"symbol": SYM, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": low,
             "workingQuantity": "0.001", "workingTimeInForce": "GTC", "pendingType": "LIMIT",
             "pendingSide": "SELL", "pendingPrice": str(Decimal(low) + 300),
             "pendingQuantity": "0.001", "pendingTimeInForce": "GTC"}
        r = await c.call("orderList.place.oto", p)
        same_shape(r["result"], sample(samples_dir, "wsapi_orderList_place_oto_response"))
        rep = r["result"]["orderReports"]
        assert [x["status"] for x in rep] == ["NEW", "PENDING_NEW"]
        assert rep[1]["workingTime"] == -1 and acct.balance("BTC") == (Decimal(10), 0)
        assert [o.order_id for o in ex.orders(acct)] == [rep[0]["orderId"]]
        # the market comes down to the working order: it fills, the pending one is placed
        m = ex.market_of(SYM)
        tick = int(Decimal(low) / m._tick_dec)
        working = ex.engine.orders[rep[0]["orderId"]]
        from fastws.sim.market import StepResult
        res = StepResult(time=ex.now_ms())
        ex.engine.fill_resting(working, tick, working.remaining, ex.now_ms(), m.trade_id + 1,
                               res)
        ex.engine.queues[SYM][0].pop(tick, None)
        assert working.status == "FILLED"
        pending = ex.engine.orders[rep[1]["orderId"]]
        assert pending.status == "NEW" and pending.on_book
        assert acct.balance("BTC")[1] == Decimal("0.001")          # now locked
        # a second list, canceled through its pending order: the whole list goes
        r = await c.call("orderList.place.oto", p)
        pend2 = r["result"]["orderReports"][1]["orderId"]
        r = await c.call("order.cancel", {"symbol": SYM, "orderId": pend2})
        assert r["status"] == 200 and r["result"]["listOrderStatus"] == "ALL_DONE"
        assert [x["status"] for x in r["result"]["orderReports"]] == ["CANCELED", "CANCELED"]
        await c.close()


async def test_otoco_list(samples_dir):
    """orderList.place.otoco: once the working order fills, the pending pair is placed and
    behaves as an OCO (the first leg to trigger expires the other)."""
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000000", "BTC": "10"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        _, asks = ex.book(SYM, 1)
        ask = Decimal(asks[0][0])
        p = {"symbol": SYM, "workingType": "LIMIT", "workingSide": "BUY",
             "workingPrice": str(ask + 50), "workingQuantity": "0.001",
             "workingTimeInForce": "GTC",
             "pendingSide": "SELL", "pendingQuantity": "0.001",
             "pendingAboveType": "LIMIT_MAKER", "pendingAbovePrice": str(ask + 300),
             "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": str(ask - 300)}
        r = await c.call("orderList.place.otoco", p)
        same_shape(r["result"], sample(samples_dir, "wsapi_orderList_place_otoco_response"))
        rep = r["result"]["orderReports"]
        assert [x["status"] for x in rep] == ["FILLED", "NEW", "NEW"]
        above, below = (ex.engine.orders[x["orderId"]] for x in rep[1:])
        assert above.on_book and below in ex.engine.stops[SYM]
        assert acct.balance("BTC")[1] == Decimal("0.001")          # one lock for the pair
        r = await c.call("orderList.cancel", {"symbol": SYM,
                                              "orderListId": r["result"]["orderListId"]})
        assert [x["status"] for x in r["result"]["orderReports"]][1:] == \
            ["CANCELED", "CANCELED"]
        assert acct.balance("BTC")[1] == 0
        bad = dict(p, pendingAbovePrice=str(ask - 400))
        r = await c.call("orderList.place.otoco", bad)
        assert r["error"]["code"] == -2010
        await c.close()


async def test_opo_list(samples_dir):
    """orderList.place.opo: the pending order takes no quantity; it is placed for what the
    working order executed, once that is filled."""
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000000", "BTC": "10"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        bids, asks = ex.book(SYM, 1)
        low = str(Decimal(bids[0][0]) - 100)
        p = {"symbol": SYM, "workingType": "LIMIT", "workingSide": "BUY", "workingPrice": low,
             "workingQuantity": "0.002", "workingTimeInForce": "GTC", "pendingType": "MARKET",
             "pendingSide": "SELL"}
        r = await c.call("orderList.place.opo", p)
        same_shape(r["result"], sample(samples_dir, "wsapi_orderList_place_opo_response"))
        assert "origQty" not in r["result"]["orderReports"][1]
        r = await c.call("orderList.place.opo", dict(p, pendingQuantity="1"))
        assert r["error"]["code"] == -1106
        # above the ask the working order fills at once: the pending MARKET sells the same
        r = await c.call("orderList.place.opo",
                         dict(p, workingPrice=str(Decimal(asks[0][0]) + 50)))
        rep = r["result"]["orderReports"]
        assert [x["status"] for x in rep] == ["FILLED", "FILLED"]
        assert rep[1]["executedQty"] == "0.00200000"
        assert r["result"]["listOrderStatus"] == "ALL_DONE"
        opoco = {"symbol": SYM, "workingType": "LIMIT", "workingSide": "BUY",
                 "workingPrice": low, "workingQuantity": "0.001", "workingTimeInForce": "GTC",
                 "pendingSide": "SELL", "pendingAboveType": "LIMIT_MAKER",
                 "pendingAbovePrice": str(Decimal(low) + 400),
                 "pendingBelowType": "STOP_LOSS", "pendingBelowStopPrice": str(Decimal(low) - 300)}
        r = await c.call("orderList.place.opoco", opoco)
        same_shape(r["result"], sample(samples_dir, "wsapi_orderList_place_opoco_response"))
        await c.close()


def test_user_events_in_microseconds(samples_dir):
    """payloads.user_event_micro: every time field of each user data event type scaled."""
    from fastws.sim import payloads as P
    for name, keys in [("spot_uds_executionReport", ("E", "T", "O", "W")),
                       ("spot_uds_outboundAccountPosition", ("E", "u")),
                       ("spot_uds_balanceUpdate", ("E", "T")),
                       ("spot_uds_listStatus", ("E", "T")),
                       ("usdm_uds_ORDER_TRADE_UPDATE", ("E", "T")),
                       ("usdm_uds_ACCOUNT_UPDATE", ("E", "T"))]:
        raw = json.loads((samples_dir / f"{name}.json").read_text())
        ev = raw.get("event", raw)
        got = json.loads(P.user_event_micro(json.dumps(ev).encode()))
        for k in keys:
            if k in ev:
                assert got[k] == ev[k] * 1000, (name, k)
        if isinstance(ev.get("o"), dict):
            assert got["o"]["T"] == ev["o"]["T"] * 1000


async def test_reference_price_block_trades_filters_amendments(samples_dir):
    async with Exchange([SYM], clock=ManualClock(T0), rest=False) as ex:
        await market(ex, 600_000)
        acct = ex.add_account(balances={"USDT": "1000000"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        r = (await c.call("referencePrice", {"symbol": SYM}, signed=False))["result"]
        same_shape(r, sample(samples_dir, "wsapi_referencePrice_response_set"))
        r = (await c.call("referencePrice.calculation", {"symbol": SYM}, signed=False))
        same_shape(r["result"], sample(samples_dir,
                                       "wsapi_referencePrice_calculation_response_arithmetic_"
                                       "mean"))
        blocks = ex._api.tape.blocks[SYM]
        assert blocks                                 # ten minutes of market print some
        r = await c.call("blockTrades.historical", {"symbol": SYM, "fromId": blocks[0][0],
                                                     "limit": 1}, signed=False)
        same_shape(r["result"], sample(samples_dir, "wsapi_blockTrades_historical_response"))
        assert r["result"][0]["id"] == blocks[0][0]
        r = await c.call("blockTrades.historical", {"symbol": SYM}, signed=False)
        assert r["error"]["code"] == -1102
        r = (await c.call("myFilters", {"symbol": SYM}))["result"]
        assert set(r) == {"exchangeFilters", "symbolFilters", "assetFilters"}
        bids, _ = ex.book(SYM, 1)
        o = (await c.call("order.place", lim("BUY", str(Decimal(bids[0][0]) - 50), "0.007",
                                             newClientOrderId="mine")))["result"]
        await c.call("order.amend.keepPriority", {"symbol": SYM, "orderId": o["orderId"],
                                                   "newQty": "0.005"})
        r = (await c.call("order.amendments", {"symbol": SYM, "orderId": o["orderId"]}))
        same_shape(r["result"], sample(samples_dir, "wsapi_order_amendments_response"))
        a = r["result"][0]
        assert (a["origQty"], a["newQty"], a["origClientOrderId"]) == \
            ("0.00700000", "0.00500000", "mine")
        await c.close()
