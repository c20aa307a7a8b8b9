"""The WebSocket API conversation, sans-I/O: requests by id, responses, events, rate limits.

:class:`ApiProtocol` is the bookkeeping of one WS API connection (SPEC §5), in the manner of
websockets' protocol objects and h11 (STYLE habit 1): the connection layer hands it every text
frame it receives and sends the bytes it is given; nothing here touches a socket or sleeps.

- :meth:`ApiProtocol.request` builds ``{"id", "method", "params"}`` frames with unique ids, many
  in flight at once; :meth:`ApiProtocol.signed_request` signs them first (SPEC §7).
- :meth:`ApiProtocol.receive` classifies a frame (SPEC §5.2, §9): ``"status"`` → an
  :class:`ApiResponse` matched to its request by id; ``"event"`` → an :class:`ApiEvent`
  (user data with ``subscriptionId``, or a connection event such as ``serverShutdown``).
- Error bodies become :mod:`fastws.exceptions` classes (:func:`error_from_body`): 429 →
  ``RateLimitError``, 418 → ``IPBannedError``, 401 / -1002 / -1022 / -2014 / -2015 →
  ``AuthError``, 5xx / -1006 / -1007 → ``OutcomeUnknownError`` (query before any retry).
- :class:`RateLimits` tracks every ``rateLimits`` array (calendar-aligned windows, SPEC §5.3),
  the weight of requests still in flight, ``retryAfter`` and bans, and answers "how long before
  a request of weight *w* / an order may go" so the client waits instead of drawing a 429.
- :func:`request_weight` and :func:`order_count` hold the documented costs of every method in
  SPEC §5.5 (and the USD-M ones of §5.6).

Times are epoch milliseconds, preferably the server's clock (see
:class:`fastws.api.signing.ClockOffset`); the clock is injectable.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, NamedTuple

import orjson

from fastws.api._answers import REQUEST_FIELDS, RESPONSE_FIELDS, RequestIds, account_success, bind_types
from fastws.api._limits import INTERVAL_MS, Window, WindowSet
from fastws.exceptions import (
    ApiError,
    AuthError,
    InvalidUsage,
    IPBannedError,
    OutcomeUnknownError,
    ParseError,
    RateLimitError,
)
from fastws.api.signing import Signer, sign_params

__all__ = [
    "Market",
    "SPOT_REQUEST_WEIGHT_PER_MINUTE",
    "SPOT_ORDERS_PER_10_SECONDS",
    "SPOT_ORDERS_PER_DAY",
    "USDM_REQUEST_WEIGHT_PER_MINUTE",
    "USDM_ORDERS_PER_10_SECONDS",
    "USDM_ORDERS_PER_MINUTE",
    "SPOT_CONNECT_WEIGHT",
    "USDM_CONNECT_WEIGHT",
    "METHOD_WEIGHTS",
    "ORDER_COUNTS",
    "AUTH_ERROR_CODES",
    "OUTCOME_UNKNOWN_CODES",
    "request_weight",
    "order_count",
    "error_from_body",
    "handshake_refusal",
    "RateLimit",
    "RateLimits",
    "ApiRequest",
    "ApiResponse",
    "ApiEvent",
    "ApiProtocol",
]

Market = Literal["spot", "usdm"]

#: Spot ``REQUEST_WEIGHT`` per 1 MINUTE per IP, shared with REST (SPEC §5.3).
SPOT_REQUEST_WEIGHT_PER_MINUTE: Final = 6000
#: Spot ``ORDERS`` (unfilled order count) per 10 SECOND per account (SPEC §5.3).
SPOT_ORDERS_PER_10_SECONDS: Final = 50
#: Spot ``ORDERS`` per 1 DAY per account (SPEC §5.3).
SPOT_ORDERS_PER_DAY: Final = 160000
#: USD-M ``REQUEST_WEIGHT`` per 1 MINUTE, shared with REST (SPEC §5.6).
USDM_REQUEST_WEIGHT_PER_MINUTE: Final = 2400
#: USD-M ``ORDERS`` per 10 SECOND (SPEC §5.6).
USDM_ORDERS_PER_10_SECONDS: Final = 300
#: USD-M ``ORDERS`` per 1 MINUTE (SPEC §5.6).
USDM_ORDERS_PER_MINUTE: Final = 1200
#: Request weight of each spot WS API connection (SPEC §5.1).
SPOT_CONNECT_WEIGHT: Final = 2
#: Request weight of each USD-M WS API handshake (SPEC §5.6).
USDM_CONNECT_WEIGHT: Final = 5
#: Weight assumed for a method not in :data:`METHOD_WEIGHTS`; the server's ``rateLimits``
#: corrects the count when the answer arrives.
UNKNOWN_METHOD_WEIGHT: Final = 1
#: How long to hold back after a 429 that names no ``retryAfter`` and no full window (ms).
DEFAULT_429_BACKOFF_MS: Final = 1000
#: Shortest IP ban (SPEC §5.3: bans grow from 2 minutes to 3 days), used when a 418 names no end.
MIN_BAN_MS: Final = 120_000

#: Fixed request weights of WS API methods (SPEC §5.5, spot). Methods whose weight depends on
#: their params are computed by :func:`request_weight`.
METHOD_WEIGHTS: Final[Mapping[str, int]] = {
    # general
    "ping": 1, "time": 1, "exchangeInfo": 20,
    # market data
    "trades.recent": 25, "trades.historical": 25, "blockTrades.historical": 25,
    "trades.aggregate": 4, "klines": 2, "uiKlines": 2, "avgPrice": 2,
    "referencePrice": 2, "referencePrice.calculation": 2,
    # authentication
    "session.logon": 2, "session.status": 2, "session.logout": 2,
    # trading (weight 0 on success since 2026-04-02; the documented weight is reserved)
    "order.place": 1, "order.test": 1, "order.cancel": 1, "order.cancelReplace": 1,
    "order.amend.keepPriority": 4, "openOrders.cancelAll": 1,
    "orderList.place": 1, "orderList.place.oco": 1, "orderList.place.oto": 1,
    "orderList.place.otoco": 1, "orderList.place.opo": 1, "orderList.place.opoco": 1,
    "orderList.cancel": 1, "sor.order.place": 1, "sor.order.test": 1,
    # account
    "account.status": 20, "order.status": 4, "allOrders": 20, "orderList.status": 4,
    "openOrderLists.status": 6, "allOrderLists": 20, "myTrades": 20,
    "account.rateLimits.orders": 40, "myAllocations": 20, "account.commission": 20,
    "order.amendments": 4, "myFilters": 40,
    # user data stream
    "userDataStream.subscribe": 2, "userDataStream.unsubscribe": 2,
    "session.subscriptions": 2, "userDataStream.subscribe.signature": 2,
    # USD-M only (SPEC §5.6)
    "order.modify": 1, "userDataStream.start": 1, "userDataStream.ping": 1,
    "userDataStream.stop": 1,
}

#: Unfilled-order count each method adds (SPEC §5.5); methods not listed add 0.
ORDER_COUNTS: Final[Mapping[str, int]] = {
    "order.place": 1, "order.cancelReplace": 1, "order.amend.keepPriority": 0,
    "orderList.place": 1, "orderList.place.oco": 2, "orderList.place.oto": 2,
    "orderList.place.otoco": 3, "orderList.place.opo": 2, "orderList.place.opoco": 3,
    "sor.order.place": 1, "order.modify": 1,
}

#: Codes that mean keys, signature or permissions are wrong (SPEC §6).
AUTH_ERROR_CODES: Final = frozenset({-1002, -1022, -2014, -2015})
#: Codes that mean the request may or may not have executed (SPEC §5.1, §6).
OUTCOME_UNKNOWN_CODES: Final = frozenset({-1006, -1007})

#: Methods whose weight depends on their params (:func:`request_weight` computes them).
_PARAM_WEIGHTS: Final = frozenset({
    "depth", "executionRules", "ticker.24hr", "ticker.tradingDay", "ticker", "ticker.price",
    "ticker.book", "openOrders.status", "myTrades", "myPreventedMatches", "order.test",
    "sor.order.test",
})
#: The fixed weights by exact (unprefixed) method name: one dict look-up on the request path.
_FIXED_WEIGHTS: Final[Mapping[str, int]] = {
    m: w for m, w in METHOD_WEIGHTS.items() if m not in _PARAM_WEIGHTS
}

#: The order count of every known (unprefixed) method, 0 included: one dict look-up.
_FIXED_ORDERS: Final[Mapping[str, int]] = {
    m: ORDER_COUNTS.get(m, 0) for m in (*METHOD_WEIGHTS, *ORDER_COUNTS, "depth")
}

_VERSION_PREFIX = re.compile(r"^v\d+/")
_BAN_UNTIL = re.compile(r"banned until (\d{12,})")
_log = logging.getLogger("fastws.api")


_BASE_CACHE: dict[str, str] = {}


def _base_method(method: str) -> str:
    base = _BASE_CACHE.get(method)
    if base is None:
        base = _VERSION_PREFIX.sub("", method)
        if len(_BASE_CACHE) < 1024:    # method names are few; never grow without bound
            _BASE_CACHE[method] = base
    return base


def _count_symbols(params: Mapping[str, object]) -> int | None:
    symbols = params.get("symbols")
    if isinstance(symbols, (list, tuple)):
        return len(symbols)
    if isinstance(symbols, str):  # a JSON array given as text
        try:
            parsed = orjson.loads(symbols)
        except orjson.JSONDecodeError:
            return None
        return len(parsed) if isinstance(parsed, list) else None
    return None


def request_weight(method: str, params: Mapping[str, object] | None = None, market: Market = "spot") -> int:
    """The documented request weight of ``method`` with ``params`` (SPEC §3.3, §5.5).

    Parameters
    ----------
    method : str
        The WS API method, with or without a version prefix (``"v3/order.place"``).
    params : Mapping, optional
        The request params (some weights depend on ``limit``, ``symbol(s)``, ``orderId``...).
    market : {"spot", "usdm"}
        USD-M ``depth`` weighs differently (SPEC §3.3).

    Returns
    -------
    int
        The weight; :data:`UNKNOWN_METHOD_WEIGHT` for a method the table does not know.
    """
    fixed = _FIXED_WEIGHTS.get(method)
    if fixed is not None:  # the common case: a method whose weight takes no params
        return fixed
    p: Mapping[str, object] = params or {}
    m = _base_method(method)
    n = _count_symbols(p)
    has_symbol = "symbol" in p and p["symbol"] is not None
    if m == "depth":
        limit_obj = p.get("limit")
        limit = int(limit_obj) if isinstance(limit_obj, (int, str)) and str(limit_obj).isdigit() else None
        if market == "usdm":
            limit = 500 if limit is None else limit
            return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        limit = 100 if limit is None else limit
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if m == "executionRules":
        if has_symbol:
            return 2
        if n is not None:
            return min(2 * n, 40)
        return 40
    if m == "ticker.24hr":
        if has_symbol:
            return 2
        if n is None:
            return 80
        return 2 if n <= 20 else 40 if n <= 100 else 80
    if m == "ticker.tradingDay":
        count = 1 if has_symbol else (n or 1)
        return 200 if count > 50 else 4 * count
    if m == "ticker":
        count = 1 if has_symbol else (n or 1)
        return 4 * count if count <= 50 else 200
    if m in ("ticker.price", "ticker.book"):
        return 2 if has_symbol else 4
    if m == "openOrders.status":
        return 6 if has_symbol else 80
    if m == "myTrades":
        return 5 if "orderId" in p else 20
    if m == "myPreventedMatches":
        return 20 if "orderId" in p and "preventedMatchId" not in p else 2
    if m in ("order.test", "sor.order.test"):
        return 20 if p.get("computeCommissionRates") is True else 1
    return METHOD_WEIGHTS.get(m, UNKNOWN_METHOD_WEIGHT)


def order_count(method: str, params: Mapping[str, object] | None = None) -> int:
    """How many unfilled orders ``method`` may add to the ``ORDERS`` counters (SPEC §5.5)."""
    n = _FIXED_ORDERS.get(method)
    if n is not None:
        return n
    return ORDER_COUNTS.get(_base_method(method), 0)


def error_from_body(
    status: int | None, code: int, msg: str, data: object = None, *, now_ms: int | None = None
) -> ApiError:
    """Turn a Binance error body into the right :class:`~fastws.exceptions.ApiError` subclass.

    ====================================================  ==========================
    condition (first match wins)                          class
    ====================================================  ==========================
    status 418                                            ``IPBannedError``
    status 429, or code -1015 (too many orders)           ``RateLimitError``
    status 401, or code -1002 / -1022 / -2014 / -2015      ``AuthError``
    status >= 500, or code -1006 / -1007                  ``OutcomeUnknownError``
    anything else (400 filters, 409 partial, 403 WAF...)  ``ApiError``
    ====================================================  ==========================

    For 418/429 the ``retry_after`` (epoch ms) comes from ``data.retryAfter``; a 418 without it
    falls back to the "banned until <ts>" in the message.
    """
    if status == 418:
        retry_after = _retry_after(data, msg)
        return IPBannedError(code, msg, status, data, retry_after=retry_after)
    if status == 429 or code == -1015:
        return RateLimitError(code, msg, status, data, retry_after=_retry_after(data, None))
    if status == 401 or code in AUTH_ERROR_CODES:
        return AuthError(code, msg, status, data)
    if (status is not None and status >= 500) or code in OUTCOME_UNKNOWN_CODES:
        return OutcomeUnknownError(code, msg, status, data)
    return ApiError(code, msg, status, data)


def handshake_refusal(status: int | None, body: bytes | None, retry_after_s: float | None,
                      now_ms: int) -> RateLimitError | None:
    """The rate-limit error a refused WebSocket handshake stands for, or None.

    A handshake answered 418 (IP banned) or 429 (too many requests / connection attempts) is
    not the end of the client: it must wait, then reconnect. The end of the wait comes from the
    JSON body (``data.retryAfter``, or the "banned until <ms>" of the message), else from the
    ``Retry-After`` header (seconds), else a 418 holds :data:`MIN_BAN_MS` and a 429
    :data:`DEFAULT_429_BACKOFF_MS`.
    """
    if status not in (418, 429):
        return None
    code, msg, data = -1003, f"WebSocket handshake refused with HTTP {status}", None
    if body:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            if isinstance(parsed.get("code"), int):
                code = parsed["code"]
            if isinstance(parsed.get("msg"), str):
                msg = parsed["msg"]
            data = parsed.get("data")
    until = _retry_after(data, msg)
    if until is None and retry_after_s is not None and retry_after_s >= 0:
        until = now_ms + int(retry_after_s * 1000)
    if until is None:
        until = now_ms + (MIN_BAN_MS if status == 418 else DEFAULT_429_BACKOFF_MS)
    if status == 418:
        return IPBannedError(code, msg, status, data, retry_after=until)
    return RateLimitError(code, msg, status, data, retry_after=until)


def _retry_after(data: object, msg: str | None) -> int | None:
    if isinstance(data, dict):
        value = data.get("retryAfter")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    if msg:
        match = _BAN_UNTIL.search(msg)
        if match:
            return int(match.group(1))
    return None


# -- rate limits -----------------------------------------------------------------------------

_INTERVAL_MS: Final[Mapping[str, int]] = INTERVAL_MS
_Key = tuple[str, str, int]


@dataclass
class RateLimit:
    """One rate-limit window as last reported (SPEC §5.2 ``rateLimits`` entry).

    Attributes
    ----------
    type : str
        ``REQUEST_WEIGHT``, ``ORDERS`` or ``RAW_REQUESTS``.
    interval : str
        ``SECOND``, ``MINUTE``, ``HOUR`` or ``DAY``.
    interval_num : int
        Window length in ``interval`` units.
    limit : int
        The ceiling.
    count : int
        Usage in the current window: the server's last figure plus what we sent without an
        answer carrying ``rateLimits`` since.
    reset_at : int
        Epoch ms (our clock) from which ``count`` is surely back to 0: the end of the
        calendar-aligned window (:00 for a minute, 00:00 UTC for a day, 00/10/20 s for 10
        seconds) holding the last charge, plus the clock guard. 0 when nothing is counted.
    """

    type: str
    interval: str
    interval_num: int
    limit: int
    count: int = 0
    reset_at: int = 0

    @property
    def length_ms(self) -> int:
        """Window length in ms."""
        return _INTERVAL_MS[self.interval] * self.interval_num

    @property
    def remaining(self) -> int:
        """``limit - count`` (never negative)."""
        return max(0, self.limit - self.count)


class RateLimits:
    """Request-weight and order-count accounting for one IP/account, fed with ``rateLimits``.

    Windows are calendar-aligned (SPEC §5.3). Before the first answer the documented defaults
    of the market are assumed; every ``rateLimits`` array then replaces them with the server's
    figures. Requests in flight are *reserved* (their documented weight and order count are
    added at once) and released when answered, so a burst cannot overshoot while answers are
    on the way.

    Clocks: ``now_ms`` should be the server's clock as best known. ``edge_ms`` bounds the error:
    a count is kept until the window holding it has surely ended on the server, i.e. until
    ``align(now + edge) + length + edge``. A figure reported within ``edge_ms`` of a window
    edge may therefore be held one window longer (the safe side).

    Contract: before sending, ``wait = limits.delay_ms(weight, orders, now)``; if ``wait > 0``
    sleep that long and ask again; then :meth:`reserve`; on the answer :meth:`update` then
    :meth:`release` (as :class:`ApiProtocol` does).

    Parameters
    ----------
    market : {"spot", "usdm"}
        Which documented defaults to start from.
    edge_ms : int
        Bound on the difference between our clock and the server's (default 250).
    """

    def __init__(self, market: Market = "spot", *, edge_ms: int = 250) -> None:
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        if edge_ms < 0:
            raise InvalidUsage("edge_ms must be >= 0")
        self.market: Market = market
        # the per-request counting runs in C (fastws.api._limits.WindowSet); decisions stay here
        self.core = WindowSet(edge_ms)
        self._windows: dict[_Key, Window] = self.core.windows
        self.banned: IPBannedError | None = None
        if market == "spot":
            defaults = [
                ("REQUEST_WEIGHT", "MINUTE", 1, SPOT_REQUEST_WEIGHT_PER_MINUTE),
                ("ORDERS", "SECOND", 10, SPOT_ORDERS_PER_10_SECONDS),
                ("ORDERS", "DAY", 1, SPOT_ORDERS_PER_DAY),
            ]
        else:
            defaults = [
                ("REQUEST_WEIGHT", "MINUTE", 1, USDM_REQUEST_WEIGHT_PER_MINUTE),
                ("ORDERS", "SECOND", 10, USDM_ORDERS_PER_10_SECONDS),
                ("ORDERS", "MINUTE", 1, USDM_ORDERS_PER_MINUTE),
            ]
        for type_, interval, num, limit in defaults:
            self._windows[(type_, interval, num)] = Window(type_, interval, num, limit)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{w.type}/{w.interval_num}{w.interval[0]}={w.count}/{w.limit}" for w in self._windows.values()
        )
        return f"RateLimits({self.market}: {parts})"

    @property
    def edge_ms(self) -> int:
        """Bound on the difference between our clock and the server's (ms)."""
        return self.core.edge_ms

    @edge_ms.setter
    def edge_ms(self, value: int) -> None:
        if value < 0:
            raise InvalidUsage("edge_ms must be >= 0")
        self.core.edge_ms = value

    # windows ------------------------------------------------------------------------------

    def windows(self, now_ms: int) -> list[RateLimit]:
        """The windows as of ``now_ms`` (copies), counts excluding requests in flight."""
        self.core.roll(now_ms)
        return [RateLimit(w.type, w.interval, w.interval_num, w.limit, w.count, w.reset_at)
                for w in self._windows.values()]

    def remaining(self, type_: str, now_ms: int) -> int | None:
        """The smallest room left over the windows of ``type_``, in-flight requests deducted.

        None if no window of that type is known.
        """
        core = self.core
        core.roll(now_ms)
        rooms = [w.limit - w.count - core.pending_of(w.type)
                 for w in self._windows.values() if w.type == type_]
        return max(0, min(rooms)) if rooms else None

    @property
    def in_flight_weight(self) -> int:
        """Weight reserved by requests not answered yet."""
        return self.core.pending_weight

    # decisions ----------------------------------------------------------------------------

    def delay_ms(self, weight: int, orders: int = 0, now_ms: int = 0) -> int:
        """Milliseconds to wait before a request of ``weight`` adding ``orders`` may be sent.

        0 means "send now". Accounts for every known window, the requests in flight and any
        ``retryAfter`` received.

        Raises
        ------
        IPBannedError
            While an IP ban lasts (a copy of the 418 error, with ``retry_after``): never send
            into a ban, not even after sleeping; the caller decides.
        InvalidUsage
            If the request can never fit (weight above a window's whole limit).
        """
        if self.banned is not None:
            if now_ms < self.core.blocked_until:
                ban = self.banned
                raise IPBannedError(ban.code, ban.msg, ban.status, ban.data, retry_after=ban.retry_after)
            self.banned = None
        return self.core.delay(weight, orders, now_ms)

    def reserve(self, weight: int, orders: int = 0) -> None:
        """Count a request as sent (its weight and orders are in flight)."""
        self.core.reserve(weight, orders)

    def release(self, weight: int, orders: int, now_ms: int, *, reported: Iterable[str] = ()) -> None:
        """A request was answered (or abandoned). Its reservation ends; for limit types the
        answer did not report, its cost is added to the local count (``reported`` names the
        ``rateLimitType`` values the answer carried)."""
        self.core.release(weight, orders, now_ms, reported)

    def add(self, weight: int, now_ms: int) -> None:
        """Charge weight spent outside requests (a WS API connect costs 2, 5 on USD-M)."""
        core = self.core
        core.roll(now_ms)
        for w in self._windows.values():
            if w.type == "REQUEST_WEIGHT":
                core.charge(w, weight, now_ms)

    def configure(self, declared: object) -> None:
        """Take the windows an ``exchangeInfo`` result declares (``rateLimits`` without counts).

        For each of ``REQUEST_WEIGHT``, ``ORDERS`` and ``RAW_REQUESTS`` declared, the assumed
        windows of that type are replaced by the declared ones (counts kept where a window
        stays); ``CONNECTIONS`` is left to :class:`fastws.retry.ConnectionBudget`.
        """
        if not isinstance(declared, list):
            return
        wanted: dict[_Key, int] = {}
        for e in declared:
            try:
                type_ = e["rateLimitType"]
                key = (type_, e["interval"], int(e["intervalNum"]))
                limit = int(e["limit"])
                if _INTERVAL_MS[key[1]] * key[2] <= 0:
                    continue
            except (KeyError, TypeError, ValueError):
                continue
            if type_ in ("REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS"):
                wanted[key] = limit
        types = {k[0] for k in wanted}
        for key in [k for k in self._windows if k[0] in types and k not in wanted]:
            del self._windows[key]
        for key, limit in wanted.items():
            w = self._windows.get(key)
            if w is None:
                self._windows[key] = Window(key[0], key[1], key[2], limit)
            else:
                w.limit = limit

    def update(self, entries: object, now_ms: int) -> list[str]:
        """Take the server's figures from a ``rateLimits`` array.

        Unknown windows are added; malformed entries are skipped. Returns the
        ``rateLimitType`` values seen.
        """
        return self.core.update(entries, now_ms)

    def on_error(self, error: ApiError, now_ms: int) -> None:
        """Honour a 429 (hold back until ``retryAfter``, or the end of the full window, or
        :data:`DEFAULT_429_BACKOFF_MS`) or a 418 ban (refuse everything until it lifts)."""
        core = self.core
        if isinstance(error, IPBannedError):
            until = error.retry_after if error.retry_after is not None else now_ms + MIN_BAN_MS
            core.blocked_until = max(core.blocked_until, until)
            self.banned = error
            _log.warning("= IP banned until %s (code %s)", until, error.code)
            return
        if isinstance(error, RateLimitError):
            if error.retry_after is not None:
                until = error.retry_after
            else:
                core.roll(now_ms)
                full = [w.reset_at for w in self._windows.values() if w.count >= w.limit and w.reset_at]
                until = max(full) if full else now_ms + DEFAULT_429_BACKOFF_MS
            core.blocked_until = max(core.blocked_until, until)
            _log.warning("= rate limited (code %s), holding back until %s", error.code, until)

    @property
    def banned_until(self) -> int | None:
        """Epoch ms an IP ban lifts, or None."""
        return self.core.blocked_until if self.banned is not None else None

    @property
    def hold_until(self) -> int:
        """Epoch ms before which nothing may be sent (a ban or a 429's ``retryAfter``); 0 if none."""
        return int(self.core.blocked_until)

    def ban_error(self, now_ms: int) -> IPBannedError | None:
        """A fresh copy of the 418 error while a ban lasts (None once it has lifted)."""
        ban = self.banned
        if ban is None or now_ms >= self.core.blocked_until:
            return None
        return IPBannedError(ban.code, ban.msg, ban.status, ban.data, retry_after=ban.retry_after)


# -- requests, responses, events -------------------------------------------------------------


class ApiRequest(NamedTuple):
    """A request sent (or to send) on the WS API (immutable: a named tuple, cheap to make).

    ``params`` and ``data`` may hold an API key and a signature: they are left out of ``repr``.

    Attributes
    ----------
    id : int
    method : str
    params : Mapping
    data : bytes
        The text frame to send.
    weight : int
        Request weight reserved for it.
    orders : int
        Unfilled orders it may add.
    sent_at : int
        Epoch ms it was built (for timeouts decided by the I/O layer).
    """

    id: int
    method: str
    params: Mapping[str, object]
    data: bytes
    weight: int = 1
    orders: int = 0
    sent_at: int = 0

    def __repr__(self) -> str:
        return (f"ApiRequest(id={self.id!r}, method={self.method!r}, weight={self.weight!r}, "
                f"orders={self.orders!r}, sent_at={self.sent_at!r})")


class ApiResponse(NamedTuple):
    """An answer: ``{"id", "status", "result" | "error", "rateLimits"?}`` (an immutable named tuple).

    A few methods answer status 200 with an error-shaped ``result`` (``referencePrice`` with
    ``{"code": -2043, ...}``, SPEC §5.5 samples); that stays a result for the method's client to
    interpret.

    Attributes
    ----------
    id : object
        The echoed id (None for an unsolicited error such as a revoked key).
    status : int
    result : object
        The ``result`` (None on error).
    error : ApiError or None
        The error as a fastws exception (see :func:`error_from_body`).
    request : ApiRequest or None
        The request it answers; None if unknown (abandoned, or unsolicited).
    rate_limits : tuple of dict
        The raw ``rateLimits`` entries, if any.
    """

    id: object
    status: int
    result: object = None
    error: ApiError | None = None
    request: ApiRequest | None = None
    rate_limits: tuple[Mapping[str, object], ...] = ()

    @property
    def ok(self) -> bool:
        """No error (status 2xx)."""
        return self.error is None

    def unwrap(self) -> object:
        """The result, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.result


# the compiled code builds and reads these tuples by position (named accessors in
# _answers.pxd): a reordered field fails here, at import, not at run time
if ApiRequest._fields != REQUEST_FIELDS or ApiResponse._fields != RESPONSE_FIELDS:  # pragma: no cover
    raise ImportError("ApiRequest / ApiResponse fields changed: update fastws/api/_answers.pxd")
bind_types(ApiRequest)


@dataclass(frozen=True)
class ApiEvent:
    """An event frame: ``{"subscriptionId": n, "event": {...}}`` or ``{"event": {...}}``.

    Attributes
    ----------
    subscription_id : int or None
        None for connection events (``serverShutdown``).
    event : dict
        The payload (``e`` names its kind).
    """

    subscription_id: int | None
    event: Mapping[str, object]

    @property
    def kind(self) -> str | None:
        """The ``e`` field (``executionReport``, ``serverShutdown``...)."""
        e = self.event.get("e")
        return e if isinstance(e, str) else None

    @property
    def is_server_shutdown(self) -> bool:
        """The server will disconnect soon: open a new connection now (SPEC §5.1)."""
        return self.kind == "serverShutdown"


def _json_default(obj: object) -> object:
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise TypeError(f"cannot send a non-finite Decimal ({obj})")
        return format(obj, "f")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot send a {type(obj).__name__}")


def _now_ms() -> int:
    return int(time.time() * 1000)


_tuple_new = tuple.__new__  # ApiRequest(...) without the Python-level __new__ of NamedTuple

#: ``,"method":"<name>"}`` per method: frames without params are built from a template.
_TAILS: dict[str, bytes] = {}


class ApiProtocol:
    """The bookkeeping of one WS API connection, sans-I/O.

    Contract for the I/O layer::

        api = ApiProtocol("spot", limits=shared_limits)   # one RateLimits per IP/account
        wait = api.delay_ms("depth", {"symbol": "BTCUSDT", "limit": 1000})
        # sleep wait ms (IPBannedError: do not send at all), then:
        req = api.request("depth", {"symbol": "BTCUSDT", "limit": 1000})
        ws.send_text(req.data)
        ...
        msg = api.receive(frame)       # ApiResponse (msg.request is req) or ApiEvent
        ...
        api.abandon(req.id)            # a timeout decided by the I/O layer
        api.connection_lost()          # every request in flight is abandoned and returned

    Responses are matched by id; the rate-limit figures of every response feed
    :attr:`limits`; 429 and 418 answers hold back or block further requests.

    Parameters
    ----------
    market : {"spot", "usdm"}
    limits : RateLimits, optional
        Shared accounting (a private one if omitted).
    clock : callable, optional
        Returns epoch ms; defaults to the local wall clock. Pass a server-corrected clock
        (``lambda: offset.server_time(time.time() * 1000)``) for exact window edges.
    first_id : int
        First request id; ids then increase by one and are never reused by this object.
    logger : logging.Logger, optional
        Defaults to ``fastws.api``.
    """

    #: what :meth:`receive` returns for an answer (read by :mod:`fastws.api._answers`)
    response_type = ApiResponse

    def __init__(
        self,
        market: Market = "spot",
        *,
        limits: RateLimits | None = None,
        clock: Callable[[], int] = _now_ms,
        first_id: int = 1,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        self.market: Market = market
        self.limits = limits if limits is not None else RateLimits(market)
        self.clock = clock
        #: the request ids (``next_id`` reads and sets its figure; the compiled request paths
        #: take their ids from it in C)
        self.ids = RequestIds(first_id)
        self.pending: dict[int, ApiRequest] = {}
        self.log = logger or _log
        self.debug = self.log.isEnabledFor(logging.DEBUG)

    def __repr__(self) -> str:
        return f"ApiProtocol({self.market}, in_flight={len(self.pending)})"

    @property
    def next_id(self) -> int:
        """The id the next request gets."""
        return self.ids.next_id

    @next_id.setter
    def next_id(self, value: int) -> None:
        self.ids.next_id = value

    @property
    def in_flight(self) -> tuple[ApiRequest, ...]:
        """Requests not answered yet, oldest first."""
        return tuple(self.pending.values())

    # sending ------------------------------------------------------------------------------

    def delay_ms(
        self, method: str, params: Mapping[str, object] | None = None, *,
        weight: int | None = None, now_ms: int | None = None,
    ) -> int:
        """Milliseconds to wait before ``method`` may be sent without risking a 429.

        Raises :class:`~fastws.exceptions.IPBannedError` during a ban (see
        :meth:`RateLimits.delay_ms`).
        """
        w = request_weight(method, params, self.market) if weight is None else weight
        now = self.clock() if now_ms is None else now_ms
        return self.limits.delay_ms(w, order_count(method, params), now)

    def request(
        self, method: str, params: Mapping[str, object] | None = None, *,
        weight: int | None = None, now_ms: int | None = None, orders: int | None = None,
    ) -> ApiRequest:
        """Build a request frame with a fresh id and mark it in flight (weight reserved).

        Parameters
        ----------
        method : str
            The WS API method (``"order.place"``, ``"v3/depth"``...).
        params : Mapping, optional
            Params; left out of the frame when empty. ``Decimal`` values are sent as strings
            in plain notation, ``None`` values are dropped.
        weight : int, optional
            Override the documented weight (:func:`request_weight`).
        orders : int, optional
            Override the documented order count (:func:`order_count`).

        Raises
        ------
        InvalidUsage
            For an empty method or params that cannot be encoded.
        """
        if method.__class__ is not str and not isinstance(method, str) or not method:
            raise InvalidUsage(f"method must be a non-empty str, got {method!r}")
        id_ = self.ids.take()
        clean: dict[str, object] = {k: v for k, v in params.items() if v is not None} if params else {}
        if clean:
            try:
                data = orjson.dumps({"id": id_, "method": method, "params": clean}, default=_json_default)
            except TypeError as exc:
                raise InvalidUsage(f"{method}: params cannot be sent as JSON ({exc})") from None
        else:
            tail = _TAILS.get(method)
            if tail is None:
                tail = b',"method":' + orjson.dumps(method) + b"}"
                if len(_TAILS) < 1024:    # method names are few; never grow without bound
                    _TAILS[method] = tail
            data = b'{"id":%d%b' % (id_, tail)
        w = request_weight(method, clean, self.market) if weight is None else weight
        n_orders = order_count(method, clean) if orders is None else orders
        now = self.clock() if now_ms is None else now_ms
        req = _tuple_new(ApiRequest, (id_, method, clean, data, w, n_orders, now))
        self.pending[id_] = req
        self.limits.core.reserve(w, n_orders)
        if self.debug:
            self.log.debug("> %s id=%d weight=%d", method, id_, w)
        return req

    def signed_request(
        self, method: str, params: Mapping[str, object] | None, signer: Signer,
        api_key: str | None, *, timestamp: int, recv_window: int | Decimal | str | None = None,
        weight: int | None = None, now_ms: int | None = None,
    ) -> ApiRequest:
        """:meth:`request` with params signed per SPEC §7.2 (see :func:`fastws.api.signing.sign_params`)."""
        signed = sign_params(params or {}, signer, api_key, timestamp=timestamp, recv_window=recv_window)
        return self.request(method, signed, weight=weight, now_ms=now_ms)

    def overdue(self, timeout_ms: int, *, now_ms: int | None = None) -> list[ApiRequest]:
        """Requests in flight for longer than ``timeout_ms`` (oldest first); the I/O layer
        decides what to do with them (usually :meth:`abandon`, and for orders: query them)."""
        now = self.clock() if now_ms is None else now_ms
        return [r for r in self.pending.values() if now - r.sent_at > timeout_ms]

    def abandon(self, request_id: int, *, now_ms: int | None = None) -> ApiRequest | None:
        """Stop waiting for a request (timed out). A late answer is then ignored (its
        ``rateLimits`` still count). Its weight stays charged: the server may have counted it."""
        req = self.pending.pop(request_id, None)
        if req is not None:
            now = self.clock() if now_ms is None else now_ms
            self.limits.release(req.weight, req.orders, now)
        return req

    def connection_lost(self, *, now_ms: int | None = None) -> list[ApiRequest]:
        """The connection is gone: every request in flight is abandoned and returned.

        Orders among them have an unknown outcome: query them before any retry.
        """
        dropped = list(self.pending.values())
        for req in dropped:
            self.abandon(req.id, now_ms=now_ms)
        return dropped

    # receiving ----------------------------------------------------------------------------

    def receive(self, frame: object, *, now_ms: int | None = None) -> ApiResponse | ApiEvent:
        """Classify and account one received frame (bytes/str JSON or an already-decoded dict).

        Returns
        -------
        ApiResponse or ApiEvent

        Raises
        ------
        ParseError
            If the frame is not JSON, or neither a response nor an event. Nothing is lost: the
            state is unchanged.
        """
        msg: object = frame
        if frame.__class__ is bytes or isinstance(frame, (bytes, bytearray, memoryview, str)):
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                raise ParseError(f"WS API frame is not JSON: {exc}", payload=frame) from None
        if msg.__class__ is not dict and not isinstance(msg, dict):
            raise ParseError("WS API frame is not a JSON object", payload=_dump(msg))
        assert isinstance(msg, dict)
        now = self.clock() if now_ms is None else now_ms
        if "status" in msg:
            return self._response(msg, now)
        if "event" in msg:
            event = msg["event"]
            sub = msg.get("subscriptionId")
            if not isinstance(event, dict) or (sub is not None and not isinstance(sub, int)):
                raise ParseError("malformed WS API event frame", payload=_dump(msg))
            return ApiEvent(sub, event)
        raise ParseError("WS API frame is neither a response nor an event", payload=_dump(msg))

    def _response(self, msg: dict[str, object], now: int) -> ApiResponse:
        status = msg["status"]
        if not isinstance(status, int):
            raise ParseError("WS API response with a non-integer status", payload=_dump(msg))
        id_ = msg.get("id")
        body = msg.get("error")
        if status < 300 and body is None:  # the common case: a result (accounted in C)
            if self.debug:
                self.log.debug("< id=%r status=%d%s", id_, status,
                                "" if id_ in self.pending else " (no request in flight)")
            return account_success(self, msg, id_, status, now)  # type: ignore[no-any-return]
        req = self.pending.pop(id_, None) if isinstance(id_, int) else None
        raw_limits = msg.get("rateLimits")
        limits = self.limits
        core = limits.core
        if raw_limits is not None:
            reported: list[str] = core.update(raw_limits, now)
            entries: tuple[Mapping[str, object], ...] = tuple(
                [e for e in raw_limits if isinstance(e, dict)]
            ) if isinstance(raw_limits, list) else ()
        else:
            reported = []
            entries = ()
        if req is not None:
            core.release(req.weight, req.orders, now, reported)
        if isinstance(body, dict) and isinstance(body.get("code"), int):
            error = error_from_body(status, int(body["code"]), str(body.get("msg", "")), body.get("data"))
        else:
            error = error_from_body(status, 0, f"status {status} without an error body", None)
        limits.on_error(error, now)
        if req is None and id_ is None:
            self.log.warning("< unsolicited error %s", error)
        if self.debug:
            self.log.debug("< id=%r status=%d%s", id_, status, "" if req else " (no request in flight)")
        return ApiResponse(id_, status, msg.get("result"), error, req, entries)


def _dump(obj: object) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return repr(obj).encode()
