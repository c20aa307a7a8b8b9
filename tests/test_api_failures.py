"""The WS API client against what Binance does to clients, produced by the simulator's faults:
an IP ban (418) and 429s during a reconnect, clock steps (-1021), order lists whose outcome is
unknown, fragmented answers. Each test fails on a client that does not handle its fault."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from fastws.api_client import ApiClient
from fastws.base_operations import BaseOperations
from fastws.exceptions import ConnectionClosedError, IPBannedError, OutcomeUnknownError
from fastws.order_stream import OrderStream
from fastws.signing import HmacSigner
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
