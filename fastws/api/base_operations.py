"""The WebSocket API core: general and market-data methods, symbol filters, a shared session.

:class:`BaseOperations` is what a bot opens once (``async with``) and hands to
:class:`~fastws.api.order_stream.OrderStream` and :class:`~fastws.api.user_stream.UserStream`; it owns
one :class:`~fastws.api.client.ApiClient` (one picows connection, many requests in flight).

>>> async with BaseOperations(venue, key=api_key, signer=Ed25519Signer(pem)) as api:  # doctest: +SKIP
...     await api.ping()
...     await api.server_time()
...     f = await api.symbol_filters("BTCUSDT")      # cached after the first exchangeInfo
...     f.format_price("27000.1")                   # '27000.10'

Results are the decoded JSON of Binance's answers (SPEC §5.5), decimal strings kept as strings
so nothing is rounded. :class:`SymbolFilters` holds a symbol's filters as :class:`~decimal.Decimal`
(tick size, lot size, market lot size, min/max notional) and formats prices and quantities
exactly on their grid.

USD-M (``ws-fapi/v1``) serves fewer methods (SPEC §5.6): ``depth``, ``ticker.price``,
``ticker.book``, account and order methods. The others raise the server's
:class:`~fastws.exceptions.ApiError` there; their REST equivalents are not part of this module.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal, InvalidOperation
from typing import Any, Literal

from fastws.api.client import DEFAULT_TIMEOUT, ApiClient
from fastws.api._limits import Grid
from fastws.api._session import client_check
from fastws.api.protocol import RateLimits
from fastws.api._orders import OrderSpec
from fastws.exceptions import FilterError, InvalidUsage, ParseError
from fastws.retry import ConnectionBudget
from fastws.api.signing import Signer
from fastws.venues import Venue

__all__ = ["BaseOperations", "SymbolFilters", "FilterGrids", "FilterError", "to_decimal"]

_log = logging.getLogger("fastws.api.base_operations")

Rounding = Literal["exact", "down", "up", "nearest"]
_ROUNDING = {"down": ROUND_DOWN, "up": ROUND_UP, "nearest": ROUND_HALF_EVEN}


def to_decimal(value: object, name: str = "value") -> Decimal:
    """An exact Decimal from a ``str``, ``int`` or ``Decimal`` (floats refused: no exact text).

    Raises
    ------
    InvalidUsage
        For floats, non-numbers, NaN and infinities.
    """
    if type(value) is Decimal:
        if not value.is_finite():
            raise InvalidUsage(f"{name} must be finite, got {value!r}")
        return value
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise InvalidUsage(f"{name} must be a decimal string, an int or a Decimal, not a bool")
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, str):
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidUsage(f"{name} {value!r} is not a decimal number") from None
    elif isinstance(value, float):
        raise InvalidUsage(f"{name}: floats have no exact decimal text; pass a str or decimal.Decimal")
    else:
        raise InvalidUsage(f"{name} must be a decimal string, an int or a Decimal, got {type(value).__name__}")
    if not d.is_finite():
        raise InvalidUsage(f"{name} must be finite, got {value!r}")
    return d


def _dec(f: Mapping[str, object], key: str) -> Decimal | None:
    v = f.get(key)
    if v is None:
        return None
    try:
        d = Decimal(str(v))
    except InvalidOperation:
        return None
    return d


_QUANTUM: dict[Decimal, Decimal] = {}


def _places(step: Decimal) -> int:
    """Decimal places of a step (``0.01000000`` -> 2, ``1.00000000`` -> 0)."""
    exp = step.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


_I64_MAX = 2**63 - 1


def _fast_grid(step: Decimal, lo: Decimal, hi: Decimal) -> Grid | None:
    """The integer grid of a filter for the order fast path (:class:`fastws.api._limits.Grid`),
    or None when the filter cannot be expressed on it (then the Decimal path does it all)."""
    if step <= 0 or lo < 0 or hi < 0:
        return None
    places = _places(step)
    if places > 18:
        return None
    unit = Decimal(1).scaleb(-places)
    step_u = step / unit
    lo_u = lo / unit
    hi_u = (hi / unit).to_integral_value(ROUND_FLOOR)  # v <= floor(hi) <=> v * unit <= hi
    if step_u != step_u.to_integral_value() or lo_u != lo_u.to_integral_value():
        return None
    if max(step_u, lo_u, hi_u) > _I64_MAX:
        return None
    return Grid(places, int(step_u), int(lo_u), int(hi_u))


@dataclass(frozen=True)
class FilterGrids:
    """A symbol's filters as integers, for the order paths (derived from :class:`SymbolFilters`).

    Attributes
    ----------
    price, qty, market_qty : Grid or None
        ``PRICE_FILTER``, ``LOT_SIZE`` and ``MARKET_LOT_SIZE`` on integer grids (None where a
        rule does not fit one: the Decimal path then applies).
    notional, market_notional : tuple of int or None
        ``(min, max)`` notional in units of 10**-(price places + qty places), rounded to the
        safe side.
    order_spec : OrderSpec
        What the compiled order path reads (:class:`fastws.api._orders.OrderSpec`).
    """

    price: Grid | None
    qty: Grid | None
    market_qty: Grid | None
    notional: tuple[int, int] | None
    market_notional: tuple[int, int] | None
    order_spec: Any


@dataclass(frozen=True)
class SymbolFilters:
    """A symbol's trading rules from ``exchangeInfo`` (filters as exact Decimals).

    Attributes
    ----------
    symbol : str
    status : str
        ``TRADING``, ``HALT``, ``BREAK``...
    base_asset, quote_asset : str
    tick_size, min_price, max_price : Decimal
        ``PRICE_FILTER`` (0 means "no rule").
    step_size, min_qty, max_qty : Decimal
        ``LOT_SIZE``.
    market_step_size, market_min_qty, market_max_qty : Decimal
        ``MARKET_LOT_SIZE``; a step or max of 0 (as Binance often sends) falls back to
        ``LOT_SIZE``'s, and the larger of the two minimums applies.
    min_notional, max_notional : Decimal
        ``NOTIONAL`` / ``MIN_NOTIONAL`` (USD-M: ``notional``); 0 = none.
    apply_min_to_market : bool
        Whether ``min_notional`` applies to MARKET orders.
    order_types : tuple of str
    raw : dict
        The symbol's exchangeInfo entry as received.
    """

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool
    order_types: tuple[str, ...]
    raw: Mapping[str, Any]
    #: the integer grids the order paths read (derived in ``__post_init__``; not compared)
    grids: FilterGrids = field(init=False, repr=False, compare=False)

    @classmethod
    def from_exchange_info(cls, entry: Mapping[str, Any]) -> "SymbolFilters":
        """Build from one ``symbols[]`` entry of an ``exchangeInfo`` result."""
        zero = Decimal(0)
        by_type = {f.get("filterType"): f for f in entry.get("filters", ()) if isinstance(f, dict)}
        pf = by_type.get("PRICE_FILTER", {})
        ls = by_type.get("LOT_SIZE", {})
        ml = by_type.get("MARKET_LOT_SIZE", {})
        nf = by_type.get("NOTIONAL") or by_type.get("MIN_NOTIONAL") or {}
        min_notional = _dec(nf, "minNotional")
        if min_notional is None:
            min_notional = _dec(nf, "notional")  # USD-M MIN_NOTIONAL
        apply_market = nf.get("applyMinToMarket", nf.get("applyToMarket", True))
        step = _dec(ls, "stepSize") or zero
        mstep = _dec(ml, "stepSize") or zero
        return cls(
            symbol=str(entry.get("symbol", "")),
            status=str(entry.get("status", "TRADING")),
            base_asset=str(entry.get("baseAsset", "")),
            quote_asset=str(entry.get("quoteAsset", "")),
            tick_size=_dec(pf, "tickSize") or zero,
            min_price=_dec(pf, "minPrice") or zero,
            max_price=_dec(pf, "maxPrice") or zero,
            step_size=step,
            min_qty=_dec(ls, "minQty") or zero,
            max_qty=_dec(ls, "maxQty") or zero,
            market_step_size=mstep if mstep > 0 else step,
            market_min_qty=max(_dec(ml, "minQty") or zero, _dec(ls, "minQty") or zero),
            market_max_qty=(_dec(ml, "maxQty") or zero) or (_dec(ls, "maxQty") or zero),
            min_notional=min_notional or zero,
            max_notional=_dec(nf, "maxNotional") or zero,
            apply_min_to_market=bool(apply_market),
            order_types=tuple(str(t) for t in entry.get("orderTypes", ())),
            raw=entry,
        )

    def __post_init__(self) -> None:
        # integer grids for the order paths, derived from the fields above; ``grids`` is the
        # one declared field set here (init=False), the documented way for a frozen dataclass
        price = _fast_grid(self.tick_size, self.min_price, self.max_price)
        qty = _fast_grid(self.step_size, self.min_qty, self.max_qty)
        mqty = _fast_grid(self.market_step_size, self.market_min_qty, self.market_max_qty)
        # notional bounds in units of 10**-(price places + qty places), rounded to the safe side
        bounds: list[tuple[int, int] | None] = []
        for grid in (qty, mqty):
            b = None
            if price is not None and grid is not None:
                unit = Decimal(1).scaleb(-(price.places + grid.places))
                lo = int((self.min_notional / unit).to_integral_value(ROUND_CEILING))
                hi = int((self.max_notional / unit).to_integral_value(ROUND_FLOOR))
                b = (lo, hi)
            bounds.append(b)
        object.__setattr__(self, "grids", FilterGrids(price, qty, mqty, bounds[0], bounds[1], None))
        # what the compiled order path reads (fastws.api._orders), built from the grids
        object.__setattr__(self.grids, "order_spec", OrderSpec(self))

    def __repr__(self) -> str:
        return (f"SymbolFilters({self.symbol}, tick={self.tick_size}, step={self.step_size}, "
                f"min_notional={self.min_notional})")

    # -- formatting --------------------------------------------------------------------------

    @staticmethod
    def _on_grid(value: Decimal, step: Decimal, rounding: Rounding, what: str, symbol: str,
                 filter_: str) -> Decimal:
        if step <= 0:
            return value
        n = value / step
        if n == n.to_integral_value():
            q = value
        elif rounding == "exact":
            raise FilterError(symbol, filter_, f"{what} {value} is not a multiple of {step.normalize()}")
        else:
            q = n.to_integral_value(rounding=_ROUNDING[rounding]) * step
        quantum = _QUANTUM.get(step)
        if quantum is None:
            quantum = Decimal(1).scaleb(-_places(step))
            if len(_QUANTUM) < 4096:
                _QUANTUM[step] = quantum
        return q.quantize(quantum)

    def round_price(self, price: object, rounding: Rounding = "exact") -> Decimal:
        """``price`` on the tick grid, with the tick's decimal places.

        ``rounding="exact"`` (default) refuses a price off the grid with :class:`FilterError`;
        ``"down"``, ``"up"`` or ``"nearest"`` move it onto the grid.
        """
        return self._on_grid(to_decimal(price, "price"), self.tick_size, rounding, "price",
                             self.symbol, "PRICE_FILTER")

    def round_qty(self, qty: object, rounding: Rounding = "exact", *, market: bool = False) -> Decimal:
        """``qty`` on the lot-size grid (``MARKET_LOT_SIZE`` with ``market=True``)."""
        step = self.market_step_size if market else self.step_size
        return self._on_grid(to_decimal(qty, "quantity"), step, rounding, "quantity", self.symbol,
                             "MARKET_LOT_SIZE" if market else "LOT_SIZE")

    def format_price(self, price: object, rounding: Rounding = "exact") -> str:
        """The exact decimal text of ``price`` on the tick grid (``'27000.10'``)."""
        return format(self.round_price(price, rounding), "f")

    def format_qty(self, qty: object, rounding: Rounding = "exact", *, market: bool = False) -> str:
        """The exact decimal text of ``qty`` on the lot-size grid."""
        return format(self.round_qty(qty, rounding, market=market), "f")

    # -- checks ------------------------------------------------------------------------------

    def check_price(self, price: Decimal, what: str = "price") -> None:
        """Raise :class:`FilterError` if ``price`` breaks ``PRICE_FILTER``."""
        if price <= 0:
            raise FilterError(self.symbol, "PRICE_FILTER", f"{what} must be > 0, got {price}")
        if self.min_price > 0 and price < self.min_price:
            raise FilterError(self.symbol, "PRICE_FILTER", f"{what} {price} below minPrice {self.min_price.normalize()}")
        if self.max_price > 0 and price > self.max_price:
            raise FilterError(self.symbol, "PRICE_FILTER", f"{what} {price} above maxPrice {self.max_price.normalize()}")
        if self.tick_size > 0 and (price - self.min_price) % self.tick_size != 0:
            raise FilterError(self.symbol, "PRICE_FILTER",
                              f"{what} {price} is not on the tick grid ({self.tick_size.normalize()})")

    def check_qty(self, qty: Decimal, *, market: bool = False, what: str = "quantity") -> None:
        """Raise :class:`FilterError` if ``qty`` breaks ``LOT_SIZE`` (``MARKET_LOT_SIZE``)."""
        name = "MARKET_LOT_SIZE" if market else "LOT_SIZE"
        step = self.market_step_size if market else self.step_size
        lo = self.market_min_qty if market else self.min_qty
        hi = self.market_max_qty if market else self.max_qty
        if qty <= 0:
            raise FilterError(self.symbol, name, f"{what} must be > 0, got {qty}")
        if lo > 0 and qty < lo:
            raise FilterError(self.symbol, name, f"{what} {qty} below minQty {lo.normalize()}")
        if hi > 0 and qty > hi:
            raise FilterError(self.symbol, name, f"{what} {qty} above maxQty {hi.normalize()}")
        if step > 0 and (qty - lo) % step != 0:
            raise FilterError(self.symbol, name, f"{what} {qty} is not a multiple of stepSize {step.normalize()}")

    def check_notional(self, notional: Decimal, *, market: bool = False) -> None:
        """Raise :class:`FilterError` if ``price * qty`` breaks ``NOTIONAL`` / ``MIN_NOTIONAL``."""
        if self.min_notional > 0 and (not market or self.apply_min_to_market) and notional < self.min_notional:
            raise FilterError(self.symbol, "NOTIONAL",
                              f"notional {notional.normalize()} below minNotional {self.min_notional.normalize()}")
        if self.max_notional > 0 and not market and notional > self.max_notional:
            raise FilterError(self.symbol, "NOTIONAL",
                              f"notional {notional.normalize()} above maxNotional {self.max_notional.normalize()}")


class BaseOperations:
    """The WS API session a bot opens once: general and market-data requests, symbol filters.

    Parameters
    ----------
    venue : Venue
        ``fastws.venues.BINANCE_SPOT``, ``BINANCE_USDM``, a testnet, or ``Exchange.venue``.
    key : str, optional
        The API key (signed requests). Shown masked in reprs and logs.
    signer : Signer, optional
        ``HmacSigner``, ``RsaSigner`` or ``Ed25519Signer``. An Ed25519 key logs the session on
        (``session.logon``) unless ``logon=False``.
    client : ApiClient, optional
        Use an existing client instead of making one (the other connection options are then
        ignored); it is not closed by :meth:`close`.
    **options
        Passed to :class:`~fastws.api.client.ApiClient` (``logon``, ``recv_window``,
        ``timeout``, ``pace``, ``reconnect``, ``limits``, ``budget``, ``ssl_context``).
    """

    def __init__(
        self,
        venue: Venue | None = None,
        *,
        key: str | None = None,
        signer: Signer | None = None,
        client: ApiClient | None = None,
        logon: bool | None = None,
        recv_window: int | Decimal | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        pace: bool = True,
        reconnect: bool = True,
        limits: RateLimits | None = None,
        budget: ConnectionBudget | None = None,
        ssl_context: ssl.SSLContext | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if client is None:
            if venue is None:
                raise InvalidUsage("BaseOperations needs venue= (or client=)")
            client = ApiClient(venue, api_key=key, signer=signer, logon=logon,
                               recv_window=recv_window, timeout=timeout, pace=pace,
                               reconnect=reconnect, limits=limits, budget=budget,
                               ssl_context=ssl_context, logger=logger)
            self._owns = True
        else:
            self._owns = False
        self.client = client
        self.venue = client.venue
        self.market = client.market
        self._filters: dict[str, SymbolFilters] = {}
        self._loading: dict[str, asyncio.Future[Any]] = {}

    def __repr__(self) -> str:
        return f"BaseOperations({self.client!r})"

    async def __aenter__(self) -> "BaseOperations":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection (clock sync and logon included)."""
        await self.client.connect()

    async def close(self) -> None:
        """Close the connection (if this object made it)."""
        if self._owns:
            await self.client.close()

    @property
    def remaining_weight(self) -> int | None:
        """Request weight left in the tightest ``REQUEST_WEIGHT`` window (in-flight deducted)."""
        return self.client.remaining("REQUEST_WEIGHT")

    @property
    def remaining_orders(self) -> int | None:
        """Orders left in the tightest ``ORDERS`` window (unfilled order count)."""
        return self.client.remaining("ORDERS")

    async def request(self, method: str, params: Mapping[str, object] | None = None, *,
                      signed: bool = False, timeout: float | None = None) -> Any:
        """Any WS API method by name (see :meth:`ApiClient.request`)."""
        return await self.client.request(method, params, signed=signed, timeout=timeout)

    async def _obj(self, method: str, params: Mapping[str, object] | None = None, *,
                   signed: bool = False) -> dict[str, Any]:
        res = await self.client.request(method, params, signed=signed)
        if not isinstance(res, dict):
            raise ParseError(f"{method} answered a {type(res).__name__}, expected an object")
        return res

    async def _list(self, method: str, params: Mapping[str, object] | None = None) -> list[Any]:
        res = await self.client.request(method, params)
        if not isinstance(res, list):
            raise ParseError(f"{method} answered a {type(res).__name__}, expected an array")
        return res

    # -- general -----------------------------------------------------------------------------

    def ping(self) -> Coroutine[Any, Any, None]:
        """``ping``: test connectivity (weight 1); ``await api.ping()`` returns None.

        A plain method returning the compiled coroutine (:func:`fastws.api._session.client_check`):
        no Python coroutine of its own on the round trip.
        """
        return client_check(self.client._c, "ping")

    async def server_time(self) -> int:
        """``time``: the server's clock in epoch ms; the sample also feeds the clock estimate."""
        clock = await self.client.sync_clock(1)
        t = clock.newest_ms
        assert t is not None
        return clock.server_time(t)

    async def exchange_info(self, symbol: str | None = None, *, symbols: Sequence[str] | None = None,
                            permissions: Sequence[str] | None = None,
                            symbol_status: str | None = None) -> dict[str, Any]:
        """``exchangeInfo`` (weight 20): rules and symbols; every symbol's filters are cached.

        The ``rateLimits`` it declares replace the client's assumed limits.
        """
        given = [x for x in (symbol, symbols, permissions) if x is not None]
        if len(given) > 1:
            raise InvalidUsage("exchange_info takes only one of symbol, symbols, permissions")
        params: dict[str, object] = {}
        if symbol is not None:
            params["symbol"] = symbol
        if symbols is not None:
            params["symbols"] = list(symbols)
        if permissions is not None:
            params["permissions"] = list(permissions)
        if symbol_status is not None:
            params["symbolStatus"] = symbol_status
        info = await self.client.request("exchangeInfo", params)
        if not isinstance(info, dict):
            raise InvalidUsage("exchangeInfo answered something that is not an object")
        for entry in info.get("symbols", ()):
            if isinstance(entry, dict) and entry.get("symbol"):
                self._filters[entry["symbol"]] = SymbolFilters.from_exchange_info(entry)
        declared = info.get("rateLimits")
        if isinstance(declared, list):
            self.client.limits.configure(declared)
        return info

    def filters(self, symbol: str) -> SymbolFilters | None:
        """The cached filters of ``symbol`` (None before :meth:`exchange_info` loaded them)."""
        return self._filters.get(symbol)

    async def symbol_filters(self, symbol: str) -> SymbolFilters:
        """The filters of ``symbol``, from the cache or one ``exchangeInfo`` request."""
        f = self._filters.get(symbol)
        if f is not None:
            return f
        # one exchangeInfo per symbol however many orders wait for it
        fut = self._loading.get(symbol)
        if fut is None:
            fut = asyncio.ensure_future(self.exchange_info(symbol))
            self._loading[symbol] = fut
            fut.add_done_callback(lambda _f: self._loading.pop(symbol, None))
        await asyncio.shield(fut)
        f = self._filters.get(symbol)
        if f is None:
            raise InvalidUsage(f"exchangeInfo has no symbol {symbol!r}")
        return f

    # -- market data -------------------------------------------------------------------------

    async def depth(self, symbol: str, limit: int | None = None) -> dict[str, Any]:
        """``depth``: order book snapshot ``{"lastUpdateId", "bids", "asks"}`` (string decimals)."""
        return await self._obj("depth", {"symbol": symbol, "limit": limit})

    async def recent_trades(self, symbol: str, limit: int | None = None) -> list[dict[str, Any]]:
        """``trades.recent`` (weight 25)."""
        return await self._list("trades.recent", {"symbol": symbol, "limit": limit})

    async def historical_trades(self, symbol: str, from_id: int | None = None,
                                limit: int | None = None) -> list[dict[str, Any]]:
        """``trades.historical`` (weight 25)."""
        return await self._list("trades.historical",
                                         {"symbol": symbol, "fromId": from_id, "limit": limit})

    async def aggregate_trades(self, symbol: str, *, from_id: int | None = None,
                               start_time: int | None = None, end_time: int | None = None,
                               limit: int | None = None) -> list[dict[str, Any]]:
        """``trades.aggregate`` (weight 4): items with the one-letter keys ``a p q f l T m M``."""
        if from_id is not None and (start_time is not None or end_time is not None):
            raise InvalidUsage("aggregate_trades takes from_id or start_time/end_time, not both")
        return await self._list("trades.aggregate", {
            "symbol": symbol, "fromId": from_id, "startTime": start_time, "endTime": end_time,
            "limit": limit})

    async def klines(self, symbol: str, interval: str, *, start_time: int | None = None,
                     end_time: int | None = None, time_zone: str | None = None,
                     limit: int | None = None, ui: bool = False) -> list[list[Any]]:
        """``klines`` (or ``uiKlines`` with ``ui=True``): 12-element rows (SPEC §5.5)."""
        return await self._list("uiKlines" if ui else "klines", {
            "symbol": symbol, "interval": interval, "startTime": start_time, "endTime": end_time,
            "timeZone": time_zone, "limit": limit})

    async def avg_price(self, symbol: str) -> dict[str, Any]:
        """``avgPrice``: ``{"mins", "price", "closeTime"}``."""
        return await self._obj("avgPrice", {"symbol": symbol})

    @staticmethod
    def _one_or_many(symbol: str | None, symbols: Iterable[str] | None) -> dict[str, object]:
        if symbol is not None and symbols is not None:
            raise InvalidUsage("give symbol or symbols, not both")
        return {"symbol": symbol, "symbols": list(symbols) if symbols is not None else None}

    async def ticker_24hr(self, symbol: str | None = None, *, symbols: Iterable[str] | None = None,
                          type: str | None = None) -> Any:
        """``ticker.24hr``: one dict for ``symbol``, a list for ``symbols`` or all."""
        return await self.client.request("ticker.24hr", {**self._one_or_many(symbol, symbols), "type": type})

    async def ticker(self, symbol: str | None = None, *, symbols: Iterable[str] | None = None,
                     window_size: str | None = None, type: str | None = None) -> Any:
        """``ticker``: rolling-window statistics (``window_size`` ``1m``..``7d``)."""
        if symbol is None and symbols is None:
            raise InvalidUsage("ticker needs symbol or symbols")
        return await self.client.request("ticker", {**self._one_or_many(symbol, symbols),
                                                    "windowSize": window_size, "type": type})

    async def ticker_trading_day(self, symbol: str | None = None, *, symbols: Iterable[str] | None = None,
                                 time_zone: str | None = None, type: str | None = None) -> Any:
        """``ticker.tradingDay``."""
        if symbol is None and symbols is None:
            raise InvalidUsage("ticker_trading_day needs symbol or symbols")
        return await self.client.request("ticker.tradingDay", {**self._one_or_many(symbol, symbols),
                                                               "timeZone": time_zone, "type": type})

    async def ticker_price(self, symbol: str | None = None, *, symbols: Iterable[str] | None = None) -> Any:
        """``ticker.price``: latest price(s)."""
        return await self.client.request("ticker.price", self._one_or_many(symbol, symbols))

    async def ticker_book(self, symbol: str | None = None, *, symbols: Iterable[str] | None = None) -> Any:
        """``ticker.book``: best bid/ask."""
        return await self.client.request("ticker.book", self._one_or_many(symbol, symbols))

    # -- account and session -----------------------------------------------------------------

    async def account_status(self, *, omit_zero_balances: bool | None = None) -> dict[str, Any]:
        """``account.status`` (signed, weight 20): balances and permissions.

        On USD-M this is ``account.status`` of ``ws-fapi`` (v2 balance and positions).
        """
        return await self._obj("account.status", {"omitZeroBalances": omit_zero_balances},
                                         signed=True)

    async def session_status(self) -> dict[str, Any]:
        """``session.status``: who is logged on, and whether a user-data subscription is active."""
        return await self._obj("session.status")

    async def logout(self) -> dict[str, Any]:
        """``session.logout``: the connection stays open; the logon subscription ends."""
        res = await self._obj("session.logout")
        self.client.logged_on = False
        self.client.logon = False
        return res
