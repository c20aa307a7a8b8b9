"""Signed trading over the WebSocket API: place, test, cancel, cancel-replace, status, OCO.

:class:`OrderStream` sits on a :class:`~fastws.api.base_operations.BaseOperations` session (one
connection, many orders in flight). Before anything is sent, an order is checked locally:

- the parameters its type requires (SPEC §5.5: LIMIT needs timeInForce, price, quantity...);
- the symbol's filters from ``exchangeInfo`` (``PRICE_FILTER`` tick and range, ``LOT_SIZE`` /
  ``MARKET_LOT_SIZE``, ``NOTIONAL``/``MIN_NOTIONAL``), so a doomed order costs no weight;
- prices and quantities are written as exact decimal strings on the tick/step grid
  (``Decimal('27000.1')`` on a 0.01 tick is sent as ``"27000.10"``). Floats are refused: they
  have no exact text. ``rounding="down"`` etc. moves values onto the grid instead of refusing.

Every order carries a client order id (made here when not given), so that when the outcome is
unknown (a 5xx or -1006/-1007 answer, no answer in time, or the connection dropped with the
order in flight) the order is **queried by that id** before anything else happens
(SPEC §5.1, §9): the true order is returned if it exists; if the exchange says it does not,
:class:`~fastws.exceptions.OutcomeUnknownError` is raised with ``placed = False`` (safe to
send again). Nothing is ever retried blindly.

Rate limits are the client's (:class:`~fastws.api.client.ApiClient`): it waits for room in
the ``ORDERS`` and weight windows instead of drawing a 429, and never sends into a 418.

USD-M (``ws-fapi/v1``) uses the same class: ``order.place``, ``order.cancel``,
``order.status``, ``order.modify`` (:meth:`OrderStream.modify`); its order types are checked
against the USD-M list.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from fastws.api import _session as _api_fast
from fastws.api import _orders as _order_fast
from fastws.api.client import ApiClient
from fastws.api.base_operations import BaseOperations, FilterError, Rounding, SymbolFilters, to_decimal
from fastws.api.signing import HmacSigner
from fastws.exceptions import ApiError, ConnectionClosedError, InvalidUsage, OutcomeUnknownError

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "OrderStream",
    "OrderOptions",
    "SPOT_ORDER_TYPES",
    "USDM_ORDER_TYPES",
    "new_client_order_id",
]

_log = logging.getLogger("fastws.api.order_stream")

#: Spot order types and what each requires (SPEC §5.5). A tuple inside means "one of".
SPOT_ORDER_TYPES: dict[str, tuple[object, ...]] = {
    "LIMIT": ("timeInForce", "price", "quantity"),
    "LIMIT_MAKER": ("price", "quantity"),
    "MARKET": (("quantity", "quoteOrderQty"),),
    "STOP_LOSS": ("quantity", ("stopPrice", "trailingDelta")),
    "TAKE_PROFIT": ("quantity", ("stopPrice", "trailingDelta")),
    "STOP_LOSS_LIMIT": ("timeInForce", "price", "quantity", ("stopPrice", "trailingDelta")),
    "TAKE_PROFIT_LIMIT": ("timeInForce", "price", "quantity", ("stopPrice", "trailingDelta")),
}
#: USD-M order types and what each requires (Binance futures docs, "New Order").
USDM_ORDER_TYPES: dict[str, tuple[object, ...]] = {
    "LIMIT": ("timeInForce", "price", "quantity"),
    "MARKET": ("quantity",),
    "STOP": ("price", "quantity", "stopPrice"),
    "TAKE_PROFIT": ("price", "quantity", "stopPrice"),
    "STOP_MARKET": ("stopPrice",),
    "TAKE_PROFIT_MARKET": ("stopPrice",),
    "TRAILING_STOP_MARKET": ("callbackRate",),
}
_SPOT_TIF = frozenset({"GTC", "IOC", "FOK"})
_USDM_TIF = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
_SIDES = frozenset({"BUY", "SELL"})
_RESP_TYPES = frozenset({"ACK", "RESULT", "FULL"})
_CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
#: Seconds between the queries that settle an unknown outcome (SPEC §5.1: the backend may
#: still be working on the order; -2013 right away is not yet proof it was never placed).
UNKNOWN_OUTCOME_QUERY_DELAYS = (0.0, 0.3, 1.0)
#: Codes meaning "no such order" (spot -2013, also -2011 "Unknown order sent." on USD-M).
_NO_SUCH_ORDER = frozenset({-2013, -2011})
#: Codes meaning "no such order list" ("Order list does not exist.").
_NO_SUCH_LIST = frozenset({-2011, -2013, -2018})
#: How build_order treats each param it checks (others pass through as given).
_PARAM_KINDS = {
    "price": "price", "stopPrice": "price", "activationPrice": "price",
    "quantity": "qty", "icebergQty": "qty", "quoteOrderQty": "quote",
    "trailingDelta": "int", "strategyId": "int", "strategyType": "int", "pegOffsetValue": "int",
    "goodTillDate": "int", "callbackRate": "rate",
    "newClientOrderId": "id", "cancelNewClientOrderId": "id", "listClientOrderId": "id",
}


#: ``new_client_order_id() -> str``: a fresh client order id, ``fw`` + 12 random hex chars
#: drawn once per process + a hex counter (unique across restarts and within a process; Binance
#: allows 36 of ``[.A-Z:/a-z0-9_-]``). The order fast path draws from the same counter.
new_client_order_id = _order_fast.new_client_order_id
#: the compiled order path, bound once (a module attribute read per order costs a dict look-up)
_order_place = _order_fast.order_place


class OrderOptions(TypedDict, total=False):
    """The ``**options`` of :meth:`OrderStream.place`: what the general path alone sends. Any
    other Binance parameter may be given too, under its Binance name."""

    quote_order_qty: object
    stop_price: object
    trailing_delta: int
    iceberg_qty: object
    strategy_id: int
    strategy_type: int
    rounding: Rounding
    # Binance names the general path passes through (SPEC §5.5; USD-M "New Order")
    pegPriceType: str
    pegOffsetValue: int
    pegOffsetType: str
    newOrderRespType: str
    positionSide: str
    reduceOnly: bool | str
    closePosition: bool | str
    priceProtect: bool | str
    workingType: str
    priceMatch: str
    goodTillDate: int
    activationPrice: object
    callbackRate: object


def _check_client_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise InvalidUsage(f"{name} must be 1-36 characters of [.A-Z:/a-z0-9_-], got {value!r}")
    return value


class OrderStream:
    """Orders over a :class:`~fastws.api.base_operations.BaseOperations` session.

    Parameters
    ----------
    api : BaseOperations
        The session (with ``key=`` and ``signer=``).
    validate : bool
        Check orders against the symbol filters before sending (default True; the filters are
        fetched with one ``exchangeInfo`` per symbol the first time).
    rounding : {"exact", "down", "up", "nearest"}
        What to do with a price or quantity off the grid: refuse (default) or round.
    """

    def __init__(self, api: BaseOperations, *, validate: bool = True, rounding: Rounding = "exact") -> None:
        if not isinstance(api, BaseOperations):
            raise InvalidUsage("OrderStream needs a BaseOperations session")
        if rounding not in ("exact", "down", "up", "nearest"):
            raise InvalidUsage(f"rounding must be exact, down, up or nearest, got {rounding!r}")
        self.api = api
        self.client = api.client
        self.market = api.market
        self.rounding: Rounding = rounding
        #: orders whose outcome had to be settled by a query
        self.unknown_outcomes = 0
        # what the compiled order path reads of this stream, resolved once
        client = self.client
        signer = client._signer
        self._fast = _order_fast.OrderPath(
            api._filters, client._c, client.market,
            signer.keyed_state() if type(signer) is HmacSigner else None,
            client._api_key, type(self) is OrderStream and type(client) is ApiClient)
        self.validate = validate

    @property
    def validate(self) -> bool:
        """Check orders against the symbol filters before sending (the compiled order path
        reads the same flag, a C field of its ``OrderPath``)."""
        return self._validate

    @validate.setter
    def validate(self, on: bool) -> None:
        self._validate = bool(on)
        fast = self.__dict__.get("_fast")
        if fast is not None:
            fast.validate = self._validate

    def __repr__(self) -> str:
        return f"OrderStream({self.api.venue.name}, key={self.client.api_key_masked})"

    # -- building ----------------------------------------------------------------------------

    async def _filters(self, symbol: str) -> SymbolFilters | None:
        if not self.validate:
            return self.api.filters(symbol)
        return await self.api.symbol_filters(symbol)

    def build_order(self, filters: SymbolFilters | None, symbol: str, side: str, type: str,
                    params: Mapping[str, object], *, rounding: Rounding | None = None,
                    prefix: str = "") -> dict[str, object]:
        """Validate one order's params and return them formatted for sending (no I/O).

        ``params`` use Binance's names (``quantity``, ``price``, ``timeInForce``...) with
        ``str``/``int``/``Decimal`` values. ``prefix`` is for the new-order part of
        cancelReplace (none) and OCO legs (``above``/``below``), where names are prefixed.

        Raises
        ------
        InvalidUsage
            A missing or unknown parameter, a bad enum value, a float.
        FilterError
            A filter the order would break.
        """
        rnd = rounding or self.rounding
        side_u = str(side).upper()
        type_u = str(type).upper()
        if not prefix and side_u not in _SIDES:
            raise InvalidUsage(f"side must be BUY or SELL, got {side!r}")
        table = SPOT_ORDER_TYPES if self.market == "spot" else USDM_ORDER_TYPES
        if type_u not in table:
            raise InvalidUsage(f"{symbol}: unknown {self.market} order type {type!r}; one of {sorted(table)}")
        p = {k: v for k, v in params.items() if v is not None}
        for need in table[type_u]:
            if isinstance(need, tuple):
                if not any(n in p for n in need):
                    raise InvalidUsage(f"{symbol}: a {type_u} order needs {' or '.join(map(str, need))}")
                if type_u == "MARKET" and all(n in p for n in need):
                    raise InvalidUsage(f"{symbol}: a MARKET order takes quantity or quoteOrderQty, not both")
            elif need not in p:
                raise InvalidUsage(f"{symbol}: a {type_u} order needs {need}")
        tif = p.get("timeInForce")
        if tif is not None and self.market == "spot" and "timeInForce" not in table[type_u]:
            # Binance answers -1106 "Parameter 'timeInForce' sent when not required."
            raise InvalidUsage(f"{symbol}: a {type_u} order takes no timeInForce")
        if tif is not None:
            allowed = _SPOT_TIF if self.market == "spot" else _USDM_TIF
            if str(tif).upper() not in allowed:
                raise InvalidUsage(f"timeInForce must be one of {sorted(allowed)}, got {tif!r}")
            p["timeInForce"] = str(tif).upper()
        resp = p.get("newOrderRespType")
        if resp is not None and str(resp).upper() not in _RESP_TYPES:
            raise InvalidUsage(f"newOrderRespType must be ACK, RESULT or FULL, got {resp!r}")
        market_order = type_u in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") if self.market == "spot" else (
            type_u.endswith("MARKET"))
        f = filters
        if f is not None and f.order_types and type_u not in f.order_types:
            raise FilterError(symbol, "orderTypes", f"{type_u} orders are not allowed on {symbol}")
        price_d: Decimal | None = None
        qty_d: Decimal | None = None
        # fast path: a value already on the grid and within bounds is checked and formatted
        # with integers (SymbolFilters' private grids); anything else takes the Decimal path,
        # which rounds or raises the FilterError
        price_i: int | None = None
        qty_i: int | None = None
        grids = f.grids if f is not None else None
        market_notional = False
        fast_price = grids.price if grids is not None else None
        for name, value in list(p.items()):  # one pass over what was given (few keys)
            kind = _PARAM_KINDS.get(name)
            if kind is None:
                continue
            if kind == "price":
                if fast_price is not None and name != "activationPrice":
                    vi = fast_price.scaled(value)
                    if vi is not None:
                        if name == "price":
                            price_i = vi
                        p[name] = fast_price.text(vi)
                        continue
                v = to_decimal(value, name)
                if f is not None and name != "activationPrice":
                    v = f.round_price(v, rnd)
                    f.check_price(v, name)
                elif v <= 0:
                    raise InvalidUsage(f"{name} must be > 0")
                if name == "price":
                    price_d = v
                p[name] = format(v, "f")
            elif kind == "qty":
                mkt = market_order and name == "quantity"
                grid = (grids.market_qty if mkt else grids.qty) if grids is not None else None
                if grid is not None:
                    vi = grid.scaled(value)
                    if vi is not None:
                        if name == "quantity":
                            qty_i = vi
                            market_notional = mkt
                        p[name] = grid.text(vi)
                        continue
                v = to_decimal(value, name)
                if f is not None:
                    v = f.round_qty(v, rnd, market=mkt)
                    f.check_qty(v, market=mkt, what=name)
                elif v <= 0:
                    raise InvalidUsage(f"{name} must be > 0")
                if name == "quantity":
                    qty_d = v
                p[name] = format(v, "f")
            elif kind == "quote":
                q = to_decimal(value, name)
                if q <= 0:
                    raise InvalidUsage("quoteOrderQty must be > 0")
                if f is not None:
                    f.check_notional(q, market=True)
                p[name] = format(q, "f")
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise InvalidUsage(f"{name} must be an int, got {value.__class__.__name__}")
            elif kind == "rate":
                p[name] = format(to_decimal(value, name), "f")
            else:  # client id
                _check_client_id(value, name)
        if f is not None:
            if price_i is not None and qty_i is not None:
                bounds = (grids.market_notional if market_notional else grids.notional) if grids is not None else None
                n = price_i * qty_i
                if bounds is not None and (
                        (f.min_notional <= 0 or (market_order and not f.apply_min_to_market) or n >= bounds[0])
                        and (f.max_notional <= 0 or market_order or n <= bounds[1])):
                    price_i = qty_i = None       # notional fine
                else:
                    price_d = Decimal(p["price"])  # type: ignore[arg-type]
                    qty_d = Decimal(p["quantity"])  # type: ignore[arg-type]
            elif price_i is not None and qty_d is not None:
                price_d = Decimal(p["price"])  # type: ignore[arg-type]
            elif qty_i is not None and price_d is not None:
                qty_d = Decimal(p["quantity"])  # type: ignore[arg-type]
            if price_d is not None and qty_d is not None:
                f.check_notional(price_d * qty_d, market=market_order)
        out: dict[str, object] = {"symbol": symbol, "side": side_u, "type": type_u}
        out.update(p)
        return out

    @staticmethod
    def _order_params(
        quantity: object, price: object, quote_order_qty: object, time_in_force: str | None,
        stop_price: object, trailing_delta: int | None, iceberg_qty: object,
        client_order_id: str | None, response_type: str | None, self_trade_prevention_mode: str | None,
        strategy_id: int | None, strategy_type: int | None, extra: Mapping[str, object],
    ) -> dict[str, object]:
        p: dict[str, object] = {
            "quantity": quantity, "price": price, "quoteOrderQty": quote_order_qty,
            "timeInForce": time_in_force, "stopPrice": stop_price, "trailingDelta": trailing_delta,
            "icebergQty": iceberg_qty, "newClientOrderId": client_order_id,
            "newOrderRespType": response_type.upper() if response_type else None,
            "selfTradePreventionMode": self_trade_prevention_mode, "strategyId": strategy_id,
            "strategyType": strategy_type,
        }
        for k, v in extra.items():
            if k in ("signature", "apiKey", "timestamp"):
                raise InvalidUsage(f"{k} is set by the client, do not pass it")
            p[k] = v
        return p

    # -- sending -----------------------------------------------------------------------------

    async def _settle_unknown(self, symbol: str, client_order_id: str, exc: BaseException) -> dict[str, Any]:
        """The outcome of an order is unknown: query it by client order id (never resend)."""
        return await self._settle(f"order {client_order_id} on {symbol}", client_order_id, exc,
                                  lambda: self.status(symbol, client_order_id=client_order_id),
                                  _NO_SUCH_ORDER)

    async def _settle(self, what: str, client_order_id: str, exc: BaseException,
                      query: Callable[[], Awaitable[dict[str, Any]]],
                      no_such: frozenset[int]) -> dict[str, Any]:
        """The outcome of ``what`` (an order or an order list) is unknown: ``query()`` it by its
        client id until the exchange says what happened (never resend blindly)."""
        self.unknown_outcomes += 1
        _log.warning("= %s: outcome unknown (%s); querying it", what, type(exc).__name__)
        last: BaseException = exc
        for delay in UNKNOWN_OUTCOME_QUERY_DELAYS:
            if delay:
                await asyncio.sleep(delay)
            try:
                return await query()
            except ApiError as qexc:
                if qexc.code in no_such:
                    last = qexc
                    continue
                if isinstance(qexc, OutcomeUnknownError):
                    last = qexc
                    continue
                raise
            except (asyncio.TimeoutError, ConnectionClosedError) as qexc:
                last = qexc
                continue
        if isinstance(last, ApiError) and last.code in no_such:
            err = OutcomeUnknownError(
                getattr(exc, "code", -1007),
                f"{what}: outcome was unknown ({type(exc).__name__}); "
                "the exchange has no such order: it was not placed (safe to send again)",
                getattr(exc, "status", None), getattr(exc, "data", None))
            err.placed = False  # type: ignore[attr-defined]
            err.client_order_id = client_order_id  # type: ignore[attr-defined]
            raise err from exc
        err = OutcomeUnknownError(
            getattr(exc, "code", -1007),
            f"{what}: outcome unknown and the status query failed "
            f"({type(last).__name__}); query it again before sending anything",
            getattr(exc, "status", None), getattr(exc, "data", None))
        err.placed = None  # type: ignore[attr-defined]
        err.client_order_id = client_order_id  # type: ignore[attr-defined]
        raise err from exc

    async def _order_request(self, method: str, symbol: str, params: dict[str, object],
                             client_order_id: str, timeout: float | None,
                             clock_resend: bool = True) -> dict[str, Any]:
        try:
            # a -1021 answer is re-sent once after a clock re-sync (not executed: safe)
            resp = await _api_fast._response(self.client._c, method, params, True, timeout, clock_resend)
            return resp.unwrap()  # type: ignore[return-value]
        except (OutcomeUnknownError, asyncio.TimeoutError, ConnectionClosedError) as exc:
            settled = await self._settle_unknown(symbol, client_order_id, exc)
            return settled

    async def place(
        self, symbol: str, side: str, type: str = "LIMIT", *,
        quantity: object = None, price: object = None, time_in_force: str | None = None,
        client_order_id: str | None = None, response_type: str | None = None,
        self_trade_prevention_mode: str | None = None, timeout: float | None = None,
        **options: Unpack[OrderOptions],
    ) -> dict[str, Any]:
        """``order.place``: validate, format, sign, send; the answer (ACK/RESULT/FULL) is returned.

        Parameters
        ----------
        symbol, side, type : str
            ``side`` BUY or SELL (any case); ``type`` LIMIT (default), MARKET, LIMIT_MAKER, the
            stop and take-profit types (spot), or the USD-M types.
        quantity, price : str, int or Decimal, optional
            Exact values; floats are refused (they have no exact text). Off the symbol's grid
            they are refused, unless ``rounding=`` says otherwise.
        time_in_force : str, optional
            GTC, IOC, FOK (USD-M also GTX, GTD); a LIMIT order without it gets GTC.
        client_order_id : str, optional
            1-36 of ``[.A-Z:/a-z0-9_-]``; one is made when not given.
        response_type : str, optional
            ACK, RESULT or FULL.
        self_trade_prevention_mode : str, optional
        timeout : float, optional
            Seconds to wait for the answer (the client's timeout by default).
        **options
            Everything else, under the names of :class:`OrderOptions` (``quote_order_qty``,
            ``stop_price``, ``trailing_delta``, ``iceberg_qty``, ``strategy_id``,
            ``strategy_type``, ``rounding``) or Binance's own names (``pegPriceType``, USD-M
            ``positionSide``, ``reduceOnly``...).

        Returns
        -------
        dict
            The answer's ``result``. If the outcome is unknown (5xx, -1006/-1007, timeout,
            dropped connection), the order is queried by its client order id and its
            ``order.status`` result is returned instead (``"status"`` says what happened); see
            the module docstring. An order rejected with -1021 (timestamp outside
            ``recvWindow``: the clock stepped) was not executed: the clock is re-synced and the
            order sent again, once, with the same client order id.

        Notes
        -----
        The fast path (:func:`fastws.api._orders.order_place`) takes the parameters named in
        this signature and nothing else: whatever is in ``options`` sends the order down the
        general path (:meth:`_place`), so a parameter can never be dropped on the way. A
        LIMIT, LIMIT_MAKER or MARKET order on the grid, on an HMAC (or logged-on) session with
        room in its windows, is then checked, written, signed and sent in one C pass, byte for
        byte the frame :meth:`_place` sends.
        """
        if not options:
            res = await _order_place(
                self._fast, self, symbol, side, type, quantity, price, time_in_force,
                client_order_id, response_type, self_trade_prevention_mode, timeout)
            if isinstance(res, dict):
                return res
            if res is not None:
                kind, cid, exc = res
                if kind == _order_fast.UNKNOWN:
                    return await self._settle_unknown(symbol, cid, exc)
                # -1021: not executed; re-sync, then once more on the general path
                if not await self.client._clock_rejected():
                    raise exc
                return await self._place(
                    symbol, side, type, quantity=quantity, price=price, time_in_force=time_in_force,
                    client_order_id=cid, response_type=response_type,
                    self_trade_prevention_mode=self_trade_prevention_mode, timeout=timeout,
                    _clock_resend=False)
        return await self._place(
            symbol, side, type, quantity=quantity, price=price, time_in_force=time_in_force,
            client_order_id=client_order_id, response_type=response_type,
            self_trade_prevention_mode=self_trade_prevention_mode, timeout=timeout,
            **options)

    async def _place(
        self, symbol: str, side: str, type: str = "LIMIT", *,
        quantity: object = None, price: object = None, quote_order_qty: object = None,
        time_in_force: str | None = None, stop_price: object = None, trailing_delta: int | None = None,
        iceberg_qty: object = None, client_order_id: str | None = None,
        response_type: str | None = None, self_trade_prevention_mode: str | None = None,
        strategy_id: int | None = None, strategy_type: int | None = None,
        rounding: Rounding | None = None, timeout: float | None = None, _clock_resend: bool = True,
        **extra: object,
    ) -> dict[str, Any]:
        """The general path of :meth:`place` (every order type and param, rounding, the
        errors raised); the compiled :meth:`place` hands it whatever its fast path does not take
        (``_clock_resend=False``: an order the fast path already resent after a -1021)."""
        if not isinstance(type, str) or not isinstance(side, str):
            raise InvalidUsage("side and type must be str")
        if type.upper() in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and time_in_force is None:
            time_in_force = "GTC"
        cid = _check_client_id(client_order_id, "client_order_id") if client_order_id else new_client_order_id()
        p = self._order_params(quantity, price, quote_order_qty, time_in_force, stop_price,
                               trailing_delta, iceberg_qty, cid, response_type,
                               self_trade_prevention_mode, strategy_id, strategy_type, extra)
        # the filters are cached after the first order on a symbol: no await then
        f = self.api.filters(symbol) if not self.validate else (
            self.api.filters(symbol) or await self.api.symbol_filters(symbol))
        params = self.build_order(f, symbol, side, type, p, rounding=rounding)
        return await self._order_request("order.place", symbol, params, cid, timeout, _clock_resend)

    async def test(
        self, symbol: str, side: str, type: str = "LIMIT", *, compute_commission_rates: bool = False,
        quantity: object = None, price: object = None, quote_order_qty: object = None,
        time_in_force: str | None = None, stop_price: object = None, trailing_delta: int | None = None,
        iceberg_qty: object = None, rounding: Rounding | None = None, **extra: object,
    ) -> dict[str, Any]:
        """``order.test``: everything :meth:`place` does, except the order reaches no book."""
        if type.upper() in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and time_in_force is None:
            time_in_force = "GTC"
        p = self._order_params(quantity, price, quote_order_qty, time_in_force, stop_price,
                               trailing_delta, iceberg_qty, None, None, None, None, None, extra)
        if compute_commission_rates:
            p["computeCommissionRates"] = True
        f = await self._filters(symbol)
        params = self.build_order(f, symbol, side, type, p, rounding=rounding)
        return await self.client.request("order.test", params, signed=True)  # type: ignore[no-any-return]

    @staticmethod
    def _which(order_id: int | None, client_order_id: str | None, what: str) -> dict[str, object]:
        if (order_id is None) == (client_order_id is None):
            raise InvalidUsage(f"{what} needs exactly one of order_id and client_order_id")
        if order_id is not None and (isinstance(order_id, bool) or not isinstance(order_id, int)):
            raise InvalidUsage("order_id must be an int")
        return {"orderId": order_id, "origClientOrderId": client_order_id}

    async def cancel(self, symbol: str, *, order_id: int | None = None, client_order_id: str | None = None,
                     new_client_order_id: str | None = None, cancel_restrictions: str | None = None,
                     timeout: float | None = None) -> dict[str, Any]:
        """``order.cancel`` by ``order_id`` (fastest) or ``client_order_id``.

        Cancelling one order of a list cancels the whole list (SPEC §5.5).
        """
        p = {"symbol": symbol, **self._which(order_id, client_order_id, "cancel"),
             "newClientOrderId": new_client_order_id, "cancelRestrictions": cancel_restrictions}
        if cancel_restrictions is not None and cancel_restrictions not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise InvalidUsage("cancel_restrictions must be ONLY_NEW or ONLY_PARTIALLY_FILLED")
        return await self.client.request("order.cancel", p, signed=True, timeout=timeout)  # type: ignore[no-any-return]

    async def cancel_replace(
        self, symbol: str, side: str, type: str = "LIMIT", *,
        cancel_order_id: int | None = None, cancel_client_order_id: str | None = None,
        mode: str = "STOP_ON_FAILURE", quantity: object = None, price: object = None,
        quote_order_qty: object = None, time_in_force: str | None = None, stop_price: object = None,
        trailing_delta: int | None = None, iceberg_qty: object = None, client_order_id: str | None = None,
        response_type: str | None = None, rate_limit_exceeded_mode: str | None = None,
        cancel_restrictions: str | None = None, rounding: Rounding | None = None, **extra: object,
    ) -> dict[str, Any]:
        """``order.cancelReplace`` (spot): cancel one order and place another.

        Raises :class:`~fastws.exceptions.ApiError` -2021 (status 409, one part failed) or
        -2022 (400); ``error.data`` (``exc.data``) then holds ``cancelResult``,
        ``newOrderResult`` and both responses. The operation is not transactional.
        """
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise InvalidUsage("mode must be STOP_ON_FAILURE or ALLOW_FAILURE")
        which = self._which(cancel_order_id, cancel_client_order_id, "cancel_replace")
        if type.upper() in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and time_in_force is None:
            time_in_force = "GTC"
        cid = _check_client_id(client_order_id, "client_order_id") if client_order_id else new_client_order_id()
        p = self._order_params(quantity, price, quote_order_qty, time_in_force, stop_price,
                               trailing_delta, iceberg_qty, cid, response_type, None, None, None, extra)
        f = await self._filters(symbol)
        params = self.build_order(f, symbol, side, type, p, rounding=rounding)
        params.update({"cancelReplaceMode": mode, "cancelOrderId": which["orderId"],
                       "cancelOrigClientOrderId": which["origClientOrderId"],
                       "orderRateLimitExceededMode": rate_limit_exceeded_mode,
                       "cancelRestrictions": cancel_restrictions})
        return await self._order_request("order.cancelReplace", symbol, params, cid, None)

    async def modify(self, symbol: str, side: str, *, quantity: object, price: object,
                     order_id: int | None = None, client_order_id: str | None = None,
                     **extra: object) -> dict[str, Any]:
        """``order.modify`` (USD-M only): change a LIMIT order's price and quantity."""
        if self.market != "usdm":
            raise InvalidUsage("modify is a USD-M method; on spot use cancel_replace")
        f = await self._filters(symbol)
        p = self.build_order(f, symbol, side, "LIMIT", {"timeInForce": "GTC", "quantity": quantity,
                                                         "price": price})
        p.pop("type")
        p.pop("timeInForce")
        p.update(self._which(order_id, client_order_id, "modify"))
        p.update(extra)
        return await self.client.request("order.modify", p, signed=True)  # type: ignore[no-any-return]

    async def cancel_all(self, symbol: str) -> list[dict[str, Any]]:
        """``openOrders.cancelAll``: cancel every open order (and list) on ``symbol``."""
        return await self.client.request("openOrders.cancelAll", {"symbol": symbol}, signed=True)  # type: ignore[no-any-return]

    async def status(self, symbol: str, *, order_id: int | None = None,
                     client_order_id: str | None = None) -> dict[str, Any]:
        """``order.status`` by ``order_id`` or ``client_order_id``."""
        p = {"symbol": symbol, **self._which(order_id, client_order_id, "status")}
        return await self.client.request("order.status", p, signed=True)  # type: ignore[no-any-return]

    async def open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """``openOrders.status``: open orders of ``symbol`` (or all: weight 80)."""
        return await self.client.request("openOrders.status", {"symbol": symbol}, signed=True)  # type: ignore[no-any-return]

    async def place_oco(
        self, symbol: str, side: str, quantity: object, *,
        above_type: str, below_type: str,
        above_price: object = None, above_stop_price: object = None, above_time_in_force: str | None = None,
        below_price: object = None, below_stop_price: object = None, below_time_in_force: str | None = None,
        list_client_order_id: str | None = None, above_client_order_id: str | None = None,
        below_client_order_id: str | None = None, response_type: str | None = None,
        rounding: Rounding | None = None, **extra: object,
    ) -> dict[str, Any]:
        """``orderList.place.oco`` (spot): two orders, one above and one below the market.

        Leg types: above ``LIMIT_MAKER``, ``STOP_LOSS``, ``STOP_LOSS_LIMIT``, ``TAKE_PROFIT``,
        ``TAKE_PROFIT_LIMIT``; below the same. Each leg's prices are checked like an order's.
        """
        if self.market != "spot":
            raise InvalidUsage("order lists are a spot feature")
        side_u = side.upper()
        if side_u not in _SIDES:
            raise InvalidUsage(f"side must be BUY or SELL, got {side!r}")
        f = await self._filters(symbol)
        rnd = rounding or self.rounding
        q = to_decimal(quantity, "quantity")
        if f is not None:
            q = f.round_qty(q, rnd)
            f.check_qty(q)
        params: dict[str, object] = {"symbol": symbol, "side": side_u, "quantity": format(q, "f")}
        allowed = ("LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        legs = {"above": (above_type, above_price, above_stop_price, above_time_in_force, above_client_order_id),
                "below": (below_type, below_price, below_stop_price, below_time_in_force, below_client_order_id)}
        for leg, (t, price, stop, tif, cid) in legs.items():
            t_u = str(t).upper()
            if t_u not in allowed:
                raise InvalidUsage(f"{leg}_type must be one of {allowed}, got {t!r}")
            if t_u.endswith("LIMIT") and tif is None:
                tif = "GTC"
            leg_p = {"quantity": q, "price": price, "stopPrice": stop, "timeInForce": tif}
            built = self.build_order(f, symbol, side_u, t_u, leg_p, rounding=rnd)
            params[f"{leg}Type"] = t_u
            for k in ("price", "stopPrice", "timeInForce"):
                if k in built:
                    params[f"{leg}{k[0].upper()}{k[1:]}"] = built[k]
            if cid is not None:
                params[f"{leg}ClientOrderId"] = _check_client_id(cid, f"{leg}_client_order_id")
        if response_type is not None:
            params["newOrderRespType"] = response_type.upper()
        params.update(extra)
        return await self.place_order_list("orderList.place.oco", params,
                                           list_client_order_id=list_client_order_id)

    async def place_order_list(self, method: str, params: Mapping[str, object], *,
                               list_client_order_id: str | None = None,
                               timeout: float | None = None) -> dict[str, Any]:
        """Place an order list (``orderList.place.oco``, ``.oto``, ``.otoco``, ``.opo``...) from
        its Binance params, as they are sent (see :meth:`place_oco` for a checked OCO).

        The list carries a ``listClientOrderId`` (``list_client_order_id``, or
        ``params["listClientOrderId"]``, or one made here). When the outcome is unknown (5xx,
        -1006/-1007, no answer in time, the connection dropped with it in flight), the list is
        queried by that id with ``orderList.status`` and its status returned; if the exchange has
        no such list, :class:`~fastws.exceptions.OutcomeUnknownError` is raised with
        ``placed = False``. It is never sent again blindly.
        """
        if not isinstance(method, str) or not method.startswith("orderList.place"):
            raise InvalidUsage(f"method must be an orderList.place.* method, got {method!r}")
        if self.market != "spot":
            raise InvalidUsage("order lists are a spot feature")
        p = dict(params)
        given = list_client_order_id if list_client_order_id is not None else p.get("listClientOrderId")
        lcid = _check_client_id(given, "list_client_order_id") if given is not None else new_client_order_id()
        p["listClientOrderId"] = lcid
        symbol = str(p.get("symbol", ""))
        try:
            resp = await _api_fast._response(self.client._c, method, p, True, timeout, True)
            return resp.unwrap()  # type: ignore[return-value]
        except (OutcomeUnknownError, asyncio.TimeoutError, ConnectionClosedError) as exc:
            return await self._settle(f"order list {lcid} on {symbol}", lcid, exc,
                                      lambda: self.order_list_status(list_client_order_id=lcid),
                                      _NO_SUCH_LIST)

    async def cancel_order_list(self, symbol: str, *, order_list_id: int | None = None,
                                list_client_order_id: str | None = None) -> dict[str, Any]:
        """``orderList.cancel``."""
        if (order_list_id is None) == (list_client_order_id is None):
            raise InvalidUsage("cancel_order_list needs exactly one of order_list_id and list_client_order_id")
        res: dict[str, Any] = await self.client.request("orderList.cancel", {
            "symbol": symbol, "orderListId": order_list_id, "listClientOrderId": list_client_order_id},
            signed=True)
        return res

    async def order_list_status(self, *, order_list_id: int | None = None,
                                list_client_order_id: str | None = None) -> dict[str, Any]:
        """``orderList.status``."""
        res: dict[str, Any] = await self.client.request("orderList.status", {
            "orderListId": order_list_id, "origClientOrderId": list_client_order_id}, signed=True)
        return res
