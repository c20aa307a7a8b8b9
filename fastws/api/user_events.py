"""Typed user-data events (SPEC §8.3 spot, §8.4 USD-M), decoded from orjson dicts.

User data is a few events a second at most, so these are plain frozen, slotted dataclasses
(not Cython records): readable, hashable, cheap enough. Prices, quantities and balances are
:class:`decimal.Decimal`, built from Binance's decimal strings, so they are exact (``"0.10000000"``
stays ``Decimal('0.10000000')``; ``str()`` gives the text back) and sums of fills never drift.
Integers (ids, times in epoch ms) are ``int``. Every event keeps the payload it came from in
``raw``.

Field names are spelled out; the mapping to Binance's one-letter keys is in each class
docstring. Unknown event kinds come back from :func:`decode_user_event` as the plain dict.

================================  ==============================  =========
Binance ``e``                     class                           market
================================  ==============================  =========
``executionReport``               :class:`ExecutionReport`        spot
``outboundAccountPosition``       :class:`OutboundAccountPosition` spot
``balanceUpdate``                 :class:`BalanceUpdate`          spot
``listStatus``                    :class:`ListStatus`             spot
``externalLockUpdate``            :class:`ExternalLockUpdate`     spot
``eventStreamTerminated``         :class:`EventStreamTerminated`  spot
``listenKeyExpired``              :class:`ListenKeyExpired`       both
``ORDER_TRADE_UPDATE``            :class:`OrderTradeUpdate`       USD-M
``ACCOUNT_UPDATE``                :class:`AccountUpdate`          USD-M
================================  ==============================  =========
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Union

import orjson

from fastws.exceptions import ParseError

__all__ = [
    "UserEvent",
    "ExecutionReport",
    "Balance",
    "OutboundAccountPosition",
    "BalanceUpdate",
    "ListStatus",
    "ListOrder",
    "ExternalLockUpdate",
    "EventStreamTerminated",
    "ListenKeyExpired",
    "OrderTradeUpdate",
    "AccountUpdate",
    "FuturesBalance",
    "FuturesPosition",
    "decode_user_event",
]

_ZERO = Decimal(0)


def _d(obj: Mapping[str, Any], key: str) -> Decimal:
    v = obj.get(key)
    if v is None:
        return _ZERO
    if isinstance(v, bool):
        raise ParseError(f"field {key!r} is a bool, expected a decimal string", path=f"$.{key}")
    try:
        return Decimal(v) if isinstance(v, (str, int)) else Decimal(str(v))
    except (InvalidOperation, ValueError):
        raise ParseError(f"field {key!r} is not a decimal: {v!r}", path=f"$.{key}") from None


def _i(obj: Mapping[str, Any], key: str, default: int = -1) -> int:
    v = obj.get(key)
    if v is None:
        return default
    if isinstance(v, bool):
        raise ParseError(f"field {key!r} is a bool, expected an integer", path=f"$.{key}")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.lstrip("-").isdigit():  # listenKeyExpired's E is a string
        return int(v)
    raise ParseError(f"field {key!r} is not an integer: {v!r}", path=f"$.{key}")


def _s(obj: Mapping[str, Any], key: str, default: str = "") -> str:
    v = obj.get(key)
    return default if v is None else str(v)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """An order changed (spot ``executionReport``, SPEC §8.3).

    ==========================  ===  ==========================  ===
    attribute                   key  attribute                   key
    ==========================  ===  ==========================  ===
    event_time                  E    last_executed_qty           l
    symbol                      s    cumulative_filled_qty       z
    client_order_id             c    last_executed_price         L
    side                        S    commission                  n
    order_type                  o    commission_asset            N
    time_in_force               f    transaction_time            T
    quantity                    q    trade_id                    t
    price                       p    execution_id                I
    stop_price                  P    is_working                  w
    iceberg_qty                 F    is_maker                    m
    order_list_id               g    creation_time               O
    orig_client_order_id        C    cumulative_quote_qty        Z
    execution_type              x    last_quote_qty              Y
    order_status                X    quote_order_qty             Q
    reject_reason               r    working_time                W
    order_id                    i    self_trade_prevention_mode  V
    prevented_match_id          v    expiry_reason               eR
    ==========================  ===  ==========================  ===
    """

    event_time: int
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    iceberg_qty: Decimal
    order_list_id: int
    orig_client_order_id: str
    execution_type: str
    order_status: str
    reject_reason: str
    order_id: int
    last_executed_qty: Decimal
    cumulative_filled_qty: Decimal
    last_executed_price: Decimal
    commission: Decimal
    commission_asset: str | None
    transaction_time: int
    trade_id: int
    execution_id: int
    is_working: bool
    is_maker: bool
    creation_time: int
    cumulative_quote_qty: Decimal
    last_quote_qty: Decimal
    quote_order_qty: Decimal
    working_time: int
    self_trade_prevention_mode: str
    prevented_match_id: int
    expiry_reason: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "executionReport"

    @property
    def is_trade(self) -> bool:
        """This report is a fill (``x == "TRADE"``)."""
        return self.execution_type == "TRADE"

    @property
    def average_price(self) -> Decimal | None:
        """``Z / z`` (None before any fill)."""
        if self.cumulative_filled_qty == 0:
            return None
        return self.cumulative_quote_qty / self.cumulative_filled_qty

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "ExecutionReport":
        N = e.get("N")
        return cls(
            _i(e, "E"), _s(e, "s"), _s(e, "c"), _s(e, "S"), _s(e, "o"), _s(e, "f"),
            _d(e, "q"), _d(e, "p"), _d(e, "P"), _d(e, "F"),
            _i(e, "g"), _s(e, "C"), _s(e, "x"), _s(e, "X"), _s(e, "r", "NONE"), _i(e, "i"),
            _d(e, "l"), _d(e, "z"), _d(e, "L"), _d(e, "n"),
            None if N is None else str(N), _i(e, "T"), _i(e, "t"), _i(e, "I"),
            bool(e.get("w", False)), bool(e.get("m", False)), _i(e, "O"),
            _d(e, "Z"), _d(e, "Y"), _d(e, "Q"),
            _i(e, "W"), _s(e, "V", "NONE"), _i(e, "v"), _s(e, "eR", "NONE"), e,
        )


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset of an ``outboundAccountPosition``: ``a`` asset, ``f`` free, ``l`` locked."""

    asset: str
    free: Decimal
    locked: Decimal


@dataclass(frozen=True, slots=True)
class OutboundAccountPosition:
    """Balances that may have changed (spot, SPEC §8.3): ``E`` event_time, ``u``
    last_update_time, ``B`` balances."""

    event_time: int
    last_update_time: int
    balances: tuple[Balance, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "outboundAccountPosition"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "OutboundAccountPosition":
        items = e.get("B") or ()
        if not isinstance(items, list):
            raise ParseError("outboundAccountPosition B is not an array", path="$.B")
        bal = tuple(Balance(_s(b, "a"), _d(b, "f"), _d(b, "l")) for b in items)
        return cls(_i(e, "E"), _i(e, "u"), bal, e)


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """Deposit, withdrawal or transfer (spot): ``a`` asset, ``d`` delta, ``T`` clear_time."""

    event_time: int
    asset: str
    delta: Decimal
    clear_time: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "balanceUpdate"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "BalanceUpdate":
        return cls(_i(e, "E"), _s(e, "a"), _d(e, "d"), _i(e, "T"), e)


@dataclass(frozen=True, slots=True)
class ExternalLockUpdate:
    """Balance locked/unlocked by an external system (spot): ``a`` asset, ``d`` delta,
    ``T`` transaction_time."""

    event_time: int
    asset: str
    delta: Decimal
    transaction_time: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "externalLockUpdate"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "ExternalLockUpdate":
        return cls(_i(e, "E"), _s(e, "a"), _d(e, "d"), _i(e, "T"), e)


@dataclass(frozen=True, slots=True)
class ListOrder:
    """One order of a ``listStatus``: ``s`` symbol, ``i`` order_id, ``c`` client_order_id."""

    symbol: str
    order_id: int
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ListStatus:
    """An order list changed (spot, SPEC §8.3).

    ``s`` symbol, ``g`` order_list_id, ``c`` contingency_type, ``l`` list_status_type, ``L``
    list_order_status, ``r`` reject_reason, ``C`` list_client_order_id, ``T``
    transaction_time, ``O`` orders.
    """

    event_time: int
    symbol: str
    order_list_id: int
    contingency_type: str
    list_status_type: str
    list_order_status: str
    reject_reason: str
    list_client_order_id: str
    transaction_time: int
    orders: tuple[ListOrder, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "listStatus"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "ListStatus":
        orders = tuple(ListOrder(_s(o, "s"), _i(o, "i"), _s(o, "c")) for o in (e.get("O") or ()))
        return cls(_i(e, "E"), _s(e, "s"), _i(e, "g"), _s(e, "c"), _s(e, "l"), _s(e, "L"),
                   _s(e, "r", "NONE"), _s(e, "C"), _i(e, "T"), orders, e)


@dataclass(frozen=True, slots=True)
class EventStreamTerminated:
    """The subscription ended (unsubscribe, logout, SPEC §8.1). Only ``E``."""

    event_time: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "eventStreamTerminated"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "EventStreamTerminated":
        return cls(_i(e, "E"), e)


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    """A listenKey expired (USD-M, legacy spot): nothing more comes until a new key.

    The key itself is not kept (it is a credential of sorts); ``E`` may arrive as a string."""

    event_time: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "listenKeyExpired"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "ListenKeyExpired":
        return cls(_i(e, "E"), e)


@dataclass(frozen=True, slots=True)
class OrderTradeUpdate:
    """A USD-M order changed (``ORDER_TRADE_UPDATE``, SPEC §8.4); fields from ``o``.

    ``s`` symbol, ``c`` client_order_id, ``S`` side, ``o`` order_type, ``f`` time_in_force,
    ``q`` quantity, ``p`` price, ``ap`` average_price, ``sp`` stop_price, ``x``
    execution_type, ``X`` order_status, ``i`` order_id, ``l`` last_filled_qty, ``z``
    cumulative_filled_qty, ``L`` last_filled_price, ``N`` commission_asset, ``n`` commission,
    ``T`` (in ``o``) trade_time, ``t`` trade_id, ``b`` bids_notional, ``a`` asks_notional,
    ``m`` is_maker, ``R`` reduce_only, ``wt`` working_type, ``ot`` original_order_type, ``ps``
    position_side, ``cp`` close_position, ``rp`` realized_profit, ``V`` STP mode, ``pm``
    price_match, ``gtd`` good_till_date, ``er`` expire_reason. Top level: ``E`` event_time,
    ``T`` transaction_time.
    """

    event_time: int
    transaction_time: int
    symbol: str
    client_order_id: str
    side: str
    order_type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    average_price: Decimal
    stop_price: Decimal
    execution_type: str
    order_status: str
    order_id: int
    last_filled_qty: Decimal
    cumulative_filled_qty: Decimal
    last_filled_price: Decimal
    commission_asset: str | None
    commission: Decimal
    trade_time: int
    trade_id: int
    is_maker: bool
    reduce_only: bool
    working_type: str
    original_order_type: str
    position_side: str
    close_position: bool
    realized_profit: Decimal
    self_trade_prevention_mode: str
    price_match: str
    good_till_date: int
    expire_reason: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "ORDER_TRADE_UPDATE"

    @property
    def is_trade(self) -> bool:
        return self.execution_type == "TRADE"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "OrderTradeUpdate":
        o = e.get("o")
        if not isinstance(o, dict):
            raise ParseError("ORDER_TRADE_UPDATE without an 'o' object", path="$.o")
        N = o.get("N")
        return cls(
            _i(e, "E"), _i(e, "T"), _s(o, "s"), _s(o, "c"), _s(o, "S"), _s(o, "o"), _s(o, "f"),
            _d(o, "q"), _d(o, "p"), _d(o, "ap"), _d(o, "sp"),
            _s(o, "x"), _s(o, "X"), _i(o, "i"),
            _d(o, "l"), _d(o, "z"), _d(o, "L"),
            None if N is None else str(N), _d(o, "n"), _i(o, "T"), _i(o, "t"),
            bool(o.get("m", False)), bool(o.get("R", False)), _s(o, "wt"), _s(o, "ot"),
            _s(o, "ps"), bool(o.get("cp", False)), _d(o, "rp"), _s(o, "V", "NONE"),
            _s(o, "pm", "NONE"), _i(o, "gtd", 0), _s(o, "er", "0"), e,
        )


@dataclass(frozen=True, slots=True)
class FuturesBalance:
    """``a.B[]`` of ACCOUNT_UPDATE: ``a`` asset, ``wb`` wallet_balance, ``cw``
    cross_wallet_balance, ``bc`` balance_change."""

    asset: str
    wallet_balance: Decimal
    cross_wallet_balance: Decimal
    balance_change: Decimal


@dataclass(frozen=True, slots=True)
class FuturesPosition:
    """``a.P[]`` of ACCOUNT_UPDATE: ``s`` symbol, ``pa`` position_amount, ``ep`` entry_price,
    ``bep`` breakeven_price, ``cr`` accumulated_realized, ``up`` unrealized_pnl, ``mt``
    margin_type, ``iw`` isolated_wallet, ``ps`` position_side."""

    symbol: str
    position_amount: Decimal
    entry_price: Decimal
    breakeven_price: Decimal
    accumulated_realized: Decimal
    unrealized_pnl: Decimal
    margin_type: str
    isolated_wallet: Decimal
    position_side: str


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """USD-M balances and positions changed (``ACCOUNT_UPDATE``): ``E`` event_time, ``T``
    transaction_time, ``a.m`` reason, ``a.B`` balances, ``a.P`` positions."""

    event_time: int
    transaction_time: int
    reason: str
    balances: tuple[FuturesBalance, ...]
    positions: tuple[FuturesPosition, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    kind = "ACCOUNT_UPDATE"

    @classmethod
    def from_dict(cls, e: Mapping[str, Any]) -> "AccountUpdate":
        a = e.get("a")
        if not isinstance(a, dict):
            raise ParseError("ACCOUNT_UPDATE without an 'a' object", path="$.a")
        bal = tuple(FuturesBalance(_s(b, "a"), _d(b, "wb"), _d(b, "cw"), _d(b, "bc"))
                    for b in (a.get("B") or ()))
        pos = tuple(FuturesPosition(_s(p, "s"), _d(p, "pa"), _d(p, "ep"), _d(p, "bep"),
                                    _d(p, "cr"), _d(p, "up"), _s(p, "mt"), _d(p, "iw"), _s(p, "ps"))
                    for p in (a.get("P") or ()))
        return cls(_i(e, "E"), _i(e, "T"), _s(a, "m"), bal, pos, e)


UserEvent = Union[ExecutionReport, OutboundAccountPosition, BalanceUpdate, ListStatus,
                  ExternalLockUpdate, EventStreamTerminated, ListenKeyExpired,
                  OrderTradeUpdate, AccountUpdate]

_DECODERS: dict[str, Any] = {
    "executionReport": ExecutionReport.from_dict,
    "outboundAccountPosition": OutboundAccountPosition.from_dict,
    "balanceUpdate": BalanceUpdate.from_dict,
    "listStatus": ListStatus.from_dict,
    "externalLockUpdate": ExternalLockUpdate.from_dict,
    "eventStreamTerminated": EventStreamTerminated.from_dict,
    "listenKeyExpired": ListenKeyExpired.from_dict,
    "ORDER_TRADE_UPDATE": OrderTradeUpdate.from_dict,
    "ACCOUNT_UPDATE": AccountUpdate.from_dict,
}


def decode_user_event(payload: Mapping[str, Any]) -> UserEvent | dict[str, Any]:
    """The typed event for a user-data payload (the object inside ``event``, or a raw
    listenKey-stream frame); unknown kinds (``MARGIN_CALL``, ``TRADE_LITE``...) come back as
    the dict.

    Raises
    ------
    ParseError
        If a known event has a field of the wrong type. Nothing is lost: the payload is in
        the exception.
    """
    if not isinstance(payload, Mapping):
        raise ParseError("a user-data event must be a JSON object")
    kind = payload.get("e")
    dec = _DECODERS.get(kind) if isinstance(kind, str) else None
    if dec is None:
        return dict(payload)
    try:
        return dec(payload)  # type: ignore[no-any-return]
    except ParseError as exc:
        raise ParseError(f"{kind}: {exc.reason}", path=exc.path, payload=_dump(payload)) from None
    except (TypeError, AttributeError) as exc:
        raise ParseError(f"{kind}: malformed payload ({exc})", payload=_dump(payload)) from None


def _dump(payload: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(dict(payload))
    except TypeError:
        return repr(payload).encode()
