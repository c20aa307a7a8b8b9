"""The WS API client against what Binance does to clients, produced by the simulator's faults:
an IP ban (418) and 429s during a reconnect, clock steps (-1021), order lists whose outcome is
unknown, fragmented answers. Each test fails on a client that does not handle its fault."""
from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal

import pytest

from fastws.api.client import ApiClient
from fastws.api.base_operations import BaseOperations
from fastws.exceptions import ConnectionClosedError, IPBannedError, OutcomeUnknownError
from fastws.api.order_stream import OrderStream
from fastws.api.signing import HmacSigner
from fastws.sim import Exchange
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True


async def wait_until(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout * UNIT
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def trader(ex: Exchange):
    acct = ex.add_account(balances={"USDT": "100000", "BTC": "10"}, keys=["HMAC"])
    key = acct.keys[0]
    return acct, key


def client(ex: Exchange, key) -> ApiClient:
    return ApiClient(ex.venue, api_key=key.api_key, signer=HmacSigner(key.secret), timeout=3.0 * UNIT)


# -- IP ban (418) and 429 during a reconnect ---------------------------------------------------

async def test_ban_during_reconnect_keeps_the_client_alive_and_reconnects_when_it_ends():
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        async with client(ex, key) as api:
            await api.request("ping")
            first = api.connections
            ban_s = 1.5 * UNIT
            ex.faults.ban_ip(ban_s)          # drops the connection; handshakes get 418
            end = ex.weights.banned_until
            await wait_until(lambda: not api.connected, what="the ban to drop the connection")
            # a request made now waits for the reconnect, whose handshake meets the 418: it
            # fails then, without waiting for the ban to end
            with pytest.raises(IPBannedError):
                await asyncio.wait_for(api.request("ping"), 1.0 * UNIT)
            attempts_at_ban = ex.connection_attempts
            # once the ban is known, a request fails at once, with the ban's end
            t0 = time.monotonic()
            with pytest.raises(IPBannedError) as e:
                await api.request("ping")
            assert time.monotonic() - t0 < 0.2 * UNIT
            assert e.value.retry_after is not None and abs(e.value.retry_after - end) <= 1000
            assert str(end) in str(e.value) or "until" in str(e.value)
            # the client is alive: it reconnects when the ban ends, and works again
            await wait_until(lambda: api.connected and api.connections > first, timeout=ban_s + 5,
                             what="the reconnect after the ban")
            assert ex.now_ms() >= end
            assert await api.request("ping") == {}
            # never hammered during the ban: at most the one attempt that met the 418
            assert ex.connection_attempts - attempts_at_ban <= 2


async def test_handshake_429_waits_for_retry_after_and_recovers():
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        async with client(ex, key) as api:
            await api.request("ping")
            ex.faults.refuse_connections(1.0 * UNIT, status=429)
            await api.drop_connection()
            await wait_until(lambda: api.connected and api.connections == 2, timeout=8,
                             what="the reconnect after the 429s")
            assert await api.request("ping") == {}
            assert ex.refused <= 8                      # backed off, not hammering


async def test_ban_answered_to_a_request_fails_later_requests_at_once():
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        async with client(ex, key) as api:
            await api.request("ping")
            ex.weights.ban(1.0 * UNIT)          # the next request is answered 418
            with pytest.raises(IPBannedError):
                await api.request("ping")
            sent = len(ex.api_connections[-1].received) if ex.api_connections else 0
            with pytest.raises(IPBannedError):
                await api.request("time")
            assert not ex.api_connections or len(ex.api_connections[-1].received) == sent
            end = ex.weights.banned_until
            await wait_until(lambda: api.connected and api.connections == 2, timeout=6,
                             what="the reconnect after the ban (the 418 also drops the link)")
            assert ex.now_ms() >= end
            assert await api.request("ping") == {}


# -- clock steps (-1021) ----------------------------------------------------------------------

@pytest.mark.parametrize("step_ms", [20_000, -20_000])
async def test_clock_step_resyncs_at_once_and_resends_the_rejected_request_once(step_ms):
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        async with client(ex, key) as api:
            assert await api.request("account.status", signed=True)
            ex.faults.step_clock(step_ms)
            conn = ex.api_connections[-1]
            before = len(conn.received)
            res = await api.request("account.status", signed=True)
            assert "balances" in res
            sent = [r for r in conn.received[before:] if b"account.status" in r]
            assert len(sent) == 2                       # the rejected one, then one resend
            assert abs(api.clock.offset_ms - step_ms) < 1000
            # and the next signed request goes through at once
            before = len(conn.received)
            await api.request("account.status", signed=True)
            assert len([r for r in conn.received[before:] if b"account.status" in r]) == 1


async def test_clock_step_on_the_order_fast_path_places_the_order_exactly_once():
    async with Exchange(["BTCUSDT"]) as ex:
        acct, key = trader(ex)
        async with BaseOperations(ex.venue, key=key.api_key, signer=HmacSigner(key.secret),
                                  timeout=3.0 * UNIT) as ops:
            orders = OrderStream(ops)
            px = Decimal(ex.book("BTCUSDT")[0][0][0]) * Decimal("0.9")
            f = await ops.symbol_filters("BTCUSDT")
            px = f.round_price(px, "down")
            r1 = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px)
            ex.faults.step_clock(30_000)
            r2 = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px,
                                    client_order_id="after-step-1")
            assert r2["clientOrderId"] == "after-step-1"
            mine = [o for o in ex.orders(acct, "BTCUSDT")]
            ids = [getattr(o, "client_id", None) for o in mine]
            assert ids.count("after-step-1") == 1 and r1["clientOrderId"] in ids


# -- fragmented answers -------------------------------------------------------------------------

async def test_fragmented_answers_are_reassembled():
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        async with client(ex, key) as api:
            await api.request("ping")
            ex.faults.fragment_answers(size=7, count=3)
            assert await api.request("ping") == {}                        # the fast path
            assert "balances" in await api.request("account.status", signed=True)
            info = await api.request("exchangeInfo", {"symbol": "BTCUSDT"})
            assert info["symbols"][0]["symbol"] == "BTCUSDT"
            assert api.connections == 1


async def test_a_fragmented_answer_over_the_cap_drops_the_link_with_that_reason():
    async with Exchange(["BTCUSDT", "ETHUSDT", "BNBUSDT"]) as ex:     # exchangeInfo: ~3.6 kB
        _, key = trader(ex)
        api = ApiClient(ex.venue, timeout=3.0 * UNIT, max_message_size=2048)
        async with api:
            await api.request("ping")
            ex.faults.fragment_answers(size=1000, count=1, methods="exchangeInfo")
            with pytest.raises(ConnectionClosedError, match="max_message_size"):
                await api.request("exchangeInfo")
            await wait_until(lambda: api.connected and api.connections == 2, what="the reconnect")
            assert await api.request("ping") == {}


# -- order lists with an unknown outcome ------------------------------------------------------

async def _oco_setup(ex):
    acct, key = trader(ex)
    ops = BaseOperations(ex.venue, key=key.api_key, signer=HmacSigner(key.secret), timeout=3.0 * UNIT)
    await ops.connect()
    orders = OrderStream(ops)
    f = await ops.symbol_filters("BTCUSDT")
    mid = (Decimal(ex.book("BTCUSDT")[0][0][0]) + Decimal(ex.book("BTCUSDT")[1][0][0])) / 2
    legs = dict(above_type="LIMIT_MAKER", above_price=f.round_price(mid * Decimal("1.1"), "down"),
                below_type="STOP_LOSS_LIMIT", below_price=f.round_price(mid * Decimal("0.9"), "down"),
                below_stop_price=f.round_price(mid * Decimal("0.91"), "down"))
    return acct, ops, orders, legs


def _lists(ex, acct):
    return [lst for lst in ex.engine.lists.values() if lst.orders[0].account is acct]


@pytest.mark.parametrize("fault", ["outcome_unknown", "drop_after_accept"])
async def test_oco_with_an_unknown_outcome_is_resolved_by_its_list_client_order_id(fault):
    async with Exchange(["BTCUSDT"]) as ex:
        acct, ops, orders, legs = await _oco_setup(ex)
        try:
            getattr(ex.faults, fault)(methods="orderList.place.oco")
            res = await orders.place_oco("BTCUSDT", "SELL", "0.01", **legs)
            lists = _lists(ex, acct)
            assert len(lists) == 1                         # placed once, never resent
            assert res["listClientOrderId"] == lists[0].client_id
            assert res["listClientOrderId"].startswith("fw")   # generated when not given
            assert res["orderListId"] == lists[0].list_id and len(res["orders"]) == 2
            assert orders.unknown_outcomes == 1
        finally:
            await ops.close()


async def test_order_list_not_placed_says_so_and_is_safe_to_send_again():
    async with Exchange(["BTCUSDT"]) as ex:
        acct, ops, orders, legs = await _oco_setup(ex)
        try:
            # the request is lost before execution: no answer, the timeout, the query by the
            # id that was sent says there is no such list
            ex.faults.lose_requests(methods="orderList.place.oco")
            ops.client.timeout = 0.5 * UNIT
            with pytest.raises(OutcomeUnknownError) as e:
                await orders.place_oco("BTCUSDT", "SELL", "0.01", list_client_order_id="my-list-1",
                                       **legs)
            assert e.value.placed is False and e.value.client_order_id == "my-list-1"
            assert _lists(ex, acct) == []
            sent = [r for c in ex.api_connections for r in c.received if b"orderList.place" in r]
            assert len(sent) == 1 and b"my-list-1" in sent[0]
            queries = [r for c in ex.api_connections for r in c.received if b"orderList.status" in r]
            assert queries and all(b"my-list-1" in q for q in queries)
        finally:
            await ops.close()


# -- DEBUG logging never changes the path taken ---------------------------------------------------

async def test_debug_logging_takes_the_same_request_paths(caplog):
    """A client made with DEBUG logging on (as a user debugging a bot would) sends its pings and
    orders down the same compiled paths as one made without; DEBUG only adds log lines."""
    async with Exchange(["BTCUSDT"]) as ex:
        _, key = trader(ex)
        px = None
        for level in (logging.INFO, logging.DEBUG):
            with caplog.at_level(level, logger="fastws"):
                async with BaseOperations(ex.venue, key=key.api_key, signer=HmacSigner(key.secret),
                                          timeout=3.0 * UNIT) as ops:
                    assert ops.client.protocol.debug == (level == logging.DEBUG)
                    orders = OrderStream(ops)
                    f = await ops.symbol_filters("BTCUSDT")
                    px = px or f.round_price(Decimal(ex.book("BTCUSDT")[0][0][0]) * Decimal("0.9"), "down")
                    api = ops.client
                    await api.request("ping")     # the first of a method caches its frame template
                    general: list[str] = []
                    real_request = api.protocol.request
                    real_place = orders._place

                    def spy_request(method, *a, **k):
                        general.append(method)
                        return real_request(method, *a, **k)

                    async def spy_place(*a, **k):
                        general.append("order.place")
                        return await real_place(*a, **k)

                    api.protocol.request = spy_request
                    orders._place = spy_place
                    assert await api.request("ping") == {}
                    assert await ops.ping() is None
                    r = await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price=px)
                    assert r["status"] == "NEW"
                    assert general == [], f"at {logging.getLevelName(level)} the general path ran: {general}"
        assert any("fast path" in m for m in caplog.messages)     # and DEBUG shows it
