"""Stream names, subscriptions and control messages: the market-stream procedures, with no I/O.

What lives here (DESIGN.md layer "procedures"; STYLE habit 1):

- **Names** (SPEC §2.5, §4.3): :func:`parse_stream` validates a stream name for a market and
  returns a :class:`StreamInfo` (canonical name, symbol, event kind, USD-M route, update speed);
  helpers such as :func:`depth`, :func:`kline` and :func:`book_ticker` build names.
- **Routing** (SPEC §4.1): :func:`usdm_route` says which USD-M endpoint (``/public``,
  ``/market``, ``/private``) serves a stream.
- **Subscriptions** (SPEC §2.3): :class:`SubscriptionManager` keeps, per connection, the streams
  the user wants and the ones the server confirmed, builds ``SUBSCRIBE`` / ``UNSUBSCRIBE`` /
  ``LIST_SUBSCRIPTIONS`` frames with ids, matches responses and control errors by id, plans the
  resubscription after a reconnect and checks a listing against the wanted set.
- **Pacing** (SPEC §2.2, §4.2): :class:`ControlPacer` keeps our own control messages *and pongs*
  under 5/s (spot) or 10/s (USD-M) per connection.
- **Sharding** (SPEC §2.2, §4.2): :class:`ShardPlanner` spreads streams over connections of at
  most 1024 streams, stable when streams come and go, never mixing USD-M routes.

Limits are the named constants below, each with its SPEC source. (``fastws.venues`` holds the
venue-wide copies; these are the ones the procedures use.)
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

import orjson

from fastws.events import EventType
from fastws.exceptions import InvalidUsage, ParseError
from fastws.venues import Route, usdm_route  # one routing rule for client, venues and simulator

__all__ = [
    "Market",
    "Route",
    "MAX_STREAMS_PER_CONNECTION",
    "SPOT_CONTROL_MESSAGES_PER_SECOND",
    "USDM_CONTROL_MESSAGES_PER_SECOND",
    "WS_API_CONTROL_MESSAGES_PER_SECOND",
    "SPOT_KLINE_INTERVALS",
    "USDM_KLINE_INTERVALS",
    "CONTINUOUS_KLINE_INTERVALS",
    "TICKER_WINDOWS",
    "DEPTH_LEVELS",
    "CONTRACT_TYPES",
    "CONTROL_ERROR_CODES",
    "StreamInfo",
    "parse_stream",
    "canonical_stream",
    "usdm_route",
    "trade",
    "agg_trade",
    "block_trade",
    "kline",
    "continuous_kline",
    "mini_ticker",
    "ticker",
    "book_ticker",
    "avg_price",
    "reference_price",
    "depth",
    "mark_price",
    "force_order",
    "all_mini_tickers",
    "all_tickers",
    "all_book_tickers",
    "all_mark_prices",
    "ControlRequest",
    "ControlOutcome",
    "ListingCheck",
    "SubscriptionManager",
    "ControlPacer",
    "ShardPlanner",
    "ShardChange",
]

Market = Literal["spot", "usdm"]

#: Streams one connection may carry, spot and USD-M (SPEC §2.2, §4.2).
MAX_STREAMS_PER_CONNECTION: Final = 1024
#: Incoming messages (PING, PONG, JSON control) per second a spot connection may send (SPEC §2.2).
SPOT_CONTROL_MESSAGES_PER_SECOND: Final = 5
#: The same limit on a USD-M stream connection (SPEC §4.2).
USDM_CONTROL_MESSAGES_PER_SECOND: Final = 10
#: Ping/pong/control frames per second on a WS API connection, spot and USD-M (SPEC §2.2, §5.6).
WS_API_CONTROL_MESSAGES_PER_SECOND: Final = 5
#: Kline intervals of spot ``<symbol>@kline_<interval>``; case-sensitive (SPEC §2.5).
SPOT_KLINE_INTERVALS: Final = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)
#: USD-M ``@kline_<interval>``: as spot without ``1s`` (SPEC §4.3).
USDM_KLINE_INTERVALS: Final = SPOT_KLINE_INTERVALS[1:]
#: USD-M ``@continuousKline_<interval>``: includes ``1s`` (SPEC §4.3).
CONTINUOUS_KLINE_INTERVALS: Final = SPOT_KLINE_INTERVALS
#: Windows of spot ``<symbol>@ticker_<window>`` and ``!ticker_<window>@arr`` (SPEC §2.5).
TICKER_WINDOWS: Final = ("1h", "4h", "1d")
#: Levels of partial-depth streams ``<symbol>@depth<levels>`` (SPEC §2.5, §4.3).
DEPTH_LEVELS: Final = (5, 10, 20)
#: Contract types of USD-M continuous klines (SPEC §4.3).
CONTRACT_TYPES: Final = ("perpetual", "current_quarter", "next_quarter")
#: Stream control error codes and what they mean (SPEC §2.3).
CONTROL_ERROR_CODES: Final[Mapping[int, str]] = {
    0: "unknown property",
    1: "invalid value type (expected boolean)",
    2: "invalid request",
    3: "invalid JSON",
}

#: Depth speed suffixes and the resulting update period in ms, per market (SPEC §2.5, §4.3).
_DEPTH_SPEEDS: Final[Mapping[str, Mapping[str | None, int]]] = {
    "spot": {None: 1000, "100ms": 100},
    "usdm": {None: 250, "500ms": 500, "100ms": 100},
}
_MAX_ID_STR_LEN: Final = 36
_DEFAULT_CHUNK: Final = 200

_log = logging.getLogger("fastws.streams")


# -- names -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamInfo:
    """What a stream name means.

    Attributes
    ----------
    name : str
        The canonical name (symbol lowercased), exactly what to put in ``SUBSCRIBE``.
    market : {"spot", "usdm"}
    kind : EventType
        The event kind its frames decode to (for ``!...@arr`` streams, the kind of each item).
        Streams the parser does not type (``compositeIndex``, ``!contractInfo``,
        ``!assetIndex@arr``) give ``EventType.UNKNOWN``.
    symbol : str or None
        The symbol in upper case as Binance sends it in payloads (``"BTCUSDT"``); for a
        continuous kline the pair; None for all-market ``!`` streams.
    is_array : bool
        Frames are JSON arrays (``!miniTicker@arr`` ...).
    subscribable : bool
        False for ``!serverShutdown``, which the server sends by itself.
    update_ms : int or None
        Nominal update period in ms; None for real-time streams (trades, bookTicker), which may
        stay silent for long when nothing happens.
    interval : str or None
        Kline interval, ticker window or depth speed suffix, if the name has one.
    levels : int or None
        Partial-depth levels (5, 10, 20).
    """

    name: str
    market: Market
    kind: EventType
    symbol: str | None
    is_array: bool = False
    subscribable: bool = True
    update_ms: int | None = None
    interval: str | None = None
    levels: int | None = None

    @property
    def route(self) -> Route:
        """The USD-M endpoint serving this stream (SPEC §4.1); see :func:`usdm_route`."""
        return usdm_route(self.name)


def _bad(name: str, market: str, why: str) -> InvalidUsage:
    return InvalidUsage(f"invalid {market} stream name {name!r}: {why}")


def _check_symbol(name: str, market: str, symbol: str) -> str:
    if not symbol:
        raise _bad(name, market, "empty symbol")
    if any(c.isspace() or c in "/!@?&#\"'" for c in symbol):
        raise _bad(name, market, "the symbol holds a character streams cannot carry")
    return symbol.lower()


# Fixed-rate ! streams: name -> (kind, markets, is_array, update_ms)
_ALL_MARKET: Final[Mapping[str, tuple[EventType, tuple[str, ...], bool, int | None]]] = {
    "!miniTicker@arr": (EventType.MINI_TICKER, ("spot", "usdm"), True, 1000),
    "!ticker@arr": (EventType.TICKER, ("usdm",), True, 1000),
    "!bookTicker": (EventType.BOOK_TICKER, ("usdm",), False, 5000),
    "!markPrice@arr": (EventType.MARK_PRICE, ("usdm",), True, 3000),
    "!markPrice@arr@1s": (EventType.MARK_PRICE, ("usdm",), True, 1000),
    "!forceOrder@arr": (EventType.FORCE_ORDER, ("usdm",), True, None),
    "!contractInfo": (EventType.UNKNOWN, ("usdm",), False, None),
    "!assetIndex@arr": (EventType.UNKNOWN, ("usdm",), True, 1000),
}


def parse_stream(name: str, market: Market = "spot", *, _probe: bool = False) -> StreamInfo:
    """Validate a stream name for ``market`` and say what it carries.

    The symbol part may come in any case (it is lowercased in :attr:`StreamInfo.name`); the
    rest is case-sensitive, as Binance has it (``aggTrade``, ``kline_1M`` vs ``kline_1m``).

    Parameters
    ----------
    name : str
        A stream name: ``btcusdt@depth@100ms``, ``ethusdt@kline_1m``, ``!miniTicker@arr``...
    market : {"spot", "usdm"}
        The market whose catalogue applies (SPEC §2.5 for spot, §4.3 for USD-M).

    Returns
    -------
    StreamInfo

    Raises
    ------
    InvalidUsage
        If the name is not in the market's catalogue, with the reason (unknown kind, bad
        interval, retired stream, stream of the other market...).
    """
    if market not in ("spot", "usdm"):
        raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
    if not isinstance(name, str) or not name:
        raise InvalidUsage(f"a stream name must be a non-empty str, got {name!r}")
    if name == "!serverShutdown":
        return StreamInfo(name, market, EventType.SERVER_SHUTDOWN, None, subscribable=False)
    if name.startswith("!"):
        return _parse_all_market(name, market)
    parts = name.split("@")
    if len(parts) < 2:
        raise _bad(name, market, "expected <symbol>@<kind>")
    raw_symbol, kind, suffix = parts[0], parts[1], parts[2:]
    symbol = _check_symbol(name, market, raw_symbol)
    upper = raw_symbol.upper()
    spot, usdm = market == "spot", market == "usdm"

    def info(
        kind_: EventType, update_ms: int | None = None, *, interval: str | None = None,
        levels: int | None = None, sym: str | None = upper,
    ) -> StreamInfo:
        canonical = "@".join([symbol, kind, *suffix])
        return StreamInfo(canonical, market, kind_, sym, False, True, update_ms, interval, levels)

    def no_suffix() -> None:
        if suffix:
            raise _bad(name, market, f"'{kind}' takes no '@{'@'.join(suffix)}' suffix")

    if kind == "trade" and spot:
        no_suffix()
        return info(EventType.TRADE)
    if kind == "aggTrade":
        no_suffix()
        return info(EventType.AGG_TRADE, None if spot else 100)
    if kind == "blockTrade" and spot:
        no_suffix()
        return info(EventType.BLOCK_TRADE)
    if kind.startswith("kline_"):
        interval = kind[len("kline_"):]
        allowed = SPOT_KLINE_INTERVALS if spot else USDM_KLINE_INTERVALS
        if interval not in allowed:
            raise _bad(name, market, f"kline interval must be one of {', '.join(allowed)}")
        if suffix and not (spot and suffix == ["+08:00"]):
            raise _bad(name, market, "the only kline suffix is '@+08:00' (spot)")
        period = 250 if usdm else (1000 if interval == "1s" else 2000)
        return info(EventType.KLINE, period, interval=interval)
    if kind.startswith("continuousKline_") and usdm:
        no_suffix()
        interval = kind[len("continuousKline_"):]
        if interval not in CONTINUOUS_KLINE_INTERVALS:
            raise _bad(name, market, f"interval must be one of {', '.join(CONTINUOUS_KLINE_INTERVALS)}")
        pair, sep, contract = symbol.rpartition("_")
        if not sep or not pair or contract not in CONTRACT_TYPES:
            raise _bad(name, market, f"expected <pair>_<{'|'.join(CONTRACT_TYPES)}>@continuousKline_<interval>")
        return info(EventType.CONTINUOUS_KLINE, 250, interval=interval, sym=pair.upper())
    if kind == "miniTicker":
        no_suffix()
        return info(EventType.MINI_TICKER, 1000 if spot else 2000)
    if kind == "ticker":
        no_suffix()
        return info(EventType.TICKER, 1000 if spot else 2000)
    if kind.startswith("ticker_") and spot:
        no_suffix()
        window = kind[len("ticker_"):]
        if window not in TICKER_WINDOWS:
            raise _bad(name, market, f"ticker window must be one of {', '.join(TICKER_WINDOWS)}")
        return info(EventType.WINDOW_TICKER, 1000, interval=window)
    if kind == "bookTicker":
        no_suffix()
        return info(EventType.BOOK_TICKER)
    if kind == "avgPrice" and spot:
        no_suffix()
        return info(EventType.AVG_PRICE, 1000)
    if kind == "referencePrice" and spot:
        no_suffix()
        return info(EventType.REFERENCE_PRICE, 1000)
    if kind.startswith("depth"):
        digits = kind[len("depth"):]
        levels: int | None = None
        if digits:
            if not digits.isdigit() or int(digits) not in DEPTH_LEVELS:
                raise _bad(name, market, f"depth levels must be one of {DEPTH_LEVELS}")
            levels = int(digits)
        speeds = _DEPTH_SPEEDS[market]
        if len(suffix) > 1 or (suffix and suffix[0] not in speeds):
            allowed_speeds = [s for s in speeds if s]
            raise _bad(name, market, f"depth speed suffix must be one of {allowed_speeds} or none")
        speed = suffix[0] if suffix else None
        # Spot partial depth is its own snapshot shape; USD-M partial depth is a depthUpdate.
        kind_ = EventType.PARTIAL_DEPTH if levels is not None and spot else EventType.DEPTH_UPDATE
        return info(kind_, speeds[speed], interval=speed, levels=levels)
    if kind == "markPrice" and usdm:
        if suffix not in ([], ["1s"]):
            raise _bad(name, market, "markPrice takes no suffix or '@1s'")
        return info(EventType.MARK_PRICE, 1000 if suffix else 3000, interval=suffix[0] if suffix else None)
    if kind == "forceOrder" and usdm:
        no_suffix()
        return info(EventType.FORCE_ORDER)
    if kind in ("compositeIndex", "assetIndex") and usdm:
        no_suffix()
        return info(EventType.UNKNOWN, 1000)
    other: Market = "usdm" if spot else "spot"
    if _probe:
        raise _bad(name, market, f"unknown stream kind '{kind}'")
    try:
        parse_stream(name, other, _probe=True)
    except InvalidUsage:
        raise _bad(name, market, f"unknown stream kind '{kind}'") from None
    raise _bad(name, market, f"'{kind}' is a {other} stream, not a {market} one")


def _parse_all_market(name: str, market: Market) -> StreamInfo:
    if name == "!ticker@arr" and market == "spot":
        raise _bad(name, market, "retired on spot on 2026-03-26; use <symbol>@ticker or !miniTicker@arr")
    if name.startswith("!ticker_") and name.endswith("@arr") and market == "spot":
        window = name[len("!ticker_"):-len("@arr")]
        if window not in TICKER_WINDOWS:
            raise _bad(name, market, f"ticker window must be one of {', '.join(TICKER_WINDOWS)}")
        return StreamInfo(name, market, EventType.WINDOW_TICKER, None, True, True, 1000, window)
    if name == "!bookTicker" and market == "spot":
        raise _bad(name, market, "removed from spot in 2022; subscribe <symbol>@bookTicker")
    entry = _ALL_MARKET.get(name)
    if entry is None:
        raise _bad(name, market, "unknown all-market stream")
    kind, markets, is_array, update_ms = entry
    if market not in markets:
        raise _bad(name, market, f"only on {'/'.join(markets)}")
    return StreamInfo(name, market, kind, None, is_array, True, update_ms)


def canonical_stream(name: str, market: Market = "spot") -> str:
    """The validated, canonical form of ``name`` (symbol lowercased). Raises InvalidUsage."""
    return parse_stream(name, market).name


def _sym(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol:
        raise InvalidUsage(f"symbol must be a non-empty str, got {symbol!r}")
    return symbol.lower()


def trade(symbol: str) -> str:
    """``<symbol>@trade`` (spot raw trades)."""
    return f"{_sym(symbol)}@trade"


def agg_trade(symbol: str) -> str:
    """``<symbol>@aggTrade``."""
    return f"{_sym(symbol)}@aggTrade"


def block_trade(symbol: str) -> str:
    """``<symbol>@blockTrade`` (spot, since 2026-05)."""
    return f"{_sym(symbol)}@blockTrade"


def kline(symbol: str, interval: str, *, utc8: bool = False, market: Market = "spot") -> str:
    """``<symbol>@kline_<interval>``, or with ``@+08:00`` for UTC+8 alignment (spot)."""
    name = f"{_sym(symbol)}@kline_{interval}" + ("@+08:00" if utc8 else "")
    return parse_stream(name, market).name


def continuous_kline(pair: str, contract_type: str, interval: str) -> str:
    """``<pair>_<contractType>@continuousKline_<interval>`` (USD-M)."""
    return parse_stream(f"{_sym(pair)}_{contract_type}@continuousKline_{interval}", "usdm").name


def mini_ticker(symbol: str) -> str:
    """``<symbol>@miniTicker``."""
    return f"{_sym(symbol)}@miniTicker"


def ticker(symbol: str, window: str | None = None) -> str:
    """``<symbol>@ticker`` (24 h) or ``<symbol>@ticker_<window>`` (spot, 1h/4h/1d)."""
    if window is None:
        return f"{_sym(symbol)}@ticker"
    return parse_stream(f"{_sym(symbol)}@ticker_{window}", "spot").name


def book_ticker(symbol: str) -> str:
    """``<symbol>@bookTicker``."""
    return f"{_sym(symbol)}@bookTicker"


def avg_price(symbol: str) -> str:
    """``<symbol>@avgPrice`` (spot)."""
    return f"{_sym(symbol)}@avgPrice"


def reference_price(symbol: str) -> str:
    """``<symbol>@referencePrice`` (spot, since 2026-03)."""
    return f"{_sym(symbol)}@referencePrice"


def depth(
    symbol: str, levels: int | None = None, speed: str | None = None, *, market: Market = "spot"
) -> str:
    """A depth stream: diff (``levels=None``) or partial (5/10/20), at a speed suffix.

    ``speed`` is ``"100ms"`` (spot and USD-M), ``"500ms"`` (USD-M) or None for the default.
    """
    name = f"{_sym(symbol)}@depth{levels if levels is not None else ''}" + (f"@{speed}" if speed else "")
    return parse_stream(name, market).name


def mark_price(symbol: str, every_second: bool = False) -> str:
    """``<symbol>@markPrice`` (3 s) or ``<symbol>@markPrice@1s`` (USD-M)."""
    return f"{_sym(symbol)}@markPrice" + ("@1s" if every_second else "")


def force_order(symbol: str | None = None) -> str:
    """``<symbol>@forceOrder``, or ``!forceOrder@arr`` for all symbols (USD-M)."""
    return "!forceOrder@arr" if symbol is None else f"{_sym(symbol)}@forceOrder"


def all_mini_tickers() -> str:
    """``!miniTicker@arr`` (spot and USD-M)."""
    return "!miniTicker@arr"


def all_tickers(window: str | None = None, *, market: Market = "spot") -> str:
    """``!ticker_<window>@arr`` (spot) or ``!ticker@arr`` (USD-M; retired on spot)."""
    return parse_stream("!ticker@arr" if window is None else f"!ticker_{window}@arr", market).name


def all_book_tickers() -> str:
    """``!bookTicker`` (USD-M only)."""
    return "!bookTicker"


def all_mark_prices(every_second: bool = False) -> str:
    """``!markPrice@arr`` or ``!markPrice@arr@1s`` (USD-M)."""
    return "!markPrice@arr" + ("@1s" if every_second else "")


# -- control messages and the subscription manager -------------------------------------------


ControlMethod = Literal["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY"]


@dataclass(frozen=True)
class ControlRequest:
    """One control message to send.

    Attributes
    ----------
    id : int
        The request id (unsigned, unique on its connection while in flight).
    method : str
        ``SUBSCRIBE``, ``UNSUBSCRIBE``, ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY`` or ``GET_PROPERTY``.
    params : tuple
        Stream names, or property name and value.
    data : bytes
        The frame to send as a TEXT frame (orjson-encoded).
    """

    id: int
    method: ControlMethod
    params: tuple[object, ...]
    data: bytes = field(repr=False)


def _encode(id_: int, method: str, params: tuple[object, ...]) -> bytes:
    if method == "LIST_SUBSCRIPTIONS":
        return orjson.dumps({"method": method, "id": id_})
    return orjson.dumps({"method": method, "params": list(params), "id": id_})


@dataclass(frozen=True)
class ListingCheck:
    """A ``LIST_SUBSCRIPTIONS`` result compared with the wanted set.

    Attributes
    ----------
    missing : frozenset[str]
        Wanted but not listed by the server: they will be subscribed again.
    unexpected : frozenset[str]
        Listed but not wanted: they will be unsubscribed.
    """

    missing: frozenset[str]
    unexpected: frozenset[str]

    @property
    def ok(self) -> bool:
        """True when the server holds exactly the wanted streams."""
        return not self.missing and not self.unexpected


@dataclass(frozen=True)
class ControlOutcome:
    """What a control response or error meant.

    Attributes
    ----------
    request : ControlRequest or None
        The request it answers; None if it matched nothing in flight (late answer to an
        abandoned request, or a stray frame).
    ok : bool
        True for a ``{"result": ..., "id": ...}`` answer.
    result : object
        The ``result`` (a list of names for ``LIST_SUBSCRIPTIONS``, a value for
        ``GET_PROPERTY``, None otherwise).
    error_code : int or None
        The control error code (SPEC §2.3: 0-3).
    error_msg : str or None
        The error text.
    listing : ListingCheck or None
        For a ``LIST_SUBSCRIPTIONS`` answer: how it compares with the wanted set.
    unanswered : tuple of ControlRequest
        For a ``LIST_SUBSCRIPTIONS`` answer: requests sent before it that got no answer with
        their id (the server answers in order, so none will come); the listing says what
        they did.
    refused : dict
        For a ``LIST_SUBSCRIPTIONS`` answer: streams of such an unanswered ``SUBSCRIBE`` that
        the listing does not hold while the server sent an error without id after the
        request: stream -> (code, msg). They leave :attr:`SubscriptionManager.desired`.
    """

    request: ControlRequest | None
    ok: bool
    result: object = None
    error_code: int | None = None
    error_msg: str | None = None
    listing: ListingCheck | None = None
    unanswered: tuple[ControlRequest, ...] = ()
    refused: Mapping[str, tuple[int, str]] = field(default_factory=dict)


class SubscriptionManager:
    """The streams of one connection: wanted versus confirmed, and the control messages between.

    Sans-I/O (like websockets' protocol objects): the connection feeds it the control frames it
    receives and sends the frames it returns, paced by a :class:`ControlPacer`.

    Contract::

        subs = SubscriptionManager("spot")
        subs.subscribe(["btcusdt@depth@100ms", "btcusdt@bookTicker"])
        for req in subs.requests_to_send():      # UNSUBSCRIBEs first, then SUBSCRIBEs
            send_text(req.data)                  # after pacer.delay(now) == 0
        ...
        outcome = subs.receive(frame)            # a {"result","id"} or {"code","msg"} frame
        ...
        # after a reconnect: the server holds only what the URL named
        subs.connection_reset(url_streams)
        for req in subs.resubscribe_plan():      # SUBSCRIBEs for the rest + LIST_SUBSCRIPTIONS
            send_text(req.data)

    State:

    - :attr:`desired`: what the user asked for.
    - :attr:`confirmed`: what the server acknowledged (or listed).
    - in-flight requests, applied in order to give the *projected* server state; the diff
      between desired and projected is what :meth:`requests_to_send` sends.
    - :attr:`failed`: streams whose SUBSCRIBE was answered with an error; they leave
      ``desired`` (retrying a request the server called malformed would loop forever) and are
      kept with the error for the caller to report.

    Control errors other than code 0 carry no id (SPEC §2.3). Such an error is never pinned on
    a request by guesswork: it is kept (:attr:`stray_errors`) and the next
    ``LIST_SUBSCRIPTIONS`` answer settles what the requests before it did (the server answers
    in order): a ``SUBSCRIBE`` left unanswered whose streams are not listed, with an id-less
    error received after it was sent, was refused.

    Parameters
    ----------
    market : {"spot", "usdm"}
        Which catalogue validates names (and the USD-M route check).
    max_streams : int
        Streams this connection may hold (default :data:`MAX_STREAMS_PER_CONNECTION`).
    validate : bool
        Check names with :func:`parse_stream` (default True). Turn off to pass names fastws does
        not know yet; they are still lowercased in the symbol part only if valid.
    chunk : int
        Most stream names per SUBSCRIBE/UNSUBSCRIBE frame (default 200; Binance documents no
        limit, this keeps frames small).
    first_id : int
        The first request id (ids then increase by one; unsigned, as USD-M requires).
    route : {"public", "market"}, optional
        USD-M only: the route this connection's URL uses. If omitted, the first stream
        subscribed fixes it; a stream of another route is then refused (SPEC §4.1).
    logger : logging.Logger, optional
        Defaults to ``fastws.streams``.
    """

    def __init__(
        self,
        market: Market = "spot",
        *,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        validate: bool = True,
        chunk: int = _DEFAULT_CHUNK,
        first_id: int = 1,
        route: Route | None = None,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        if not 1 <= max_streams <= MAX_STREAMS_PER_CONNECTION:
            raise InvalidUsage(f"max_streams must be within 1..{MAX_STREAMS_PER_CONNECTION}, got {max_streams}")
        if chunk < 1:
            raise InvalidUsage(f"chunk must be >= 1, got {chunk}")
        if first_id < 0:
            raise InvalidUsage("request ids are unsigned")
        if route is not None and (market != "usdm" or route not in ("public", "market")):
            raise InvalidUsage(f"a route ('public' or 'market') applies to USD-M only, got {route!r}")
        self.market: Market = market
        self.max_streams = max_streams
        self.validate = validate
        self.chunk = chunk
        self._next_id = first_id
        self._desired: dict[str, None] = {}  # insertion-ordered set
        self._confirmed: set[str] = set()
        self._pending: dict[int, ControlRequest] = {}
        self._failed: dict[str, tuple[int, str]] = {}
        #: id-less control errors received: (code, msg, next request id when it came)
        self.stray_errors: deque[tuple[int, str, int]] = deque(maxlen=32)
        self._route: Route | None = route
        self._log = logger or _log
        self._debug = self._log.isEnabledFor(logging.DEBUG)

    def __repr__(self) -> str:
        return (
            f"SubscriptionManager({self.market}, desired={len(self._desired)}, "
            f"confirmed={len(self._confirmed)}, in_flight={len(self._pending)})"
        )

    # state --------------------------------------------------------------------------------

    @property
    def desired(self) -> frozenset[str]:
        """The streams the user wants on this connection."""
        return frozenset(self._desired)

    @property
    def confirmed(self) -> frozenset[str]:
        """The streams the server acknowledged."""
        return frozenset(self._confirmed)

    @property
    def failed(self) -> Mapping[str, tuple[int, str]]:
        """Streams whose SUBSCRIBE the server rejected: name -> (code, msg)."""
        return dict(self._failed)

    @property
    def in_flight(self) -> tuple[ControlRequest, ...]:
        """Requests sent and not yet answered, oldest first."""
        return tuple(self._pending.values())

    @property
    def settled(self) -> bool:
        """Nothing in flight and the server holds exactly what is wanted."""
        return not self._pending and self._confirmed == set(self._desired)

    def projected(self) -> frozenset[str]:
        """What the server will hold once every request in flight succeeds."""
        state = set(self._confirmed)
        for req in self._pending.values():
            if req.method == "SUBSCRIBE":
                state.update(req.params)  # type: ignore[arg-type]
            elif req.method == "UNSUBSCRIBE":
                state.difference_update(req.params)
        return frozenset(state)

    # user side ----------------------------------------------------------------------------

    def _canonical(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidUsage(f"a stream name must be a non-empty str, got {name!r}")
        if not self.validate:
            return name
        info = parse_stream(name, self.market)
        if not info.subscribable:
            raise InvalidUsage(f"{name!r} is sent by the server and cannot be subscribed")
        if self.market == "usdm":
            route = info.route
            if self._route is None:
                self._route = route
            elif route != self._route:
                raise InvalidUsage(
                    f"{name!r} is served on /{route} but this connection is on /{self._route}; "
                    "USD-M routes cannot be mixed on one connection (SPEC §4.1)"
                )
        return info.name

    def subscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Want ``streams`` on this connection. Returns the names newly added (canonical).

        Nothing is sent until :meth:`requests_to_send`. Names are validated all first: on any
        error nothing changes.

        Raises
        ------
        InvalidUsage
            A bad name, or more than ``max_streams`` would be wanted (shard with
            :class:`ShardPlanner` instead).
        """
        names = [streams] if isinstance(streams, str) else list(streams)
        route_before = self._route
        try:
            canon = [self._canonical(n) for n in names]
        except InvalidUsage:
            self._route = route_before
            raise
        new = [n for n in dict.fromkeys(canon) if n not in self._desired]
        if len(self._desired) + len(new) > self.max_streams:
            self._route = route_before
            raise InvalidUsage(
                f"{len(self._desired) + len(new)} streams on one connection; the limit is "
                f"{self.max_streams} (SPEC §2.2): spread them with ShardPlanner"
            )
        for n in new:
            self._desired[n] = None
            self._failed.pop(n, None)
        return new

    def unsubscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Stop wanting ``streams``. Returns the names that were wanted. Unknown names are ignored."""
        names = [streams] if isinstance(streams, str) else list(streams)
        removed = []
        for name in names:
            key = name
            if key not in self._desired and self.validate:
                try:
                    key = parse_stream(name, self.market).name
                except InvalidUsage:
                    continue
            if key in self._desired:
                del self._desired[key]
                removed.append(key)
        return removed

    # building requests --------------------------------------------------------------------

    def _new_request(self, method: ControlMethod, params: tuple[object, ...]) -> ControlRequest:
        id_ = self._next_id
        self._next_id += 1
        req = ControlRequest(id_, method, params, _encode(id_, method, params))
        self._pending[id_] = req
        if self._debug:
            self._log.debug("> %s id=%d %d params", method, id_, len(params))
        return req

    def requests_to_send(self) -> list[ControlRequest]:
        """The control messages that bring the server to the wanted set, and mark them in flight.

        UNSUBSCRIBEs come first (so a full connection has room), then SUBSCRIBEs, each at most
        ``chunk`` names, in the order the user asked for them. Empty when nothing is to do.
        Every returned request must be sent (or :meth:`abandon`-ed).
        """
        projected = self.projected()
        to_unsub = sorted(projected - set(self._desired))
        to_sub = [n for n in self._desired if n not in projected]
        out = []
        for i in range(0, len(to_unsub), self.chunk):
            out.append(self._new_request("UNSUBSCRIBE", tuple(to_unsub[i:i + self.chunk])))
        for i in range(0, len(to_sub), self.chunk):
            out.append(self._new_request("SUBSCRIBE", tuple(to_sub[i:i + self.chunk])))
        return out

    def list_subscriptions(self) -> ControlRequest:
        """A ``LIST_SUBSCRIPTIONS`` request; its answer is checked against the wanted set."""
        return self._new_request("LIST_SUBSCRIPTIONS", ())

    def set_property(self, name: str, value: bool) -> ControlRequest:
        """A ``SET_PROPERTY`` request (``combined`` is the only property, SPEC §2.3)."""
        return self._new_request("SET_PROPERTY", (name, value))

    def get_property(self, name: str) -> ControlRequest:
        """A ``GET_PROPERTY`` request."""
        return self._new_request("GET_PROPERTY", (name,))

    def abandon(self, request_id: int) -> ControlRequest | None:
        """Forget an in-flight request (timed out). Its streams go back to "to do"."""
        return self._pending.pop(request_id, None)

    # reconnects ---------------------------------------------------------------------------

    def connection_reset(self, url_streams: Iterable[str] = ()) -> list[ControlRequest]:
        """A new connection replaced the old one: nothing is confirmed, nothing is in flight.

        Parameters
        ----------
        url_streams : iterable of str
            Streams named in the new connection's URL (``/stream?streams=...``); the server
            subscribed them at the handshake.

        Returns
        -------
        list of ControlRequest
            The requests that were in flight and are now abandoned.
        """
        dropped = list(self._pending.values())
        self._pending.clear()
        self._confirmed = {self._canonical(s) if self.validate else s for s in url_streams}
        return dropped

    def resubscribe_plan(self) -> list[ControlRequest]:
        """After :meth:`connection_reset`: the SUBSCRIBEs that restore every wanted stream,
        then a ``LIST_SUBSCRIPTIONS`` to check the server agrees (SPEC §2.3, DESIGN reliability
        rules). Send them in order, paced."""
        return self.requests_to_send() + [self.list_subscriptions()]

    def check_listing(self, listed: Iterable[str]) -> ListingCheck:
        """Compare a ``LIST_SUBSCRIPTIONS`` result with the wanted set (no state change)."""
        got = set(listed)
        want = set(self._desired)
        return ListingCheck(frozenset(want - got), frozenset(got - want))

    # responses ----------------------------------------------------------------------------

    def receive(self, frame: object) -> ControlOutcome:
        """Feed one control frame: bytes/str JSON, a dict, or a parser ``ControlResponse`` /
        ``ControlError`` event.

        Raises
        ------
        ParseError
            If the frame is neither ``{"result","id"}`` nor ``{"code","msg"}``.
        """
        msg: object = frame
        if isinstance(frame, (bytes, bytearray, memoryview, str)):
            try:
                msg = orjson.loads(frame)
            except orjson.JSONDecodeError as exc:
                raise ParseError(f"control frame is not JSON: {exc}", payload=frame) from None
        if isinstance(msg, dict):
            if "code" in msg and "result" not in msg:
                code = msg.get("code")
                if not isinstance(code, int):
                    raise ParseError("control error without an integer 'code'", payload=orjson.dumps(msg))
                return self.receive_error(code, str(msg.get("msg", "")), msg.get("id"))
            if "result" in msg and "id" in msg:
                return self.receive_result(msg["id"], msg["result"])
            raise ParseError("not a control response or error", payload=orjson.dumps(msg))
        if hasattr(msg, "code") and hasattr(msg, "msg"):
            return self.receive_error(int(msg.code), str(msg.msg), getattr(msg, "id", None))
        if hasattr(msg, "result") and hasattr(msg, "id"):
            return self.receive_result(msg.id, msg.result)
        raise ParseError(f"not a control frame: {type(frame).__name__}")

    def receive_result(self, request_id: object, result: object) -> ControlOutcome:
        """A ``{"result": ..., "id": ...}`` answer.

        A ``LIST_SUBSCRIPTIONS`` result that is not a list of names is reported as a failed
        outcome (``ok`` False, ``error_msg`` says why); nothing is changed.
        """
        req = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if req is None:
            if self._debug:
                self._log.debug("< result for unknown id %r", request_id)
            return ControlOutcome(None, True, result)
        if self._debug:
            self._log.debug("< %s id=%d ok", req.method, req.id)
        listing = None
        if req.method == "SUBSCRIBE":
            self._confirmed.update(req.params)  # type: ignore[arg-type]
        elif req.method == "UNSUBSCRIBE":
            self._confirmed.difference_update(req.params)
        elif req.method == "LIST_SUBSCRIPTIONS":
            if not isinstance(result, list) or not all(isinstance(s, str) for s in result):
                shown = orjson.dumps(result)[:80].decode("utf-8", "replace")
                self._log.warning("< LIST_SUBSCRIPTIONS id=%d answered with no list of names: %s",
                                  req.id, shown)
                return ControlOutcome(req, False, result, None,
                                      f"LIST_SUBSCRIPTIONS answer is not a list of names: {shown}")
            listed: set[str] = set(result)
            # The server answers in order: a request sent before this LIST and still without
            # an answer will get none (it was answered by an error without id, or lost).
            earlier = [r for r in self._pending.values() if r.id < req.id]
            refused: dict[str, tuple[int, str]] = {}
            for r in earlier:
                del self._pending[r.id]
                if r.method != "SUBSCRIBE":
                    continue
                err = next(((c, m) for c, m, seq in self.stray_errors if seq > r.id), None)
                for name in r.params:
                    assert isinstance(name, str)
                    if name not in listed and err is not None and name in self._desired:
                        del self._desired[name]
                        self._failed[name] = err
                        refused[name] = err
            # Requests sent after the LIST are still in flight: their effect is not in the
            # listing. Requests sent before it were answered before it (in order).
            self._confirmed = listed
            listing = self.check_listing(listed)
            if not listing.ok:
                self._log.warning(
                    "= subscriptions differ from the wanted set: %d missing, %d unexpected",
                    len(listing.missing), len(listing.unexpected),
                )
            return ControlOutcome(req, True, result, listing=listing, unanswered=tuple(earlier),
                                  refused=refused)
        return ControlOutcome(req, True, result, listing=listing)

    def receive_error(self, code: int, msg: str, request_id: object = None) -> ControlOutcome:
        """A ``{"code": ..., "msg": ...}`` control error (SPEC §2.3).

        Matched by ``id`` when it has one (code 0). Without an id it is kept in
        :attr:`stray_errors` and matched to nothing (see the class doc). A failed SUBSCRIBE
        moves its streams from :attr:`desired` to :attr:`failed`.
        """
        req: ControlRequest | None = None
        if isinstance(request_id, int) and request_id in self._pending:
            req = self._pending.pop(request_id)
        meaning = CONTROL_ERROR_CODES.get(code, "unknown control error")
        if req is None:
            self.stray_errors.append((code, msg, self._next_id))
        self._log.warning(
            "< control error %d (%s) %s: %s", code, meaning,
            f"for {req.method} id={req.id}" if req else
            f"without id ({len(self._pending)} request(s) in flight; not attributed)", msg,
        )
        if req is not None and req.method == "SUBSCRIBE":
            for name in req.params:
                assert isinstance(name, str)
                self._desired.pop(name, None)
                self._failed[name] = (code, msg)
        return ControlOutcome(req, False, None, code, msg)


# -- pacing ----------------------------------------------------------------------------------


class ControlPacer:
    """Keeps our own control messages and pongs under the server's per-second limit.

    Binance drops a connection that receives more than 5 (spot) or 10 (USD-M) messages per
    second, counting PING, PONG and JSON control frames (SPEC §2.2, §4.2). The pacer holds the
    send times of the last window and answers how long to wait: no window of length ``window``
    (half-open, ``(t - window, t]``, in any alignment) ever holds more than ``limit - headroom``
    sends. ``pong_reserve`` of those slots are kept for pongs: controls may use only
    ``limit - headroom - pong_reserve``, so a pong can go out at once after a burst of
    SUBSCRIBEs.

    Contract: before sending, wait ``delay(now, pong=...)``; when sending, call
    ``record(now)``. Times are seconds on a monotonic clock and must not go backwards.

    Parameters
    ----------
    limit : int
        The server's limit per window (use :meth:`for_market`).
    window : float
        Seconds (1.0).
    headroom : int
        Slots never used, against clock differences with the server (default 1).
    pong_reserve : int
        Slots reserved for pongs (default 1).
    """

    __slots__ = ("limit", "window", "capacity", "control_capacity", "_sent", "_last")

    def __init__(self, limit: int, window: float = 1.0, *, headroom: int = 1, pong_reserve: int = 1) -> None:
        if window <= 0:
            raise InvalidUsage(f"pacer window must be > 0, got {window}")
        capacity = limit - headroom
        if headroom < 0 or pong_reserve < 0 or capacity - pong_reserve < 1:
            raise InvalidUsage(
                f"pacer needs limit - headroom - pong_reserve >= 1 (limit={limit}, "
                f"headroom={headroom}, pong_reserve={pong_reserve})"
            )
        self.limit = limit
        self.window = window
        #: sends allowed per window, pongs included
        self.capacity = capacity
        #: sends allowed per window for control messages
        self.control_capacity = capacity - pong_reserve
        self._sent: deque[float] = deque()
        self._last = -math.inf

    @classmethod
    def for_market(cls, market: Market, **kwargs: int) -> ControlPacer:
        """A pacer with the market's limit: 5/s spot, 10/s USD-M."""
        limit = SPOT_CONTROL_MESSAGES_PER_SECOND if market == "spot" else USDM_CONTROL_MESSAGES_PER_SECOND
        return cls(limit, 1.0, **kwargs)

    @classmethod
    def for_ws_api(cls, **kwargs: int) -> ControlPacer:
        """A pacer for a WS API connection, spot or USD-M: 5 messages/s (SPEC §2.2 numbers apply
        to the spot WS API; §5.6 caps USD-M WS API ping/pong frames at 5/s)."""
        return cls(WS_API_CONTROL_MESSAGES_PER_SECOND, 1.0, **kwargs)

    def __repr__(self) -> str:
        return f"ControlPacer(limit={self.limit}/{self.window}s, capacity={self.capacity}, controls={self.control_capacity})"

    def _expire(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0] <= now - self.window:
            sent.popleft()

    def delay(self, now: float, *, pong: bool = False) -> float:
        """Seconds from ``now`` until one more message (a pong if ``pong``) may be sent."""
        self._expire(now)
        allowed = self.capacity if pong else self.control_capacity
        n = len(self._sent)
        if n < allowed:
            return 0.0
        edge = self._sent[n - allowed]
        # The first instant at which ``edge`` has left the window (``_expire`` drops it once
        # ``edge <= t - window``), robust to rounding: step ``target`` by its own ulp, and the
        # wait by the ulp of the sum the caller will compute (``now + wait``). Stepping ``wait``
        # by its own ulp instead never ends when ``wait`` is tiny next to ``now``.
        target = edge + self.window
        while target - self.window < edge:
            target = math.nextafter(target, math.inf)
        wait = max(target - now, 0.0)
        while now + wait < target:
            wait += math.ulp(target)
        return wait

    def record(self, now: float) -> None:
        """Record a message sent at ``now``."""
        if now < self._last:
            raise InvalidUsage(f"pacer times must not go backwards ({now} < {self._last})")
        self._last = now
        self._expire(now)
        self._sent.append(now)

    def sent_in_window(self, now: float) -> int:
        """Messages recorded in the window ending at ``now``."""
        self._expire(now)
        return len(self._sent)


# -- sharding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardChange:
    """What one connection (shard) must do after :meth:`ShardPlanner.update`.

    Attributes
    ----------
    shard : int
        Stable index of the connection in the planner.
    route : str or None
        USD-M route of the connection (None on spot).
    add : tuple of str
        Streams to subscribe on it.
    remove : tuple of str
        Streams to unsubscribe from it.
    new : bool
        The shard did not exist before: open a connection.
    closed : bool
        The shard is now empty: close its connection.
    """

    shard: int
    route: Route | None
    add: tuple[str, ...]
    remove: tuple[str, ...]
    new: bool = False
    closed: bool = False


class ShardPlanner:
    """Assigns streams to connections of at most ``max_per_connection`` streams each.

    Stable: a stream already placed stays on its connection for as long as it is wanted (a
    move would mean an unsubscribe, a subscribe and a gap). Removed streams free room that new
    streams fill, least-loaded connection first; a new connection opens only when every
    existing one of the right route is full. On USD-M, streams of different routes
    (``/public``, ``/market``, SPEC §4.1) never share a connection. Empty shards are closed and
    their index is not reused.

    Parameters
    ----------
    market : {"spot", "usdm"}
    max_per_connection : int
        Default :data:`MAX_STREAMS_PER_CONNECTION`.
    validate : bool
        Check names with :func:`parse_stream` (default True).
    """

    def __init__(
        self, market: Market = "spot", max_per_connection: int = MAX_STREAMS_PER_CONNECTION,
        *, validate: bool = True,
    ) -> None:
        if not 1 <= max_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise InvalidUsage(
                f"max_per_connection must be within 1..{MAX_STREAMS_PER_CONNECTION}, got {max_per_connection}"
            )
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        self.market: Market = market
        self.max_per_connection = max_per_connection
        self.validate = validate
        self._shards: dict[int, dict[str, None]] = {}
        self._routes: dict[int, Route | None] = {}
        self._where: dict[str, int] = {}
        self._next = 0

    def __repr__(self) -> str:
        return f"ShardPlanner({self.market}, shards={len(self._shards)}, streams={len(self._where)})"

    @property
    def shards(self) -> Mapping[int, frozenset[str]]:
        """Current assignment: shard index -> streams."""
        return {i: frozenset(s) for i, s in self._shards.items()}

    def shard_of(self, stream: str) -> int | None:
        """The shard holding ``stream`` (canonical name), or None."""
        return self._where.get(stream)

    def route_of(self, shard: int) -> Route | None:
        """The USD-M route of a shard (None on spot)."""
        return self._routes[shard]

    def _route(self, name: str) -> Route | None:
        return usdm_route(name) if self.market == "usdm" else None

    def update(self, streams: Iterable[str]) -> list[ShardChange]:
        """Make the plan hold exactly ``streams``; return what each affected shard must do.

        Raises
        ------
        InvalidUsage
            For a bad stream name (nothing changes).
        """
        wanted: dict[str, None] = {}
        for s in streams:
            name = parse_stream(s, self.market).name if self.validate else s
            if self.validate and not parse_stream(name, self.market).subscribable:
                raise InvalidUsage(f"{name!r} cannot be subscribed")
            wanted[name] = None
        adds: dict[int, list[str]] = {}
        removes: dict[int, list[str]] = {}
        new: set[int] = set()
        for name in [n for n in self._where if n not in wanted]:
            idx = self._where.pop(name)
            del self._shards[idx][name]
            removes.setdefault(idx, []).append(name)
        for name in wanted:
            if name in self._where:
                continue
            route = self._route(name)
            candidates = [
                i for i, s in self._shards.items()
                if self._routes[i] == route and len(s) < self.max_per_connection
            ]
            if candidates:
                idx = min(candidates, key=lambda i: (len(self._shards[i]), i))
            else:
                idx = self._next
                self._next += 1
                self._shards[idx] = {}
                self._routes[idx] = route
                new.add(idx)
            self._shards[idx][name] = None
            self._where[name] = idx
            adds.setdefault(idx, []).append(name)
        changes = []
        for idx in sorted(set(adds) | set(removes)):
            closed = idx in self._shards and not self._shards[idx]
            route = self._routes[idx]
            if closed:
                del self._shards[idx]
            changes.append(ShardChange(
                idx, route, tuple(adds.get(idx, ())), tuple(removes.get(idx, ())), idx in new, closed,
            ))
        return changes

    def __iter__(self) -> Iterator[tuple[int, frozenset[str]]]:
        return iter(self.shards.items())
