"""Operation matrix, Binance's official ``binance-sdk-spot`` (unmodified): REST
(``ConfigurationRestAPI(base_path=...)``), WS API (``ConfigurationWebSocketAPI(stream_url=...)``)
and streams (``ConfigurationWebSocketStreams(stream_url=...)``) against the simulator.

The SDK parses every answer into its models; an answer in the documented shape leaves nothing
in ``additional_properties`` and misses no required field (``data()`` raises on one). Each
signed operation runs with HMAC, RSA and Ed25519 keys; ``session.logon`` takes Ed25519 only.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Awaitable, Callable, Optional

import pytest

from fastws.sim import Exchange, ManualClock
from fastws.testing import fast_limits
from tests.utils import UNIT

pytest.importorskip("binance_sdk_spot")

pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout':DeprecationWarning")

SYM = "BTCUSDT"
KEYS = ("HMAC", "RSA", "ED25519")
NOT_SIMULATED = "not simulated (exchangeInfo says so: {})"


def en(api: str, cls: str, value: str) -> Any:
    """Member ``value`` of the SDK enum ``cls`` (``api``: rest_api or websocket_api)."""
    import importlib
    mod = importlib.import_module(f"binance_sdk_spot.{api}.models.enums")
    return getattr(mod, cls)(value)


MODEL_GAPS = {("", "rateLimits"), (".order_reports[]", "selfTradePreventionMode")}
"""Fields Binance sends that some SDK models leave out: ``rateLimits`` of the session and
user-data answers (the SDK's own transport requires it: it reads ``rateLimits`` of every answer
when ``return_rate_limits`` is on), ``selfTradePreventionMode`` of the REST ``DELETE
/orderList`` reports (the WS API docs' cancel answers carry it)."""


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


@dataclass
class Ctx:
    ex: Any
    client: Any
    acct: Any
    conn: Any = None

    def far_bid(self) -> float:
        bids, _ = self.ex.book(SYM, 1)
        return float(Decimal(bids[0][0]) - 100)

    def last(self) -> Decimal:
        m = self.ex.market_of(SYM)
        return m.price_decimal(m.last_price)

    def open_ids(self) -> set:
        return {o.order_id for o in self.ex.orders(self.acct)}


@contextlib.asynccontextmanager
async def env(kt: Optional[str], ws: bool = False):
    from binance_sdk_spot.spot import (ConfigurationRestAPI, ConfigurationWebSocketAPI, Spot)
    now = int(time.time() * 1000)
    async with Exchange([SYM, "ETHUSDT"], clock=ManualClock(now - 60_000), rate=100,
                        limits=fast_limits(ping_interval=30)) as ex:
        await ex.advance(60_000)
        acct = ex.add_account(balances={"USDT": "1000000", "BTC": "10"},
                              keys=[kt] if kt else [])
        kw: dict = {}
        if kt:
            key = acct.keys[0]
            kw = ({"api_key": key.api_key, "api_secret": key.secret} if kt == "HMAC" else
                  {"api_key": key.api_key, "private_key": key.private_pem})
        client = Spot(config_rest_api=ConfigurationRestAPI(base_path=ex.venue.rest_url, **kw),
                      config_ws_api=ConfigurationWebSocketAPI(
                          stream_url=ex.venue.ws_api_url, reconnect_attempts=1, **kw))
        await ex.advance(max(0, int(time.time() * 1000) - ex.now_ms()))
        c = Ctx(ex, client, acct)
        if ws:
            c.conn = await client.websocket_api.create_connection()
        try:
            yield c
        finally:
            if c.conn is not None:
                await c.conn.close_connection()


Op = Callable[[Ctx], Awaitable[Any]]
REST_PUBLIC: dict[str, Op] = {}
REST_SIGNED: dict[str, Op] = {}
WS_PUBLIC: dict[str, Op] = {}
WS_SIGNED: dict[str, Op] = {}


def op(table: dict) -> Callable[[Op], Op]:
    def deco(fn: Op) -> Op:
        table[fn.__name__.removeprefix("op_")] = fn
        return fn
    return deco


async def rest(fn: Callable[..., Any], **kw: Any) -> Any:
    """Call a (blocking) SDK REST method off the loop; its parsed, checked data."""
    resp = await asyncio.to_thread(fn, **kw)
    data = resp.data()
    clean(data)
    return data


async def wsr(coro: Awaitable[Any]) -> Any:
    """A WS API call's parsed result, checked against the SDK's model of the answer."""
    resp = await coro
    if hasattr(resp, "stream"):                          # user data: (response, stream)
        resp = resp.response
    d = resp.data()
    d = getattr(d, "actual_instance", None) or d         # oneOf models (single / list)
    if not hasattr(d, "status") and "result" in (d.additional_properties or {}):
        # the SDK's model of this answer describes its result only (exchangeInfo)
        d = type(d).from_dict(d.additional_properties["result"])
        clean(d)
        return d
    clean(d)
    assert d.status == 200
    return d.result


# -- REST -----------------------------------------------------------------------------------------
@op(REST_PUBLIC)
async def op_ping(c: Ctx) -> None:
    await rest(c.client.rest_api.ping)


@op(REST_PUBLIC)
async def op_time(c: Ctx) -> None:
    assert (await rest(c.client.rest_api.time)).server_time == c.ex.now_ms()


@op(REST_PUBLIC)
async def op_exchange_info(c: Ctx) -> None:
    d = await rest(c.client.rest_api.exchange_info, symbol=SYM)
    assert d.symbols[0].symbol == SYM


@op(REST_PUBLIC)
async def op_depth(c: Ctx) -> None:
    d = await rest(c.client.rest_api.depth, symbol=SYM, limit=5)
    assert (d.bids, d.asks) == c.ex.book(SYM, 5)


@op(REST_PUBLIC)
async def op_get_trades(c: Ctx) -> None:
    d = await rest(c.client.rest_api.get_trades, symbol=SYM, limit=3)
    assert len(d) == 3 and d[-1].id == c.ex.market_of(SYM).trade_id


@op(REST_PUBLIC)
async def op_historical_trades(c: Ctx) -> None:
    assert len(await rest(c.client.rest_api.historical_trades, symbol=SYM, limit=3)) == 3


@op(REST_PUBLIC)
async def op_agg_trades(c: Ctx) -> None:
    assert len(await rest(c.client.rest_api.agg_trades, symbol=SYM, limit=3)) == 3


@op(REST_PUBLIC)
async def op_klines(c: Ctx) -> None:
    d = await rest(c.client.rest_api.klines, symbol=SYM,
                   interval=en("rest_api", "KlinesIntervalEnum", "1m"), limit=2)
    assert len(d) == 2


@op(REST_PUBLIC)
async def op_ui_klines(c: Ctx) -> None:
    d = await rest(c.client.rest_api.ui_klines, symbol=SYM,
                   interval=en("rest_api", "UiKlinesIntervalEnum", "1m"), limit=2)
    assert len(d) == 2


@op(REST_PUBLIC)
async def op_avg_price(c: Ctx) -> None:
    assert (await rest(c.client.rest_api.avg_price, symbol=SYM)).mins == 5


@op(REST_PUBLIC)
async def op_ticker24hr(c: Ctx) -> None:
    await rest(c.client.rest_api.ticker24hr, symbol=SYM)


@op(REST_PUBLIC)
async def op_ticker_trading_day(c: Ctx) -> None:
    await rest(c.client.rest_api.ticker_trading_day, symbol=SYM)


@op(REST_PUBLIC)
async def op_ticker(c: Ctx) -> None:
    await rest(c.client.rest_api.ticker, symbol=SYM)


@op(REST_PUBLIC)
async def op_ticker_price(c: Ctx) -> None:
    await rest(c.client.rest_api.ticker_price, symbol=SYM)


@op(REST_PUBLIC)
async def op_ticker_book_ticker(c: Ctx) -> None:
    await rest(c.client.rest_api.ticker_book_ticker, symbol=SYM)


@op(REST_PUBLIC)
async def op_reference_price(c: Ctx) -> None:
    assert (await rest(c.client.rest_api.reference_price, symbol=SYM)).symbol == SYM
    await rest(c.client.rest_api.reference_price_calculation, symbol=SYM)


@op(REST_PUBLIC)
async def op_historical_block_trades(c: Ctx) -> None:
    blocks = c.ex._api.tape.blocks[SYM]
    assert blocks
    d = await rest(c.client.rest_api.historical_block_trades, symbol=SYM,
                   from_id=blocks[-1][0])
    assert [x.id for x in d] == [blocks[-1][0]]


@op(REST_SIGNED)
async def op_my_filters(c: Ctx) -> None:
    d = await rest(c.client.rest_api.my_filters, symbol=SYM)
    assert d.exchange_filters == [] and len(d.symbol_filters) == 2


@op(REST_SIGNED)
async def op_order_amendments(c: Ctx) -> None:
    o = await _rest_order(c)
    await rest(c.client.rest_api.order_amend_keep_priority, symbol=SYM, order_id=o.order_id,
               new_qty=0.0005)
    d = await rest(c.client.rest_api.order_amendments, symbol=SYM, order_id=o.order_id)
    assert [a.new_qty for a in d] == ["0.00050000"]


def _new(c: Ctx, api: str = "rest_api", prefix: str = "NewOrder", **kw: Any) -> dict:
    return dict(symbol=SYM, side=en(api, f"{prefix}SideEnum", "BUY"),
                type=en(api, f"{prefix}TypeEnum", "LIMIT"),
                time_in_force=en(api, f"{prefix}TimeInForceEnum", "GTC"),
                quantity=0.001, price=c.far_bid(), **kw)


async def _rest_order(c: Ctx) -> Any:
    return await rest(c.client.rest_api.new_order, **_new(c))


@op(REST_SIGNED)
async def op_new_order(c: Ctx) -> None:
    assert (await _rest_order(c)).order_id in c.open_ids()


@op(REST_SIGNED)
async def op_order_test(c: Ctx) -> None:
    await rest(c.client.rest_api.order_test, **_new(c, prefix="OrderTest"))
    assert not c.open_ids()


@op(REST_SIGNED)
async def op_get_order(c: Ctx) -> None:
    o = await _rest_order(c)
    assert (await rest(c.client.rest_api.get_order, symbol=SYM,
                       order_id=o.order_id)).status == "NEW"


@op(REST_SIGNED)
async def op_delete_order(c: Ctx) -> None:
    o = await _rest_order(c)
    await rest(c.client.rest_api.delete_order, symbol=SYM, order_id=o.order_id)
    assert not c.open_ids()


@op(REST_SIGNED)
async def op_get_open_orders(c: Ctx) -> None:
    o = await _rest_order(c)
    assert [x.order_id for x in await rest(c.client.rest_api.get_open_orders,
                                           symbol=SYM)] == [o.order_id]


@op(REST_SIGNED)
async def op_delete_open_orders(c: Ctx) -> None:
    await _rest_order(c)
    await rest(c.client.rest_api.delete_open_orders, symbol=SYM)
    assert not c.open_ids()


@op(REST_SIGNED)
async def op_all_orders(c: Ctx) -> None:
    await _rest_order(c)
    assert len(await rest(c.client.rest_api.all_orders, symbol=SYM)) == 1


@op(REST_SIGNED)
async def op_get_account(c: Ctx) -> None:
    d = await rest(c.client.rest_api.get_account, omit_zero_balances=True)
    assert {b.asset for b in d.balances} == {"USDT", "BTC"}


@op(REST_SIGNED)
async def op_my_trades(c: Ctx) -> None:
    await rest(c.client.rest_api.new_order, symbol=SYM,
               side=en("rest_api", "NewOrderSideEnum", "BUY"),
               type=en("rest_api", "NewOrderTypeEnum", "MARKET"), quantity=0.001)
    assert len(await rest(c.client.rest_api.my_trades, symbol=SYM)) >= 1


@op(REST_SIGNED)
async def op_rate_limit_order(c: Ctx) -> None:
    assert (await rest(c.client.rest_api.rate_limit_order))[0].rate_limit_type == "ORDERS"


@op(REST_SIGNED)
async def op_account_commission(c: Ctx) -> None:
    assert (await rest(c.client.rest_api.account_commission, symbol=SYM)).symbol == SYM


@op(REST_SIGNED)
async def op_my_prevented_matches(c: Ctx) -> None:
    assert await rest(c.client.rest_api.my_prevented_matches, symbol=SYM,
                      prevented_match_id=1) == []


@op(REST_SIGNED)
async def op_order_cancel_replace(c: Ctx) -> None:
    o = await _rest_order(c)
    kw = _new(c, prefix="OrderCancelReplace")
    d = await rest(c.client.rest_api.order_cancel_replace, cancel_replace_mode=en(
        "rest_api", "OrderCancelReplaceCancelReplaceModeEnum", "STOP_ON_FAILURE"),
        cancel_order_id=o.order_id, **kw)
    assert d.new_order_result == "SUCCESS"


@op(REST_SIGNED)
async def op_order_amend_keep_priority(c: Ctx) -> None:
    o = await _rest_order(c)
    d = await rest(c.client.rest_api.order_amend_keep_priority, symbol=SYM,
                   order_id=o.order_id, new_qty=0.0005)
    assert d.amended_order.qty == "0.00050000"


@op(REST_SIGNED)
async def op_order_list_oco(c: Ctx) -> None:
    last = c.last()
    d = await rest(c.client.rest_api.order_list_oco, symbol=SYM,
                   side=en("rest_api", "OrderListOcoSideEnum", "SELL"), quantity=0.001,
                   above_type=en("rest_api", "OrderListOcoAboveTypeEnum", "LIMIT_MAKER"),
                   above_price=float(last + 200),
                   below_type=en("rest_api", "OrderListOcoBelowTypeEnum", "STOP_LOSS"),
                   below_stop_price=float(last - 200))
    lid = d.order_list_id
    assert len(await rest(c.client.rest_api.open_order_list)) == 1
    assert (await rest(c.client.rest_api.get_order_list, order_list_id=lid)).order_list_id == lid
    d = await rest(c.client.rest_api.delete_order_list, symbol=SYM, order_list_id=lid)
    assert d.list_order_status == "ALL_DONE"
    d = await rest(c.client.rest_api.all_order_list)
    assert [x.order_list_id for x in d] == [lid]


def _oto(c: Ctx, api: str, prefix: str) -> dict:
    _, asks = c.ex.book(SYM, 1)
    return dict(symbol=SYM, working_type=en(api, f"{prefix}WorkingTypeEnum", "LIMIT"),
                working_side=en(api, f"{prefix}WorkingSideEnum", "BUY"),
                working_price=float(Decimal(asks[0][0]) + 50), working_quantity=0.001,
                working_time_in_force=en(api, f"{prefix}WorkingTimeInForceEnum", "GTC"),
                pending_type=en(api, f"{prefix}PendingTypeEnum", "LIMIT"),
                pending_side=en(api, f"{prefix}PendingSideEnum", "SELL"),
                pending_price=float(Decimal(asks[0][0]) + 100), pending_quantity=0.001,
                pending_time_in_force=en(api, f"{prefix}PendingTimeInForceEnum", "GTC"))


@op(REST_SIGNED)
async def op_order_list_oto(c: Ctx) -> None:
    d = await rest(c.client.rest_api.order_list_oto, **_oto(c, "rest_api", "OrderListOto"))
    assert d.contingency_type == "OTO"
    assert [o.status for o in d.order_reports] == ["FILLED", "NEW"]
    assert [o.status for o in c.ex.orders(c.acct)] == ["NEW"]      # the pending one, placed


def _otoco(c: Ctx, api: str, prefix: str) -> dict:
    _, asks = c.ex.book(SYM, 1)
    ask = Decimal(asks[0][0])
    return dict(symbol=SYM, working_type=en(api, f"{prefix}WorkingTypeEnum", "LIMIT"),
                working_side=en(api, f"{prefix}WorkingSideEnum", "BUY"),
                working_price=float(ask + 50), working_quantity=0.001,
                working_time_in_force=en(api, f"{prefix}WorkingTimeInForceEnum", "GTC"),
                pending_side=en(api, f"{prefix}PendingSideEnum", "SELL"), pending_quantity=0.001,
                pending_above_type=en(api, f"{prefix}PendingAboveTypeEnum", "LIMIT_MAKER"),
                pending_above_price=float(ask + 300),
                pending_below_type=en(api, f"{prefix}PendingBelowTypeEnum", "STOP_LOSS"),
                pending_below_stop_price=float(ask - 300))


@op(REST_SIGNED)
async def op_order_list_otoco(c: Ctx) -> None:
    d = await rest(c.client.rest_api.order_list_otoco,
                   **_otoco(c, "rest_api", "OrderListOtoco"))
    assert [o.status for o in d.order_reports] == ["FILLED", "NEW", "NEW"]


@op(REST_SIGNED)
async def op_order_list_opo(c: Ctx) -> None:
    kw = _oto(c, "rest_api", "OrderListOpo")
    kw.pop("pending_quantity")
    kw["pending_type"] = en("rest_api", "OrderListOpoPendingTypeEnum", "MARKET")
    kw.pop("pending_price")
    kw.pop("pending_time_in_force")
    d = await rest(c.client.rest_api.order_list_opo, **kw)
    assert [o.status for o in d.order_reports] == ["FILLED", "FILLED"]


@op(REST_SIGNED)
async def op_order_list_opoco(c: Ctx) -> None:
    kw = _otoco(c, "rest_api", "OrderListOpoco")
    kw.pop("pending_quantity")
    d = await rest(c.client.rest_api.order_list_opoco, **kw)
    assert [o.status for o in d.order_reports] == ["FILLED", "NEW", "NEW"]


# -- WS API ---------------------------------------------------------------------------------------
@op(WS_SIGNED)
async def op_ws_order_list_place_opo(c: Ctx) -> None:
    kw = _oto(c, "websocket_api", "OrderListPlaceOpo")
    for k in ("pending_quantity", "pending_price", "pending_time_in_force"):
        kw.pop(k)
    kw["pending_type"] = en("websocket_api", "OrderListPlaceOpoPendingTypeEnum", "MARKET")
    r = await wsr(c.conn.order_list_place_opo(**kw))
    assert r.list_order_status == "ALL_DONE"


@op(WS_SIGNED)
async def op_ws_order_list_place_opoco(c: Ctx) -> None:
    kw = _otoco(c, "websocket_api", "OrderListPlaceOpoco")
    kw.pop("pending_quantity")
    r = await wsr(c.conn.order_list_place_opoco(**kw))
    assert len(c.open_ids()) == 2 and r.contingency_type == "OTO"


@op(WS_SIGNED)
async def op_ws_order_list_place_otoco(c: Ctx) -> None:
    r = await wsr(c.conn.order_list_place_otoco(**_otoco(c, "websocket_api",
                                                          "OrderListPlaceOtoco")))
    assert r.contingency_type == "OTO" and len(c.open_ids()) == 2


@op(WS_SIGNED)
async def op_ws_order_list_place_oto(c: Ctx) -> None:
    r = await wsr(c.conn.order_list_place_oto(**_oto(c, "websocket_api",
                                                      "OrderListPlaceOto")))
    assert r.contingency_type == "OTO" and len(c.open_ids()) == 1



@op(WS_PUBLIC)
async def op_ws_ping(c: Ctx) -> None:
    await wsr(c.conn.ping())


@op(WS_PUBLIC)
async def op_ws_time(c: Ctx) -> None:
    assert (await wsr(c.conn.time())).server_time == c.ex.now_ms()


@op(WS_PUBLIC)
async def op_ws_exchange_info(c: Ctx) -> None:
    assert (await wsr(c.conn.exchange_info(symbol=SYM))).symbols[0].symbol == SYM


@op(WS_PUBLIC)
async def op_ws_depth(c: Ctx) -> None:
    r = await wsr(c.conn.depth(symbol=SYM, limit=5))
    assert (r.bids, r.asks) == c.ex.book(SYM, 5)


@op(WS_PUBLIC)
async def op_ws_trades_recent(c: Ctx) -> None:
    assert len(await wsr(c.conn.trades_recent(symbol=SYM, limit=2))) == 2


@op(WS_PUBLIC)
async def op_ws_trades_historical(c: Ctx) -> None:
    assert len(await wsr(c.conn.trades_historical(symbol=SYM, limit=2))) == 2


@op(WS_PUBLIC)
async def op_ws_trades_aggregate(c: Ctx) -> None:
    assert len(await wsr(c.conn.trades_aggregate(symbol=SYM, limit=2))) == 2


@op(WS_PUBLIC)
async def op_ws_klines(c: Ctx) -> None:
    r = await wsr(c.conn.klines(symbol=SYM, interval=en("websocket_api", "KlinesIntervalEnum",
                                                          "1m"), limit=2))
    assert len(r) == 2


@op(WS_PUBLIC)
async def op_ws_ui_klines(c: Ctx) -> None:
    r = await wsr(c.conn.ui_klines(symbol=SYM, interval=en(
        "websocket_api", "UiKlinesIntervalEnum", "1m"), limit=2))
    assert len(r) == 2


@op(WS_PUBLIC)
async def op_ws_avg_price(c: Ctx) -> None:
    assert (await wsr(c.conn.avg_price(symbol=SYM))).mins == 5


@op(WS_PUBLIC)
async def op_ws_ticker24hr(c: Ctx) -> None:
    await wsr(c.conn.ticker24hr(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_ticker_trading_day(c: Ctx) -> None:
    await wsr(c.conn.ticker_trading_day(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_ticker(c: Ctx) -> None:
    await wsr(c.conn.ticker(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_ticker_price(c: Ctx) -> None:
    await wsr(c.conn.ticker_price(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_ticker_book(c: Ctx) -> None:
    await wsr(c.conn.ticker_book(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_reference_price(c: Ctx) -> None:
    assert (await wsr(c.conn.reference_price(symbol=SYM))).symbol == SYM
    await wsr(c.conn.reference_price_calculation(symbol=SYM))


@op(WS_PUBLIC)
async def op_ws_block_trades_historical(c: Ctx) -> None:
    blocks = c.ex._api.tape.blocks[SYM]
    r = await wsr(c.conn.block_trades_historical(symbol=SYM, from_id=blocks[-1][0]))
    assert [x.id for x in r] == [blocks[-1][0]]


@op(WS_SIGNED)
async def op_ws_my_filters(c: Ctx) -> None:
    assert len((await wsr(c.conn.my_filters(symbol=SYM))).symbol_filters) == 2


@op(WS_SIGNED)
async def op_ws_order_amendments(c: Ctx) -> None:
    o = await _ws_order(c)
    await wsr(c.conn.order_amend_keep_priority(symbol=SYM, order_id=o.order_id, new_qty=0.0005))
    r = await wsr(c.conn.order_amendments(symbol=SYM, order_id=o.order_id))
    assert [a.new_qty for a in r] == ["0.00050000"]


async def _ws_order(c: Ctx) -> Any:
    return await wsr(c.conn.order_place(**_new(c, "websocket_api", "OrderPlace")))


@op(WS_SIGNED)
async def op_ws_order_place(c: Ctx) -> None:
    assert (await _ws_order(c)).order_id in c.open_ids()


@op(WS_SIGNED)
async def op_ws_order_test(c: Ctx) -> None:
    await wsr(c.conn.order_test(**_new(c, "websocket_api", "OrderTest"),
                                compute_commission_rates=True))


@op(WS_SIGNED)
async def op_ws_order_status(c: Ctx) -> None:
    o = await _ws_order(c)
    assert (await wsr(c.conn.order_status(symbol=SYM, order_id=o.order_id))).status == "NEW"


@op(WS_SIGNED)
async def op_ws_order_cancel(c: Ctx) -> None:
    o = await _ws_order(c)
    await wsr(c.conn.order_cancel(symbol=SYM, order_id=o.order_id))
    assert not c.open_ids()


@op(WS_SIGNED)
async def op_ws_order_cancel_replace(c: Ctx) -> None:
    o = await _ws_order(c)
    r = await wsr(c.conn.order_cancel_replace(
        cancel_replace_mode=en("websocket_api", "OrderCancelReplaceCancelReplaceModeEnum",
                               "STOP_ON_FAILURE"), cancel_order_id=o.order_id,
        **_new(c, "websocket_api", "OrderCancelReplace")))
    assert r.new_order_result == "SUCCESS"


@op(WS_SIGNED)
async def op_ws_open_orders(c: Ctx) -> None:
    await _ws_order(c)
    assert len(await wsr(c.conn.open_orders_status(symbol=SYM))) == 1
    await wsr(c.conn.open_orders_cancel_all(symbol=SYM))
    assert not c.open_ids()


@op(WS_SIGNED)
async def op_ws_all_orders(c: Ctx) -> None:
    await _ws_order(c)
    assert len(await wsr(c.conn.all_orders(symbol=SYM))) == 1


@op(WS_SIGNED)
async def op_ws_my_trades(c: Ctx) -> None:
    await wsr(c.conn.order_place(symbol=SYM,
                                 side=en("websocket_api", "OrderPlaceSideEnum", "BUY"),
                                 type=en("websocket_api", "OrderPlaceTypeEnum", "MARKET"),
                                 quantity=0.001))
    assert len(await wsr(c.conn.my_trades(symbol=SYM))) >= 1


@op(WS_SIGNED)
async def op_ws_account_status(c: Ctx) -> None:
    r = await wsr(c.conn.account_status(omit_zero_balances=True))
    assert {b.asset for b in r.balances} == {"USDT", "BTC"}


@op(WS_SIGNED)
async def op_ws_account_rate_limits_orders(c: Ctx) -> None:
    await wsr(c.conn.account_rate_limits_orders())


@op(WS_SIGNED)
async def op_ws_account_commission(c: Ctx) -> None:
    assert (await wsr(c.conn.account_commission(symbol=SYM))).symbol == SYM


@op(WS_SIGNED)
async def op_ws_my_prevented_matches(c: Ctx) -> None:
    assert await wsr(c.conn.my_prevented_matches(symbol=SYM, prevented_match_id=1)) == []


@op(WS_SIGNED)
async def op_ws_order_amend_keep_priority(c: Ctx) -> None:
    o = await _ws_order(c)
    r = await wsr(c.conn.order_amend_keep_priority(symbol=SYM, order_id=o.order_id,
                                                   new_qty=0.0005))
    assert r.amended_order.qty == "0.00050000"


@op(WS_SIGNED)
async def op_ws_order_list_oco(c: Ctx) -> None:
    last = c.last()
    r = await wsr(c.conn.order_list_place_oco(
        symbol=SYM, side=en("websocket_api", "OrderListPlaceOcoSideEnum", "SELL"),
        quantity=0.001,
        above_type=en("websocket_api", "OrderListPlaceOcoAboveTypeEnum", "LIMIT_MAKER"),
        above_price=float(last + 200),
        below_type=en("websocket_api", "OrderListPlaceOcoBelowTypeEnum", "STOP_LOSS"),
        below_stop_price=float(last - 200)))
    lid = r.order_list_id
    assert (await wsr(c.conn.order_list_status(order_list_id=lid))).order_list_id == lid
    assert len(await wsr(c.conn.open_order_lists_status())) == 1
    r = await wsr(c.conn.order_list_cancel(symbol=SYM, order_list_id=lid))
    assert r.list_order_status == "ALL_DONE"
    assert [x.order_list_id for x in await wsr(c.conn.all_order_lists())] == [lid]


@op(WS_SIGNED)
async def op_ws_user_data_stream_subscribe_signature(c: Ctx) -> None:
    sub = await c.conn.user_data_stream_subscribe_signature()
    events: list = []
    sub.stream.on("message", events.append)
    r = await wsr(asyncio.sleep(0, sub))
    assert r.subscription_id == 0
    await _ws_order(c)
    loop = asyncio.get_running_loop()
    end = loop.time() + 5 * UNIT
    while not events:
        assert loop.time() < end, "no user data event"
        await asyncio.sleep(0.01)
    ev = getattr(events[0], "actual_instance", events[0])
    if isinstance(ev, dict):
        ev = ev.get("event", ev)
        assert ev["e"] in ("executionReport", "outboundAccountPosition")
        return
    clean(ev)
    assert type(ev).__name__ in ("ExecutionReport", "OutboundAccountPosition")
    assert len(await wsr(c.conn.session_subscriptions())) == 1
    await wsr(c.conn.user_data_stream_unsubscribe())


@op(WS_SIGNED)
async def op_ws_session(c: Ctx) -> None:
    r = await wsr(c.conn.session_logon())
    assert r.api_key == c.acct.keys[0].api_key
    assert (await wsr(c.conn.session_status())).api_key == c.acct.keys[0].api_key
    r = await wsr(c.conn.user_data_stream_subscribe())
    assert r.subscription_id == 0
    assert (await wsr(c.conn.session_logout())).api_key is None


NOT_SERVED = {
    "sor_order": "SOR is not simulated (exchangeInfo carries no sors)",
    "my_allocations": "allocations exist with SOR only, which is not simulated",
    "sor_order_test": "SOR is not simulated (exchangeInfo carries no sors)",
    "order_oco": "POST /api/v3/order/oco is retired (orderList/oco replaces it)",
    "order_list_place": "orderList.place is deprecated (orderList.place.oco replaces it)",
    "execution_rules": "not simulated yet: executionRules (new 2026-03)",
}

CASES = ([pytest.param("rest", n, None, id=f"rest-{n}") for n in REST_PUBLIC]
         + [pytest.param("rest", n, kt, id=f"rest-{n}-{kt}") for n in REST_SIGNED for kt in KEYS]
         + [pytest.param("ws", n, None, id=f"ws-{n}") for n in WS_PUBLIC]
         + [pytest.param("ws", n, kt, id=f"ws-{n}-{kt}") for n in WS_SIGNED for kt in KEYS])


@pytest.mark.parametrize("side,name,kt", CASES)
async def test_operation(side, name, kt):
    if name == "ws_session" and kt != "ED25519":
        pytest.skip("Binance: session.logon takes Ed25519 keys only (SPEC §5.5)")
    if name == "ws_my_filters":
        pytest.skip("binance-sdk-spot defect: its WS API myFilters model describes the result "
                    "without the response envelope, so data() drops the answer (the REST "
                    "myFilters runs)")
    table = {**REST_PUBLIC, **REST_SIGNED, **WS_PUBLIC, **WS_SIGNED}
    async with env(kt, ws=side == "ws") as c:
        await asyncio.wait_for(table[name](c), 20 * UNIT)


@pytest.mark.parametrize("name", sorted(NOT_SERVED))
def test_not_served(name):
    pytest.skip(NOT_SERVED[name])


# -- streams --------------------------------------------------------------------------------------
STREAMS: dict[str, tuple[Callable[[Any], Awaitable[Any]], Callable[[Any], bool]]] = {
    "trade": (lambda s: s.trade(symbol="btcusdt"), lambda m: m.e == "trade"),
    "agg_trade": (lambda s: s.agg_trade(symbol="btcusdt"), lambda m: m.e == "aggTrade"),
    "kline": (lambda s: s.kline(symbol="btcusdt", interval=en(
        "websocket_streams", "KlineIntervalEnum", "1m")), lambda m: m.e == "kline"),
    "diff_book_depth": (lambda s: s.diff_book_depth(symbol="btcusdt"),
                        lambda m: m.e == "depthUpdate"),
    "partial_book_depth": (lambda s: s.partial_book_depth(symbol="btcusdt", levels=en(
        "websocket_streams", "PartialBookDepthLevelsEnum", "5")),
        lambda m: len(m.bids) == 5),
    "book_ticker": (lambda s: s.book_ticker(symbol="btcusdt"), lambda m: m.s == SYM),
    "mini_ticker": (lambda s: s.mini_ticker(symbol="btcusdt"),
                    lambda m: m.e == "24hrMiniTicker"),
    "ticker": (lambda s: s.ticker(symbol="btcusdt"), lambda m: m.e == "24hrTicker"),
    "avg_price": (lambda s: s.avg_price(symbol="btcusdt"), lambda m: m.e == "avgPrice"),
    "rolling_window_ticker": (lambda s: s.rolling_window_ticker(symbol="btcusdt", window_size=en(
        "websocket_streams", "RollingWindowTickerWindowSizeEnum", "1h")),
        lambda m: m.e == "1hTicker"),
    "all_mini_ticker": (lambda s: s.all_mini_ticker(), lambda m: len(m) >= 1),
    "all_market_rolling_window_ticker": (lambda s: s.all_market_rolling_window_ticker(
        window_size=en("websocket_streams", "AllMarketRollingWindowTickerWindowSizeEnum",
                       "1h")), lambda m: len(m) >= 1),
    "reference_price": (lambda s: s.reference_price(symbol="btcusdt"),
                        lambda m: m.e == "referencePrice"),
    "block_trade": (lambda s: s.block_trade(symbol="btcusdt"), lambda m: m.e == "blockTrade"),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_stream(name):
    from binance_sdk_spot.spot import ConfigurationWebSocketStreams, Spot
    make, check = STREAMS[name]
    async with Exchange([SYM], clock=ManualClock(1_700_000_000_000), rate=400,
                        limits=fast_limits(ping_interval=30)) as ex:
        client = Spot(config_ws_streams=ConfigurationWebSocketStreams(
            stream_url=ex.venue.stream_url, reconnect_attempts=1))
        conn = await client.websocket_streams.create_connection()
        try:
            got: list = []
            stream = await make(conn)
            stream.on("message", got.append)
            loop = asyncio.get_running_loop()
            end = loop.time() + 15 * UNIT
            while not any(check(m) for m in got):
                assert loop.time() < end, f"no {name} message"
                await ex.advance(250)
                await asyncio.sleep(0.01)
            m = next(m for m in got if check(m))
            clean(m)
        finally:
            await conn.close_connection(close_session=True)


async def test_stream_resumes_after_the_server_closes():
    """The venue closes stream connections (24 h lifetime, maintenance): a client must
    reconnect. The simulator closes it with 1001 and serves the reconnect; this SDK version
    does not reconnect, a defect of the client, skipped with that reason."""
    from binance_sdk_spot.spot import ConfigurationWebSocketStreams, Spot
    async with Exchange([SYM], clock=ManualClock(1_700_000_000_000), rate=400,
                        limits=fast_limits(ping_interval=30)) as ex:
        client = Spot(config_ws_streams=ConfigurationWebSocketStreams(
            stream_url=ex.venue.stream_url, reconnect_attempts=5, reconnect_delay=100))
        conn = await client.websocket_streams.create_connection()
        try:
            got: list = []
            (await conn.trade(symbol="btcusdt")).on("message", got.append)
            for _ in range(10):
                await ex.advance(100)
                await asyncio.sleep(0.01)
            assert got
            ex.faults.close(how="clean", code=1001)
            loop = asyncio.get_running_loop()
            end = loop.time() + 3 * UNIT
            while ex.connection_attempts < 2 and loop.time() < end:
                await asyncio.sleep(0.05)
            if ex.connection_attempts < 2:
                pytest.skip("binance-sdk-spot defect: after the server closes a stream "
                            "connection (1001) it never reconnects, whatever "
                            "reconnect_attempts says")
            n = len(got)
            while len(got) == n:
                assert loop.time() < end + 5 * UNIT, "no message after the reconnect"
                await ex.advance(100)
                await asyncio.sleep(0.01)
        finally:
            with contextlib.suppress(Exception):
                await conn.close_connection(close_session=True)
