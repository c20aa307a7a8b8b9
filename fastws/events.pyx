# cython: language_level=3
"""Typed Binance market events: small, immutable records with spelled-out field names.

Declarations (field names and C types) live in ``events.pxd`` so that other compiled modules
(``parser``, ``book``) read and write the fields at C speed; this file holds behaviour:
keyword constructors, reprs, ``to_dict()`` and ``decimal()``.

Every event class documents the mapping from its attributes to Binance's one-letter keys.
Conventions shared by all events:

- ids, counts and times are ``int`` (int64): ``-1`` where the payload has none. Times are in
  the unit the stream was opened with (ms by default, µs with ``timeUnit=MICROSECOND``).
- prices, quantities, volumes and percentages are ``float`` (float64), bit-identical to
  ``float(s)`` of Binance's decimal string; ``nan`` where the payload has none or ``null``.
- ``stream`` is the combined-stream name (``"btcusdt@trade"``) or ``None`` on a raw stream.
- ``raw`` is the payload the event was decoded from (see :meth:`Event.decimal`).

Allocation: Cython only generates freelists for base types, so a ``@cython.freelist`` on these
subclasses would be a no-op; instead ``fastws.parser.Parser`` refills its last event of the hot
kinds when nothing else references it (a freelist of one, invisible to code holding events).
The events hold no reference cycles and are ``no_gc``.

NOTE: float64 cannot hold every decimal exactly (``"0.1"`` is not 1/10). Prices and quantities
are fine for arithmetic, comparisons against the book and display; for order placement, audit or
anything that re-sends Binance's text, use :meth:`Event.decimal` to get the exact string.
"""
cimport cython
from libc.stdint cimport int64_t
from libc.math cimport NAN

import numpy as np
import orjson

__all__ = [
    "EventType",
    "Event",
    "Trade",
    "AggTrade",
    "BlockTrade",
    "Kline",
    "ContinuousKline",
    "MiniTicker",
    "Ticker",
    "WindowTicker",
    "BookTicker",
    "AvgPrice",
    "ReferencePrice",
    "PartialDepth",
    "DepthUpdate",
    "ServerShutdown",
    "MarkPrice",
    "ForceOrder",
    "ControlResponse",
    "ControlError",
]

cdef int _REPR_LEVELS = 3


cdef object _levels(object levels):
    """Any (n, 2)-shaped sequence -> C-contiguous float64 numpy array of shape (n, 2)."""
    arr = np.asarray(levels, dtype=np.float64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"levels must have shape (n, 2) [price, quantity], got {arr.shape}")
    return np.ascontiguousarray(arr)


cdef str _fmt_levels(object arr):
    if arr is None:
        return "None"
    n = len(arr)
    shown = ", ".join(f"[{p!r}, {q!r}]" for p, q in arr[:_REPR_LEVELS].tolist())
    more = f", ... {n - _REPR_LEVELS} more" if n > _REPR_LEVELS else ""
    return f"<{n} levels [{shown}{more}]>"


@cython.no_gc
cdef class Event:
    """Base of every typed market event.

    Attributes
    ----------
    type : EventType
        Discriminator, one value per class.
    stream : str or None
        Combined-stream name the event came in (``"btcusdt@depth@100ms"``), None on a raw stream.
    symbol : str or None
        ``s``: the symbol as Binance sends it (upper case), None where the payload has none.
    event_time : int
        ``E``: event time, -1 where the payload has none.
    raw : bytes, str or None
        The payload the event was decoded from. It is the very object passed to ``parse`` when
        that was ``bytes`` or ``str`` (a reference, not a copy); for ``bytearray`` /
        ``memoryview`` input it is a ``bytes`` copy only with ``Parser(keep_raw=True)``, else
        None. Events from one ``!...@arr`` frame share the same ``raw``.

    DANGER: ``raw`` keeps the whole payload alive as long as the event lives.
    """

    _FIELDS = ()
    _DECIMALS = {}
    _PATH = ()

    def __init__(self, *args, **kwargs):
        raise TypeError("Event is the abstract base; build one of its subclasses")

    def to_dict(self):
        """The public fields as a plain dict (numpy level arrays included as they are)."""
        d = {"type": self.type, "stream": self.stream, "symbol": self.symbol,
             "event_time": self.event_time}
        for name in type(self)._FIELDS:
            d[name] = getattr(self, name)
        return d

    def __repr__(self):
        parts = []
        if self.stream is not None:
            parts.append(f"stream={self.stream!r}")
        if self.symbol is not None:
            parts.append(f"symbol={self.symbol!r}")
        if self.event_time != -1:
            parts.append(f"event_time={self.event_time}")
        for name in type(self)._FIELDS:
            value = getattr(self, name)
            if name in ("bids", "asks"):
                parts.append(f"{name}={_fmt_levels(value)}")
            else:
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def decimal(self, name):
        """The exact decimal text Binance sent for the float field ``name``.

        Parameters
        ----------
        name : str
            A float attribute of this event (``"price"``, ``"best_bid_price"``...), or
            ``"bids"`` / ``"asks"`` on depth events.

        Returns
        -------
        str or list of [str, str] or None
            ``"67234.56000000"`` as sent; for ``bids``/``asks`` a list of
            ``[price_str, qty_str]``; None where the payload had ``null`` or no such key.

        Raises
        ------
        ValueError
            When ``raw`` is None (input was a ``bytearray``/``memoryview`` and the parser was
            not built with ``keep_raw=True``, or the event was built by hand without ``raw``).
        AttributeError
            When ``name`` is not a decimal field of this event.

        NOTE: off the hot path: it decodes ``raw`` again with orjson on every call.
        """
        table = type(self)._DECIMALS
        if name not in table:
            raise AttributeError(
                f"{type(self).__name__}.{name} is not a decimal field; "
                f"decimal fields: {', '.join(sorted(table))}")
        if self.raw is None:
            raise ValueError(
                "this event has no raw payload: parse bytes or str, or use "
                "Parser(keep_raw=True) for bytearray/memoryview input")
        obj = self._payload()
        for part in type(self)._PATH:
            obj = obj[part]
        return obj.get(table[name])

    def _payload(self):
        obj = orjson.loads(self.raw)
        if isinstance(obj, dict) and "data" in obj and isinstance(obj.get("stream"), str):
            obj = obj["data"]
        if isinstance(obj, list):
            found = [o for o in obj if isinstance(o, dict) and self._matches(o)]
            if len(found) != 1:
                raise ValueError(f"cannot find this {type(self).__name__} in its raw array")
            obj = found[0]
        return obj

    def _matches(self, o):
        src = o
        for part in type(self)._PATH:
            if part == "k":  # the symbol of a kline is at the top
                break
            src = src.get(part, {})
        return src.get("s") == self.symbol and o.get("E", -1) == self.event_time


cdef inline void _base(Event ev, EventType t, object symbol, int64_t event_time, object stream,
                       object raw):
    ev.type = t
    ev.symbol = symbol
    ev.event_time = event_time
    ev.stream = stream
    ev.raw = raw


@cython.no_gc
cdef class Trade(Event):
    """A raw trade (``<symbol>@trade``, ``e`` = ``"trade"``).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             ``s``   symbol
    trade_id           ``t``   trade id
    price              ``p``   price
    quantity           ``q``   quantity
    trade_time         ``T``   trade time
    is_buyer_maker     ``m``   the buyer is the maker
    =================  ======  =========================================

    ``M`` (ignore), USD-M's ``X`` (``"MARKET"``) and the old spot ``b``/``a`` order ids are
    not kept.
    """

    _FIELDS = ("trade_id", "price", "quantity", "trade_time", "is_buyer_maker")
    _DECIMALS = {"price": "p", "quantity": "q"}

    def __init__(self, symbol, int64_t trade_id, double price, double quantity,
                 int64_t trade_time, bint is_buyer_maker, *, int64_t event_time=-1,
                 stream=None, raw=None):
        _base(self, EventType.TRADE, symbol, event_time, stream, raw)
        self.trade_id = trade_id
        self.price = price
        self.quantity = quantity
        self.trade_time = trade_time
        self.is_buyer_maker = is_buyer_maker


@cython.no_gc
cdef class AggTrade(Event):
    """An aggregate trade (``<symbol>@aggTrade``, ``e`` = ``"aggTrade"``).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             ``s``   symbol
    agg_trade_id       ``a``   aggregate trade id
    price              ``p``   price
    quantity           ``q``   quantity
    first_trade_id     ``f``   first trade id
    last_trade_id      ``l``   last trade id
    trade_time         ``T``   trade time
    is_buyer_maker     ``m``   the buyer is the maker
    =================  ======  =========================================
    """

    _FIELDS = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id",
               "trade_time", "is_buyer_maker")
    _DECIMALS = {"price": "p", "quantity": "q"}

    def __init__(self, symbol, int64_t agg_trade_id, double price, double quantity,
                 int64_t first_trade_id, int64_t last_trade_id, int64_t trade_time,
                 bint is_buyer_maker, *, int64_t event_time=-1, stream=None, raw=None):
        _base(self, EventType.AGG_TRADE, symbol, event_time, stream, raw)
        self.agg_trade_id = agg_trade_id
        self.price = price
        self.quantity = quantity
        self.first_trade_id = first_trade_id
        self.last_trade_id = last_trade_id
        self.trade_time = trade_time
        self.is_buyer_maker = is_buyer_maker


@cython.no_gc
cdef class BlockTrade(Event):
    """A block trade (``<symbol>@blockTrade``, ``e`` = ``"blockTrade"``, spot).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             ``s``   symbol
    block_trade_id     ``t``   block trade id
    price              ``p``   price
    quantity           ``q``   quantity
    trade_time         ``T``   trade time
    is_buyer_maker     ``m``   the buyer is the maker
    =================  ======  =========================================
    """

    _FIELDS = ("block_trade_id", "price", "quantity", "trade_time", "is_buyer_maker")
    _DECIMALS = {"price": "p", "quantity": "q"}

    def __init__(self, symbol, int64_t block_trade_id, double price, double quantity,
                 int64_t trade_time, bint is_buyer_maker, *, int64_t event_time=-1,
                 stream=None, raw=None):
        _base(self, EventType.BLOCK_TRADE, symbol, event_time, stream, raw)
        self.block_trade_id = block_trade_id
        self.price = price
        self.quantity = quantity
        self.trade_time = trade_time
        self.is_buyer_maker = is_buyer_maker


_KLINE_FIELDS = ("start_time", "close_time", "interval", "first_trade_id", "last_trade_id",
                 "open", "close", "high", "low", "volume", "trade_count", "is_closed",
                 "quote_volume", "taker_buy_base_volume", "taker_buy_quote_volume")
_KLINE_DECIMALS = {"open": "o", "close": "c", "high": "h", "low": "l", "volume": "v",
                   "quote_volume": "q", "taker_buy_base_volume": "V",
                   "taker_buy_quote_volume": "Q"}


@cython.no_gc
cdef class Kline(Event):
    """A candlestick (``<symbol>@kline_<interval>``, ``e`` = ``"kline"``); fields from ``k``.

    ========================  ==========  ==================================
    attribute                 key         meaning
    ========================  ==========  ==================================
    event_time                ``E``       event time
    symbol                    ``s``       symbol
    start_time                ``k.t``     kline start time
    close_time                ``k.T``     kline close time
    interval                  ``k.i``     interval (``"1m"``...)
    first_trade_id            ``k.f``     first trade id (update id on continuous klines)
    last_trade_id             ``k.L``     last trade id
    open                      ``k.o``     open price
    close                     ``k.c``     close price
    high                      ``k.h``     high price
    low                       ``k.l``     low price
    volume                    ``k.v``     base asset volume
    trade_count               ``k.n``     number of trades
    is_closed                 ``k.x``     this kline is closed
    quote_volume              ``k.q``     quote asset volume
    taker_buy_base_volume     ``k.V``     taker buy base asset volume
    taker_buy_quote_volume    ``k.Q``     taker buy quote asset volume
    ========================  ==========  ==================================
    """

    _FIELDS = _KLINE_FIELDS
    _DECIMALS = _KLINE_DECIMALS
    _PATH = ("k",)

    def __init__(self, symbol, int64_t start_time, int64_t close_time, interval,
                 double open, double close, double high, double low, double volume, *,
                 int64_t first_trade_id=-1, int64_t last_trade_id=-1, int64_t trade_count=-1,
                 bint is_closed=False, double quote_volume=NAN,
                 double taker_buy_base_volume=NAN, double taker_buy_quote_volume=NAN,
                 int64_t event_time=-1, stream=None, raw=None):
        _base(self, EventType.KLINE, symbol, event_time, stream, raw)
        self.start_time = start_time
        self.close_time = close_time
        self.interval = interval
        self.first_trade_id = first_trade_id
        self.last_trade_id = last_trade_id
        self.open = open
        self.close = close
        self.high = high
        self.low = low
        self.volume = volume
        self.trade_count = trade_count
        self.is_closed = is_closed
        self.quote_volume = quote_volume
        self.taker_buy_base_volume = taker_buy_base_volume
        self.taker_buy_quote_volume = taker_buy_quote_volume


@cython.no_gc
cdef class ContinuousKline(Kline):
    """A continuous-contract candlestick (USD-M ``<pair>_<contractType>@continuousKline_<i>``,
    ``e`` = ``"continuous_kline"``). Fields as :class:`Kline`, plus:

    ========================  ==========  ==================================
    attribute                 key         meaning
    ========================  ==========  ==================================
    pair                      ``ps``      pair (``"BTCUSDT"``)
    contract_type             ``ct``      ``"PERPETUAL"``, ``"CURRENT_QUARTER"``...
    symbol                    ``ps``      same as ``pair`` (the payload has no ``s``)
    ========================  ==========  ==================================

    ``first_trade_id`` / ``last_trade_id`` hold update ids here.
    """

    _FIELDS = ("pair", "contract_type") + _KLINE_FIELDS

    def __init__(self, pair, contract_type, int64_t start_time, int64_t close_time, interval,
                 double open, double close, double high, double low, double volume, *,
                 int64_t first_trade_id=-1, int64_t last_trade_id=-1, int64_t trade_count=-1,
                 bint is_closed=False, double quote_volume=NAN,
                 double taker_buy_base_volume=NAN, double taker_buy_quote_volume=NAN,
                 int64_t event_time=-1, stream=None, raw=None):
        Kline.__init__(self, pair, start_time, close_time, interval, open, close, high, low,
                       volume, first_trade_id=first_trade_id, last_trade_id=last_trade_id,
                       trade_count=trade_count, is_closed=is_closed, quote_volume=quote_volume,
                       taker_buy_base_volume=taker_buy_base_volume,
                       taker_buy_quote_volume=taker_buy_quote_volume, event_time=event_time,
                       stream=stream, raw=raw)
        self.type = EventType.CONTINUOUS_KLINE
        self.pair = pair
        self.contract_type = contract_type

    def _matches(self, o):
        return o.get("ps") == self.pair and o.get("E", -1) == self.event_time


@cython.no_gc
cdef class MiniTicker(Event):
    """Rolling 24 h mini ticker (``<symbol>@miniTicker``, ``e`` = ``"24hrMiniTicker"``).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             ``s``   symbol
    close              ``c``   close (last) price
    open               ``o``   open price
    high               ``h``   high price
    low                ``l``   low price
    volume             ``v``   base asset volume
    quote_volume       ``q``   quote asset volume
    =================  ======  =========================================
    """

    _FIELDS = ("close", "open", "high", "low", "volume", "quote_volume")
    _DECIMALS = {"close": "c", "open": "o", "high": "h", "low": "l", "volume": "v",
                 "quote_volume": "q"}

    def __init__(self, symbol, double close, double open, double high, double low,
                 double volume, double quote_volume, *, int64_t event_time=-1, stream=None,
                 raw=None):
        _base(self, EventType.MINI_TICKER, symbol, event_time, stream, raw)
        self.close = close
        self.open = open
        self.high = high
        self.low = low
        self.volume = volume
        self.quote_volume = quote_volume


@cython.no_gc
cdef class Ticker(Event):
    """Rolling 24 h ticker (``<symbol>@ticker``, ``e`` = ``"24hrTicker"``).

    =====================  ======  =====================================================
    attribute              key     meaning
    =====================  ======  =====================================================
    event_time             ``E``   event time
    symbol                 ``s``   symbol
    price_change           ``p``   price change
    price_change_percent   ``P``   price change percent
    weighted_avg_price     ``w``   weighted average price
    prev_close_price       ``x``   last price before the window (nan on USD-M: no ``x``)
    last_price             ``c``   last price
    last_quantity          ``Q``   last quantity
    best_bid_price         ``b``   best bid price (nan on USD-M)
    best_bid_quantity      ``B``   best bid quantity (nan on USD-M)
    best_ask_price         ``a``   best ask price (nan on USD-M)
    best_ask_quantity      ``A``   best ask quantity (nan on USD-M)
    open                   ``o``   open price
    high                   ``h``   high price
    low                    ``l``   low price
    volume                 ``v``   base asset volume
    quote_volume           ``q``   quote asset volume
    open_time              ``O``   statistics open time
    close_time             ``C``   statistics close time
    first_trade_id         ``F``   first trade id
    last_trade_id          ``L``   last trade id
    trade_count            ``n``   number of trades
    =====================  ======  =====================================================
    """

    _FIELDS = ("price_change", "price_change_percent", "weighted_avg_price",
               "prev_close_price", "last_price", "last_quantity", "best_bid_price",
               "best_bid_quantity", "best_ask_price", "best_ask_quantity", "open", "high",
               "low", "volume", "quote_volume", "open_time", "close_time", "first_trade_id",
               "last_trade_id", "trade_count")
    _DECIMALS = {"price_change": "p", "price_change_percent": "P", "weighted_avg_price": "w",
                 "prev_close_price": "x", "last_price": "c", "last_quantity": "Q",
                 "best_bid_price": "b", "best_bid_quantity": "B", "best_ask_price": "a",
                 "best_ask_quantity": "A", "open": "o", "high": "h", "low": "l",
                 "volume": "v", "quote_volume": "q"}

    def __init__(self, symbol, *, double price_change=NAN, double price_change_percent=NAN,
                 double weighted_avg_price=NAN, double prev_close_price=NAN,
                 double last_price=NAN, double last_quantity=NAN, double best_bid_price=NAN,
                 double best_bid_quantity=NAN, double best_ask_price=NAN,
                 double best_ask_quantity=NAN, double open=NAN, double high=NAN,
                 double low=NAN, double volume=NAN, double quote_volume=NAN,
                 int64_t open_time=-1, int64_t close_time=-1, int64_t first_trade_id=-1,
                 int64_t last_trade_id=-1, int64_t trade_count=-1, int64_t event_time=-1,
                 stream=None, raw=None):
        _base(self, EventType.TICKER, symbol, event_time, stream, raw)
        self.price_change = price_change
        self.price_change_percent = price_change_percent
        self.weighted_avg_price = weighted_avg_price
        self.prev_close_price = prev_close_price
        self.last_price = last_price
        self.last_quantity = last_quantity
        self.best_bid_price = best_bid_price
        self.best_bid_quantity = best_bid_quantity
        self.best_ask_price = best_ask_price
        self.best_ask_quantity = best_ask_quantity
        self.open = open
        self.high = high
        self.low = low
        self.volume = volume
        self.quote_volume = quote_volume
        self.open_time = open_time
        self.close_time = close_time
        self.first_trade_id = first_trade_id
        self.last_trade_id = last_trade_id
        self.trade_count = trade_count


@cython.no_gc
cdef class WindowTicker(Event):
    """Rolling window ticker (spot ``<symbol>@ticker_<window>``, ``e`` = ``"1hTicker"``,
    ``"4hTicker"`` or ``"1dTicker"``).

    =====================  ======  =====================================================
    attribute              key     meaning
    =====================  ======  =====================================================
    window                 ``e``   the window: ``"1h"``, ``"4h"`` or ``"1d"``
    event_time             ``E``   event time
    symbol                 ``s``   symbol
    price_change           ``p``   price change
    price_change_percent   ``P``   price change percent
    open                   ``o``   open price
    high                   ``h``   high price
    low                    ``l``   low price
    last_price             ``c``   last price
    weighted_avg_price     ``w``   weighted average price
    volume                 ``v``   base asset volume
    quote_volume           ``q``   quote asset volume
    open_time              ``O``   statistics open time (a minute boundary)
    close_time             ``C``   statistics close time
    first_trade_id         ``F``   first trade id
    last_trade_id          ``L``   last trade id
    trade_count            ``n``   number of trades
    =====================  ======  =====================================================
    """

    _FIELDS = ("window", "price_change", "price_change_percent", "open", "high", "low",
               "last_price", "weighted_avg_price", "volume", "quote_volume", "open_time",
               "close_time", "first_trade_id", "last_trade_id", "trade_count")
    _DECIMALS = {"price_change": "p", "price_change_percent": "P", "open": "o", "high": "h",
                 "low": "l", "last_price": "c", "weighted_avg_price": "w", "volume": "v",
                 "quote_volume": "q"}

    def __init__(self, symbol, window, *, double price_change=NAN,
                 double price_change_percent=NAN, double open=NAN, double high=NAN,
                 double low=NAN, double last_price=NAN, double weighted_avg_price=NAN,
                 double volume=NAN, double quote_volume=NAN, int64_t open_time=-1,
                 int64_t close_time=-1, int64_t first_trade_id=-1, int64_t last_trade_id=-1,
                 int64_t trade_count=-1, int64_t event_time=-1, stream=None, raw=None):
        _base(self, EventType.WINDOW_TICKER, symbol, event_time, stream, raw)
        self.window = window
        self.price_change = price_change
        self.price_change_percent = price_change_percent
        self.open = open
        self.high = high
        self.low = low
        self.last_price = last_price
        self.weighted_avg_price = weighted_avg_price
        self.volume = volume
        self.quote_volume = quote_volume
        self.open_time = open_time
        self.close_time = close_time
        self.first_trade_id = first_trade_id
        self.last_trade_id = last_trade_id
        self.trade_count = trade_count


@cython.no_gc
cdef class BookTicker(Event):
    """Best bid and ask (``<symbol>@bookTicker``; spot has no ``e``/``E``/``T``, USD-M has
    ``e`` = ``"bookTicker"``).

    =====================  ======  =====================================================
    attribute              key     meaning
    =====================  ======  =====================================================
    update_id              ``u``   order book update id
    symbol                 ``s``   symbol
    best_bid_price         ``b``   best bid price
    best_bid_quantity      ``B``   best bid quantity
    best_ask_price         ``a``   best ask price
    best_ask_quantity      ``A``   best ask quantity
    event_time             ``E``   event time (USD-M; -1 on spot)
    transaction_time       ``T``   transaction time (USD-M; -1 on spot)
    =====================  ======  =====================================================
    """

    _FIELDS = ("update_id", "best_bid_price", "best_bid_quantity", "best_ask_price",
               "best_ask_quantity", "transaction_time")
    _DECIMALS = {"best_bid_price": "b", "best_bid_quantity": "B", "best_ask_price": "a",
                 "best_ask_quantity": "A"}

    def __init__(self, symbol, int64_t update_id, double best_bid_price,
                 double best_bid_quantity, double best_ask_price, double best_ask_quantity, *,
                 int64_t event_time=-1, int64_t transaction_time=-1, stream=None, raw=None):
        _base(self, EventType.BOOK_TICKER, symbol, event_time, stream, raw)
        self.update_id = update_id
        self.best_bid_price = best_bid_price
        self.best_bid_quantity = best_bid_quantity
        self.best_ask_price = best_ask_price
        self.best_ask_quantity = best_ask_quantity
        self.transaction_time = transaction_time

    def _matches(self, o):
        return o.get("s") == self.symbol and o.get("u") == self.update_id


@cython.no_gc
cdef class AvgPrice(Event):
    """Average price (spot ``<symbol>@avgPrice``, ``e`` = ``"avgPrice"``).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             ``s``   symbol
    interval           ``i``   averaging interval (``"5m"``)
    price              ``w``   average price
    last_trade_time    ``T``   last trade time
    =================  ======  =========================================
    """

    _FIELDS = ("interval", "price", "last_trade_time")
    _DECIMALS = {"price": "w"}

    def __init__(self, symbol, interval, double price, int64_t last_trade_time, *,
                 int64_t event_time=-1, stream=None, raw=None):
        _base(self, EventType.AVG_PRICE, symbol, event_time, stream, raw)
        self.interval = interval
        self.price = price
        self.last_trade_time = last_trade_time


@cython.no_gc
cdef class ReferencePrice(Event):
    """Reference price (spot ``<symbol>@referencePrice``, ``e`` = ``"referencePrice"``).

    =================  ======  =================================================
    attribute          key     meaning
    =================  ======  =================================================
    symbol             ``s``   symbol
    price              ``r``   reference price; nan when Binance sends ``null``
    engine_time        ``t``   engine time at which the price was valid
    event_time         (none)  always -1: this stream has no ``E``
    =================  ======  =================================================
    """

    _FIELDS = ("price", "engine_time")
    _DECIMALS = {"price": "r"}

    def __init__(self, symbol, double price, int64_t engine_time, *, int64_t event_time=-1,
                 stream=None, raw=None):
        _base(self, EventType.REFERENCE_PRICE, symbol, event_time, stream, raw)
        self.price = price
        self.engine_time = engine_time

    def _matches(self, o):
        return o.get("s") == self.symbol


@cython.no_gc
cdef class PartialDepth(Event):
    """Top-N book snapshot: spot ``<symbol>@depth<N>`` streams, and REST ``/depth`` bodies.

    =================  ================  =================================================
    attribute          key               meaning
    =================  ================  =================================================
    last_update_id     ``lastUpdateId``  update id of this snapshot
    bids               ``bids``          float64 array (n, 2): [price, quantity], best first
    asks               ``asks``          float64 array (n, 2): [price, quantity], best first
    event_time         ``E``             USD-M REST snapshot only; -1 otherwise
    transaction_time   ``T``             USD-M REST snapshot only; -1 otherwise
    symbol             (stream name)     the payload has no symbol: taken from the combined
                                         stream name, upper-cased (``"btcusdt@depth5"`` ->
                                         ``"BTCUSDT"``); None on a raw stream
    =================  ================  =================================================

    The arrays are fresh, C-contiguous and owned by the event (no shared buffer).
    USD-M ``@depth<N>`` streams carry the full ``depthUpdate`` shape and decode to
    :class:`DepthUpdate` instead.
    """

    _FIELDS = ("last_update_id", "bids", "asks", "transaction_time")
    _DECIMALS = {"bids": "bids", "asks": "asks"}

    def __init__(self, int64_t last_update_id, bids, asks, symbol=None, stream=None, *,
                 int64_t event_time=-1, int64_t transaction_time=-1, raw=None):
        _base(self, EventType.PARTIAL_DEPTH, symbol, event_time, stream, raw)
        self.last_update_id = last_update_id
        self.transaction_time = transaction_time
        self.bids = _levels(bids)
        self.asks = _levels(asks)

    def _matches(self, o):
        return o.get("lastUpdateId") == self.last_update_id


@cython.no_gc
cdef class DepthUpdate(Event):
    """Diff depth for a local book (``<symbol>@depth[@100ms]``, ``e`` = ``"depthUpdate"``;
    also USD-M ``@depth<N>`` partial streams, which carry this shape).

    =====================  ======  =====================================================
    attribute              key     meaning
    =====================  ======  =====================================================
    event_time             ``E``   event time
    transaction_time       ``T``   transaction time (USD-M; -1 on spot)
    symbol                 ``s``   symbol
    first_update_id        ``U``   first update id in the event
    final_update_id        ``u``   final update id in the event
    prev_final_update_id   ``pu``  final update id of the previous event (USD-M; -1 on spot)
    bids                   ``b``   float64 array (n, 2): [price, quantity]
    asks                   ``a``   float64 array (n, 2): [price, quantity]
    =====================  ======  =====================================================

    A quantity of 0 removes the level. The arrays are fresh, C-contiguous and owned by the
    event (no shared buffer), in the order Binance sent them.
    """

    _FIELDS = ("first_update_id", "final_update_id", "prev_final_update_id",
               "transaction_time", "bids", "asks")
    _DECIMALS = {"bids": "b", "asks": "a"}

    def __init__(self, symbol, int64_t first_update_id, int64_t final_update_id, bids, asks,
                 int64_t prev_final_update_id=-1, int64_t event_time=-1,
                 int64_t transaction_time=-1, stream=None, *, raw=None):
        _base(self, EventType.DEPTH_UPDATE, symbol, event_time, stream, raw)
        self.transaction_time = transaction_time
        self.first_update_id = first_update_id
        self.final_update_id = final_update_id
        self.prev_final_update_id = prev_final_update_id
        self.bids = _levels(bids)
        self.asks = _levels(asks)

    def _matches(self, o):
        return o.get("s") == self.symbol and o.get("u") == self.final_update_id


@cython.no_gc
cdef class ServerShutdown(Event):
    """The server is about to close this connection: reconnect now (``e`` =
    ``"serverShutdown"``; combined stream name ``"!serverShutdown"``).

    =================  ======  =========================================
    attribute          key     meaning
    =================  ======  =========================================
    event_time         ``E``   event time
    symbol             (none)  always None
    =================  ======  =========================================
    """

    def __init__(self, *, int64_t event_time=-1, stream=None, raw=None):
        _base(self, EventType.SERVER_SHUTDOWN, None, event_time, stream, raw)

    def _matches(self, o):
        return o.get("E", -1) == self.event_time


@cython.no_gc
cdef class MarkPrice(Event):
    """Mark price and funding rate (USD-M ``<symbol>@markPrice[@1s]`` and
    ``!markPrice@arr``, ``e`` = ``"markPriceUpdate"``).

    ======================  ======  =================================================
    attribute               key     meaning
    ======================  ======  =================================================
    event_time              ``E``   event time
    symbol                  ``s``   symbol
    mark_price              ``p``   mark price
    index_price             ``i``   index price
    estimated_settle_price  ``P``   estimated settle price (nan when ``""``)
    funding_rate            ``r``   funding rate (nan when ``""``, e.g. delivery contracts)
    next_funding_time       ``T``   next funding time
    ======================  ======  =================================================
    """

    _FIELDS = ("mark_price", "index_price", "estimated_settle_price", "funding_rate",
               "next_funding_time")
    _DECIMALS = {"mark_price": "p", "index_price": "i", "estimated_settle_price": "P",
                 "funding_rate": "r"}

    def __init__(self, symbol, double mark_price, *, double index_price=NAN,
                 double estimated_settle_price=NAN, double funding_rate=NAN,
                 int64_t next_funding_time=-1, int64_t event_time=-1, stream=None,
                 raw=None):
        _base(self, EventType.MARK_PRICE, symbol, event_time, stream, raw)
        self.mark_price = mark_price
        self.index_price = index_price
        self.estimated_settle_price = estimated_settle_price
        self.funding_rate = funding_rate
        self.next_funding_time = next_funding_time


@cython.no_gc
cdef class ForceOrder(Event):
    """A liquidation order (USD-M ``<symbol>@forceOrder`` / ``!forceOrder@arr``, ``e`` =
    ``"forceOrder"``); fields from ``o``.

    ======================  ========  =================================================
    attribute               key       meaning
    ======================  ========  =================================================
    event_time              ``E``     event time
    symbol                  ``o.s``   symbol
    side                    ``o.S``   ``"BUY"`` / ``"SELL"``
    order_type              ``o.o``   order type (``"LIMIT"``)
    time_in_force           ``o.f``   time in force (``"IOC"``)
    orig_quantity           ``o.q``   original quantity
    price                   ``o.p``   price
    avg_price               ``o.ap``  average price
    order_status            ``o.X``   order status (``"FILLED"``)
    last_filled_quantity    ``o.l``   last filled quantity
    filled_quantity         ``o.z``   accumulated filled quantity
    trade_time              ``o.T``   trade time
    ======================  ========  =================================================
    """

    _FIELDS = ("side", "order_type", "time_in_force", "orig_quantity", "price", "avg_price",
               "order_status", "last_filled_quantity", "filled_quantity", "trade_time")
    _DECIMALS = {"orig_quantity": "q", "price": "p", "avg_price": "ap",
                 "last_filled_quantity": "l", "filled_quantity": "z"}
    _PATH = ("o",)

    def __init__(self, symbol, side, order_type, time_in_force, double orig_quantity,
                 double price, double avg_price, order_status, double last_filled_quantity,
                 double filled_quantity, int64_t trade_time, *, int64_t event_time=-1,
                 stream=None, raw=None):
        _base(self, EventType.FORCE_ORDER, symbol, event_time, stream, raw)
        self.side = side
        self.order_type = order_type
        self.time_in_force = time_in_force
        self.orig_quantity = orig_quantity
        self.price = price
        self.avg_price = avg_price
        self.order_status = order_status
        self.last_filled_quantity = last_filled_quantity
        self.filled_quantity = filled_quantity
        self.trade_time = trade_time


@cython.freelist(4)
cdef class ControlResponse:
    """Answer to a control message (SUBSCRIBE, LIST_SUBSCRIPTIONS...): ``{"result", "id"}``.

    =================  ==========  ===============================================
    attribute          key         meaning
    =================  ==========  ===============================================
    id                 ``id``      the request id echoed back (int, str or None)
    result             ``result``  None for a successful command, else the answer
                                   (list of stream names, a property value...)
    =================  ==========  ===============================================
    """

    def __init__(self, id=None, result=None):
        self.id = id
        self.result = result

    def __eq__(self, other):
        if not isinstance(other, ControlResponse):
            return NotImplemented
        return self.id == other.id and self.result == other.result

    __hash__ = None

    def __repr__(self):
        return f"ControlResponse(id={self.id!r}, result={self.result!r})"


@cython.freelist(4)
cdef class ControlError:
    """An error frame on a stream connection: ``{"code", "msg"}`` (``"id"`` in some rows).

    =================  ========  ===============================================
    attribute          key       meaning
    =================  ========  ===============================================
    code               ``code``  error code (0 unknown property, 1 bad value type,
                                 2 invalid request, 3 invalid JSON)
    msg                ``msg``   error text
    id                 ``id``    request id when present, else None
    =================  ========  ===============================================
    """

    def __init__(self, int64_t code, msg, id=None):
        self.code = code
        self.msg = msg
        self.id = id

    def __eq__(self, other):
        if not isinstance(other, ControlError):
            return NotImplemented
        return self.code == other.code and self.msg == other.msg and self.id == other.id

    __hash__ = None

    def __repr__(self):
        return f"ControlError(code={self.code}, msg={self.msg!r}, id={self.id!r})"
