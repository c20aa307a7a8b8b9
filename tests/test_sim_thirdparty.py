"""Unmodified third-party Binance clients against the simulator, only pointed at loopback.

* python-binance: ``BinanceSocketManager`` (``STREAM_URL`` / ``FSTREAM_URL`` set after
  construction) and its ``DepthCacheManager`` / ``FuturesDepthCacheManager`` fed by the
  simulator's REST snapshot (``client.API_URL``); the caches must equal the simulator's own
  book. Its WS API client (``client.ws_api``) is replaced by one built for the simulator's URL.
* Binance's official ``binance-sdk-spot``: the WebSocket stream client
  (``ConfigurationWebSocketStreams(stream_url=...)``), REST ``depth``
  (``ConfigurationRestAPI(base_path=...)``), building a book equal to the simulator's, and
  the WS API client (``ConfigurationWebSocketAPI(stream_url=...)``).

Both are optional (``compat`` extra); the tests skip without them.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from fastws.sim import Exchange, ManualClock
from fastws.testing import ReferenceBook, fast_limits
from tests.utils import UNIT

T0 = 1_700_000_000_000


def sim(**kw):
    return Exchange(["BTCUSDT", "ETHUSDT"], clock=ManualClock(T0), rate=200,
                    limits=fast_limits(ping_interval=30, max_incoming_per_second=100), **kw)


async def until(cond, timeout=5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout * UNIT
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


class pumping:
    """Keep a manual-clock simulator ticking while a python-binance socket exits: its read loop
    only notices the exit when a message arrives or after 10 s of silence."""

    def __init__(self, ex):
        self.ex = ex

    async def _run(self):
        while True:
            await self.ex.advance(20)
            await asyncio.sleep(0.01)

    async def __aenter__(self):
        self.task = asyncio.create_task(self._run())

    async def __aexit__(self, *exc):
        self.task.cancel()


# -- python-binance -----------------------------------------------------------------------------
async def test_python_binance_depth_cache_equals_the_simulator_book():
    binance = pytest.importorskip("binance")
    from binance import AsyncClient, BinanceSocketManager, DepthCacheManager
    assert binance
    async with sim() as ex:
        client = AsyncClient()                   # no network I/O at construction
        client.API_URL = ex.venue.rest_url + "/api"
        # the default queue of 100 overflows on a burst and kills the read loop (DESIGN.md)
        bm = BinanceSocketManager(client, max_queue_size=100_000)
        bm.STREAM_URL = ex.venue.stream_url + "/"
        try:
            dcm = DepthCacheManager(client, "BTCUSDT", bm=bm, limit=1000, ws_interval=100)
            async with dcm as cache:
                await ex.wait_connections(1, 5 * UNIT)
                for _ in range(4):
                    await ex.advance(500)
                    target = ex.update_id("BTCUSDT")
                    while dcm._last_update_id != target:
                        dc = await asyncio.wait_for(cache.recv(), 5 * UNIT)
                    bids, asks = ex.book("BTCUSDT")
                    assert dc.get_bids() == [[float(p), float(q)] for p, q in bids]
                    assert dc.get_asks() == [[float(p), float(q)] for p, q in asks]
                pump = pumping(ex)
                await pump.__aenter__()
            await pump.__aexit__(None, None, None)
        finally:
            await client.close_connection()


async def test_python_binance_socket_manager_streams():
    pytest.importorskip("binance")
    from binance import AsyncClient, BinanceSocketManager
    async with sim() as ex, pumping(ex):
        client = AsyncClient()
        bm = BinanceSocketManager(client, max_queue_size=100_000)
        bm.STREAM_URL = ex.venue.stream_url + "/"
        try:
            async with bm.trade_socket("BTCUSDT") as ts, \
                    bm.multiplex_socket(["ethusdt@bookTicker", "ethusdt@kline_1m"]) as ms:
                await ex.wait_connections(2, 5 * UNIT)
                trade = await asyncio.wait_for(ts.recv(), 5 * UNIT)
                assert trade["e"] == "trade" and trade["s"] == "BTCUSDT"
                seen: set = set()

                async def both():
                    while seen != {"ethusdt@bookTicker", "ethusdt@kline_1m"}:
                        seen.add((await ms.recv())["stream"])
                await asyncio.wait_for(both(), 10 * UNIT)
        finally:
            await client.close_connection()


async def test_python_binance_futures_depth_cache_on_the_public_route():
    pytest.importorskip("binance")
    from binance import AsyncClient, BinanceSocketManager
    from binance.ws.depthcache import FuturesDepthCacheManager
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(T0), rate=200,
                        limits=fast_limits("usdm", ping_interval=30)) as ex:
        client = AsyncClient()
        bm = BinanceSocketManager(client, max_queue_size=100_000)
        # python-binance appends the route itself ("public/") since the 2026 split
        bm.FSTREAM_URL = ex.venue.stream_url + "/"
        try:
            dcm = FuturesDepthCacheManager(client, "BTCUSDT", bm=bm)
            async with dcm as cache:
                await ex.wait_connections(1, 5 * UNIT)
                assert ex.connections[0].route == "public"
                for _ in range(3):
                    await ex.advance(500)
                    while True:
                        dc = await asyncio.wait_for(cache.recv(), 5 * UNIT)
                        if dc.update_time == ex.now_ms():
                            break
                    bids, asks = ex.book("BTCUSDT", 10)
                    assert dc.get_bids() == [[float(p), float(q)] for p, q in bids]
                    assert dc.get_asks() == [[float(p), float(q)] for p, q in asks]
                pump = pumping(ex)
                await pump.__aenter__()
            await pump.__aexit__(None, None, None)
        finally:
            await client.close_connection()


async def test_python_binance_ws_api():
    pytest.importorskip("binance")
    from binance import AsyncClient
    from binance.ws.websocket_api import WebsocketAPI
    client = AsyncClient()
    try:
        async with sim() as ex:
            # the client builds its WS API connection object at construction: swap in one for
            # the simulator's URL (no code patched)
            client.ws_api = WebsocketAPI(url=ex.venue.ws_api_url, tld="com")
            book = await client.ws_get_order_book(symbol="BTCUSDT", limit=5)
            assert book["lastUpdateId"] == ex.update_id("BTCUSDT")
            assert (book["bids"], book["asks"]) == ex.book("BTCUSDT", 5)
            assert await client.ws_get_time() == {"serverTime": ex.now_ms()}
        # the exchange closed first (serverShutdown): python-binance's read loop ends at once
    finally:
        await client.close_connection()


# -- binance-sdk-spot (official) ------------------------------------------------------------------
async def test_official_sdk_stream_client_builds_the_simulator_book():
    pytest.importorskip("binance_sdk_spot")
    from binance_sdk_spot.spot import (ConfigurationRestAPI, ConfigurationWebSocketStreams,
                                       Spot)
    async with sim() as ex:
        client = Spot(config_ws_streams=ConfigurationWebSocketStreams(
            stream_url=ex.venue.stream_url, reconnect_attempts=1),
            config_rest_api=ConfigurationRestAPI(base_path=ex.venue.rest_url))
        conn = await client.websocket_streams.create_connection()
        try:
            events: list = []
            trades: list = []
            depth = await conn.diff_book_depth(symbol="btcusdt", update_speed="100ms")
            depth.on("message", events.append)
            trade = await conn.trade(symbol="ethusdt")
            trade.on("message", trades.append)
            subs = await conn.list_subscribe()
            assert sorted(subs["result"]) == ["btcusdt@depth@100ms", "ethusdt@trade"]
            await ex.advance(300)
            await until(lambda: events and events[-1].u == ex.update_id("BTCUSDT"))
            resp = await asyncio.to_thread(client.rest_api.depth, symbol="BTCUSDT", limit=1000)
            snap = resp.data()
            book = ReferenceBook("BTCUSDT")
            book.apply_snapshot({"lastUpdateId": snap.last_update_id, "bids": snap.bids,
                                 "asks": snap.asks})
            await ex.advance(1000)
            await until(lambda: events[-1].u == ex.update_id("BTCUSDT"))
            for ev in events:
                book.apply({"U": ev.U, "u": ev.u, "b": ev.b, "a": ev.a})
            bids, asks = ex.book("BTCUSDT")
            assert book.top(100_000) == ([(Decimal(p), Decimal(q)) for p, q in bids],
                                         [(Decimal(p), Decimal(q)) for p, q in asks])
            assert trades and all(t.s == "ETHUSDT" and t.additional_properties == {}
                                  for t in trades)
            assert all(e.additional_properties == {} for e in events)
        finally:
            await conn.close_connection(close_session=True)


@pytest.mark.filterwarnings("ignore:parameter 'timeout':DeprecationWarning")
async def test_official_sdk_ws_api_client():
    pytest.importorskip("binance_sdk_spot")
    from binance_sdk_spot.spot import ConfigurationWebSocketAPI, Spot
    async with sim() as ex:
        client = Spot(config_ws_api=ConfigurationWebSocketAPI(stream_url=ex.venue.ws_api_url,
                                                              reconnect_attempts=1))
        conn = await client.websocket_api.create_connection()
        try:
            r = await conn.depth(symbol="BTCUSDT", limit=5)
            d = r.data()
            assert d.status == 200 and d.additional_properties == {}
            assert d.result.additional_properties == {}
            assert d.result.last_update_id == ex.update_id("BTCUSDT")
            bids, asks = ex.book("BTCUSDT", 5)
            assert (d.result.bids, d.result.asks) == (bids, asks)
            assert r.rate_limits[0].rateLimitType == "REQUEST_WEIGHT"
            t = (await conn.time()).data()
            assert t.result.server_time == ex.now_ms() and t.additional_properties == {}
            assert (await conn.ping()).data().status == 200
        finally:
            await conn.close_connection()


@pytest.mark.filterwarnings("ignore:parameter 'timeout':DeprecationWarning")
@pytest.mark.parametrize("kt", ["HMAC", "ED25519"])
async def test_official_sdk_signs_and_trades(kt):
    """Binance's own SDK signs (its code, not ours) and parses our trading answers into its
    models with nothing left over (``additional_properties == {}``)."""
    pytest.importorskip("binance_sdk_spot")
    from binance_sdk_spot.spot import ConfigurationWebSocketAPI, Spot
    from binance_sdk_spot.websocket_api.models import (OrderPlaceSideEnum,
                                                       OrderPlaceTimeInForceEnum,
                                                       OrderPlaceTypeEnum)
    import time
    # the SDK stamps requests with the real time: a frozen clock that starts now
    async with Exchange(["BTCUSDT"], clock=ManualClock(int(time.time() * 1000)),
                        limits=fast_limits(ping_interval=30)) as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "1"}, keys=[kt])
        key = acct.keys[0]
        cfg = (dict(api_key=key.api_key, api_secret=key.secret) if kt == "HMAC"
               else dict(api_key=key.api_key, private_key=key.private_pem))
        client = Spot(config_ws_api=ConfigurationWebSocketAPI(
            stream_url=ex.venue.ws_api_url, reconnect_attempts=1, **cfg))
        conn = await client.websocket_api.create_connection()
        try:
            bids, asks = ex.book("BTCUSDT", 2)
            r = (await conn.order_place(
                symbol="BTCUSDT", side=OrderPlaceSideEnum.BUY, type=OrderPlaceTypeEnum.LIMIT,
                time_in_force=OrderPlaceTimeInForceEnum.GTC, price=float(asks[1][0]),
                quantity=0.001)).data()
            assert r.status == 200 and r.additional_properties == {}
            assert r.result.additional_properties == {} and r.result.status == "FILLED"
            assert all(f.additional_properties == {} for f in r.result.fills)
            s = (await conn.order_status(symbol="BTCUSDT", order_id=r.result.order_id)).data()
            assert s.result.additional_properties == {} and s.result.status == "FILLED"
            a = (await conn.account_status()).data()
            assert a.result.additional_properties == {}
            assert acct.balance("BTC")[0] == Decimal("1.001")
        finally:
            await conn.close_connection()
