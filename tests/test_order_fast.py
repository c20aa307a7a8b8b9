"""fastws.api._orders: the compiled order path against the general one.

The fast path must send, byte for byte, the frame the general path (``build_order`` +
``sign_params`` + ``ApiProtocol.request``) sends for the same order, id, timestamp and client
order id, and must never take an order the general path would refuse or round.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from fastws.api.base_operations import SymbolFilters
from fastws.exceptions import InvalidUsage
from fastws.api._answers import FrameParams
from fastws.api._orders import OrderSpec, new_client_order_id, order_frame
from fastws.api.order_stream import OrderStream
from fastws.api.signing import HmacSigner, sign_params

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


# -- frames: fast == general ------------------------------------------------------------------

def _filters(tick: str, step: str, min_notional: str, max_notional: str = "0", *, market_step: str | None = None,
             order_types: tuple[str, ...] = (), symbol: str = "BTCUSDT") -> SymbolFilters:
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "9000", "stepSize": step},
        {"filterType": "NOTIONAL", "minNotional": min_notional, "maxNotional": max_notional,
         "applyMinToMarket": True},
    ]
    if market_step is not None:
        filters.append({"filterType": "MARKET_LOT_SIZE", "minQty": market_step, "maxQty": "100",
                        "stepSize": market_step})
    return SymbolFilters.from_exchange_info({"symbol": symbol, "status": "TRADING", "baseAsset": "BTC",
                                             "quoteAsset": "USDT", "orderTypes": list(order_types),
                                             "filters": filters})


class _Stream(OrderStream):
    """build_order without a session (the general path's checks and formatting)."""

    def __init__(self, market: str) -> None:  # noqa: D107 - no session needed
        self.market = market
        self.rounding = "exact"


def _general_frame(market, f, side, type_, qty, price, tif, cid, resp, stp, *, id_, ts, recv_window, signer):
    stream = _Stream(market)
    if type_.upper() in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and tif is None:
        tif = "GTC"
    p = OrderStream._order_params(qty, price, None, tif, None, None, None, cid, resp, stp, None, None, {})
    built = stream.build_order(f, f.symbol, side, type_, p)
    if signer is None:                            # a logged-on session
        params = dict(built)
        params["timestamp"] = ts
        if recv_window is not None:
            params["recvWindow"] = recv_window
    else:
        params = sign_params(built, signer, API_KEY, timestamp=ts, recv_window=recv_window)
    return orjson.dumps({"id": id_, "method": "order.place", "params": params})


_ODD_PRICES = st.one_of(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("200000"), places=3, allow_nan=False),
    st.integers(min_value=-3, max_value=200000),
    st.sampled_from(["60000.1", "60000.100", "0.01", "1e3", "1.", ".5", "abc", "-1", "", "60000.105", "0"]),
    st.floats(min_value=0.01, max_value=100.0),
)
_ODD_QTYS = st.one_of(
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("20"), places=6, allow_nan=False),
    st.integers(min_value=0, max_value=20),
    st.sampled_from(["0.01", "0.010000", "0.000001", "1E-2", "9000", "9000.00001", "00.5", "0"]),
)


def _on_grid(draw, step: str, most: int):
    """A value on the grid of ``step`` in one of the forms users pass (str, Decimal, int)."""
    n = draw(st.integers(min_value=1, max_value=most))
    v = Decimal(step) * n
    form = draw(st.sampled_from(["str", "padded", "decimal", "int"]))
    if form == "str":
        return format(v.normalize(), "f")
    if form == "padded":
        return format(v, "f") + "0" * draw(st.integers(0, 3))
    if form == "int" and v == v.to_integral_value():
        return int(v)
    return v


@settings(deadline=None, max_examples=1000)
@given(
    data=st.data(),
    market=st.sampled_from(["spot", "usdm"]),
    # (tick, step, min notional, max notional), price units, quantity units
    grid=st.sampled_from([(("0.01", "0.00001", "5", "0"), 10**7, 10**6), (("0.1", "0.001", "100", "0"), 10**6, 10**5),
                          (("1", "1", "0", "0"), 10**6, 9000), (("0.00000001", "0.1", "0.0001", "1000000"), 10**7, 10**4)]),
    side=st.sampled_from(["BUY", "SELL"] * 4 + ["buy", "HOLD"]),
    type_=st.sampled_from(["LIMIT"] * 6 + ["MARKET"] * 2 + ["LIMIT_MAKER"] * 2 + ["limit", "STOP_LOSS"]),
    tif=st.sampled_from([None] * 8 + ["GTC", "IOC", "FOK", "GTX", "gtc", "XYZ"]),
    cid=st.sampled_from([None] * 8 + ["", "my-order_1", "a" * 36, "a.b:c/d", "a" * 37, "bad id", "x\n", "ü"]),
    resp=st.sampled_from([None] * 4 + ["ACK", "RESULT", "FULL"] * 2 + ["ack", "NONE"]),
    stp=st.sampled_from([None] * 8 + ["EXPIRE_MAKER", "NONE", "bad mode"]),
    recv_window=st.sampled_from([None, 5000, 60000]),
    signed=st.booleans(), accelerated=st.booleans(),
    order_types=st.sampled_from([(), (), (), ("LIMIT", "MARKET"), ("LIMIT", "LIMIT_MAKER", "MARKET")]),
)
def test_fast_frame_is_the_general_frame(data, market, grid, side, type_, tif, cid, resp, stp, recv_window,
                                         signed, accelerated, order_types):
    (tick, step, lo, hi), price_units, qty_units = grid
    f = _filters(tick, step, lo, hi, order_types=order_types)
    spec = f.grids.order_spec
    odd = data.draw(st.integers(0, 14)) == 0
    qty = data.draw(_ODD_QTYS) if odd else _on_grid(data.draw, step, qty_units)
    price = data.draw(st.one_of(st.none(), _ODD_PRICES)) if odd else (
        None if type_ == "MARKET" else _on_grid(data.draw, tick, price_units))
    signer = HmacSigner(SECRET) if signed else None
    keyed = None
    if signer is not None:
        keyed = signer._fast if (accelerated and signer._fast is not None) else signer._keyed
    before = new_client_order_id()
    fast = order_frame(spec, market, side, type_, qty, price, tif, cid, resp, stp, id=42, timestamp=1_700_000_000_123,
                       recv_window=recv_window, api_key=API_KEY if signed else None, keyed=keyed)
    cid_used = cid
    if fast is not None and not cid:
        cid_used = orjson.loads(fast)["params"]["newClientOrderId"]
        assert cid_used != before and cid_used[:14] == before[:14]   # a fresh id from the shared counter
    try:
        general = _general_frame(market, f, side, type_, qty, price, tif, cid_used, resp, stp, id_=42,
                                 ts=1_700_000_000_123, recv_window=recv_window, signer=signer)
    except (InvalidUsage, ValueError) as exc:     # FilterError is an InvalidUsage
        assert fast is None, f"the fast path took an order the general path refuses: {exc}"
        return
    if fast is not None:
        FAST_HITS.append(1)
        assert fast == general


FAST_HITS: list[int] = []


def test_the_property_run_exercised_the_fast_path():
    """The property test above is only worth something if many of its orders took the fast path."""
    FAST_HITS.clear()
    test_fast_frame_is_the_general_frame()
    assert len(FAST_HITS) >= 60, len(FAST_HITS)


def test_the_common_orders_take_the_fast_path():
    f = _filters("0.01", "0.00001", "5")
    signer = HmacSigner(SECRET)
    for args in [("BUY", "LIMIT", "0.01", "60000.1", None), ("SELL", "LIMIT", Decimal("0.5"), Decimal("60000.10"), "IOC"),
                 ("BUY", "MARKET", "0.01", None, None), ("SELL", "LIMIT_MAKER", 1, 60000, None)]:
        side, type_, qty, price, tif = args
        frame = order_frame(f.grids.order_spec, "spot", side, type_, qty, price, tif, "cid-1", "ACK", None, id=1,
                            timestamp=5, api_key=API_KEY, keyed=signer._fast or signer._keyed)
        assert frame is not None, args
        params = orjson.loads(frame)["params"]
        assert params["signature"] == signer.sign(
            "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature").encode())
    # what stays on the general path
    spec = f.grids.order_spec
    for args in [("BUY", "LIMIT", "0.01", "60000.105"),      # off the tick grid: refused or rounded there
                 ("BUY", "LIMIT", "0.00001", "1"),            # below min notional: FilterError there
                 ("BUY", "STOP_LOSS", "0.01", None),          # other types
                 ("BUY", "LIMIT", 0.01, "60000.1")]:          # floats are refused there
        side, type_, qty, price = args
        assert order_frame(spec, "spot", side, type_, qty, price, None, None, None, None, id=1, timestamp=5) is None
    assert order_frame(spec, "usdm", "BUY", "LIMIT_MAKER", "0.01", "60000.1", None, None, None, None, id=1,
                       timestamp=5) is None                   # not a USD-M type
    odd = _filters("0.01", "0.00001", "5", symbol="BTC\"USDT")
    assert odd.grids.order_spec.symbol is None


def test_frame_params_decode_lazily_and_hide_secrets():
    f = _filters("0.01", "0.00001", "5")
    signer = HmacSigner(SECRET)
    frame = order_frame(f.grids.order_spec, "spot", "BUY", "LIMIT", "0.01", "60000.1", None, "c1", None, None, id=3,
                        timestamp=9, api_key=API_KEY, keyed=signer._keyed)
    params = FrameParams(frame)
    assert params["symbol"] == "BTCUSDT" and params.get("price") == "60000.10" and "apiKey" in params
    assert dict(params) == orjson.loads(frame)["params"] and len(params) == len(dict(params))
    assert params == orjson.loads(frame)["params"]
    from collections.abc import Mapping
    assert isinstance(params, Mapping)
    assert API_KEY not in repr(params) and params["signature"] not in repr(params)


def test_order_spec_reads_the_filters():
    f = _filters("0.01", "0.00001", "5", order_types=("LIMIT", "MARKET"))
    spec = f.grids.order_spec
    assert isinstance(spec, OrderSpec) and spec.symbol == b"BTCUSDT" and spec.types == 1 | 4
    assert "BTCUSDT" in repr(spec)


def test_client_order_ids_are_unique_and_valid():
    import re
    ids = {new_client_order_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", i) for i in ids)


# -- end to end: the fast path and the general path answer alike -----------------------------

@pytest.fixture(params=["fast", "general"])
def path(request, monkeypatch):
    """Run a test with the order fast path on, then off; counts the general path's orders."""
    from fastws.api import _orders as order_fast
    calls: list[str] = []
    general = OrderStream._place

    async def counted(self, symbol, *args, **kwargs):
        calls.append(symbol)
        return await general(self, symbol, *args, **kwargs)

    monkeypatch.setattr(OrderStream, "_place", counted)
    order_fast.enable(request.param == "fast")
    yield request.param, calls
    order_fast.enable(True)


def _session(ex, **kw):
    from fastws.api.base_operations import BaseOperations
    from tests.sim_api_support import trader
    _, k, signer = trader(ex, "HMAC", USDT="10000000", BTC="100")
    return BaseOperations(ex.venue, key=k.api_key, signer=signer, timeout=3.0, **kw)


@pytest.fixture
async def trading():
    """The simulator (BTCUSDT on a round grid near 100), an HMAC session on it, an OrderStream
    and the record of the requests sent, BTCUSDT's filters loaded (so orders may take the fast
    path from the first one)."""
    from fastws.sim import Exchange
    from tests.sim_api_support import old_grid, recorded
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        async with _session(ex) as api:
            orders = OrderStream(api)
            await api.symbol_filters("BTCUSDT")
            yield ex, sent, api, orders


async def test_orders_round_trip_alike_on_both_paths(path, trading):
    from fastws.exceptions import ApiError
    mode, general_calls = path
    ex, sent, api, orders = trading
    client = api.client
    r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90.1", response_type="ACK")
    assert set(r) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    p = sent[-1][2]
    assert p["price"] == "90.10" and p["quantity"] == "0.10000" and p["timeInForce"] == "GTC"
    assert p["newClientOrderId"] == r["clientOrderId"] and p["newOrderRespType"] == "ACK"
    full = await orders.place("BTCUSDT", "SELL", "MARKET", quantity=Decimal("0.2"))
    # Binance writes quantities with 8 decimals
    assert full["status"] == "FILLED" and full["executedQty"] == "0.20000000"
    own = await orders.place("BTCUSDT", "BUY", "LIMIT_MAKER", quantity=1, price=Decimal("95"),
                             client_order_id="mine.1", self_trade_prevention_mode="EXPIRE_MAKER")
    assert own["clientOrderId"] == "mine.1" and sent[-1][2]["selfTradePreventionMode"] == "EXPIRE_MAKER"
    with pytest.raises(ApiError) as e:                 # an error answer: raised as before
        await orders.place("BTCUSDT", "BUY", "LIMIT", quantity=1, price=95, client_order_id="mine.1")
    assert e.value.code == -2010
    assert client.protocol.in_flight == ()
    core = client.protocol.limits.core
    assert core.pending_weight == 0 and core.pending_orders == 0
    assert sent.methods().count("order.place") == 4
    assert len(general_calls) == (0 if mode == "fast" else 4)


async def test_outcome_unknown_is_settled_by_a_query_on_both_paths(path, trading):
    from fastws.exceptions import OutcomeUnknownError
    mode, general_calls = path
    ex, sent, api, orders = trading
    ex.faults.outcome_unknown(methods="order.place")   # -1007, but it executed
    r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="101")
    assert r["status"] == "FILLED" and orders.unknown_outcomes == 1
    assert sent.methods().count("order.place") == 1
    ex.faults.unknown_not_executed(methods="order.place")   # -1007, and it did not
    with pytest.raises(OutcomeUnknownError) as e:
        await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90", client_order_id="lost-1")
    assert e.value.placed is False and e.value.client_order_id == "lost-1"
    ex.faults.drop_after_accept(methods="order.place")     # the connection drops after the accept
    r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90")
    assert r["status"] == "NEW" and api.client.connections == 2
    assert sent.methods().count("order.place") == 3
    # no answer in time: queried by its (generated) client order id
    ex.faults.delay_responses(0.3, count=1, methods="order.place")
    r = await orders.place("BTCUSDT", "SELL", "LIMIT", quantity="0.1", price="150", timeout=0.1)
    assert r["status"] == "NEW" and r["clientOrderId"] == sent.params("order.place")[-1]["newClientOrderId"]
    assert sent.methods()[-1] == "order.status"
    assert len(general_calls) == (0 if mode == "fast" else 4)


async def test_any_result_comes_back_decoded_and_new_windows_are_learnt(path, trading):
    odd = {"symbol": "BTCUSDT", "note": 'a "quoted" } ] text\\', "nested": [{"x": [1, 2, {"y": "}"}]}], "e": {},
           "u": "\u00e9\u20ac"}
    rl = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100, "count": 3},
          {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 2}]
    ex, sent, api, orders = trading
    ex.faults.rewrite_answers(odd, rl, count=3, methods="order.place")
    for _ in range(3):     # the first answer teaches the ORDERS window; then all are known
        assert await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90") == odd
    limits = api.client.protocol.limits
    assert limits._windows[("ORDERS", "SECOND", 10)].count == 3
    assert limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)].count == 2
    assert api.client.protocol.in_flight == ()


async def test_a_logged_on_session_sends_unsigned_orders_on_both_paths(path):
    """Ed25519 ``session.logon``: orders carry a timestamp and no apiKey nor signature, and the
    fast path takes them (no per-request signing at all)."""

    from fastws.api.base_operations import BaseOperations
    from fastws.api.signing import Ed25519Signer
    from fastws.sim import Exchange
    from tests.sim_api_support import old_grid, recorded, trader
    mode, general_calls = path
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        _, k, signer = trader(ex, "ED25519")
        assert isinstance(signer, Ed25519Signer)
        async with BaseOperations(ex.venue, key=k.api_key, signer=signer, timeout=3.0) as api:
            assert api.client.logged_on
            orders = OrderStream(api)
            await api.symbol_filters("BTCUSDT")
            r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90", response_type="ACK")
            p = sent[-1][2]
            assert "signature" not in p and "apiKey" not in p and isinstance(p["timestamp"], int)
            assert p["newClientOrderId"] == r["clientOrderId"]
            assert len(general_calls) == (0 if mode == "fast" else 1)


async def test_a_fast_order_in_flight_is_an_ordinary_request_record(trading):
    """While a fast-path order waits for its answer, the protocol holds the same ApiRequest a
    general-path order would (method, params decoded from the frame sent, weight, order count),
    so timeouts, dropped connections and rate-limit releases treat it alike."""
    from fastws.api.protocol import ApiRequest
    ex, sent, api, orders = trading
    ex.faults.delay_responses(0.5, count=1, methods="order.place")
    seen = []
    task = asyncio.ensure_future(orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90",
                                              client_order_id="look-1"))
    while "order.place" not in sent.methods():       # the exchange has it; its answer is late
        await asyncio.sleep(0.005)
    seen.append(api.client.protocol.in_flight)
    r = await task
    (req,) = seen[0]
    assert type(req) is ApiRequest and req.method == "order.place" and (req.weight, req.orders) == (1, 1)
    assert req.params["newClientOrderId"] == "look-1" == r["clientOrderId"]
    assert req.params["price"] == "90.00" and orjson.loads(req.data)["params"] == dict(req.params)
    assert api.client.requests >= 3 and api.client.protocol.in_flight == ()
