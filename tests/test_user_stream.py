"""UserStream and the typed user-data events: decoding every sample, both subscribe paths,
reconnects that lose no executionReport, and the USD-M listenKey stream."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from fastws.api.base_operations import BaseOperations
from fastws.exceptions import InvalidUsage, ParseError
from fastws.api.order_stream import OrderStream
from fastws.api.signing import Ed25519Signer, HmacSigner
from fastws.api.user_events import (
    AccountUpdate,
    BalanceUpdate,
    EventStreamTerminated,
    ExecutionReport,
    ExternalLockUpdate,
    ListenKeyExpired,
    ListStatus,
    OrderTradeUpdate,
    OutboundAccountPosition,
    decode_user_event,
)
from fastws.api.user_stream import UserStream
from tests.test_api_client import ed25519_pair, wait_until
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True

KEY = "k" * 64
SECRET = "s" * 64

SAMPLE_TYPES = {
    "spot_uds_executionReport.json": ExecutionReport,
    "spot_uds_outboundAccountPosition.json": OutboundAccountPosition,
    "spot_uds_balanceUpdate.json": BalanceUpdate,
    "spot_uds_listStatus.json": ListStatus,
    "spot_uds_externalLockUpdate.json": ExternalLockUpdate,
    "spot_uds_eventStreamTerminated.json": EventStreamTerminated,
    "spot_uds_legacy_raw_executionReport.json": ExecutionReport,
    "spot_uds_legacy_raw_listenKeyExpired.json": ListenKeyExpired,
    "usdm_uds_ORDER_TRADE_UPDATE.json": OrderTradeUpdate,
    "usdm_uds_ACCOUNT_UPDATE.json": AccountUpdate,
    "usdm_uds_listenKeyExpired.json": ListenKeyExpired,
    "usdm_uds_MARGIN_CALL.json": dict,
}


@pytest.mark.parametrize("name, cls", sorted(SAMPLE_TYPES.items()))
def test_samples_decode_to_typed_events(samples_dir, name, cls):
    payload = json.loads((samples_dir / name).read_text())
    ev = decode_user_event(payload.get("event", payload))
    assert type(ev) is cls


def test_fields_are_spelled_out_and_exact(samples_dir):
    er = decode_user_event(json.loads((samples_dir / "spot_uds_executionReport.json").read_text())["event"])
    assert isinstance(er, ExecutionReport)
    assert er.symbol == "ETHBTC" and er.order_id == 4293153 and er.execution_type == "NEW"
    assert str(er.price) == "0.10264410" and er.quantity == Decimal(1) and er.commission_asset is None
    assert er.average_price is None and not er.is_trade
    with pytest.raises(AttributeError):
        er.price = Decimal(0)  # frozen
    ou = decode_user_event(json.loads((samples_dir / "usdm_uds_ORDER_TRADE_UPDATE.json").read_text()))
    assert isinstance(ou, OrderTradeUpdate)
    assert ou.stop_price == Decimal("7103.04") and ou.position_side == "LONG" and ou.expire_reason == "0"
    au = decode_user_event(json.loads((samples_dir / "usdm_uds_ACCOUNT_UPDATE.json").read_text()))
    assert isinstance(au, AccountUpdate)
    assert au.reason == "ORDER" and au.positions[1].entry_price == Decimal("6563.66500")
    lk = decode_user_event(json.loads((samples_dir / "usdm_uds_listenKeyExpired.json").read_text()))
    assert lk.event_time == 1736996475556 and "WsCMN0" not in repr(lk)


def test_malformed_events_raise_parse_error_with_the_payload():
    with pytest.raises(ParseError, match="executionReport") as e:
        decode_user_event({"e": "executionReport", "E": 1, "q": "abc"})
    assert b'"abc"' in e.value.payload
    with pytest.raises(ParseError):
        decode_user_event({"e": "ACCOUNT_UPDATE", "E": 1})
    with pytest.raises(ParseError):
        decode_user_event([1, 2])  # type: ignore[arg-type]


def test_user_stream_needs_keys():
    from fastws.venues import BINANCE_SPOT_TESTNET
    with pytest.raises(InvalidUsage, match="key"):
        UserStream(BaseOperations(BINANCE_SPOT_TESTNET))


async def next_of(users, cls, timeout=3.0, pred=lambda e: True):
    while True:
        ev = await users.get(timeout * UNIT)
        if isinstance(ev, cls) and pred(ev):
            return ev


async def _spot_maker_order(api, orders, qty=Decimal("0.003")):
    """A SELL resting at the best ask (inside the spread when there is room): first in line for
    a taker buying up to its price. Returns (answer, price)."""
    f = await api.symbol_filters("BTCUSDT")
    for _ in range(50):
        book = await api.depth("BTCUSDT", 5)
        bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
        price = ask - f.tick_size if ask - bid >= 2 * f.tick_size else ask
        r = await orders.place("BTCUSDT", "SELL", quantity=qty, price=price, type="LIMIT_MAKER",
                               response_type="RESULT")
        if r["status"] == "NEW":
            return r, price
        await asyncio.sleep(0.02)
    raise AssertionError("could not rest a maker order")


async def _take(taker, price, qty):
    """Another account buys ``qty`` up to ``price`` (our maker order is filled first when it
    is the best ask)."""
    return await taker.place("BTCUSDT", "BUY", quantity=qty, price=price, time_in_force="IOC",
                             response_type="FULL")


@pytest.mark.parametrize("path", ["signature", "logon"])
async def test_subscribe_paths_and_async_for(path):
    from tests.sim_api_support import recording
    async with Exchange(["BTCUSDT"]) as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "ED25519" if path == "logon" else "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            with recording(ex) as sent:
                async with UserStream(api) as users:
                    assert ("userDataStream.subscribe" if path == "logon"
                            else "userDataStream.subscribe.signature") in sent.methods()
                    r, price = await _spot_maker_order(api, orders)
                    t = await _take(taker, price, Decimal("0.001"))
                    assert Decimal(t["executedQty"]) > 0
                    seen = []
                    async for ev in users:
                        seen.append(ev)
                        if isinstance(ev, OutboundAccountPosition) and any(
                                isinstance(e, ExecutionReport) and e.is_trade for e in seen):
                            break
                    reports = [e for e in seen if isinstance(e, ExecutionReport) and e.order_id == r["orderId"]]
                    assert [e.execution_type for e in reports][:2] == ["NEW", "TRADE"]
                    fill = reports[1]
                    assert fill.order_status == "PARTIALLY_FILLED" and fill.last_executed_qty > 0
                    assert users.balances["BTC"].free == Decimal(100) - Decimal("0.003")
                    # (the simulated market may fill the order further meanwhile)
                    assert users.open_orders[0]["executedQty"] >= fill.cumulative_filled_qty > 0
            assert sent.methods()[-1] == "userDataStream.unsubscribe"


# (a reconnect mid-session losing no execution report: test_sim_reconnect_loses_no_fill below)


async def test_server_shutdown_switch_keeps_events_without_duplicates():
    async with Exchange(["BTCUSDT"]) as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                r, price = await _spot_maker_order(api, orders, qty=Decimal("0.004"))
                await next_of(users, ExecutionReport, pred=lambda e: e.execution_type == "NEW")
                conn = [c for c in ex.api_connections if c.id == max(c.id for c in ex.api_connections)]
                ex.faults.server_shutdown(conn=conn[0], close_after=2.0)
                await wait_until(lambda: users.reconnects == 1, what="the switch")
                # both connections may deliver for a moment: each fill arrives once, none lost
                await _take(taker, price, Decimal("0.001"))
                await asyncio.sleep(0.1 * UNIT)
                await _take(taker, price, Decimal("0.001"))
                ids = [(await next_of(users, ExecutionReport,
                                      pred=lambda e: e.is_trade and e.order_id == r["orderId"])).trade_id]
                await asyncio.sleep(0.3 * UNIT)
                while users.pending:
                    ev = await users.get()
                    if isinstance(ev, ExecutionReport) and ev.is_trade and ev.order_id == r["orderId"]:
                        ids.append(ev.trade_id)
                assert len(ids) == len(set(ids)), "a fill was delivered twice"
                trades = await api.request("myTrades", {"symbol": "BTCUSDT", "orderId": r["orderId"]},
                                           signed=True)
                assert set(ids) == {t["id"] for t in trades}


# -- against the simulator ---------------------------------------------------------------------

from fastws.market_stream import MarketStream  # noqa: E402
from fastws.sim import Exchange  # noqa: E402
from fastws.sim.conns import ApiConn  # noqa: E402
from tests.test_order_stream import sim_session  # noqa: E402



async def test_sim_fill_on_the_user_stream_matches_the_market_trade():
    from fastws.events import Trade
    async with Exchange(["BTCUSDT"]) as ex:
        acct, api = sim_session(ex, "ED25519")
        async with api, MarketStream(["btcusdt@trade"], venue=ex.venue) as ms:
            market_trades: dict[int, Trade] = {}
            ms.on(Trade, lambda ev: market_trades.__setitem__(ev.trade_id, ev))
            orders = OrderStream(api)
            async with UserStream(api) as users:
                f = await api.symbol_filters("BTCUSDT")
                ask = Decimal((await api.depth("BTCUSDT", 5))["asks"][0][0])
                r = await orders.place("BTCUSDT", "BUY", quantity=f.min_qty * 50,
                                       price=f.round_price(ask * Decimal("1.01"), "down"), time_in_force="IOC")
                assert r["status"] == "FILLED"
                fills = []
                while sum((e.last_executed_qty for e in fills), Decimal(0)) < Decimal(r["executedQty"]):
                    fills.append(await next_of(users, ExecutionReport, pred=lambda e: e.is_trade))
                assert [e.trade_id for e in fills] == [f_["tradeId"] for f_ in r["fills"]]
                await wait_until(lambda: all(e.trade_id in market_trades for e in fills), what="market trades")
                for e in fills:
                    t = market_trades[e.trade_id]
                    assert Decimal(str(t.price)) == e.last_executed_price
                    assert Decimal(str(t.quantity)) == e.last_executed_qty
                    assert t.is_buyer_maker is False           # we were the buying taker


async def test_sim_reconnect_loses_no_fill():
    async with Exchange(["BTCUSDT"]) as ex:
        taker_acct, taker_api = sim_session(ex, "HMAC")
        async with taker_api:
            acct, api = sim_session(ex, "ED25519")
            async with api:
                a_conn = [c for c in ex.all_connections if isinstance(c, ApiConn)][-1]
                orders, taker = OrderStream(api), OrderStream(taker_api)
                async with UserStream(api) as users:
                    f = await api.symbol_filters("BTCUSDT")
                    # rest a SELL inside the spread: the best ask, first in line for our taker
                    for _ in range(50):
                        book = await api.depth("BTCUSDT", 5)
                        bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
                        if ask - bid >= 2 * f.tick_size:
                            break
                        await asyncio.sleep(0.05)
                    price = ask - f.tick_size
                    r = await orders.place("BTCUSDT", "SELL", quantity=Decimal("0.002"), price=price,
                                           type="LIMIT_MAKER")
                    await next_of(users, ExecutionReport, pred=lambda e: e.order_id == r["orderId"])
                    ex.faults.refuse_connections(0.5 * UNIT)
                    ex.faults.close(conn=a_conn, how="reset")
                    await wait_until(lambda: not api.client.connected, what="the drop")
                    # while our client is away, another account sweeps up to our price
                    t = await taker.place("BTCUSDT", "BUY", quantity=Decimal("0.002"), price=price,
                                          time_in_force="IOC")
                    assert Decimal(t["executedQty"]) > 0
                    await wait_until(lambda: users.reconnects == 1, timeout=10, what="resubscribe")
                    st = await orders.status("BTCUSDT", order_id=r["orderId"])
                    assert st["status"] == "FILLED"
                    got = []
                    while sum((e.last_executed_qty for e in got), Decimal(0)) < Decimal("0.002"):
                        got.append(await next_of(users, ExecutionReport,
                                                 pred=lambda e: e.is_trade and e.order_id == r["orderId"]))
                    trades = await api.request("myTrades", {"symbol": "BTCUSDT", "orderId": r["orderId"]},
                                               signed=True)
                    assert sorted(e.trade_id for e in got) == sorted(t_["id"] for t_ in trades)
                    assert got[-1].order_status == "FILLED"
                    assert all(e.raw.get("reconciled") for e in got)
                    assert users.balances["BTC"].free == Decimal(100) - Decimal("0.002")


async def test_sim_usdm_listen_key_events():
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        acct, api = sim_session(ex, "HMAC")
        async with api:
            orders = OrderStream(api)
            async with UserStream(api) as users:
                f = await api.symbol_filters("BTCUSDT")
                ask = Decimal((await api.depth("BTCUSDT", 5))["asks"][0][0])
                r = await orders.place("BTCUSDT", "BUY", quantity=f.min_qty * 10,
                                       price=f.round_price(ask * Decimal("1.01"), "down"), time_in_force="IOC")
                ev = await next_of(users, OrderTradeUpdate, pred=lambda e: e.is_trade)
                assert ev.order_id == r["orderId"] and ev.symbol == "BTCUSDT"
                au = await next_of(users, AccountUpdate)
                assert au.reason == "ORDER"


def test_sim_scenario_on_uvloop_over_tls():
    """Session, order, user events and a dropped connection on uvloop, over wss:// (the
    simulator's CA is trusted through its venue)."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> None:
        async with Exchange(["BTCUSDT"], tls=True) as ex:
            acct, api = sim_session(ex, "ED25519")
            async with api:
                assert ex.venue.ws_api_url.startswith("wss://")
                orders = OrderStream(api)
                async with UserStream(api) as users:
                    f = await api.symbol_filters("BTCUSDT")
                    ask = Decimal((await api.depth("BTCUSDT", 5))["asks"][0][0])
                    r = await orders.place("BTCUSDT", "BUY", quantity=f.min_qty * 10,
                                           price=f.round_price(ask * Decimal("1.01"), "down"),
                                           time_in_force="IOC")
                    ev = await next_of(users, ExecutionReport, pred=lambda e: e.is_trade)
                    assert ev.order_id == r["orderId"]
                    conn = [c for c in ex.all_connections if isinstance(c, ApiConn)][-1]
                    ex.faults.close(conn=conn, how="reset")
                    await wait_until(lambda: users.reconnects == 1, what="resubscribe")
                    assert api.client.logged_on
                    await api.ping()

    uvloop.run(scenario())


def _user_conns(ex):
    from fastws.sim.userdata import UserConn
    return [c for c in ex.connections if isinstance(c, UserConn)]


async def _rest_inside_spread(api, orders, side="SELL", qty=Decimal("0.01")):
    f = await api.symbol_filters("BTCUSDT")
    for _ in range(50):
        book = await api.depth("BTCUSDT", 5)
        bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
        if ask - bid >= 2 * f.tick_size:
            break
        await asyncio.sleep(0.05)
    for _ in range(20):             # retried if the market moved through the price
        price = ask - f.tick_size if ask - bid >= 2 * f.tick_size else ask
        r = await orders.place("BTCUSDT", side, quantity=qty, price=price, time_in_force="GTC",
                               response_type="RESULT")
        if r["status"] == "NEW":
            return r, price
        book = await api.depth("BTCUSDT", 5)
        bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
    raise AssertionError(f"could not rest an order at the best ask: {r}")


async def test_usdm_listen_key_stream_keepalive_and_reconnect():
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        taker_acct, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api, keepalive=0.2 * UNIT) as users:
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the user data connection")
                conn = _user_conns(ex)[0]
                assert "/private/ws?listenKey=" in conn.path       # the form the docs give now
                r, price = await _rest_inside_spread(api, orders)
                ev = await next_of(users, OrderTradeUpdate)
                assert ev.order_id == r["orderId"] and ev.execution_type == "NEW"
                await wait_until(lambda: any(b"userDataStream.ping" in m for c in ex.api_connections
                                             for m in c.received), what="keepalive")
                # the private stream drops and a fill happens meanwhile
                ex.faults.refuse_connections(0.5 * UNIT)
                ex.faults.close(conn=conn, how="reset")
                # up to our price, enough to sweep every ask there (ours included)
                level = sum(Decimal(q) for p, q in (await taker_api.depth("BTCUSDT", 5))["asks"]
                            if Decimal(p) <= price)
                await taker.place("BTCUSDT", "BUY", quantity=level + Decimal("0.01"), price=price,
                                  time_in_force="IOC")
                await wait_until(lambda: users.reconnects == 1, timeout=10, what="stream reconnect")
                st = await orders.status("BTCUSDT", order_id=r["orderId"])
                assert Decimal(st["executedQty"]) > 0, st
                # the fill the stream missed is delivered by the reconcile after the reconnect
                ev = await next_of(users, OrderTradeUpdate, pred=lambda e: e.is_trade and e.order_id == r["orderId"]
                                   and e.raw.get("reconciled") is True)
                assert ev.cumulative_filled_qty == Decimal(st["executedQty"])
                lk = users._listen_key
                assert lk is not None and ex.userdata.valid_key(lk)
            assert not ex.userdata.valid_key(lk)                 # userDataStream.stop on close


async def test_usdm_listen_key_stream_with_an_events_filter():
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        acct, api = sim_session(ex, "HMAC")
        async with api:
            orders = OrderStream(api)
            async with UserStream(api, events=["ORDER_TRADE_UPDATE"]) as users:
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the user data connection")
                assert "&events=ORDER_TRADE_UPDATE" in _user_conns(ex)[0].path
                r, _ = await _rest_inside_spread(api, orders)
                ev = await next_of(users, OrderTradeUpdate)
                assert ev.order_id == r["orderId"]
    with pytest.raises(InvalidUsage):
        UserStream(api, events="ORDER_TRADE_UPDATE")


async def test_usdm_listen_key_expired_gets_a_new_key():
    async with Exchange(["BTCUSDT"], market="usdm", listen_key_ttl=1.0 * UNIT) as ex:
        acct, api = sim_session(ex, "HMAC")
        async with api:
            orders = OrderStream(api)
            async with UserStream(api, keepalive=600) as users:      # no keepalive in time
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="stream")
                first = users._listen_key
                ev = await next_of(users, ListenKeyExpired, timeout=5.0)
                assert first not in repr(ev)
                await wait_until(lambda: users._listen_key not in (None, first) and any(
                    c.keys == [users._listen_key] for c in _user_conns(ex)), what="the stream on the new key")
                r, _ = await _rest_inside_spread(api, orders)
                ev = await next_of(users, OrderTradeUpdate, pred=lambda e: e.order_id == r["orderId"])
                assert ev.execution_type == "NEW"
                # onto the new key make-before-break: the old key's link is closed, no gap
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the old key's link closed")
                assert users.connection is not None and users.connection.stats.reconnects == 0
                assert users.reconnects == 0
