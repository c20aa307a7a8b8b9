"""fastws.bus.subjects (no server): subjects, message ids from the venue's ids, book-state
keys and encoding, checked on real Binance payloads where the shape matters."""
from __future__ import annotations

import numpy as np
import orjson
import pytest
from hypothesis import given, settings, strategies as st

from fastws.bus import subjects as S
from fastws.bus.consumer import parse_header_lines
from fastws.events import AggTrade, BookTicker, DepthUpdate, Kline, PartialDepth, Trade
from fastws.parser import Parser
from fastws.sync import BookSync, SyncAction

DEPTH = (b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000123,'
         b'"s":"BTCUSDT","U":157,"u":160,"b":[["67000.10","1.5"]],"a":[["67000.20","0.25"]]}}')
TRADE = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000200,"s":"BTCUSDT",'
         b'"t":12345,"p":"67000.10","q":"0.01","T":1700000000199,"m":true,"M":true}}')
AGG = (b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1700000000200,"s":"BTCUSDT",'
       b'"a":777,"p":"67000.10","q":"0.01","f":100,"l":105,"T":1700000000199,"m":false,"M":true}}')
BOOK_TICKER = (b'{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT",'
               b'"b":"67000.10","B":"1.5","a":"67000.20","A":"0.25"}}')
KLINE = (b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1700000000300,"s":"BTCUSDT",'
         b'"k":{"t":1700000000000,"T":1700000059999,"s":"BTCUSDT","i":"1m","f":100,"L":200,'
         b'"o":"1.0","c":"2.0","h":"3.0","l":"0.5","v":"10","n":100,"x":false,"q":"20",'
         b'"V":"5","Q":"10","B":"0"}}}')
PARTIAL = (b'{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":160,'
           b'"bids":[["67000.10","1.5"]],"asks":[["67000.20","0.25"]]}}')


@pytest.mark.parametrize("stream,kind", [
    ("btcusdt@depth@100ms", "depth_100ms"), ("btcusdt@depth", "depth"),
    ("btcusdt@bookTicker", "bookTicker"), ("btcusdt@trade", "trade"),
    ("btcusdt@aggTrade", "aggTrade"), ("btcusdt@kline_1m", "kline_1m"),
    ("btcusdt@depth5@100ms", "depth5_100ms"), ("!miniTicker@arr", "miniTicker_arr"),
])
def test_kind_token_from_the_stream_name(stream: str, kind: str) -> None:
    assert S.kind_token(stream) == kind


def test_subjects_per_venue_symbol_and_kind() -> None:
    assert S.event_subject("binance-spot", "btcusdt@depth@100ms") == \
        "fastws.ev.binance-spot.BTCUSDT.depth_100ms"
    assert S.live_subject("binance-spot", "BTCUSDT@trade") == "fastws.live.binance-spot.BTCUSDT.trade"
    assert S.event_subject("sim-spot", "!miniTicker@arr", prefix="desk.a") == \
        "desk.a.ev.sim-spot.ALL.miniTicker_arr"
    assert S.event_subject("binance-usdm", "btcusdt@markPrice@1s", market="usdm") == \
        "fastws.ev.binance-usdm.BTCUSDT.markPrice_1s"
    assert S.snap_subject("binance-spot", "btcusdt") == "fastws.snap.binance-spot.BTCUSDT"
    assert S.book_key("binance-spot", "btcusdt") == "binance-spot.BTCUSDT"
    assert S.books_bucket() == "fastws_books" and S.books_bucket("desk.a") == "desk_a_books"
    assert S.events_stream_name() == "FASTWS_EV"
    assert S.events_stream_name("desk.a") == "FASTWS_EV_DESK_A"
    # every token is a valid NATS token: no '.', '*', '>' or white space inside
    for subj in (S.event_subject("we.ird *venue>", "btcusdt@trade"),):
        sym_kind = subj.split(".")
        assert len(sym_kind) == 5 and all(t and not set(t) & set(".*> \t") for t in sym_kind)


@pytest.mark.parametrize("prefix", ["", "a..b", "a.*", "a b", ".x", "x>", None])
def test_bad_prefix_is_refused(prefix: object) -> None:
    with pytest.raises(ValueError, match="prefix"):
        S.check_prefix(prefix)  # type: ignore[arg-type]


def test_msg_id_is_made_of_the_venue_ids() -> None:
    p = Parser()
    assert S.msg_id("v", p.parse(DEPTH)) == "v/btcusdt@depth@100ms:157-160"
    assert S.msg_id("v", p.parse(TRADE)) == "v/btcusdt@trade:t12345"
    assert S.msg_id("v", p.parse(AGG)) == "v/btcusdt@aggTrade:a777"
    assert S.msg_id("v", p.parse(BOOK_TICKER)) == "v/btcusdt@bookTicker:u400900217"
    assert S.msg_id("v", p.parse(KLINE)) == "v/btcusdt@kline_1m:E1700000000300"
    assert S.msg_id("v", p.parse(PARTIAL)) == "v/btcusdt@depth5@100ms:L160"
    assert type(p.parse(PARTIAL)) is PartialDepth and type(p.parse(KLINE)) is Kline
    assert type(p.parse(AGG)) is AggTrade and type(p.parse(BOOK_TICKER)) is BookTicker


def test_two_copies_of_one_event_share_the_id_and_neighbours_do_not() -> None:
    """What JetStream dedup relies on: the same venue event from two connections -> one id
    (even re-serialised with other key order or spacing), the next event -> another."""
    a, b = Parser(), Parser()
    again = (b'{"data": {"s":"BTCUSDT","u":160,"U":157,"E":1700000000999,"e":"depthUpdate",'
             b'"a":[["67000.20","0.25"]],"b":[["67000.10","1.5"]]}, "stream":"btcusdt@depth@100ms"}')
    assert S.msg_id("v", a.parse(DEPTH)) == S.msg_id("v", b.parse(again))
    nxt = DEPTH.replace(b'"U":157,"u":160', b'"U":161,"u":163')
    assert S.msg_id("v", a.parse(nxt)) != S.msg_id("v", a.parse(DEPTH))
    t2 = TRADE.replace(b'"t":12345', b'"t":12346')
    assert S.msg_id("v", a.parse(t2)) != S.msg_id("v", a.parse(TRADE))
    # the same ids on another stream are another event
    assert S.msg_id("v", Trade("BTCUSDT", 5, 1.0, 1.0, 0, False, stream="ethusdt@trade")) != \
        S.msg_id("v", Trade("BTCUSDT", 5, 1.0, 1.0, 0, False, stream="btcusdt@trade"))


def test_msg_id_of_events_without_ids() -> None:
    """Lists (``@arr``) by their event time; an event with neither ids nor time by a CRC of
    the payload (both feed handlers receive the same bytes)."""
    arr = [Trade("BTCUSDT", 1, 1.0, 1.0, 0, False, event_time=55, stream="!x@arr")]
    assert S.msg_id("v", arr) == "v/!x@arr:E55"
    raw = b'{"stream":"x@y","data":{"k":1}}'
    ev = Trade("BTCUSDT", 1, 1.0, 1.0, 0, False, stream="x@y")
    assert S.msg_id("v", [], raw).startswith("v/?:c")
    assert S.msg_id("v", object(), raw) == S.msg_id("v", object(), raw) != S.msg_id("v", object(), raw + b" ")
    assert S.msg_id("v", ev) == "v/x@y:t1"
    # the same event of another venue is another message
    assert S.msg_id("binance-spot", ev) != S.msg_id("binance-usdm", ev)


def test_book_state_round_trips_into_book_sync() -> None:
    """The KV value is the REST snapshot shape: BookSync.on_snapshot takes it as it is, and
    a book synced from it equals the book it was taken from, level for level."""
    src = BookSync("BTCUSDT", "spot")
    src.on_event(DepthUpdate("BTCUSDT", 101, 101, [[67000.1, 2.0]], []))
    src.on_snapshot(100, [["67000.10", "1.5"], ["66999.99", "3"]],
                    [["67000.20", "0.25"], ["67001.00", "7.125"]])
    assert src.book.is_synced and src.book.update_id == 101
    bids, asks = src.book.top(None)
    data = S.encode_book(src.book.update_id, bids, asks, symbol="BTCUSDT", venue="binance-spot",
                         time_ms=1700000000000, source="fh1")
    state = S.decode_book(data)
    assert state["lastUpdateId"] == 101 and state["symbol"] == "BTCUSDT" and state["source"] == "fh1"
    dst = BookSync("BTCUSDT", "spot")
    assert dst.on_snapshot(state["lastUpdateId"], state["bids"], state["asks"]) is SyncAction.SYNCED
    b2, a2 = dst.book.top(None)
    assert np.array_equal(b2, bids) and np.array_equal(a2, asks)
    # the next event continues it exactly
    assert dst.on_event(DepthUpdate("BTCUSDT", 102, 102, [[67000.1, 0.0]], [])) is SyncAction.APPLIED


@pytest.mark.parametrize("bad", [b"", b"not json", b"[]", orjson.dumps({"bids": [], "asks": []}),
                                 orjson.dumps({"lastUpdateId": "1", "bids": [], "asks": []})])
def test_bad_book_state_is_refused(bad: bytes) -> None:
    with pytest.raises(ValueError, match="book state"):
        S.decode_book(bad)


# --- the consumer's header parser equals nats-py's -------------------------------------------

_REPUBLISHED = (b"Nats-Msg-Id: binance-spot/btcusdt@trade:t1\r\nNats-Stream: FASTWS_EV\r\n"
                b"Nats-Subject: fastws.ev.binance-spot.BTCUSDT.trade\r\nNats-Sequence: 12\r\n"
                b"Nats-Time-Stamp: 2026-12-03T16:48:16.42025276Z\r\nNats-Last-Sequence: 11\r\n\r\n")


def _nats_py(raw: bytes) -> dict[str, str]:
    from nats.aio.client import Client
    return Client._parse_header_lines(raw)


def test_header_parser_reads_republished_headers() -> None:
    pytest.importorskip("nats")
    got = parse_header_lines(_REPUBLISHED)
    assert got == _nats_py(_REPUBLISHED)
    assert got["Nats-Sequence"] == "12" and got["Nats-Stream"] == "FASTWS_EV"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=12), st.sampled_from([b":", b": ", b"", b":\t"]),
                          st.binary(max_size=12)), max_size=6),
       st.sampled_from([b"\r\n", b"\n", b"\r\n\r\n"]))
def test_header_parser_equals_nats_py(lines: list[tuple[bytes, bytes, bytes]], sep: bytes) -> None:
    pytest.importorskip("nats")
    raw = sep.join(n + c + v for n, c, v in lines) + b"\r\n\r\n"
    assert parse_header_lines(raw) == _nats_py(raw)
    odd = b"A\x1cB: 1\r\n \t: 2\r\nK\xc3\xa9: 3\r\nok: v\xff\r\n"
    assert parse_header_lines(odd) == _nats_py(odd)


def test_credentials_in_a_nats_url_are_never_shown() -> None:
    from fastws.bus.connect import shown_url
    assert shown_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert shown_url("nats://alice:s3cret@h:4222") == "nats://***@h:4222"
    assert shown_url("tls://TOKEN123@a:1, nats://b:2") == "tls://***@a:1,nats://b:2"
    assert "s3cret" not in shown_url("nats://u:s3cret@x:1,nats://u:s3cret@y:1")


async def test_a_nats_url_with_a_password_stays_out_of_reprs_and_errors() -> None:
    import pytest as _pytest
    from fastws.bus import BusStream, FeedHandler
    url = "nats://alice:s3cret@127.0.0.1:9"          # nothing listens on port 9
    for obj in (FeedHandler(["btcusdt@trade"], nats=url), BusStream(["btcusdt@trade"], nats=url)):
        assert "s3cret" not in repr(obj) and "s3cret" not in obj.nats_url
    with _pytest.raises(ConnectionError) as err:
        await BusStream(["btcusdt@trade"], nats=url, connect_timeout=0.5).start()
    assert "s3cret" not in str(err.value) and "***@127.0.0.1:9" in str(err.value)
