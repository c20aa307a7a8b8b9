"""Binance Order Stream WebSocket diagnostic: are orders validated, placed, found and cancelled?

It checks fastws.OrderStream: local filter validation (nothing sent), ``order.test``, a LIMIT
order at half the best bid placed, queried, listed and cancelled; on the embedded simulator also
a -1007 "outcome unknown" answer (queried, placed exactly once) and a connection dropped after
the order was accepted. On a real venue only ``order.test`` and local validation run unless
``--allow-orders`` is given (a running ``fastws sim`` is paper: orders run there).

Usage:
    python diagnostic_scripts/order_stream_diagnostic.py                       # embedded simulator
    python diagnostic_scripts/order_stream_diagnostic.py --url ws://127.0.0.1:8765   # keys from env
    FASTWS_API_KEY=... FASTWS_API_SECRET=... python diagnostic_scripts/order_stream_diagnostic.py \\
        --venue binance-spot-testnet --allow-orders

Each test opens its own session, has its own timeout and closes everything when done; one
failing test never stops the others. Output: a header, ``Test: <name>`` and ``✓ Test passed``
/ ``✗ Test failed: why`` per test, a summary ending ``N passed, M failed``. Ctrl-C stops
cleanly (connections closed) with exit status 130. Keys come from the environment (see
``_api_target.py``) and are only shown masked.
"""
from __future__ import annotations

import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _api_target import Target, run_checks  # noqa: E402
from _house import CheckFailed, expect  # noqa: E402

from fastws import FilterError  # noqa: E402
from fastws import OrderStream  # noqa: E402



def need_key(t: Target) -> None:
    if not t.signed:
        raise CheckFailed("no API key in the environment (FASTWS_API_KEY)")


async def far_price(api, symbol: str) -> tuple[Decimal, Decimal]:  # type: ignore[no-untyped-def]
    """A BUY price that cannot fill (half the best bid, on the grid) and a quantity above the
    minimum notional there."""
    f = await api.symbol_filters(symbol)
    bid = Decimal((await api.depth(symbol, 5))["bids"][0][0])
    price = f.round_price(bid / 2, "down")
    qty = f.round_qty(max(f.min_qty, (f.min_notional * Decimal("1.5")) / price), "up")
    return price, qty


async def check_local_validation(t: Target) -> str:
    async with t.session() as api:
        orders = OrderStream(api)
        f = await api.symbol_filters(t.symbol)
        sent = api.client.requests
        try:
            await orders.place(t.symbol, "BUY", quantity=f.min_qty, price=f.tick_size / 3)
        except FilterError as exc:
            expect(api.client.requests == sent, "a request was sent for an invalid order")
            return f"refused before sending: {exc}"
        raise CheckFailed("an off-tick price was not refused")


async def check_order_test(t: Target) -> str:
    need_key(t)
    async with t.session() as api:
        orders = OrderStream(api)
        price, qty = await far_price(api, t.symbol)
        res = await orders.test(t.symbol, "BUY", quantity=qty, price=price)
        return f"order.test accepted BUY {qty} @ {price} ({t.describe_key()}): {res}"


async def check_place_status_cancel(t: Target) -> str:
    need_key(t)
    t.need_order_permission()
    async with t.session() as api:
        orders = OrderStream(api)
        price, qty = await far_price(api, t.symbol)
        r = await orders.place(t.symbol, "BUY", quantity=qty, price=price)
        try:
            st = await orders.status(t.symbol, client_order_id=r["clientOrderId"])
            expect(st["status"] == "NEW", f"status {st['status']}, expected NEW")
            opens = await orders.open_orders(t.symbol)
            expect(any(o["orderId"] == r["orderId"] for o in opens), "the order is not among open orders")
        finally:
            c = await orders.cancel(t.symbol, order_id=r["orderId"])
        expect(c["status"] == "CANCELED", f"cancel answered {c['status']}")
        return f"order {r['orderId']} placed ({qty} @ {price}), found open, cancelled"


async def check_outcome_unknown(t: Target) -> str:
    async with t.session(timeout=5.0) as api:
        orders = OrderStream(api)
        price, qty = await far_price(api, t.symbol)
        t.ex.faults.outcome_unknown(methods="order.place")
        r = await orders.place(t.symbol, "BUY", quantity=qty, price=price)
        n = len(t.ex.orders(t.account, t.symbol))
        expect(n == 1, f"{n} orders on the book, expected exactly 1 (no blind retry)")
        await orders.cancel_all(t.symbol)
        return f"-1007 answered, order queried by client id: {r['status']} (placed once)"


async def check_drop_after_accept(t: Target) -> str:
    async with t.session(timeout=5.0) as api:
        orders = OrderStream(api)
        price, qty = await far_price(api, t.symbol)
        t.ex.faults.drop_after_accept(methods="order.place")
        r = await orders.place(t.symbol, "BUY", quantity=qty, price=price)
        expect(api.client.connections == 2, "the client did not reconnect")
        await orders.cancel_all(t.symbol)
        return f"connection dropped with the order in flight; found it after reconnecting: {r['status']}"


CHECKS = [
    ("local filter validation", check_local_validation, "any"),
    ("order.test", check_order_test, "any"),
    ("place, status, open orders, cancel", check_place_status_cancel, "any"),
    ("-1007 outcome unknown: query, never resend", check_outcome_unknown, "sim"),
    ("connection dropped after accept", check_drop_after_accept, "sim"),
]


def main(argv: list[str] | None = None) -> int:
    return run_checks(__doc__, CHECKS, "Order Stream", argv, orders=True)


if __name__ == "__main__":
    sys.exit(main())
