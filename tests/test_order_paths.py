"""OrderStream.place owns its signature; the compiled fast path takes the parameters named in it
and nothing else. Every parameter of the signature is checked to reach the exchange on the path
it takes, so a parameter added to ``place`` cannot be silently dropped by the fast path."""
from __future__ import annotations

import inspect
import typing
from decimal import Decimal

import orjson
import pytest

from fastws.api import _orders
from fastws.api.base_operations import BaseOperations
from fastws.api.order_stream import OrderOptions, OrderStream
from fastws.api.signing import HmacSigner
from fastws.exceptions import ApiError
from fastws.sim import Exchange
from tests.utils import UNIT

#: a distinctive value per explicit parameter of place and what the sent params must then hold
FAST_VALUES = {
    "quantity": ("0.01", {"quantity": "0.01000"}),
    "price": (None, {}),                         # filled from the book below
    "time_in_force": ("IOC", {"timeInForce": "IOC"}),
    "client_order_id": ("path-test-1", {"newClientOrderId": "path-test-1"}),
    "response_type": ("RESULT", {"newOrderRespType": "RESULT"}),
    "self_trade_prevention_mode": ("EXPIRE_TAKER", {"selfTradePreventionMode": "EXPIRE_TAKER"}),
    "timeout": (5.0, {}),
}
#: a distinctive value per OrderOptions key, and the Binance param it must arrive as
OPTION_VALUES = {
    "quote_order_qty": None, "stop_price": None, "trailing_delta": None, "iceberg_qty": ("0.005", "icebergQty"),
    "strategy_id": (1234567, "strategyId"), "strategy_type": (1000001, "strategyType"),
    "rounding": ("down", None),
}


def test_every_explicit_parameter_of_place_is_a_fast_path_parameter():
    explicit = [n for n, p in inspect.signature(OrderStream.place).parameters.items()
                if p.kind is p.KEYWORD_ONLY]
    missing = [n for n in explicit if n not in FAST_VALUES]
    assert not missing, f"new place() parameters {missing}: pass them to the fast path and add them here"
    compiled = (_orders.order_place.__doc__ or "").split("\n", 1)[0]
    for n in explicit:
        assert n in compiled, f"{n} is in place()'s signature but not a parameter of _orders.order_place"
    assert "**options" in str(inspect.signature(OrderStream.place))


def test_every_option_is_listed_for_the_general_path():
    keys = typing.get_type_hints(OrderOptions)
    snake = [k for k in keys if k.islower() or "_" in k]
    missing = [k for k in snake if k not in OPTION_VALUES]
    assert not missing, f"new OrderOptions {missing}: add them to OPTION_VALUES"


async def _sent_params(ex, before):
    frames = [orjson.loads(m) for c in ex.api_connections for m in c.received[before.get(c.id, 0):]]
    return [f["params"] for f in frames if f.get("method") == "order.place"]


@pytest.mark.parametrize("option", [None, *[k for k, v in OPTION_VALUES.items() if v]])
async def test_each_parameter_reaches_the_exchange_on_its_path(option):
    async with Exchange(["BTCUSDT"]) as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "10"}, keys=["HMAC"])
        k = acct.keys[0]
        async with BaseOperations(ex.venue, key=k.api_key, signer=HmacSigner(k.secret), timeout=3 * UNIT) as ops:
            orders = OrderStream(ops)
            f = await ops.symbol_filters("BTCUSDT")
            px = f.round_price(Decimal(ex.book("BTCUSDT")[0][0][0]) * Decimal("0.95"), "down")
            kwargs = {n: v for n, (v, _) in FAST_VALUES.items() if v is not None}
            kwargs["price"] = px
            general: list[object] = []
            real = orders._place

            async def spy(*a, **kw):
                general.append(kw)
                return await real(*a, **kw)

            orders._place = spy
            want = {k_: v for _, w in FAST_VALUES.values() for k_, v in w.items()}
            if option is not None:
                value, binance = OPTION_VALUES[option]
                kwargs[option] = value
                if binance:
                    want[binance] = value if not isinstance(value, str) else value
                kwargs["time_in_force"] = "GTC"          # iceberg orders must be GTC
                want["timeInForce"] = "GTC"
                kwargs["client_order_id"] = want["newClientOrderId"] = f"path-{option}"[:36].replace("_", "-")
            before = {c.id: len(c.received) for c in ex.api_connections}
            try:
                await orders.place("BTCUSDT", "BUY", "LIMIT", **kwargs)
            except ApiError as exc:
                # the simulator does not simulate icebergs and says so (exchangeInfo:
                # icebergAllowed false, -1130): what was sent is still the point here
                assert option == "iceberg_qty" and exc.code == -1130, exc
            sent = await _sent_params(ex, before)
            assert len(sent) == 1
            for name, value in want.items():
                got = sent[0].get(name)
                assert got is not None and str(got) == str(value) or Decimal(str(got)) == Decimal(str(value)), (name, got)
            assert (general == []) == (option is None), "options must take the general path, the rest the fast one"


async def test_validate_set_after_the_stream_is_made_steers_the_compiled_path():
    """``OrderStream.validate`` is read by the compiled order path (a C field the property
    writes): turned off after the stream is made, orders take the general path (which then
    skips the filters), turned on again, the fast path."""
    async with Exchange(["BTCUSDT"]) as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "10"}, keys=["HMAC"])
        k = acct.keys[0]
        async with BaseOperations(ex.venue, key=k.api_key, signer=HmacSigner(k.secret), timeout=3 * UNIT) as ops:
            orders = OrderStream(ops)
            f = await ops.symbol_filters("BTCUSDT")
            px = f.round_price(Decimal(ex.book("BTCUSDT")[0][0][0]) * Decimal("0.95"), "down")
            general: list[object] = []
            real = orders._place

            async def spy(*a, **kw):
                general.append(kw)
                return await real(*a, **kw)

            orders._place = spy
            assert orders.validate is True
            await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px)
            assert general == []
            orders.validate = False
            assert orders.validate is False
            await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px)
            assert len(general) == 1
            orders.validate = True
            await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px)
            assert len(general) == 1
