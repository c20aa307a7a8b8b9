"""A small fake Binance WS API (spot ``/ws-api/v3``, USD-M ``/ws-fapi/v1`` + ``/private/ws/<key>``)
for the client tests, built on ``websockets`` with its own signature checks (hmac /
cryptography, not fastws.api.signing), so the client is tested against an independent server.

It keeps accounts, orders and balances for one symbol set, fills marketable orders at once at
the order price, lets a test fill resting orders (:meth:`FakeExchange.fill`), pushes
``executionReport`` / ``outboundAccountPosition`` (spot) or ``ORDER_TRADE_UPDATE`` /
``ACCOUNT_UPDATE`` (USD-M) to subscribers, and injects faults: an ``order.place`` answered
-1007 although it executed, a connection dropped after an order was accepted, a clock skew,
an ``ORDERS`` limit with 429 + ``retryAfter`` and a 418 ban after ignored 429s.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import time
from decimal import Decimal
from typing import Any

import orjson
import websockets
from websockets.asyncio.server import serve

from fastws.venues import SPOT_LIMITS, USDM_LIMITS, Venue

TICK = Decimal("0.01")
STEP = Decimal("0.00001")
MIN_NOTIONAL = Decimal("5")


class Err(Exception):
    def __init__(self, status: int, code: int, msg: str, data: dict | None = None) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.data = status, code, msg, data


def _now() -> int:
    return int(time.time() * 1000)


class FakeExchange:
    def __init__(self, market: str = "spot", *, api_key: str = "k" * 64, hmac_secret: str | None = "s" * 64,
                 ed25519_public_pem: str | None = None, skew_ms: int = 0, orders_per_second: int = 1000,
                 symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> None:
        self.market = market
        self.api_key = api_key
        self.hmac_secret = hmac_secret
        self.ed_pub = None
        if ed25519_public_pem:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
            self.ed_pub = load_pem_public_key(ed25519_public_pem.encode())
        self.skew_ms = skew_ms
        self.orders_per_second = orders_per_second
        self.symbols = symbols
        self.port = 0
        self._server: Any = None
        self.conns: set[Any] = set()
        self.sessions: dict[Any, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.balances = {"USDT": [Decimal("1000000"), Decimal(0)], "BTC": [Decimal("100"), Decimal(0)],
                         "ETH": [Decimal("1000"), Decimal(0)]}
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._sub_ids = itertools.count(0)
        self.listen_keys: dict[str, list[Any]] = {}
        # faults
        self.unknown_next_order = False       # answer -1007 but execute
        self.unknown_next_order_lost = False  # answer -1007 and do not execute
        self.drop_after_next_order = False     # execute, then drop the connection, no answer
        self.delay_ms = 0
        self.silent_events = False             # events are generated but not sent (connection "down")
        # rate limits
        self._order_window = -1
        self._order_count = 0
        self.order_429s = 0
        self.report_order_limits = True       # put the ORDERS window in rateLimits
        self.ignored_429s = 0
        self.banned_until = 0
        self.requests: list[str] = []
        self.params: list[tuple[str, dict]] = []
        self.connects = 0

    # -- server -------------------------------------------------------------------------------
    async def __aenter__(self) -> "FakeExchange":
        self._server = await serve(self._handler, "127.0.0.1", 0, max_size=2**22)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for ws in list(self.conns):
            await ws.close()
        await self._server.wait_closed()

    @property
    def venue(self) -> Venue:
        base = f"ws://127.0.0.1:{self.port}"
        if self.market == "spot":
            return Venue("fake-spot", "spot", base, base + "/ws-api/v3", "http://127.0.0.1:1", SPOT_LIMITS)
        return Venue("fake-usdm", "usdm", base, base + "/ws-fapi/v1", "http://127.0.0.1:1", USDM_LIMITS,
                     split_routes=True)

    def now(self) -> int:
        return _now() + self.skew_ms

    async def _handler(self, ws: Any) -> None:
        path = ws.request.path
        self.conns.add(ws)
        self.connects += 1
        try:
            if "/private/ws/" in path:
                key = path.rsplit("/", 1)[1]
                if key not in self.listen_keys:
                    await ws.close(1008, "invalid listenKey")
                    return
                self.listen_keys[key].append(ws)
                await ws.wait_closed()
                return
            self.sessions[ws] = {"logon": None, "subs": {}}
            async for data in ws:
                try:
                    out = await self._handle(ws, data)
                except websockets.ConnectionClosed:
                    return
                if out is not None:
                    if self.delay_ms:
                        await asyncio.sleep(self.delay_ms / 1000)
                    await ws.send(orjson.dumps(out).decode())
        except websockets.ConnectionClosed:
            pass
        finally:
            self.conns.discard(ws)
            self.sessions.pop(ws, None)
            for conns in self.listen_keys.values():
                if ws in conns:
                    conns.remove(ws)

    async def drop_all(self) -> None:
        """Drop every WS API connection abruptly."""
        for ws in list(self.conns):
            ws.transport.abort()

    async def server_shutdown(self) -> None:
        for ws in list(self.sessions):
            await ws.send(orjson.dumps({"event": {"e": "serverShutdown", "E": self.now()}}).decode())

    # -- request handling -------------------------------------------------------------------
    async def _handle(self, ws: Any, data: str) -> dict | None:
        req = orjson.loads(data)
        id_ = req.get("id")
        method = req.get("method", "")
        params = dict(req.get("params") or {})
        self.requests.append(method)
        self.params.append((method, params))
        rl = None
        try:
            if self.now() < self.banned_until:
                raise Err(418, -1003, f"Way too much request weight used; IP banned until {self.banned_until}.",
                          {"retryAfter": self.banned_until})
            fn = getattr(self, "m_" + method.replace(".", "_"), None)
            if fn is None:
                raise Err(400, -1000, f"Unknown method '{method}'.")
            result = fn(ws, params)
            if asyncio.iscoroutine(result):
                result = await result
            if result is _DROP:
                await ws.close()
                ws.transport.abort()
                return None
            if isinstance(result, tuple):
                result, rl = result
            out = {"id": id_, "status": 200, "result": result}
        except Err as e:
            body = {"code": e.code, "msg": e.msg}
            if e.data:
                body["data"] = e.data
            out = {"id": id_, "status": e.status, "error": body}
        out["rateLimits"] = rl or [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                    "limit": 6000, "count": 1}]
        return out

    def _verify(self, ws: Any, params: dict) -> None:
        sess = self.sessions.get(ws) or {}
        ts = params.get("timestamp")
        if not isinstance(ts, int):
            raise Err(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        rw = params.get("recvWindow", 5000)
        now = self.now()
        if not (ts < now + 1000 and now - ts <= Decimal(str(rw))):
            raise Err(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if "signature" not in params and sess.get("logon"):
            return
        sig = params.get("signature")
        key = params.get("apiKey")
        if key != self.api_key or not isinstance(sig, str):
            raise Err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature").encode()
        ok = False
        if self.hmac_secret is not None:
            ok = hmac.compare_digest(hmac.new(self.hmac_secret.encode(), payload, hashlib.sha256).hexdigest(), sig)
        if not ok and self.ed_pub is not None:
            try:
                self.ed_pub.verify(base64.b64decode(sig), payload)
                ok = True
            except Exception:
                ok = False
        if not ok:
            raise Err(400, -1022, "Signature for this request is not valid.")

    # general
    def m_ping(self, ws: Any, p: dict) -> dict:
        return {}

    def m_time(self, ws: Any, p: dict) -> dict:
        return {"serverTime": self.now()}

    def m_exchangeInfo(self, ws: Any, p: dict) -> dict:
        syms = [p["symbol"]] if p.get("symbol") else list(self.symbols)
        for s in syms:
            if s not in self.symbols:
                raise Err(400, -1121, "Invalid symbol.")
        return {"timezone": "UTC", "serverTime": self.now(), "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": self.orders_per_second},
            {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": 300}],
            "symbols": [{"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": "USDT",
                         "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                                        "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
                         "filters": [
                             {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
                              "tickSize": "0.01000000"},
                             {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                              "stepSize": "0.00001000"},
                             {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                              "maxNotional": "9000000.00000000", "applyMaxToMarket": False}]}
                        for s in syms]}

    def m_depth(self, ws: Any, p: dict) -> dict:
        return {"lastUpdateId": 1027024, "bids": [["99.99000000", "1.00000000"]],
                "asks": [["100.01000000", "2.00000000"]]}

    def m_trades_recent(self, ws: Any, p: dict) -> list:
        return [{"id": 1, "price": "100.00", "qty": "1.0", "quoteQty": "100.0", "time": self.now(),
                 "isBuyerMaker": True, "isBestMatch": True}]

    def m_trades_aggregate(self, ws: Any, p: dict) -> list:
        return [{"a": 1, "p": "100.00", "q": "1.0", "f": 1, "l": 1, "T": self.now(), "m": True, "M": True}]

    def m_klines(self, ws: Any, p: dict) -> list:
        if p.get("interval") not in ("1s", "1m", "1h"):
            raise Err(400, -1120, "Invalid interval.")
        t = self.now() // 60000 * 60000
        return [[t, "100.0", "101.0", "99.0", "100.5", "10.0", t + 59999, "1005.0", 5, "5.0", "502.5", "0"]]

    m_uiKlines = m_klines

    def m_avgPrice(self, ws: Any, p: dict) -> dict:
        return {"mins": 5, "price": "100.00000000", "closeTime": self.now()}

    def m_ticker_24hr(self, ws: Any, p: dict) -> Any:
        one = lambda s: {"symbol": s, "lastPrice": "100.00", "volume": "10.0"}  # noqa: E731
        return one(p["symbol"]) if p.get("symbol") else [one(s) for s in p.get("symbols", self.symbols)]

    m_ticker = m_ticker_24hr
    m_ticker_tradingDay = m_ticker_24hr

    def m_ticker_price(self, ws: Any, p: dict) -> Any:
        return {"symbol": p["symbol"], "price": "100.00"} if p.get("symbol") else [
            {"symbol": s, "price": "100.00"} for s in self.symbols]

    def m_ticker_book(self, ws: Any, p: dict) -> Any:
        return {"symbol": p.get("symbol"), "bidPrice": "99.99", "bidQty": "1", "askPrice": "100.01", "askQty": "2"}

    # session
    def m_session_logon(self, ws: Any, p: dict) -> dict:
        self.sessions[ws]["logon"] = None
        if "signature" not in p:
            raise Err(400, -1102, "Mandatory parameter 'signature' was not sent.")
        if self.ed_pub is None:
            raise Err(400, -4056, "HMAC_SHA256 API key is not supported.")
        saved_secret, self.hmac_secret = self.hmac_secret, None
        try:
            self._verify(ws, p)
        finally:
            self.hmac_secret = saved_secret
        self.sessions[ws]["logon"] = p["apiKey"]
        return self.m_session_status(ws, {})

    def m_session_status(self, ws: Any, p: dict) -> dict:
        sess = self.sessions[ws]
        return {"apiKey": sess["logon"], "authorizedSince": self.now() if sess["logon"] else None,
                "connectedSince": self.now(), "returnRateLimits": True, "serverTime": self.now(),
                "userDataStream": bool(sess["subs"])}

    def m_session_logout(self, ws: Any, p: dict) -> dict:
        self.sessions[ws]["logon"] = None
        return self.m_session_status(ws, {})

    # user data
    def m_userDataStream_subscribe(self, ws: Any, p: dict) -> dict:
        if not self.sessions[ws]["logon"]:
            raise Err(400, -2015, "Invalid API-key, IP, or permissions for action.")
        sid = next(self._sub_ids)
        self.sessions[ws]["subs"][sid] = True
        return {"subscriptionId": sid}

    def m_userDataStream_subscribe_signature(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        sid = next(self._sub_ids)
        self.sessions[ws]["subs"][sid] = True
        return {"subscriptionId": sid}

    def m_userDataStream_unsubscribe(self, ws: Any, p: dict) -> dict:
        subs = self.sessions[ws]["subs"]
        if "subscriptionId" in p:
            subs.pop(p["subscriptionId"], None)
        else:
            subs.clear()
        return {}

    def m_userDataStream_start(self, ws: Any, p: dict) -> dict:
        if p.get("apiKey") != self.api_key:
            raise Err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if not self.listen_keys:
            self.listen_keys["LK" + "x" * 58] = []
        return {"listenKey": next(iter(self.listen_keys))}

    def m_userDataStream_ping(self, ws: Any, p: dict) -> dict:
        if not self.listen_keys:
            raise Err(400, -1125, "This listenKey does not exist.")
        return {"listenKey": next(iter(self.listen_keys))}

    def m_userDataStream_stop(self, ws: Any, p: dict) -> dict:
        return {}

    # trading
    def _charge_order(self) -> list:
        sec = self.now() // 1000
        if sec != self._order_window:
            self._order_window, self._order_count = sec, 0
        if self._order_count >= self.orders_per_second:
            self.order_429s += 1
            self.ignored_429s += 1
            if self.ignored_429s > 5:
                self.banned_until = self.now() + 120_000
                raise Err(418, -1003, f"Way too much request weight used; IP banned until {self.banned_until}.",
                          {"retryAfter": self.banned_until})
            raise Err(429, -1015, f"Too many new orders; current limit is {self.orders_per_second} orders per SECOND.",
                      {"retryAfter": (sec + 1) * 1000})
        self._order_count += 1
        weight = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000,
                   "count": 1}]
        if not self.report_order_limits:
            return weight
        return [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
                 "limit": self.orders_per_second, "count": self._order_count}] + weight

    def _check_order(self, p: dict) -> None:
        if p.get("symbol") not in self.symbols:
            raise Err(400, -1121, "Invalid symbol.")
        for k in ("price", "stopPrice"):
            if k in p:
                if not isinstance(p[k], str):
                    raise Err(400, -1100, f"Illegal characters found in parameter '{k}'.")
                if Decimal(p[k]) % TICK:
                    raise Err(400, -1013, "Filter failure: PRICE_FILTER")
        if "quantity" in p and Decimal(str(p["quantity"])) % STEP:
            raise Err(400, -1013, "Filter failure: LOT_SIZE")

    async def m_order_place(self, ws: Any, p: dict) -> Any:
        self._verify(ws, p)
        self._check_order(p)
        rl = self._charge_order()
        if self.unknown_next_order_lost:
            self.unknown_next_order_lost = False
            raise Err(500, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                                  "execution status unknown.")
        cid = p.get("newClientOrderId") or f"srv{next(self._ids)}"
        if any(o["clientOrderId"] == cid and o["status"] in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            raise Err(400, -2010, "Duplicate order sent.")
        oid = next(self._ids)
        o = {"symbol": p["symbol"], "orderId": oid, "orderListId": -1, "clientOrderId": cid,
             "price": p.get("price", "0.00000000"), "origQty": p.get("quantity", "0"), "executedQty": "0",
             "cummulativeQuoteQty": "0", "status": "NEW", "timeInForce": p.get("timeInForce", "GTC"),
             "type": p["type"], "side": p["side"], "stopPrice": p.get("stopPrice", "0"), "time": self.now(),
             "updateTime": self.now(), "isWorking": True, "workingTime": self.now(),
             "origQuoteOrderQty": "0", "selfTradePreventionMode": "NONE"}
        self.orders[oid] = o
        self._report(o, "NEW")
        if p["type"] == "MARKET" or (p["type"] == "LIMIT" and self._marketable(p)):
            self.fill(oid, Decimal(o["origQty"]), Decimal(p.get("price", "100")))
        unknown, self.unknown_next_order = self.unknown_next_order, False
        if unknown:
            raise Err(500, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                                  "execution status unknown.")
        drop, self.drop_after_next_order = self.drop_after_next_order, False
        if drop:
            return _DROP
        resp = p.get("newOrderRespType", "FULL" if p["type"] in ("LIMIT", "MARKET") else "ACK")
        ack = {"symbol": o["symbol"], "orderId": oid, "orderListId": -1, "clientOrderId": cid,
               "transactTime": o["time"]}
        if resp == "ACK":
            return ack, rl
        return {**ack, **{k: o[k] for k in ("price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                                            "timeInForce", "type", "side")}}, rl

    def _marketable(self, p: dict) -> bool:
        price = Decimal(p["price"])
        return price >= 100 if p["side"] == "BUY" else price <= 100

    def m_order_test(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        self._check_order(p)
        return {}

    def _find(self, p: dict) -> dict:
        if "orderId" in p:
            o = self.orders.get(p["orderId"])
        else:
            cid = p.get("origClientOrderId")
            o = next((x for x in self.orders.values() if x["clientOrderId"] == cid), None)
        if o is None or o["symbol"] != p.get("symbol"):
            raise Err(400, -2013, "Order does not exist.")
        return o

    def m_order_status(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        return dict(self._find(p))

    def m_order_cancel(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        o = self._find(p)
        if o["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise Err(400, -2011, "Unknown order sent.")
        o["status"] = "CANCELED"
        self._report(o, "CANCELED")
        return {**o, "origClientOrderId": o["clientOrderId"]}

    async def m_order_cancelReplace(self, ws: Any, p: dict) -> Any:
        self._verify(ws, p)
        c = {"symbol": p["symbol"]}
        if "cancelOrderId" in p:
            c["orderId"] = p["cancelOrderId"]
        else:
            c["origClientOrderId"] = p["cancelOrigClientOrderId"]
        o = self._find(c)
        o["status"] = "CANCELED"
        self._report(o, "CANCELED")
        newp = {k: v for k, v in p.items() if not k.startswith("cancel") and k not in ("orderRateLimitExceededMode",)}
        newp.pop("signature", None)
        saved = self.sessions[ws]["logon"]
        self.sessions[ws]["logon"] = self.api_key
        try:
            res = await self.m_order_place(ws, newp)
        finally:
            self.sessions[ws]["logon"] = saved
        new = res[0] if isinstance(res, tuple) else res
        return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS", "cancelResponse": o,
                "newOrderResponse": new}

    def m_openOrders_cancelAll(self, ws: Any, p: dict) -> list:
        self._verify(ws, p)
        out = []
        for o in self.orders.values():
            if o["symbol"] == p["symbol"] and o["status"] in ("NEW", "PARTIALLY_FILLED"):
                o["status"] = "CANCELED"
                self._report(o, "CANCELED")
                out.append(dict(o))
        return out

    def m_openOrders_status(self, ws: Any, p: dict) -> list:
        self._verify(ws, p)
        return [dict(o) for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and (not p.get("symbol") or o["symbol"] == p["symbol"])]

    def m_myTrades(self, ws: Any, p: dict) -> list:
        self._verify(ws, p)
        return [t for t in self.trades if t["symbol"] == p["symbol"]
                and ("orderId" not in p or t["orderId"] == p["orderId"])]

    def m_account_status(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        return {"updateTime": self.now(), "balances": [
            {"asset": a, "free": format(f, "f"), "locked": format(l_, "f")} for a, (f, l_) in self.balances.items()]}

    def m_orderList_place_oco(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        self._charge_order()
        ids = []
        for leg in ("above", "below"):
            oid = next(self._ids)
            o = {"symbol": p["symbol"], "orderId": oid, "orderListId": 1, "clientOrderId": f"leg{oid}",
                 "price": p.get(f"{leg}Price", "0"), "origQty": p["quantity"], "executedQty": "0",
                 "cummulativeQuoteQty": "0", "status": "NEW", "type": p[f"{leg}Type"], "side": p["side"],
                 "timeInForce": p.get(f"{leg}TimeInForce", "GTC"), "stopPrice": p.get(f"{leg}StopPrice", "0"),
                 "time": self.now(), "updateTime": self.now()}
            self._check_order({"symbol": p["symbol"], "price": o["price"], "quantity": p["quantity"]})
            self.orders[oid] = o
            ids.append(o)
        return {"orderListId": 1, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
                "listOrderStatus": "EXECUTING", "listClientOrderId": p.get("listClientOrderId", "L1"),
                "transactionTime": self.now(), "symbol": p["symbol"],
                "orders": [{"symbol": o["symbol"], "orderId": o["orderId"], "clientOrderId": o["clientOrderId"]}
                           for o in ids], "orderReports": ids}

    def m_orderList_cancel(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        for o in self.orders.values():
            if o.get("orderListId") == p.get("orderListId"):
                o["status"] = "CANCELED"
        return {"orderListId": p.get("orderListId"), "listStatusType": "ALL_DONE"}

    def m_order_modify(self, ws: Any, p: dict) -> dict:
        self._verify(ws, p)
        o = self._find(p)
        o["price"], o["origQty"] = p["price"], p["quantity"]
        return dict(o)

    # -- engine --------------------------------------------------------------------------------
    def fill(self, order_id: int, qty: Decimal, price: Decimal) -> dict:
        """Fill ``qty`` of a resting order at ``price`` (another party took it)."""
        o = self.orders[order_id]
        done = Decimal(o["executedQty"]) + qty
        quote = Decimal(o["cummulativeQuoteQty"]) + qty * price
        o["executedQty"], o["cummulativeQuoteQty"] = format(done, "f"), format(quote, "f")
        o["status"] = "FILLED" if done >= Decimal(o["origQty"]) else "PARTIALLY_FILLED"
        o["updateTime"] = self.now()
        t = {"symbol": o["symbol"], "id": next(self._trade_ids), "orderId": order_id, "orderListId": -1,
             "price": format(price, "f"), "qty": format(qty, "f"), "quoteQty": format(qty * price, "f"),
             "commission": "0", "commissionAsset": "USDT", "time": self.now(), "isBuyer": o["side"] == "BUY",
             "isMaker": False, "isBestMatch": True}
        self.trades.append(t)
        base = o["symbol"][:-4]
        sign = 1 if o["side"] == "BUY" else -1
        self.balances[base][0] += sign * qty
        self.balances["USDT"][0] -= sign * qty * price
        self._report(o, "TRADE", t)
        self._position([base, "USDT"])
        return t

    def _report(self, o: dict, x: str, t: dict | None = None) -> None:
        if self.market == "spot":
            ev = {"e": "executionReport", "E": self.now(), "s": o["symbol"], "c": o["clientOrderId"],
                  "S": o["side"], "o": o["type"], "f": o.get("timeInForce", "GTC"), "q": o["origQty"],
                  "p": o["price"], "P": "0", "F": "0", "g": -1, "C": "", "x": x, "X": o["status"], "r": "NONE",
                  "i": o["orderId"], "l": t["qty"] if t else "0", "z": o["executedQty"],
                  "L": t["price"] if t else "0", "n": "0", "N": None, "T": self.now(),
                  "t": t["id"] if t else -1, "I": next(self._exec_ids), "w": True, "m": False, "M": False,
                  "O": o["time"], "Z": o["cummulativeQuoteQty"], "Y": t["quoteQty"] if t else "0", "Q": "0",
                  "W": o["time"], "V": "NONE"}
        else:
            ev = {"e": "ORDER_TRADE_UPDATE", "E": self.now(), "T": self.now(), "o": {
                "s": o["symbol"], "c": o["clientOrderId"], "S": o["side"], "o": o["type"],
                "f": o.get("timeInForce", "GTC"), "q": o["origQty"], "p": o["price"], "ap": "100", "sp": "0",
                "x": x, "X": o["status"], "i": o["orderId"], "l": t["qty"] if t else "0", "z": o["executedQty"],
                "L": t["price"] if t else "0", "N": "USDT", "n": "0", "T": self.now(),
                "t": t["id"] if t else 0, "b": "0", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE",
                "ot": o["type"], "ps": "BOTH", "cp": False, "rp": "0", "V": "NONE", "pm": "NONE", "gtd": 0,
                "er": "0"}}
        self._push(ev)

    def _position(self, assets: list[str]) -> None:
        if self.market == "spot":
            ev = {"e": "outboundAccountPosition", "E": self.now(), "u": self.now(), "B": [
                {"a": a, "f": format(self.balances[a][0], "f"), "l": format(self.balances[a][1], "f")} for a in assets]}
        else:
            ev = {"e": "ACCOUNT_UPDATE", "E": self.now(), "T": self.now(), "a": {"m": "ORDER", "B": [
                {"a": a, "wb": format(self.balances[a][0], "f"), "cw": "0", "bc": "0"} for a in assets], "P": []}}
        self._push(ev)

    def _push(self, ev: dict) -> None:
        if self.silent_events:
            return
        if self.market == "spot":
            for ws, sess in list(self.sessions.items()):
                for sid in sess["subs"]:
                    asyncio.ensure_future(_safe_send(ws, orjson.dumps({"subscriptionId": sid, "event": ev}).decode()))
        else:
            for conns in self.listen_keys.values():
                for ws in conns:
                    asyncio.ensure_future(_safe_send(ws, orjson.dumps(ev).decode()))


async def _safe_send(ws: Any, text: str) -> None:
    try:
        await ws.send(text)
    except websockets.ConnectionClosed:
        pass


_DROP = object()


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return orjson.dumps(v).decode()
    return str(v)


async def expire_listen_key(ex: FakeExchange) -> None:
    """Expire the (only) listenKey: push listenKeyExpired, forget it, hand out a new one."""
    old = next(iter(ex.listen_keys))
    for ws in list(ex.listen_keys[old]):
        await _safe_send(ws, orjson.dumps({"e": "listenKeyExpired", "E": str(ex.now()), "listenKey": old}).decode())
    conns = ex.listen_keys.pop(old)
    ex.listen_keys["LK" + "y" * 58] = []
    await asyncio.sleep(0.05)
    for ws in conns:
        await ws.close()
