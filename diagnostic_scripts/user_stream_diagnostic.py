"""Binance User Stream WebSocket diagnostic: do order and balance events reach this machine, all
of them?

It checks fastws.UserStream: subscribe (logon or ``.signature`` path), the executionReports of
a placed and a cancelled order; on the embedded simulator also a fill made while the client is
disconnected (delivered by the reconciliation after the reconnect) and the USD-M listenKey
stream. On a real venue orders need ``--allow-orders`` (a running ``fastws sim`` is paper).

Usage:
    python diagnostic_scripts/user_stream_diagnostic.py                        # embedded simulator
    python diagnostic_scripts/user_stream_diagnostic.py --url ws://127.0.0.1:8765    # keys from env
    FASTWS_API_KEY=... FASTWS_PRIVATE_KEY_FILE=ed25519.pem \\
        python diagnostic_scripts/user_stream_diagnostic.py --venue binance-spot-testnet --allow-orders

Each test opens its own session and stream, has its own timeout and closes everything when
done; one failing test never stops the others. Output: a header, ``Test: <name>`` and
``✓ Test passed`` / ``✗ Test failed: why`` per test, a summary ending ``N passed, M failed``.
Ctrl-C stops cleanly (connections closed) with exit status 130. Keys come from the environment
(see ``_api_target.py``) and are only shown masked.
"""
from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _api_target import Target, run_checks  # noqa: E402
from _house import CheckFailed, expect, wait_for  # noqa: E402
from order_stream_diagnostic import far_price  # noqa: E402

from fastws import OrderStream  # noqa: E402
from fastws.sim.conns import ApiConn  # noqa: E402
from fastws import AccountUpdate, ExecutionReport, OrderTradeUpdate  # noqa: E402
from fastws import UserStream  # noqa: E402



async def next_event(users: UserStream, cls: type, pred=lambda e: True, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        left = end - loop.time()
        if left <= 0:
            raise CheckFailed(f"no {cls.__name__} within {timeout:g} s")
        try:
            ev = await users.get(left)
        except asyncio.TimeoutError:
            raise CheckFailed(f"no {cls.__name__} within {timeout:g} s") from None
        if isinstance(ev, cls) and pred(ev):
            return ev


async def check_subscribe(t: Target) -> str:
    if not t.signed:
        raise CheckFailed("no API key in the environment (FASTWS_API_KEY)")
    async with t.session() as api:
        async with UserStream(api) as users:
            path = "session.logon + userDataStream.subscribe" if api.client.logged_on else \
                "userDataStream.subscribe.signature"
            return f"subscribed via {path} (subscription {users.subscription_id}, {t.describe_key()})"


async def check_order_events(t: Target) -> str:
    if not t.signed:
        raise CheckFailed("no API key in the environment (FASTWS_API_KEY)")
    t.need_order_permission()
    async with t.session() as api:
        orders = OrderStream(api)
        async with UserStream(api) as users:
            price, qty = await far_price(api, t.symbol)
            r = await orders.place(t.symbol, "BUY", quantity=qty, price=price)
            new = await next_event(users, ExecutionReport, lambda e: e.order_id == r["orderId"])
            await orders.cancel(t.symbol, order_id=r["orderId"])
            done = await next_event(users, ExecutionReport,
                                    lambda e: e.order_id == r["orderId"] and e.execution_type == "CANCELED")
            return f"executionReport {new.execution_type} then {done.execution_type} for order {r['orderId']}"


async def check_reconcile(t: Target) -> str:
    async with t.session() as api, t.session() as other:
        a_conn = [c for c in t.ex.all_connections if isinstance(c, ApiConn)][0]
        taker_acct = t.ex.add_account(balances={"USDT": "1000000"}, keys=["HMAC"])
        from fastws import BaseOperations, HmacSigner
        k = taker_acct.keys[0]
        async with BaseOperations(t.venue, key=k.api_key, signer=HmacSigner(k.secret)) as taker_api:
            orders, taker = OrderStream(api), OrderStream(taker_api)
            async with UserStream(api) as users:
                f = await api.symbol_filters(t.symbol)
                for _ in range(50):
                    book = await api.depth(t.symbol, 5)
                    bid, ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
                    if ask - bid >= 2 * f.tick_size:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise CheckFailed("the spread never opened to two ticks")
                price = ask - f.tick_size
                qty = f.round_qty(max(f.min_qty, f.min_notional * 2 / price), "up")
                r = await orders.place(t.symbol, "SELL", "LIMIT_MAKER", quantity=qty, price=price)
                await next_event(users, ExecutionReport, lambda e: e.order_id == r["orderId"])
                t.ex.faults.refuse_connections(0.5)
                t.ex.faults.close(conn=a_conn, how="reset")
                await wait_for(lambda: not api.client.connected, 5, "the drop")
                await taker.place(t.symbol, "BUY", quantity=qty, price=price, time_in_force="IOC")
                await wait_for(lambda: users.reconnects == 1, 15, "the resubscription")
                fill = await next_event(users, ExecutionReport,
                                        lambda e: e.order_id == r["orderId"] and e.is_trade)
                expect(bool(fill.raw.get("reconciled")), "the fill did not come from reconciliation")
                return (f"fill of {fill.last_executed_qty} @ {fill.last_executed_price} made while disconnected "
                        f"was delivered after the reconnect (trade {fill.trade_id})")


async def check_usdm(t: Target) -> str:
    from fastws.sim import Exchange
    async with Exchange([t.symbol], market="usdm") as ex:
        acct = ex.add_account(balances={"USDT": "1000000"}, keys=["HMAC"])
        k = acct.keys[0]
        from fastws import BaseOperations, HmacSigner
        async with BaseOperations(ex.venue, key=k.api_key, signer=HmacSigner(k.secret)) as api:
            orders = OrderStream(api)
            async with UserStream(api) as users:
                f = await api.symbol_filters(t.symbol)
                ask = Decimal((await api.depth(t.symbol, 5))["asks"][0][0])
                await orders.place(t.symbol, "BUY", quantity=f.min_qty * 10,
                                   price=f.round_price(ask * Decimal("1.01"), "down"), time_in_force="IOC")
                ev = await next_event(users, OrderTradeUpdate, lambda e: e.is_trade)
                au = await next_event(users, AccountUpdate)
                return f"listenKey stream: ORDER_TRADE_UPDATE {ev.order_status}, ACCOUNT_UPDATE ({au.reason})"


CHECKS = [
    ("subscribe", check_subscribe, "any"),
    ("executionReports for place and cancel", check_order_events, "any"),
    ("fill while disconnected: reconciled", check_reconcile, "sim"),
    ("USD-M listenKey stream", check_usdm, "sim"),
]


def main(argv: list[str] | None = None) -> int:
    return run_checks(__doc__, CHECKS, "User Stream", argv, orders=True)


if __name__ == "__main__":
    sys.exit(main())
