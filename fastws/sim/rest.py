"""REST side of the simulator (aiohttp): depth snapshots, exchangeInfo, ping, time, and the
USDⓈ-M listenKey (``POST``/``PUT``/``DELETE /fapi/v1/listenKey``).

Spot: ``GET /api/v3/depth``, ``/api/v3/exchangeInfo``, ``/api/v3/ping``, ``/api/v3/time``.
USDⓈ-M: the same under ``/fapi/v1``. Every answer carries ``X-MBX-USED-WEIGHT-1M`` (SPEC §5.3);
errors come as ``{"code": ..., "msg": ...}`` with Binance's HTTP status, 429 with
``Retry-After`` in seconds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import orjson
from aiohttp import web

from fastws.sim.wsapi import ApiError

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["make_app"]


def make_app(ex: "Exchange") -> web.Application:
    """Build the aiohttp application serving ``ex``'s market."""
    prefix = "/api/v3" if ex.market == "spot" else "/fapi/v1"

    def respond(fn: Callable[[dict], tuple[int, Any]]) -> Callable[..., Any]:
        async def handler(request: web.Request) -> web.Response:
            params: dict[str, Any] = dict(request.query)
            try:
                weight, body = fn(params)
                used = ex.weights.charge(weight)
                status = 200
                headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
            except ApiError as e:
                body = e.body()
                status = e.status
                used = ex.weights.count()
                headers = {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}
                if e.status in (418, 429) and e.data and "retryAfter" in e.data:
                    secs = max(1, (int(e.data["retryAfter"]) - ex.now_ms() + 999) // 1000)
                    headers["Retry-After"] = str(secs)
            return web.Response(body=orjson.dumps(body), status=status, headers=headers,
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
    if ex.market == "usdm":
        for method in ("POST", "PUT", "DELETE"):
            app.router.add_route(method, prefix + "/listenKey", listen_key)
    app.router.add_get(prefix + "/depth", respond(ex._api.depth))
    app.router.add_get(prefix + "/exchangeInfo", respond(ex._api.exchange_info))
    app.router.add_get(prefix + "/ping", respond(lambda p: (1, {})))
    app.router.add_get(prefix + "/time", respond(lambda p: (1, {"serverTime": ex.now_ms()})))
    return app
