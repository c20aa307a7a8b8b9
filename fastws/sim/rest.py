"""REST side of the simulator (aiohttp): depth snapshots, exchangeInfo, ping, time.

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

    app = web.Application()
    app.router.add_get(prefix + "/depth", respond(ex._api.depth))
    app.router.add_get(prefix + "/exchangeInfo", respond(ex._api.exchange_info))
    app.router.add_get(prefix + "/ping", respond(lambda p: (1, {})))
    app.router.add_get(prefix + "/time", respond(lambda p: (1, {"serverTime": ex.now_ms()})))
    return app
