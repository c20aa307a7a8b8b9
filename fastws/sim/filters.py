"""Symbol filters as Binance serves them in ``exchangeInfo`` and enforces them on orders.

Spot (a BTCUSDT-like symbol): ``PRICE_FILTER``, ``LOT_SIZE``, ``ICEBERG_PARTS``,
``MARKET_LOT_SIZE``, ``TRAILING_DELTA``, ``PERCENT_PRICE_BY_SIDE``, ``NOTIONAL``,
``MAX_NUM_ORDERS``, ``MAX_NUM_ALGO_ORDERS``. USDⓈ-M: ``PRICE_FILTER``, ``LOT_SIZE``,
``MARKET_LOT_SIZE``, ``MAX_NUM_ORDERS``, ``MAX_NUM_ALGO_ORDERS``, ``MIN_NOTIONAL``,
``PERCENT_PRICE``.

Failures answer as Binance does: ``-1013 "Filter failure: NAME"`` for price and quantity
filters, ``-2010 "Filter failure: MAX_NUM_ORDERS"`` / ``MAX_NUM_ALGO_ORDERS`` for the account's
open-order counts; USDⓈ-M's ``PERCENT_PRICE`` answers ``-4016`` / ``-4024`` with the bound.
The reference price of ``PERCENT_PRICE_BY_SIDE`` is the 5-minute average price (``avgPrice``),
of ``PERCENT_PRICE`` the mark price.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any, Optional

__all__ = ["SymbolFilters", "spot_filters", "usdm_filters"]


@dataclass(frozen=True)
class SymbolFilters:
    """Filter values of one symbol (the defaults are Binance's BTCUSDT values)."""

    max_price: Decimal = Decimal("1000000")
    max_qty: Decimal = Decimal("9000")
    market_max_qty: Decimal = Decimal("100")
    iceberg_parts: int = 10
    trailing_min: int = 10
    trailing_max: int = 2000
    bid_up: Decimal = Decimal("5")
    bid_down: Decimal = Decimal("0.2")
    ask_up: Decimal = Decimal("5")
    ask_down: Decimal = Decimal("0.2")
    max_notional: Decimal = Decimal("9000000")
    max_orders: int = 200
    max_algo_orders: int = 5
    # USDⓈ-M
    usdm_max_price: Decimal = Decimal("4529764")
    usdm_max_qty: Decimal = Decimal("1000")
    usdm_market_max_qty: Decimal = Decimal("120")
    usdm_max_algo_orders: int = 10
    percent_up: Decimal = Decimal("1.0500")
    percent_down: Decimal = Decimal("0.9500")


DEFAULT = SymbolFilters()


def _p8(v: Any) -> str:
    return str(Decimal(str(v)).quantize(Decimal("0.00000001")))


def spot_filters(spec: Any, f: SymbolFilters = DEFAULT) -> list[dict]:
    """The ``filters`` array of a spot symbol in ``exchangeInfo``."""
    return [
        {"filterType": "PRICE_FILTER", "minPrice": _p8(spec.tick_size),
         "maxPrice": _p8(f.max_price), "tickSize": _p8(spec.tick_size)},
        {"filterType": "LOT_SIZE", "minQty": _p8(spec.step_size), "maxQty": _p8(f.max_qty),
         "stepSize": _p8(spec.step_size)},
        {"filterType": "ICEBERG_PARTS", "limit": f.iceberg_parts},
        {"filterType": "MARKET_LOT_SIZE", "minQty": _p8(0), "maxQty": _p8(f.market_max_qty),
         "stepSize": _p8(0)},
        {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": f.trailing_min,
         "maxTrailingAboveDelta": f.trailing_max, "minTrailingBelowDelta": f.trailing_min,
         "maxTrailingBelowDelta": f.trailing_max},
        {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": str(f.bid_up),
         "bidMultiplierDown": str(f.bid_down), "askMultiplierUp": str(f.ask_up),
         "askMultiplierDown": str(f.ask_down), "avgPriceMins": 5},
        {"filterType": "NOTIONAL", "minNotional": _p8(spec.min_notional),
         "applyMinToMarket": True, "maxNotional": _p8(f.max_notional),
         "applyMaxToMarket": False, "avgPriceMins": 5},
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": f.max_orders},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": f.max_algo_orders},
    ]


def usdm_filters(spec: Any, f: SymbolFilters = DEFAULT) -> list[dict]:
    """The ``filters`` array of a USDⓈ-M symbol in ``exchangeInfo``."""
    return [
        {"filterType": "PRICE_FILTER", "minPrice": spec.tick_size,
         "maxPrice": str(f.usdm_max_price), "tickSize": spec.tick_size},
        {"filterType": "LOT_SIZE", "minQty": spec.step_size, "maxQty": str(f.usdm_max_qty),
         "stepSize": spec.step_size},
        {"filterType": "MARKET_LOT_SIZE", "minQty": spec.step_size,
         "maxQty": str(f.usdm_market_max_qty), "stepSize": spec.step_size},
        {"filterType": "MAX_NUM_ORDERS", "limit": f.max_orders},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": f.usdm_max_algo_orders},
        {"filterType": "MIN_NOTIONAL", "notional": spec.min_notional},
        {"filterType": "PERCENT_PRICE", "multiplierUp": str(f.percent_up),
         "multiplierDown": str(f.percent_down), "multiplierDecimal": "4"},
    ]


def _fail(name: str, code: int = -1013) -> Exception:
    from fastws.sim.engine import Reject
    return Reject(code, f"Filter failure: {name}")


def check_order(ex: Any, m: Any, acct: Any, side: str, typ: str, price: int, stop: int,
                lots: int, iceberg: Optional[Decimal], trailing: Optional[int],
                count_open: bool = True, f: SymbolFilters = DEFAULT) -> None:
    """Raise the engine's ``Reject`` for the first filter an order breaks (after the tick and
    step checks the caller made). ``price`` / ``stop`` in ticks, ``lots`` in lots."""
    from fastws.sim.engine import STOP_TYPES, Reject
    spot = ex.market == "spot"
    for t in (price, stop):
        if t and m.price_decimal(t) > (f.max_price if spot else f.usdm_max_price):
            raise _fail("PRICE_FILTER")
    q = m.qty_decimal(lots)
    if lots and q > (f.max_qty if spot else f.usdm_max_qty):
        raise _fail("LOT_SIZE")
    if typ == "MARKET" and lots and q > (f.market_max_qty if spot else f.usdm_market_max_qty):
        raise _fail("MARKET_LOT_SIZE")
    if spot and iceberg is not None and iceberg > 0 and lots:
        parts = (q / iceberg).to_integral_value(rounding=ROUND_CEILING)
        if parts > f.iceberg_parts:
            raise _fail("ICEBERG_PARTS")
    if spot and trailing is not None and not f.trailing_min <= trailing <= f.trailing_max:
        raise _fail("TRAILING_DELTA")
    if price and typ != "MARKET":
        px = m.price_decimal(price)
        if spot:
            ref = _avg_price(m, ex.now_ms())
            up, down = (f.bid_up, f.bid_down) if side == "BUY" else (f.ask_up, f.ask_down)
            if ref and not ref * down <= px <= ref * up:
                raise _fail("PERCENT_PRICE_BY_SIDE")
        else:
            mark = (m.price_decimal(m.best_bid) + m.price_decimal(m.best_ask)) / 2
            hi, lo = mark * f.percent_up, mark * f.percent_down
            if side == "BUY" and px > hi:
                raise Reject(-4016, f"Limit price can't be higher than {_bound(m, hi, 'down')}.")
            if side == "SELL" and px < lo:
                raise Reject(-4024, f"Limit price can't be lower than {_bound(m, lo, 'up')}.")
    if count_open:
        opened = ex.engine.open_orders(acct, m.symbol)
        if len(opened) + 1 > f.max_orders:
            raise _fail("MAX_NUM_ORDERS", -2010)
        if typ in STOP_TYPES:
            algo = sum(1 for o in opened if o.type in STOP_TYPES)
            if algo + 1 > (f.max_algo_orders if spot else f.usdm_max_algo_orders):
                raise _fail("MAX_NUM_ALGO_ORDERS", -2010)


def _bound(m: Any, v: Decimal, way: str) -> str:
    step = m._tick_dec
    from decimal import ROUND_DOWN, ROUND_UP
    return str((v / step).to_integral_value(ROUND_DOWN if way == "down" else ROUND_UP) * step)


def _avg_price(m: Any, now: int) -> Decimal:
    from fastws.sim import payloads as P
    return Decimal(P.avg_price(m, now)["w"])
