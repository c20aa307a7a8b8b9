"""REST side of the simulator (aiohttp): market data, signed trading and account endpoints, and the
USDⓈ-M listenKey.

Spot (``/api/v3``): ``ping``, ``time``, ``exchangeInfo``, ``depth``, ``trades``,
``historicalTrades``, ``aggTrades``, ``klines``, ``uiKlines``, ``avgPrice``, ``ticker/24hr``,
``ticker/tradingDay``, ``ticker``, ``ticker/price``, ``ticker/bookTicker``,
``historicalBlockTrades``, ``referencePrice``, ``referencePrice/calculation``; signed: ``order``
(POST / GET / DELETE), ``order/test``, ``order/cancelReplace``, ``order/amend/keepPriority``,
``openOrders`` (GET / DELETE), ``allOrders``, ``account``, ``myTrades``, ``rateLimit/order``,
``account/commission``, ``myPreventedMatches``, ``orderList/oco|oto|otoco|opo|opoco`` (POST),
``orderList`` (GET / DELETE), ``openOrderList``, ``allOrderList``, ``myFilters``,
``order/amendments``.

USDⓈ-M (``/fapi``): ``v1/ping``, ``v1/time``, ``v1/exchangeInfo``, ``v1/depth``,
``v1/trades``, ``v1/historicalTrades``, ``v1/aggTrades``, ``v1/klines``, ``v1/ticker/24hr``,
``v1/ticker/price``, ``v2/ticker/price``, ``v1/ticker/bookTicker``, ``v1/premiumIndex``;
signed: ``v1/order`` (POST / GET / DELETE / PUT), ``v1/order/test``, ``v1/openOrders``,
``v1/openOrder``, ``v1/allOrders``, ``v1/userTrades``, ``v1/leverage`` (POST),
``v1/commissionRate``, ``v2/account``, ``v3/account``, ``v2/balance``,
``v3/balance``, ``v2/positionRisk``, ``v3/positionRisk``; ``v1/listenKey`` (POST / PUT /
DELETE, key only).

``X-MBX-TIME-UNIT: MICROSECOND`` turns the answers' times into microseconds. Signed requests
carry the key in ``X-MBX-APIKEY`` and ``signature`` over the query string
followed by the body, exactly as sent (SPEC §7.3), checked with the simulator's own code.
Every answer carries ``X-MBX-USED-WEIGHT-1M`` (SPEC §5.3), order endpoints
``X-MBX-ORDER-COUNT-10S``; errors come as ``{"code": ..., "msg": ...}`` with Binance's HTTP
status, 429 / 418 with ``Retry-After`` in seconds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional
from urllib.parse import parse_qsl, unquote

import orjson
from aiohttp import web

from fastws.sim.wsapi import ApiError, _micro_result

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["make_app", "SPOT_SIGNED", "USDM_SIGNED", "rest_payload"]

SPOT_SIGNED: dict[tuple[str, str], str] = {
    ("POST", "/api/v3/order"): "order.place",
    ("POST", "/api/v3/order/test"): "order.test",
    ("GET", "/api/v3/order"): "order.status",
    ("DELETE", "/api/v3/order"): "order.cancel",
    ("POST", "/api/v3/order/cancelReplace"): "order.cancelReplace",
    ("PUT", "/api/v3/order/amend/keepPriority"): "order.amend.keepPriority",
    ("GET", "/api/v3/openOrders"): "openOrders.status",
    ("DELETE", "/api/v3/openOrders"): "openOrders.cancelAll",
    ("GET", "/api/v3/allOrders"): "allOrders",
    ("GET", "/api/v3/account"): "account.status",
    ("GET", "/api/v3/myTrades"): "myTrades",
    ("GET", "/api/v3/rateLimit/order"): "account.rateLimits.orders",
    ("GET", "/api/v3/account/commission"): "account.commission",
    ("GET", "/api/v3/myPreventedMatches"): "myPreventedMatches",
    ("POST", "/api/v3/orderList/oco"): "orderList.place.oco",
    ("POST", "/api/v3/orderList/oto"): "orderList.place.oto",
    ("POST", "/api/v3/orderList/otoco"): "orderList.place.otoco",
    ("POST", "/api/v3/orderList/opo"): "orderList.place.opo",
    ("POST", "/api/v3/orderList/opoco"): "orderList.place.opoco",
    ("GET", "/api/v3/orderList"): "orderList.status",
    ("DELETE", "/api/v3/orderList"): "orderList.cancel",
    ("GET", "/api/v3/openOrderList"): "openOrderLists.status",
    ("GET", "/api/v3/allOrderList"): "allOrderLists",
    ("GET", "/api/v3/myFilters"): "myFilters",
    ("GET", "/api/v3/order/amendments"): "order.amendments",
}
"""Signed spot REST endpoints and the WS API method each one runs (same params, same body);
an endpoint is served only when its method is."""

USDM_SIGNED: dict[tuple[str, str], str] = {
    ("POST", "/fapi/v1/order"): "order.place",
    ("POST", "/fapi/v1/order/test"): "order.test",
    ("GET", "/fapi/v1/order"): "order.status",
    ("DELETE", "/fapi/v1/order"): "order.cancel",
    ("PUT", "/fapi/v1/order"): "order.modify",
    ("GET", "/fapi/v1/openOrders"): "openOrders.status",
    ("GET", "/fapi/v1/openOrder"): "order.status",
    ("GET", "/fapi/v1/allOrders"): "allOrders",
    ("GET", "/fapi/v1/userTrades"): "userTrades",
    ("POST", "/fapi/v1/leverage"): "leverage",
    ("GET", "/fapi/v1/commissionRate"): "commissionRate",
    ("GET", "/fapi/v2/account"): "account.status",
    ("GET", "/fapi/v3/account"): "v2/account.status",
    ("GET", "/fapi/v2/balance"): "account.balance",
    ("GET", "/fapi/v3/balance"): "v2/account.balance",
    ("GET", "/fapi/v2/positionRisk"): "account.position",
    ("GET", "/fapi/v3/positionRisk"): "v2/account.position",
}
"""Signed USDⓈ-M REST endpoints and the WS API method each one runs."""


def rest_payload(query: str, body: str) -> tuple[bytes, Optional[str]]:
    """(signed payload, signature): the query string then the body as sent, less the
    ``signature`` parameter (SPEC §7.3); the signature percent-decoded."""
    sig: Optional[str] = None
    parts = []
    for text in (query, body):
        kept = []
        for item in text.split("&") if text else ():
            if item.startswith("signature="):
                sig = unquote(item[len("signature="):])
            else:
                kept.append(item)
        parts.append("&".join(kept))
    return "".join(parts).encode("utf-8"), sig


def make_app(ex: "Exchange") -> web.Application:
    """Build the aiohttp application serving ``ex``'s market."""
    spot = ex.market == "spot"
    prefix = "/api/v3" if spot else "/fapi/v1"
    md = ex._api.market_data

    def weight_headers(extra: Optional[dict] = None) -> dict:
        used = ex.weights.count()
        h = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
        if extra:
            h.update(extra)
        return h

    def error_response(e: ApiError) -> web.Response:
        headers = weight_headers()
        if e.status in (418, 429) and e.data and "retryAfter" in e.data:
            secs = max(1, (int(e.data["retryAfter"]) - ex.now_ms() + 999) // 1000)
            headers["Retry-After"] = str(secs)
        body = e.body()
        return web.Response(body=orjson.dumps(body), status=e.status, headers=headers,
                            content_type="application/json")

    def micro(request: web.Request, body: Any) -> Any:
        """``X-MBX-TIME-UNIT: MICROSECOND``: times of the answer in microseconds."""
        unit = request.headers.get("X-MBX-TIME-UNIT", "")
        return _micro_result(body) if unit.upper() == "MICROSECOND" else body

    def respond(fn: Callable[[dict], tuple[int, Any]]) -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.Response:
            params: dict[str, Any] = dict(request.query)
            try:
                ex.weights.check_ban()
                weight, body = fn(params)
                ex.weights.charge(weight)
            except ApiError as e:
                return error_response(e)
            return web.Response(body=orjson.dumps(micro(request, body)),
                                headers=weight_headers(),
                                content_type="application/json")
        return handler

    def signed(method_name: str) -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.Response:
            from fastws.sim.trading import Ctx
            query = request.query_string
            body = (await request.text()) if request.can_read_body else ""
            payload, sig = rest_payload(query, body)
            params: dict[str, Any] = {}
            for text in (query, body):
                for k, v in parse_qsl(text, keep_blank_values=True):
                    if k != "signature":
                        params[k] = v
            ctx = Ctx()
            try:
                ex.weights.check_ban()
                result = ex.trading.call_rest(method_name, params,
                                              request.headers.get("X-MBX-APIKEY", ""),
                                              payload, sig, ctx)
                if ctx.refund:
                    ex.weights.used = max(0, ex.weights.used - ctx.weight)
            except ApiError as e:
                if e.status == 429 and e.code == -1015:
                    ex.weights.strike()
                return error_response(e)
            extra = {}
            if ctx.account is not None:
                lim = ex.trading.limiter(ctx.account)
                rl = lim.rate_limits(ex.now_ms())
                extra["X-MBX-ORDER-COUNT-10S"] = str(rl[0]["count"])
                extra["X-MBX-ORDER-COUNT-" + ("1D" if spot else "1M")] = str(rl[1]["count"])
            return web.Response(body=orjson.dumps(micro(request, result)),
                                headers=weight_headers(extra),
                                content_type="application/json")
        return handler

    async def listen_key(request: web.Request) -> web.Response:
        """USDⓈ-M ``POST/PUT/DELETE /fapi/v1/listenKey`` (``X-MBX-APIKEY``, weight 1)."""
        try:
            ex.weights.charge(1)
            k = request.headers.get("X-MBX-APIKEY", "")
            found = ex.find_key(k)
            if found is None:
                raise ApiError(401, -2015 if len(k) == 64 else -2014,
                               "Invalid API-key, IP, or permissions for action."
                               if len(k) == 64 else "API-key format invalid.")
            acct = found[0]
            if request.method == "POST":
                body: Any = {"listenKey": ex.userdata.start_listen_key(acct)}
            elif request.method == "PUT":
                body = {"listenKey": ex.userdata.ping_listen_key(acct)}
            else:
                ex.userdata.stop_listen_key(acct)
                body = {}
            status = 200
        except ApiError as e:
            body, status = e.body(), e.status
        return web.Response(body=orjson.dumps(body), status=status,
                            content_type="application/json")

    app = web.Application()
    if not spot:
        for method in ("POST", "PUT", "DELETE"):
            app.router.add_route(method, prefix + "/listenKey", listen_key)
    get = app.router.add_get
    get(prefix + "/depth", respond(ex._api.depth))
    get(prefix + "/exchangeInfo", respond(ex._api.exchange_info))
    get(prefix + "/ping", respond(lambda p: (1, {})))
    get(prefix + "/time", respond(lambda p: (1, {"serverTime": ex.now_ms()})))
    get(prefix + "/trades", respond(md.trades_recent))
    get(prefix + "/historicalTrades", respond(md.trades_historical))
    get(prefix + "/aggTrades", respond(md.agg_trades))
    get(prefix + "/klines", respond(md.klines))
    get(prefix + "/ticker/24hr", respond(md.ticker_24hr))
    get(prefix + "/ticker/price", respond(md.ticker_price))
    get(prefix + "/ticker/bookTicker", respond(md.ticker_book))
    if spot:
        get(prefix + "/uiKlines", respond(md.klines))
        get(prefix + "/avgPrice", respond(md.avg_price))
        get(prefix + "/ticker/tradingDay", respond(md.ticker_trading_day))
        get(prefix + "/ticker", respond(md.ticker_window))
        get(prefix + "/historicalBlockTrades", respond(md.block_trades))
        get(prefix + "/referencePrice", respond(md.reference_price))
        get(prefix + "/referencePrice/calculation", respond(md.reference_price_calculation))
    else:
        get("/fapi/v2/ticker/price", respond(md.ticker_price))
        get(prefix + "/premiumIndex", respond(md.premium_index))
    table = SPOT_SIGNED if spot else USDM_SIGNED
    for (verb, path), name in table.items():
        if name in ex.trading.methods or name in ex.trading.rest_only:
            app.router.add_route(verb, path, signed(name))
    return app
