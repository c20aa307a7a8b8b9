"""What goes on the bus, and under which name: subjects, message ids, book-state keys (no I/O).

Everything a feed handler and a consumer must agree on lives here, so both sides and the tests
use one definition and none of it needs a server.

Subjects
--------
A feed handler publishes each venue event on ``<prefix>.ev.<venue>.<SYMBOL>.<kind>``
(:func:`event_subject`): ``fastws.ev.binance-spot.BTCUSDT.depth_100ms``. ``kind`` is the stream
name after its symbol with ``@`` turned into ``_`` (``depth@100ms`` -> ``depth_100ms``,
``bookTicker``, ``trade``, ``aggTrade``, ``kline_1m``, ``markPrice_1s``); all-market streams
(``!miniTicker@arr``) use the symbol token ``ALL``. Characters NATS does not allow in a token
(``.``, ``*``, ``>``, white space) become ``_``.

The events stream (:data:`EVENTS_STREAM`, subjects ``<prefix>.ev.>``) stores each message once
per message id within its duplicate window and *republishes* every stored message on
``<prefix>.live.<venue>.<SYMBOL>.<kind>`` (:func:`live_subject`). Consumers subscribe to the
``live`` subjects: they get each event once (the server dropped the copies), in the order it
was stored, at core-NATS latency (no JetStream consumer state, no acks).

Message ids (``Nats-Msg-Id``)
-----------------------------
Made of the venue's own ids (:func:`msg_id`), so two feed handlers that receive the same venue
event publish the same id and JetStream keeps one: ``<venue>/<stream>:<id>`` with depth ``U-u``, trade
``t``, aggTrade ``a``, bookTicker ``u``, partial depth ``lastUpdateId``; any other event (tickers,
klines, mark price, ``@arr`` lists) its event time ``E``; an event with neither, a CRC-32 of its
payload (both handlers receive the same bytes from the venue).

Book state
----------
Each synced book is kept in the KV bucket :func:`books_bucket` under ``<venue>.<SYMBOL>``
(:func:`book_key`), encoded by :func:`encode_book` as the REST snapshot shape
``{"lastUpdateId": L, "bids": [[p, q], ...], "asks": [...]}`` in orjson bytes (plus
``symbol``, ``venue``, ``time`` ms, ``source``), so a consumer feeds it to
:meth:`fastws.sync.BookSync.on_snapshot` as it is (:func:`decode_book`). The same bytes answer a
request on ``<prefix>.snap.<venue>.<SYMBOL>`` (:func:`snap_subject`).

Payload
-------
The payload is the frame as the venue sent it: the combined-stream envelope
``{"stream": "btcusdt@depth@100ms", "data": {...}}``. It costs a few bytes more than the inner
object but the consumer's :class:`fastws.parser.Parser` then sets ``ev.stream`` exactly as on a
direct connection (callbacks per stream, queue policies, the book's stream check), at no
measurable parse cost (the parser locates ``data`` in the same single pass).
"""
from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

from fastws.events import AggTrade, BookTicker, DepthUpdate, Event, PartialDepth, Trade
from fastws.streams import parse_stream

__all__ = [
    "DEFAULT_PREFIX", "EVENTS_STREAM", "DUPLICATE_WINDOW", "MSG_ID_HEADER", "token", "kind_token",
    "event_subject", "live_subject", "events_filter", "live_filter", "snap_subject",
    "books_bucket", "book_key", "msg_id", "encode_book", "decode_book", "stream_subjects",
    "check_prefix", "events_stream_name",
]

#: Subject prefix used when none is given.
DEFAULT_PREFIX = "fastws"
#: Name of the JetStream stream holding the events (``<prefix>.ev.>``); with another prefix
#: the name gets it as a suffix (:func:`events_stream_name`).
EVENTS_STREAM = "FASTWS_EV"
#: Seconds JetStream remembers message ids to drop duplicates (two feed handlers).
DUPLICATE_WINDOW = 120.0
#: The header carrying the message id.
MSG_ID_HEADER = "Nats-Msg-Id"

_BAD = re.compile(r"[^A-Za-z0-9_\-]")
_PREFIX_OK = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def check_prefix(prefix: str) -> str:
    """``prefix`` if it is usable as a subject prefix (tokens of letters, digits, ``_``, ``-``
    joined by dots); ``ValueError`` otherwise."""
    if not isinstance(prefix, str) or not _PREFIX_OK.match(prefix):
        raise ValueError(f"bus prefix must be dot-separated tokens of letters, digits, '_' or '-', "
                         f"got {prefix!r}")
    return prefix


def token(text: str) -> str:
    """``text`` as one NATS subject token (anything but letters, digits, ``_``, ``-`` -> ``_``)."""
    out = _BAD.sub("_", text)
    if not out:
        raise ValueError("an empty subject token")
    return out


def kind_token(stream: str) -> str:
    """The ``<kind>`` token of a stream name: ``btcusdt@depth@100ms`` -> ``depth_100ms``,
    ``!miniTicker@arr`` -> ``miniTicker_arr``."""
    rest = stream[1:] if stream.startswith("!") else stream.split("@", 1)[1] if "@" in stream else stream
    return token(rest.replace("@", "_"))


def stream_subjects(stream: str, market: str = "spot") -> tuple[str, str, str]:
    """``(symbol token, kind token, canonical stream name)`` of a stream name."""
    info = parse_stream(stream, market)  # type: ignore[arg-type]
    return (token(info.symbol) if info.symbol else "ALL", kind_token(info.name), info.name)


def event_subject(venue: str, stream: str, *, market: str = "spot",
                  prefix: str = DEFAULT_PREFIX) -> str:
    """Where a feed handler publishes the events of ``stream`` of ``venue`` (a venue name)."""
    sym, kind, _ = stream_subjects(stream, market)
    return f"{prefix}.ev.{token(venue)}.{sym}.{kind}"


def live_subject(venue: str, stream: str, *, market: str = "spot",
                 prefix: str = DEFAULT_PREFIX) -> str:
    """Where consumers receive them (republished by the events stream, each once)."""
    sym, kind, _ = stream_subjects(stream, market)
    return f"{prefix}.live.{token(venue)}.{sym}.{kind}"


def events_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """The events stream's subjects: ``<prefix>.ev.>``."""
    return f"{prefix}.ev.>"


def live_filter(prefix: str = DEFAULT_PREFIX) -> str:
    """The republish destination: ``<prefix>.live.>``."""
    return f"{prefix}.live.>"


def events_stream_name(prefix: str = DEFAULT_PREFIX) -> str:
    """``FASTWS_EV`` for the default prefix, ``FASTWS_EV_<PREFIX>`` otherwise."""
    if prefix == DEFAULT_PREFIX:
        return EVENTS_STREAM
    return f"{EVENTS_STREAM}_{token(prefix.replace('.', '_')).upper()}"


def snap_subject(venue: str, symbol: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """Request subject answered by feed handlers with the current synced state of a book."""
    return f"{prefix}.snap.{token(venue)}.{token(symbol.upper())}"


def books_bucket(prefix: str = DEFAULT_PREFIX) -> str:
    """KV bucket of book states: ``fastws_books`` for the default prefix."""
    return token(prefix.replace(".", "_")) + "_books"


def book_key(venue: str, symbol: str) -> str:
    """KV key of a book: ``<venue>.<SYMBOL>``."""
    return f"{token(venue)}.{token(symbol.upper())}"


def msg_id(venue: str, ev: Any, raw: bytes | None = None) -> str:
    """The JetStream message id of an event of ``venue`` (its name), from the venue's ids (see
    the module docstring); equal for every copy of the same venue event. The venue is part of
    it: spot and USD-M share stream names and trade ids, never events."""
    return f"{venue}/{_event_id(ev, raw)}"


def _event_id(ev: Any, raw: bytes | None) -> str:
    if type(ev) is list:
        first = ev[0] if ev else None
        stream = getattr(first, "stream", None) or "?"
        et = getattr(first, "event_time", -1)
        if et is not None and et >= 0:
            return f"{stream}:E{et}"
        return f"{stream}:c{zlib.crc32(raw or b''):08x}"
    stream = getattr(ev, "stream", None) or "?"
    tp = type(ev)
    if tp is DepthUpdate:
        return f"{stream}:{ev.first_update_id}-{ev.final_update_id}"
    if tp is Trade:
        return f"{stream}:t{ev.trade_id}"
    if tp is AggTrade:
        return f"{stream}:a{ev.agg_trade_id}"
    if tp is BookTicker:
        return f"{stream}:u{ev.update_id}"
    if tp is PartialDepth:
        return f"{stream}:L{ev.last_update_id}"
    if isinstance(ev, Event) and ev.event_time >= 0:
        return f"{stream}:E{ev.event_time}"
    return f"{stream}:c{zlib.crc32(raw or b''):08x}"


def encode_book(last_update_id: int, bids: Any, asks: Any, *, symbol: str, venue: str,
                time_ms: int, source: str = "") -> bytes:
    """A book state as the REST snapshot shape in orjson bytes (``bids``/``asks``: numpy
    ``(n, 2)`` float arrays or lists of ``[price, qty]``, best first)."""
    return orjson.dumps({"lastUpdateId": int(last_update_id), "bids": bids, "asks": asks,
                         "symbol": symbol, "venue": venue, "time": int(time_ms), "source": source},
                        option=orjson.OPT_SERIALIZE_NUMPY)


def decode_book(data: bytes) -> dict[str, Any]:
    """The state :func:`encode_book` made; ``ValueError`` if it is not one."""
    try:
        d = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"book state is not JSON: {exc}") from None
    if (not isinstance(d, dict) or not isinstance(d.get("lastUpdateId"), int)
            or not isinstance(d.get("bids"), list) or not isinstance(d.get("asks"), list)):
        raise ValueError("book state lacks lastUpdateId / bids / asks")
    return d
