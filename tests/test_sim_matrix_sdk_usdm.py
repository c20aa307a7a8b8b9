"""Operation matrix, Binance's official ``binance-sdk-derivatives-trading-usds-futures``
(unmodified): WS API (``ConfigurationWebSocketAPI(stream_url=...)``) and streams on the split
routes (``ConfigurationWebSocketStreams(stream_url=...)``; the SDK opens ``/public``,
``/market`` and ``/private`` itself and sends UUID string ids), against the simulator.

Answers are parsed into the SDK's models and must leave nothing in ``additional_properties``.
Signed operations run with HMAC, RSA and Ed25519 keys.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Awaitable, Callable, Optional

import pytest

from fastws.sim import Exchange, ManualClock
from fastws.testing import fast_limits
from tests.utils import UNIT

pytest.importorskip("binance_sdk_derivatives_trading_usds_futures")

pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout':DeprecationWarning")

PKG = "binance_sdk_derivatives_trading_usds_futures"
SYM = "BTCUSDT"
KEYS = ("HMAC", "RSA", "ED25519")
USER_DATA_DEPENDENCY = ("needs the SUBSCRIBE-a-listenKey form of USD-M user data on /private "
                        "(sim/userdata.py, the WS API helper's part of issue 11)")


def en(api: str, cls: str, value: str) -> Any:
    mod = importlib.import_module(f"{PKG}.{api}.models.enums")
    return getattr(mod, cls)(value)


MODEL_GAPS = {(".result", "bids"), (".result", "asks")}
"""Fields Binance documents and sends that an SDK model leaves out: the ``bids`` / ``asks`` of
the WS API ``depth`` result (the model has ``lastUpdateId``, ``E``, ``T`` only)."""


def clean(model: Any, where: str = "") -> None:
    """No field outside the SDK's model of the documented answer, at any depth."""
    if isinstance(model, list):
        for x in model:
            clean(x, where + "[]")
        return
    extra = getattr(model, "additional_properties", None)
    if extra is None:
        inner = getattr(model, "actual_instance", None)
        if inner is not None:
            clean(inner, where)
        return
    extra = {k: v for k, v in extra.items() if (where, k) not in MODEL_GAPS}
    assert extra == {}, (where, extra)
    for name in type(model).model_fields:
        clean(getattr(model, name), f"{where}.{name}")


async def wsr(coro: Awaitable[Any]) -> Any:
    resp = await coro
    d = resp.data()
    d = getattr(d, "actual_instance", None) or d
    clean(d)
    assert d.status == 200, d
    return d.result


@dataclass
class Ctx:
    ex: Any
    client: Any
    acct: Any
    conn: Any = None

    def far_bid(self) -> float:
        bids, _ = self.ex.book(SYM, 1)
        return float(Decimal(bids[0][0]) - 100)

    def open_ids(self) -> set:
        return {o.order_id for o in self.ex.orders(self.acct)}


@contextlib.asynccontextmanager
async def env(kt: Optional[str]):
    mod = importlib.import_module(PKG)
    from binance_common.configuration import ConfigurationWebSocketAPI
    now = int(time.time() * 1000)
    async with Exchange([SYM, "ETHUSDT"], market="usdm", clock=ManualClock(now - 60_000),
                        rate=100, limits=fast_limits("usdm", ping_interval=30)) as ex:
        await ex.advance(60_000)
        acct = ex.add_account(balances={"USDT": "1000000"}, keys=[kt] if kt else [])
        kw: dict = {}
        if kt:
            key = acct.keys[0]
            kw = ({"api_key": key.api_key, "api_secret": key.secret} if kt == "HMAC" else
                  {"api_key": key.api_key, "private_key": key.private_pem})
        client = mod.DerivativesTradingUsdsFutures(config_ws_api=ConfigurationWebSocketAPI(
            stream_url=ex.venue.ws_api_url, reconnect_attempts=1, **kw))
        await ex.advance(max(0, int(time.time() * 1000) - ex.now_ms()))
        c = Ctx(ex, client, acct)
        c.conn = await client.websocket_api.create_connection()
        try:
            yield c
        finally:
            await c.conn.close_connection()


Op = Callable[[Ctx], Awaitable[Any]]
PUBLIC: dict[str, Op] = {}
SIGNED: dict[str, Op] = {}


def op(table: dict) -> Callable[[Op], Op]:
    def deco(fn: Op) -> Op:
        table[fn.__name__.removeprefix("op_")] = fn
        return fn
    return deco


@op(PUBLIC)
async def op_order_book(c: Ctx) -> None:
    r = await wsr(c.conn.order_book(symbol=SYM, limit=5))
    assert r.last_update_id == c.ex.update_id(SYM)
    extra = r.additional_properties                       # see MODEL_GAPS
    assert (extra["bids"], extra["asks"]) == c.ex.book(SYM, 5)


@op(PUBLIC)
async def op_symbol_price_ticker(c: Ctx) -> None:
    r = await wsr(c.conn.symbol_price_ticker(symbol=SYM))
    r = getattr(r, "actual_instance", r)
    m = c.ex.market_of(SYM)
    assert r.price == m.px(m.last_price)


@op(PUBLIC)
async def op_symbol_order_book_ticker(c: Ctx) -> None:
    r = await wsr(c.conn.symbol_order_book_ticker(symbol=SYM))
    r = getattr(r, "actual_instance", r)
    bids, _ = c.ex.book(SYM, 1)
    assert r.bid_price == bids[0][0]


def _order(c: Ctx, **kw: Any) -> dict:
    return dict(symbol=SYM, side=en("websocket_api", "NewOrderSideEnum", "BUY"),
                type=en("websocket_api", "NewOrderTypeEnum", "LIMIT"),
                time_in_force=en("websocket_api", "NewOrderTimeInForceEnum", "GTC"),
                quantity=0.001, price=c.far_bid(), **kw)


async def _new(c: Ctx) -> Any:
    return await wsr(c.conn.new_order(**_order(c)))


@op(SIGNED)
async def op_new_order(c: Ctx) -> None:
    r = await _new(c)
    assert r.order_id in c.open_ids() and r.status == "NEW"


@op(SIGNED)
async def op_query_order(c: Ctx) -> None:
    o = await _new(c)
    r = await wsr(c.conn.query_order(symbol=SYM, order_id=o.order_id))
    assert r.status == "NEW"


@op(SIGNED)
async def op_modify_order(c: Ctx) -> None:
    o = await _new(c)
    r = await wsr(c.conn.modify_order(
        symbol=SYM, side=en("websocket_api", "ModifyOrderSideEnum", "BUY"), quantity=0.002,
        price=c.far_bid(), order_id=o.order_id))
    assert r.orig_qty == "0.002"


@op(SIGNED)
async def op_cancel_order(c: Ctx) -> None:
    o = await _new(c)
    r = await wsr(c.conn.cancel_order(symbol=SYM, order_id=o.order_id))
    assert r.status == "CANCELED" and not c.open_ids()


@op(SIGNED)
async def op_account_information(c: Ctx) -> None:
    r = await wsr(c.conn.account_information())
    assert r.total_wallet_balance == "1000000.00000000"


@op(SIGNED)
async def op_account_information_v2(c: Ctx) -> None:
    r = await wsr(c.conn.account_information_v2())
    assert r.total_wallet_balance == "1000000.00000000" and r.positions == []


@op(SIGNED)
async def op_futures_account_balance(c: Ctx) -> None:
    r = await wsr(c.conn.futures_account_balance())
    assert {b.asset for b in r} == {"USDT"}


@op(SIGNED)
async def op_futures_account_balance_v2(c: Ctx) -> None:
    r = await wsr(c.conn.futures_account_balance_v2())
    assert {b.asset for b in r} == {"USDT"}


@op(SIGNED)
async def op_position_information(c: Ctx) -> None:
    r = await wsr(c.conn.position_information(symbol=SYM))
    assert r[0].symbol == SYM and r[0].position_amt == "0"


@op(SIGNED)
async def op_position_information_v2(c: Ctx) -> None:
    await wsr(c.conn.new_order(symbol=SYM, side=en("websocket_api", "NewOrderSideEnum", "BUY"),
                               type=en("websocket_api", "NewOrderTypeEnum", "MARKET"),
                               quantity=0.002))
    r = await wsr(c.conn.position_information_v2(symbol=SYM))
    assert r[0].position_amt == "0.002"


@op(SIGNED)
async def op_user_data_stream(c: Ctx) -> None:
    k = (await wsr(c.conn.start_user_data_stream())).listen_key
    assert c.ex.userdata.valid_key(k)
    assert (await wsr(c.conn.keepalive_user_data_stream())).listen_key == k
    await wsr(c.conn.close_user_data_stream())
    assert not c.ex.userdata.valid_key(k)


NOT_SERVED = {
    "new_algo_order": "algoOrder.place (conditional orders) is not simulated",
    "cancel_algo_order": "algoOrder.cancel (conditional orders) is not simulated",
}

CASES = ([pytest.param(n, None, id=n) for n in PUBLIC]
         + [pytest.param(n, kt, id=f"{n}-{kt}") for n in SIGNED for kt in KEYS])


@pytest.mark.parametrize("name,kt", CASES)
async def test_operation(name, kt):
    async with env(kt) as c:
        await asyncio.wait_for({**PUBLIC, **SIGNED}[name](c), 20 * UNIT)


@pytest.mark.parametrize("name", sorted(NOT_SERVED))
def test_not_served(name):
    pytest.skip(NOT_SERVED[name])


# -- streams on the split routes ------------------------------------------------------------------
S = "websocket_streams"
STREAMS: dict[str, tuple[str, Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]] = {
    "aggregate_trade_streams": ("market", lambda s: s.aggregate_trade_streams(symbol="btcusdt"),
                                lambda m: m.e == "aggTrade"),
    "kline_candlestick_streams": ("market", lambda s: s.kline_candlestick_streams(
        symbol="btcusdt", interval=en(S, "KlineCandlestickStreamsIntervalEnum", "1m")),
        lambda m: m.e == "kline"),
    "continuous_contract_kline_candlestick_streams": ("market", lambda s: (
        s.continuous_contract_kline_candlestick_streams(
            pair="btcusdt", contract_type=en(
                S, "ContinuousContractKlineCandlestickStreamsContractTypeEnum", "perpetual"),
            interval=en(S, "ContinuousContractKlineCandlestickStreamsIntervalEnum", "1m"))),
        lambda m: m.e == "continuous_kline"),
    "mark_price_stream": ("market", lambda s: s.mark_price_stream(symbol="btcusdt"),
                          lambda m: m.e == "markPriceUpdate"),
    "mark_price_stream_for_all_market": ("market", lambda s: (
        s.mark_price_stream_for_all_market()), lambda m: len(m) >= 1),
    "individual_symbol_ticker_streams": ("market", lambda s: (
        s.individual_symbol_ticker_streams(symbol="btcusdt")), lambda m: m.e == "24hrTicker"),
    "individual_symbol_mini_ticker_stream": ("market", lambda s: (
        s.individual_symbol_mini_ticker_stream(symbol="btcusdt")),
        lambda m: m.e == "24hrMiniTicker"),
    "all_market_tickers_streams": ("market", lambda s: s.all_market_tickers_streams(),
                                   lambda m: len(m) >= 1),
    "all_market_mini_tickers_stream": ("market", lambda s: s.all_market_mini_tickers_stream(),
                                       lambda m: len(m) >= 1),
    "liquidation_order_streams": ("market", lambda s: s.liquidation_order_streams(
        symbol="btcusdt"), lambda m: m.e == "forceOrder"),
    "diff_book_depth_streams": ("public", lambda s: s.diff_book_depth_streams(
        symbol="btcusdt"), lambda m: m.e == "depthUpdate"),
    "partial_book_depth_streams": ("public", lambda s: s.partial_book_depth_streams(
        symbol="btcusdt", levels=en(S, "PartialBookDepthStreamsLevelsEnum", "5")),
        lambda m: len(m.b) == 5),
    "individual_symbol_book_ticker_streams": ("public", lambda s: (
        s.individual_symbol_book_ticker_streams(symbol="btcusdt")),
        lambda m: m.e == "bookTicker"),
    "all_book_tickers_stream": ("public", lambda s: s.all_book_tickers_stream(),
                                lambda m: m.e == "bookTicker"),
}


def _payload(m: Any) -> Any:
    m = getattr(m, "actual_instance", None) or m
    return getattr(m, "root", m)


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_stream(name):
    mod = importlib.import_module(PKG)
    from binance_common.configuration import ConfigurationWebSocketStreams
    route, make, check = STREAMS[name]
    async with Exchange([SYM], market="usdm", clock=ManualClock(1_700_000_000_000), rate=400,
                        limits=fast_limits("usdm", ping_interval=30)) as ex:
        client = mod.DerivativesTradingUsdsFutures(
            config_ws_streams=ConfigurationWebSocketStreams(stream_url=ex.venue.stream_url,
                                                            reconnect_attempts=1))
        conn = await client.websocket_streams.create_connection()
        try:
            got: list = []
            stream = await make(conn)
            stream.on("message", got.append)
            loop = asyncio.get_running_loop()
            end = loop.time() + 15 * UNIT
            while not any(check(_payload(m)) for m in got):
                assert loop.time() < end, f"no {name} message"
                await ex.advance(250)
                await asyncio.sleep(0.01)
            m = next(m for m in got if check(_payload(m)))
            clean(m)
            subscribed = {c.route for c in ex.connections if c.state.subscriptions}
            assert route in subscribed
        finally:
            await conn.close_connection(close_session=True)


async def test_user_data_through_the_sdk():
    mod = importlib.import_module(PKG)
    from binance_common.configuration import ConfigurationWebSocketStreams
    async with env("HMAC") as c:
        k = (await wsr(c.conn.start_user_data_stream())).listen_key
        streams = mod.DerivativesTradingUsdsFutures(
            config_ws_streams=ConfigurationWebSocketStreams(stream_url=c.ex.venue.stream_url,
                                                            reconnect_attempts=1))
        sconn = await streams.websocket_streams.create_connection()
        try:
            got: list = []
            handle = await sconn.user_data(k)
            handle.on("message", got.append)
            await asyncio.sleep(0.05)
            c.ex.deposit(c.acct, "USDT", "1")                 # an ACCOUNT_UPDATE
            loop = asyncio.get_running_loop()
            end = loop.time() + 2 * UNIT
            while not got and loop.time() < end:
                await asyncio.sleep(0.01)
            if not got:
                pytest.skip(USER_DATA_DEPENDENCY)
            clean(got[0])
            got.clear()
            await _new(c)
            loop = asyncio.get_running_loop()
            end = loop.time() + 5 * UNIT
            while not got:
                assert loop.time() < end, "no user data event"
                await asyncio.sleep(0.01)
            clean(got[0])
        finally:
            await sconn.close_connection(close_session=True)
