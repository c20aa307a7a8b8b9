"""WS API envelope, methods and weights; REST snapshots and weight headers (SPEC §3.3, §5)."""
from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from fastws.sim.wsapi import depth_weight
from fastws.testing import fast_limits
from tests.sim_support import get_json, recv


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


async def call(ws, method, params=None, id_=1, **extra):
    req = {"id": id_, "method": method, **extra}
    if params is not None:
        req["params"] = params
    await ws.send(orjson.dumps(req).decode())
    return await recv(ws)


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_envelopes_and_methods(market, samples_dir):
    async with Exchange(["BTCUSDT", "ETHUSDT"], market=market, clock=ManualClock(),
                        limits=fast_limits(market, ping_interval=30)) as ex:
        async with websockets.connect(ex.venue.ws_api_url) as ws:
            connect_weight = 2 if market == "spot" else 5
            r = await call(ws, "ping", id_="922bcc6e-9de8-440d-9e84-7c80933a8d0d")
            assert r["id"] == "922bcc6e-9de8-440d-9e84-7c80933a8d0d"
            assert r["status"] == 200 and r["result"] == {}
            limit = 6000 if market == "spot" else 2400
            assert r["rateLimits"] == [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                        "intervalNum": 1, "limit": limit,
                                        "count": connect_weight + 1}]
            r = await call(ws, "time", id_=2)
            assert r["result"]["serverTime"] == ex.now_ms()
            r = await call(ws, "depth", {"symbol": "BTCUSDT", "limit": 5}, id_=3)
            assert r["status"] == 200
            res = r["result"]
            assert len(res["bids"]) == 5 and len(res["asks"]) == 5
            assert Decimal(res["bids"][0][0]) < Decimal(res["asks"][0][0])
            assert [Decimal(b[0]) for b in res["bids"]] == sorted(
                (Decimal(b[0]) for b in res["bids"]), reverse=True)
            sample = json.loads((samples_dir / ("wsapi_depth_response.json" if market == "spot"
                                 else "usdm_wsapi_depth_response.json")).read_text())
            assert shape(r) == shape(sample) | {"id": "int"}
            before = r["rateLimits"][0]["count"]
            r = await call(ws, "v3/exchangeInfo" if market == "spot" else "exchangeInfo",
                           {"symbol": "ETHUSDT"}, id_=4)
            assert r["rateLimits"][0]["count"] == before + (20 if market == "spot" else 1)
            (sym,) = r["result"]["symbols"]
            filters = {f["filterType"]: f for f in sym["filters"]}
            assert sym["symbol"] == "ETHUSDT"
            spec = ex.market_of("ETHUSDT").spec
            assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == Decimal(spec.tick_size)
            assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal(spec.step_size)
            assert ("NOTIONAL" if market == "spot" else "MIN_NOTIONAL") in filters
            conns = [x for x in r["result"]["rateLimits"] if x["rateLimitType"] == "CONNECTIONS"]
            assert conns == [{"rateLimitType": "CONNECTIONS", "interval": "MINUTE",
                              "intervalNum": 5, "limit": 300}]


@pytest.mark.parametrize("limit,weight", [(5, 5), (100, 5), (101, 25), (500, 25), (501, 50),
                                          (1000, 50), (1001, 250), (5000, 250), (9999, 250)])
async def test_spot_depth_weights(limit, weight):
    assert depth_weight("spot", min(limit, 5000)) == weight
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rate=10,
                        limits=fast_limits(ping_interval=30)) as ex:
        async with websockets.connect(ex.venue.ws_api_url + "?returnRateLimits=false") as ws:
            r = await call(ws, "depth", {"symbol": "BTCUSDT", "limit": limit})
            assert "rateLimits" not in r
            assert len(r["result"]["bids"]) == min(limit, len(ex.market_of("BTCUSDT").bids))
            r2 = await call(ws, "depth", {"symbol": "BTCUSDT", "limit": limit,
                                          "returnRateLimits": True})
            assert r2["rateLimits"][0]["count"] == 2 + 2 * weight


@pytest.mark.parametrize("limit,weight", [(5, 2), (50, 2), (100, 5), (500, 10), (1000, 20)])
async def test_usdm_rest_depth_weights_and_headers(limit, weight):
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(), rate=10,
                        limits=fast_limits("usdm", ping_interval=30)) as ex:
        st, headers, body = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT",
                                           limit=limit)
        assert st == 200 and headers["X-MBX-USED-WEIGHT-1M"] == str(weight)
        assert set(body) == {"lastUpdateId", "E", "T", "bids", "asks"}
        st, _, body = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT", limit=7)
        assert st == 400 and body["code"] == -1130


async def test_errors():
    async with Exchange(["BTCUSDT"], clock=ManualClock(),
                        limits=fast_limits(ping_interval=30, request_weight_per_minute=60)) as ex:
        async with websockets.connect(ex.venue.ws_api_url) as ws:
            r = await call(ws, "depth", {"symbol": "NOPE"})
            assert r["status"] == 400 and r["error"]["code"] == -1121
            r = await call(ws, "depth", {})
            assert r["error"]["code"] == -1102
            r = await call(ws, "depth", {"symbol": "BTCUSDT", "symbolStatus": "HALT"})
            assert r["error"]["code"] == -1220
            r = await call(ws, "order.place", {"symbol": "BTCUSDT"}, id_="x")
            assert r["id"] == "x" and r["status"] == 400
            await ws.send("{not json")
            r = await recv(ws)
            assert r["status"] == 400 and r["id"] is None
            # 2 (connect) + 1 (the failed order.place: a failed order costs its weight, SPEC
            # timeline 2026-04-02); the other failed requests cost nothing
            for _ in range(11):
                r = await call(ws, "depth", {"symbol": "BTCUSDT"})
            assert r["status"] == 200 and r["rateLimits"][0]["count"] == 58
            r = await call(ws, "depth", {"symbol": "BTCUSDT"})
            assert r["status"] == 429 and r["error"]["code"] == -1003
            assert "retryAfter" in r["error"]["data"]
        st, headers, body = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT")
        assert st == 429 and body["code"] == -1003 and int(headers["Retry-After"]) >= 1
        st, _, body = await get_json(ex.venue.rest_url + "/api/v3/depth", symbol="BAD")
        assert st == 400 and body == {"code": -1121, "msg": "Invalid symbol."}


async def test_rest_exchange_info_ping_time():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), limits=fast_limits()) as ex:
        st, h, body = await get_json(ex.venue.rest_url + "/api/v3/exchangeInfo")
        assert st == 200 and h["X-MBX-USED-WEIGHT-1M"] == "20"
        assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT"]
        st, _, body = await get_json(ex.venue.rest_url + "/api/v3/ping")
        assert (st, body) == (200, {})
        st, _, body = await get_json(ex.venue.rest_url + "/api/v3/time")
        assert body == {"serverTime": ex.now_ms()}


async def test_repeated_429s_end_in_an_ip_ban(samples_dir):
    sample = json.loads((samples_dir / "wsapi_error_418_ip_banned_-1003.json").read_text())
    # 20 weight a minute: the connection (2) and three depth requests (5 each) fit
    async with Exchange(["BTCUSDT"], clock=ManualClock(1_700_000_000_000),
                        limits=fast_limits(ping_interval=30, request_weight_per_minute=20)) as ex:
        async with websockets.connect(ex.venue.ws_api_url) as ws:
            answers = [await call(ws, "depth", {"symbol": "BTCUSDT"}, id_=i) for i in range(9)]
            assert [a["status"] for a in answers] == [200] * 3 + [429] * 5 + [418]
            banned = answers[-1]
            assert shape(banned) == shape(sample) | {"id": "int"}
            assert banned["error"]["data"]["retryAfter"] == ex.now_ms() + 120_000
            with pytest.raises(websockets.ConnectionClosed):     # the ban drops the connection
                await ws.recv()
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(ex.venue.ws_api_url):
                pass
        assert err.value.response.status_code == 418
        assert ex.weights.bans == 1


async def test_ban_fault_rest_and_ws_api():
    clock = ManualClock(1_700_000_000_000)
    async with Exchange(["BTCUSDT"], clock=clock, limits=fast_limits(ping_interval=30)) as ex:
        ex.faults.ban_ip(60)
        st, headers, body = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT")
        assert st == 418 and body["code"] == -1003 and headers["Retry-After"] == "60"
        assert body["data"]["retryAfter"] == ex.now_ms() + 60_000
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(ex.venue.ws_api_url):
                pass
        assert err.value.response.status_code == 418
        await ex.advance(60_001)                        # the ban is over
        st, _, _ = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT")
        assert st == 200
        async with websockets.connect(ex.venue.ws_api_url) as ws:
            assert (await call(ws, "ping"))["status"] == 200
