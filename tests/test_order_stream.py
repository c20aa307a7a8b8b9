"""OrderStream: local validation and exact formatting, every method's round trip, and the
"outcome unknown" paths (-1007, a dropped connection) ending with the true order state."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from fastws.api.base_operations import BaseOperations, FilterError, FilterGrids
from fastws.exceptions import ApiError, InvalidUsage, OutcomeUnknownError
from fastws.api.order_stream import OrderStream
from fastws.api.signing import HmacSigner
from fastws.sim import Exchange
from tests.sim_api_support import old_grid, recorded

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True



def session(ex):
    """An HMAC session on a fresh account of ``ex``."""
    return sim_session(ex, "HMAC", timeout=3.0)[1]


async def test_place_formats_exactly_and_round_trips():
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        async with session(ex) as api:
            orders = OrderStream(api)
            r = await orders.place("BTCUSDT", "buy", "LIMIT", quantity=Decimal("0.1"), price=Decimal("90.1"))
            p = sent[-1][2]
            assert p["price"] == "90.10" and p["quantity"] == "0.10000" and p["timeInForce"] == "GTC"
            assert p["side"] == "BUY" and p["newClientOrderId"] == r["clientOrderId"]
            assert r["status"] == "NEW"
            st = await orders.status("BTCUSDT", order_id=r["orderId"])
            assert st["clientOrderId"] == r["clientOrderId"]
            assert [o["orderId"] for o in await orders.open_orders("BTCUSDT")] == [r["orderId"]]
            c = await orders.cancel("BTCUSDT", client_order_id=r["clientOrderId"])
            assert c["status"] == "CANCELED"
            with pytest.raises(ApiError) as e:
                await orders.cancel("BTCUSDT", order_id=r["orderId"])
            assert e.value.code == -2011
            # marketable: filled at once, FULL answer
            r = await orders.place("BTCUSDT", "BUY", "MARKET", quantity="0.1")
            assert r["status"] == "FILLED"
            r = await orders.place("BTCUSDT", "SELL", "LIMIT", quantity="0.2", price="200",
                                   client_order_id="my-own.id_1", response_type="ACK")
            assert r["clientOrderId"] == "my-own.id_1" and set(r) == {
                "symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
            rep = await orders.cancel_replace("BTCUSDT", "SELL", "LIMIT", cancel_order_id=r["orderId"],
                                              quantity="0.3", price="201.5")
            # Binance answers prices with 8 decimals; the text the client sent is on the grid
            assert rep["cancelResult"] == "SUCCESS" and rep["newOrderResponse"]["price"] == "201.50000000"
            assert sent[-1][2]["cancelReplaceMode"] == "STOP_ON_FAILURE"
            assert sent[-1][2]["price"] == "201.50" and sent[-1][2]["quantity"] == "0.30000"
            done = await orders.cancel_all("BTCUSDT")
            assert [o["status"] for o in done] == ["CANCELED"]
            assert await orders.test("BTCUSDT", "BUY", quantity="0.1", price="90") == {}
            oco = await orders.place_oco("BTCUSDT", "SELL", "0.1", above_type="LIMIT_MAKER", above_price="110",
                                         below_type="STOP_LOSS_LIMIT", below_price="95", below_stop_price="95.5")
            p = sent[-1][2]
            assert p["abovePrice"] == "110.00" and p["belowStopPrice"] == "95.50"
            assert p["belowTimeInForce"] == "GTC" and p["quantity"] == "0.10000"
            assert len(oco["orders"]) == 2
            assert (await orders.cancel_order_list("BTCUSDT", order_list_id=oco["orderListId"]))[
                "listStatusType"] == "ALL_DONE"


@pytest.mark.parametrize("kwargs, match", [
    (dict(type="LIMIT", quantity="0.1"), "needs price"),
    (dict(type="LIMIT_MAKER", price="90"), "needs quantity"),
    (dict(type="MARKET"), "quantity or quoteOrderQty"),
    (dict(type="MARKET", quantity="0.1", quote_order_qty="10"), "not both"),
    (dict(type="STOP_LOSS", quantity="0.1"), "stopPrice or trailingDelta"),
    (dict(type="STOP_LOSS_LIMIT", quantity="0.1", price="90"), "stopPrice or trailingDelta"),
    (dict(type="TAKE_PROFIT_LIMIT", quantity="0.1", price="90", stop_price="91", time_in_force="DAY"),
     "timeInForce"),
    (dict(type="ICEBERG", quantity="0.1"), "unknown spot order type"),
    (dict(type=None, quantity="0.1"), "must be str"),
    (dict(type="LIMIT_MAKER", quantity="0.1", price="90", time_in_force="GTC"), "takes no timeInForce"),
    (dict(type="LIMIT", quantity=0.1, price="90"), "floats"),
    (dict(type="LIMIT", quantity="0.1", price="90", client_order_id="has space"), "client_order_id"),
    (dict(type="LIMIT", quantity="0.1", price="90", signature="x"), "set by the client"),
])
async def test_bad_orders_are_refused_before_sending(kwargs, match):
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        async with session(ex) as api:
            orders = OrderStream(api)
            await api.symbol_filters("BTCUSDT")
            with pytest.raises(InvalidUsage, match=match):
                await orders.place("BTCUSDT", "BUY", **kwargs)
            assert "order.place" not in sent.methods()


@pytest.mark.parametrize("kwargs, filter_", [
    (dict(quantity="0.1", price="90.001"), "PRICE_FILTER"),
    (dict(quantity="0.000001", price="90"), "LOT_SIZE"),
    (dict(quantity="0.01", price="90"), "NOTIONAL"),
    (dict(quantity="0.1", price="0"), "PRICE_FILTER"),
    (dict(quantity="10000", price="90"), "LOT_SIZE"),
])
async def test_filter_failures_are_caught_locally(kwargs, filter_):
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        async with session(ex) as api:
            orders = OrderStream(api)
            with pytest.raises(FilterError) as e:
                await orders.place("BTCUSDT", "BUY", "LIMIT", **kwargs)
            assert e.value.filter == filter_ and e.value.symbol == "BTCUSDT"
            assert "order.place" not in sent.methods()


async def test_rounding_moves_values_onto_the_grid():
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        async with session(ex) as api:
            orders = OrderStream(api, rounding="down")
            await orders.place("BTCUSDT", "BUY", quantity="0.123456789", price="90.129")
            p = sent[-1][2]
            assert p["price"] == "90.12" and p["quantity"] == "0.12345"


async def test_minus_1007_that_did_not_execute_says_so():
    """(-1007 that did execute, and a connection dropped after accepting: the sim test
    test_sim_outcome_unknown_and_dropped_connection_end_with_the_true_state.)"""
    from tests.sim_api_support import recording
    async with Exchange(["BTCUSDT"]) as ex:
        acct, api = sim_session(ex, "HMAC", timeout=3.0)
        async with api:
            orders = OrderStream(api)
            f = await api.symbol_filters("BTCUSDT")
            bid = Decimal((await api.depth("BTCUSDT", 5))["bids"][0][0])
            ex.faults.unknown_not_executed(methods="order.place")
            with recording(ex) as sent, pytest.raises(OutcomeUnknownError) as e:
                await orders.place("BTCUSDT", "BUY", quantity=Decimal("0.001"),
                                   price=f.round_price(bid * Decimal("0.9"), "down"))
            assert e.value.placed is False and "not placed" in str(e.value)
            assert sent.methods().count("order.place") == 1
            assert sent.methods().count("order.status") == 3   # asked again while the engine may lag
            assert ex.orders(acct) == []


async def test_usdm_orders_and_modify():
    async with recorded(Exchange([old_grid("usdm")], market="usdm")) as (ex, sent):
        async with session(ex) as api:
            orders = OrderStream(api)
            r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90", positionSide="BOTH")
            assert sent[-1][2]["positionSide"] == "BOTH"
            m = await orders.modify("BTCUSDT", "BUY", order_id=r["orderId"], quantity="0.2", price="91")
            assert m["price"] == "91.00" and m["origQty"] == "0.20000"
            with pytest.raises(InvalidUsage, match="unknown usdm order type"):
                await orders.place("BTCUSDT", "BUY", "LIMIT_MAKER", quantity="0.1", price="90")
            with pytest.raises(InvalidUsage, match="callbackRate"):
                await orders.place("BTCUSDT", "SELL", "TRAILING_STOP_MARKET", quantity="0.1")
            assert (await orders.cancel("BTCUSDT", order_id=r["orderId"]))["status"] == "CANCELED"
            with pytest.raises(InvalidUsage):
                await orders.place_oco("BTCUSDT", "SELL", "0.1", above_type="LIMIT_MAKER", below_type="STOP_LOSS")


# -- against the simulator (its own matching engine, accounts and signature checks) -----------

from fastws.api.signing import Ed25519Signer, RsaSigner  # noqa: E402


def sim_session(ex, key_type="ED25519", **kw):
    acct = ex.add_account(balances={"USDT": "10000000", "BTC": "100"}, keys=[key_type])
    k = acct.keys[0]
    signer = {"ED25519": lambda: Ed25519Signer(k.private_pem), "RSA": lambda: RsaSigner(k.private_pem),
              "HMAC": lambda: HmacSigner(k.secret)}[key_type]()
    return acct, BaseOperations(ex.venue, key=k.api_key, signer=signer, **kw)


@pytest.mark.parametrize("key_type", ["ED25519", "HMAC", "RSA"])
async def test_sim_round_trips_with_every_key_type(key_type):
    async with Exchange(["BTCUSDT"]) as ex:
        acct, api = sim_session(ex, key_type)
        async with api:
            assert api.client.logged_on == (key_type == "ED25519")
            orders = OrderStream(api)
            f = await api.symbol_filters("BTCUSDT")
            book = await api.depth("BTCUSDT", 5)
            ask, bid = Decimal(book["asks"][0][0]), Decimal(book["bids"][0][0])
            qty = f.min_qty * 10
            # taker: crosses the book and fills (IOC so nothing rests if the market moved)
            r = await orders.place("BTCUSDT", "BUY", quantity=qty, price=ask * Decimal("1.01"),
                                   time_in_force="IOC", rounding="down")
            assert r["status"] == "FILLED" and Decimal(r["executedQty"]) == qty and r["fills"]
            assert await orders.test("BTCUSDT", "BUY", quantity=qty, price=bid * Decimal("0.9"),
                                     rounding="down") == {}
            low = f.round_price(bid * Decimal("0.9"), "down")
            rest = await orders.place("BTCUSDT", "BUY", quantity=Decimal("0.001"), price=low)
            assert rest["status"] == "NEW"
            assert [o["orderId"] for o in await orders.open_orders("BTCUSDT")] == [rest["orderId"]]
            st = await orders.status("BTCUSDT", client_order_id=rest["clientOrderId"])
            assert st["price"] == format(low, "f").ljust(len(st["price"]), "0")
            rep = await orders.cancel_replace("BTCUSDT", "BUY", cancel_order_id=rest["orderId"],
                                              quantity=Decimal("0.002"), price=low)
            assert rep["cancelResult"] == rep["newOrderResult"] == "SUCCESS"
            new_id = rep["newOrderResponse"]["orderId"]
            c = await orders.cancel("BTCUSDT", order_id=new_id)
            assert c["status"] == "CANCELED"
            await orders.place("BTCUSDT", "SELL", quantity=Decimal("0.001"), price=f.round_price(ask * 2, "down"))
            assert [o["status"] for o in await orders.cancel_all("BTCUSDT")] == ["CANCELED"]
            assert ex.orders(acct, "BTCUSDT") == []


async def test_sim_outcome_unknown_and_dropped_connection_end_with_the_true_state():
    async with Exchange(["BTCUSDT"]) as ex:
        acct, api = sim_session(ex, "HMAC", timeout=3.0)
        async with api:
            orders = OrderStream(api)
            f = await api.symbol_filters("BTCUSDT")
            bid = Decimal((await api.depth("BTCUSDT", 5))["bids"][0][0])
            low = f.round_price(bid * Decimal("0.9"), "down")
            ex.faults.outcome_unknown(methods="order.place")
            r = await orders.place("BTCUSDT", "BUY", quantity=Decimal("0.001"), price=low, client_order_id="u1007")
            assert r["status"] == "NEW" and r["clientOrderId"] == "u1007"      # it did execute
            assert [o.client_id for o in ex.orders(acct)] == ["u1007"]   # and only once
            ex.faults.drop_after_accept(methods="order.place")
            r = await orders.place("BTCUSDT", "BUY", quantity=Decimal("0.001"), price=low, client_order_id="drop2")
            assert r["status"] == "NEW" and api.client.connections == 2
            assert sorted(o.client_id for o in ex.orders(acct)) == ["drop2", "u1007"]
            assert orders.unknown_outcomes == 2


async def test_sim_burst_of_200_orders_never_draws_a_429():
    async with Exchange(["BTCUSDT"], order_limits=(100, 160000)) as ex:
        acct, api = sim_session(ex, "ED25519")
        async with api:
            orders = OrderStream(api)
            f = await api.symbol_filters("BTCUSDT")
            bid = Decimal((await api.depth("BTCUSDT", 5))["bids"][0][0])
            low = f.round_price(bid * Decimal("0.5"), "down")
            results = await asyncio.gather(*(
                orders.place("BTCUSDT", "BUY", quantity=Decimal("0.001"), price=low, response_type="ACK")
                for _ in range(200)), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == []
            assert len(ex.orders(acct)) == 200


# -- the integer fast path of build_order agrees with the Decimal path ----------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from fastws.api.base_operations import SymbolFilters  # noqa: E402
from fastws.venues import SPOT_LIMITS, Venue  # noqa: E402


_FAST_INFO = {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
              "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"], "filters": [
                  {"filterType": "PRICE_FILTER", "minPrice": "0.05", "maxPrice": "1000.00", "tickSize": "0.05"},
                  {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "90.000", "stepSize": "0.001"},
                  {"filterType": "MARKET_LOT_SIZE", "minQty": "0.01", "maxQty": "50", "stepSize": "0.01"},
                  {"filterType": "NOTIONAL", "minNotional": "5.0", "maxNotional": "20000",
                   "applyMinToMarket": True}]}


def _outcome(orders, filters, type_, price, qty):
    params = {"quantity": qty, "newClientOrderId": "x1"}
    if type_ != "MARKET":
        params["price"] = price
        params["timeInForce"] = "GTC" if type_ == "LIMIT" else None
    try:
        return orders.build_order(filters, "BTCUSDT", "BUY", type_, params)
    except Exception as exc:  # the same class and message either way
        return (type(exc), str(exc))


_decimal_text = st.one_of(
    st.decimals(min_value=0, max_value=1200, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=0, max_value=100_000).map(lambda i: f"{i // 1000}.{i % 1000:03d}0"),
    st.integers(min_value=0, max_value=1500),
    st.integers(min_value=1, max_value=20_100).map(lambda i: f"{i * 5 // 100}.{i * 5 % 100:02d}"),
    st.integers(min_value=1, max_value=20_000).map(lambda i: f"{i // 1000}.{i % 1000:03d}"),
    st.sampled_from(["0.05", "999.95", "1000", "1000.05", "0", "00.10", "1.", "1e1", " 1.00", "-1", "0.0501"]),
)


@settings(deadline=None, max_examples=300)
@given(type_=st.sampled_from(["LIMIT", "LIMIT_MAKER", "MARKET"]), price=_decimal_text, qty=_decimal_text)
def test_fast_grid_path_matches_decimal_path(type_, price, qty):
    venue = Venue("t", "spot", "ws://127.0.0.1:1", "ws://127.0.0.1:1/ws-api/v3", "http://127.0.0.1:1",
                  SPOT_LIMITS)
    orders = OrderStream(BaseOperations(venue))
    fast = SymbolFilters.from_exchange_info(_FAST_INFO)
    slow = SymbolFilters.from_exchange_info(_FAST_INFO)
    object.__setattr__(slow, "grids", FilterGrids(None, None, None, None, None, slow.grids.order_spec))
    assert fast.grids.price is not None and fast.grids.qty is not None
    assert _outcome(orders, fast, type_, price, qty) == _outcome(orders, slow, type_, price, qty)
