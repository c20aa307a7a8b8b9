"""The USD-M user data stream on the market streams' connection machinery: a serverShutdown
switch and the 24 h cut made before break with every fill delivered once, live; a reset
reconciled; a 418 / 429 on reconnect waited out (never given up, never hammered)."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from fastws.api.order_stream import OrderStream
from fastws.api.user_events import AccountUpdate, OrderTradeUpdate
from fastws.api.user_stream import UserStream
from fastws.sim import Exchange
from fastws.testing import fast_limits
from tests.test_api_client import wait_until
from tests.test_order_stream import sim_session
from tests.test_user_stream import _rest_inside_spread, _user_conns, next_of
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True


def _drain(users: UserStream, into: list[Any]) -> None:
    while users.pending:
        into.append(users._queue.get_nowait())


async def _fills_of(users: UserStream, order_id: int, qty: Decimal, got: list[Any],
                    timeout: float = 8.0) -> list[OrderTradeUpdate]:
    """Events until the trades of ``order_id`` add up to ``qty`` (then a moment more, so a
    duplicate would show); returns those trades."""
    deadline = time.monotonic() + timeout * UNIT
    def trades() -> list[OrderTradeUpdate]:
        return [e for e in got if isinstance(e, OrderTradeUpdate) and e.is_trade and e.order_id == order_id]
    while max((e.cumulative_filled_qty for e in trades()), default=Decimal(0)) < qty:
        assert time.monotonic() < deadline, f"fills missing: {trades()} for {qty}"
        try:
            got.append(await users.get(0.2 * UNIT))
        except asyncio.TimeoutError:
            pass
    await asyncio.sleep(0.5 * UNIT)
    _drain(users, got)
    return trades()


def _assert_once_and_live(fills: list[OrderTradeUpdate], got: list[Any], executed: Decimal) -> None:
    ids = [e.trade_id for e in fills]
    assert len(ids) == len(set(ids)), f"a fill was delivered twice: {ids}"
    assert all(i >= 0 for i in ids), f"a fill came from reconciliation, not live: {ids}"
    assert not any(e.raw.get("reconciled") for e in fills)
    # every fill of the order, in order, none twice: each cumulative quantity is the one
    # before plus this fill (the market may fill more meanwhile: at least what was asked)
    cum = Decimal(0)
    for e in sorted(fills, key=lambda e: e.cumulative_filled_qty):
        assert e.cumulative_filled_qty == cum + e.last_filled_qty, (
            f"a fill is missing before {e.trade_id}: {cum} + {e.last_filled_qty} != {e.cumulative_filled_qty}")
        cum = e.cumulative_filled_qty
    assert cum >= executed
    accounts = [orjson_key(e.raw) for e in got if isinstance(e, AccountUpdate)]
    assert len(accounts) == len(set(accounts)), "an ACCOUNT_UPDATE was delivered twice"
    assert not any(isinstance(e, dict) and e.get("e") == "serverShutdown" for e in got), \
        "serverShutdown is the connection's business, not a user event"


def orjson_key(raw: Any) -> bytes:
    import orjson
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


async def _sweep(taker: OrderStream, price: Decimal, qty: Decimal) -> None:
    await taker.place("BTCUSDT", "BUY", quantity=qty, price=price, time_in_force="IOC")


async def test_server_shutdown_switch_loses_and_duplicates_no_fill():
    """serverShutdown on the user data link: a new link is opened at once, both deliver for a
    moment, the old one goes; fills before, during and after the switch each arrive once,
    live (no reconnect, nothing to reconcile), even when new connections are refused right
    after the old link closed."""
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the user data connection")
                old = _user_conns(ex)[0]
                r, price = await _rest_inside_spread(api, orders, qty=Decimal("0.05"))
                got: list[Any] = [await next_of(users, OrderTradeUpdate, pred=lambda e: e.order_id == r["orderId"])]
                ex.faults.server_shutdown(conn=old, close_after=0.6 * UNIT)
                await wait_until(lambda: len(_user_conns(ex)) >= 2 or old.closed, what="a second link")
                await _sweep(taker, price, Decimal("0.01"))       # both links carry this one
                await wait_until(lambda: old.closed, what="the old link's close")
                # whoever reconnects now is refused: only a link opened before the close helps
                ex.faults.refuse_connections(1.0 * UNIT)
                for _ in range(3):
                    await _sweep(taker, price, Decimal("0.01"))
                    await asyncio.sleep(0.1 * UNIT)
                st = await orders.status("BTCUSDT", order_id=r["orderId"])
                executed = Decimal(st["executedQty"])
                assert executed > 0, st
                _drain(users, got)
                fills = await _fills_of(users, r["orderId"], executed, got)
                _assert_once_and_live(fills, got, executed)
                assert users.reconnects == 0
                assert users.connection is not None and users.connection.stats.server_shutdowns == 1


async def test_replacement_that_shuts_down_too_gives_way_and_loses_nothing():
    """The replacement link itself announces serverShutdown while the switch runs: the old
    link goes on delivering, another replacement takes over; every fill once."""
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the user data connection")
                old = _user_conns(ex)[0]
                r, price = await _rest_inside_spread(api, orders, qty=Decimal("0.05"))
                got: list[Any] = []
                ex.faults.shutdown_new_link(after=0.05 * UNIT, close_after=0.5 * UNIT)
                ex.faults.server_shutdown(conn=old, close_after=3.0 * UNIT)
                for _ in range(4):
                    await _sweep(taker, price, Decimal("0.01"))
                    await asyncio.sleep(0.3 * UNIT)
                conn = users.connection
                assert conn is not None
                await wait_until(lambda: conn.stats.server_shutdowns >= 2 and conn.active is not None
                                 and conn.active.serial >= 3 and conn.state == "up", what="the second replacement")
                st = await orders.status("BTCUSDT", order_id=r["orderId"])
                executed = Decimal(st["executedQty"])
                assert executed > 0, st
                fills = await _fills_of(users, r["orderId"], executed, got)
                _assert_once_and_live(fills, got, executed)
                assert users.reconnects == 0


async def test_cut_over_before_the_24h_limit_is_seamless():
    """The 24 h cut, shortened: the user data link is replaced before the server cuts it;
    fills around it arrive once, live, and there is no reconnect."""
    limits = fast_limits("usdm", connection_lifetime=3.0 * UNIT)
    async with Exchange(["BTCUSDT"], market="usdm", limits=limits) as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                conn = users.connection
                assert conn is not None
                r, price = await _rest_inside_spread(api, orders, qty=Decimal("0.05"))
                got: list[Any] = []
                deadline = time.monotonic() + 8 * UNIT
                while conn.stats.cutovers < 1:
                    assert time.monotonic() < deadline, "no cut-over"
                    await _sweep(taker, price, Decimal("0.01"))
                    await asyncio.sleep(0.4 * UNIT)
                await _sweep(taker, price, Decimal("0.01"))
                st = await orders.status("BTCUSDT", order_id=r["orderId"])
                executed = Decimal(st["executedQty"])
                fills = await _fills_of(users, r["orderId"], executed, got)
                _assert_once_and_live(fills, got, executed)
                # (the WS API connection reaches its lifetime too: the client reconnects that
                # one; the user data link itself was switched, never lost)
                assert conn.stats.reconnects == 0 and conn.stats.failed_attempts == 0


async def test_reset_then_418_and_429_on_reconnect_waits_and_reconciles():
    """The user data link is reset, then the reconnect gets a 418 (banned for a while) and a
    429 (Retry-After): the stream waits what the server said (one attempt each, no
    hammering), comes back, and the reconcile delivers the fill it missed."""
    async with Exchange(["BTCUSDT"], market="usdm") as ex:
        _, taker_api = sim_session(ex, "HMAC")
        acct, api = sim_session(ex, "HMAC")
        async with taker_api, api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                await wait_until(lambda: len(_user_conns(ex)) == 1, what="the user data connection")
                conn = _user_conns(ex)[0]
                r, price = await _rest_inside_spread(api, orders, qty=Decimal("0.02"))
                await next_of(users, OrderTradeUpdate, pred=lambda e: e.order_id == r["orderId"])
                ex.faults.refuse_upgrades(418, ban_seconds=1.0 * UNIT)
                ex.faults.refuse_upgrades(429, retry_after=0.5 * UNIT)
                start = time.monotonic()
                ex.faults.close(conn=conn, how="reset")
                await wait_until(lambda: not _user_conns(ex), what="the drop")
                await _sweep(taker, price, Decimal("0.02"))
                await wait_until(lambda: users.reconnects == 1, timeout=15, what="the reconnect")
                assert time.monotonic() - start >= 1.0 * UNIT            # the ban was waited out
                sc = users.connection
                assert sc is not None and sc.stats.failed_attempts == 2   # one 418, one 429
                ev = await next_of(users, OrderTradeUpdate, timeout=5.0,
                                   pred=lambda e: e.is_trade and e.order_id == r["orderId"])
                assert ev.raw.get("reconciled") is True
                assert ev.cumulative_filled_qty == Decimal("0.02")
                # and the stream is live again
                r2, _ = await _rest_inside_spread(api, orders)
                ev = await next_of(users, OrderTradeUpdate, pred=lambda e: e.order_id == r2["orderId"])
                assert ev.execution_type == "NEW" and not ev.raw.get("reconciled")
