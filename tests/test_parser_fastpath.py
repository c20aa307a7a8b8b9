"""The spot bookTicker fast path (the exact wire shape, checked byte for byte) gives what the
generic scan gives: the same event fields bit for bit, and on any other input the same
outcome (the generic scan decides). A leading space sends a frame down the generic path."""
from __future__ import annotations

import gzip
import itertools
import struct
from typing import Any

import pytest

from fastws.events import BookTicker
from fastws.parser import Parser
from tests.utils import RECORDED_DIR

FIELDS = ("stream", "symbol", "update_id", "best_bid_price", "best_bid_quantity",
          "best_ask_price", "best_ask_quantity", "event_time", "transaction_time", "type", "raw")
BASE = (b'{"stream":"btcusdt@bookTicker","data":{"u":400900217,"s":"BTCUSDT",'
        b'"b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}}')


def _bits(x: Any) -> Any:
    return struct.pack("<d", x) if isinstance(x, float) else x


def _outcome(p: Parser, payload: bytes) -> Any:
    try:
        r = p.parse(payload)
    except Exception as exc:
        return ("error", type(exc).__name__)
    if isinstance(r, BookTicker):
        out = tuple(_bits(getattr(r, f)) for f in FIELDS[:-1])
        return ("bookTicker", out)
    return ("other", type(r).__name__, repr(r)[:200])


def _same(payload: bytes) -> None:
    fast, generic = Parser("spot"), Parser("spot")
    a = _outcome(fast, payload)
    b = _outcome(generic, b" " + payload)
    assert a == b, payload


def test_base_frame_fields() -> None:
    ev = Parser("spot").parse(BASE)
    assert isinstance(ev, BookTicker)
    assert (ev.stream, ev.symbol, ev.update_id) == ("btcusdt@bookTicker", "BTCUSDT", 400900217)
    assert ev.best_bid_price == float("25.35190000") and ev.best_ask_quantity == 40.66
    assert ev.event_time == -1 and ev.transaction_time == -1 and ev.raw == BASE
    _same(BASE)
    _same(BASE + b" " * 300 + b"\n")


@pytest.mark.parametrize("text", [
    b"0", b"-0", b"1e5", b"1E-3", b"0.1e1", b"00.1", b"1.", b".5", b"", b" 1", b"1 ", b"+1",
    b"123456789012345678901234567890.5", b"0.000000000000000000000000000001", b"NaN", b"inf",
    b"1\\u0030", b"9007199254740993", b"1.7976931348623157e308", b"1e400", b"4.9e-324",
])
def test_decimal_strings(text: bytes) -> None:
    for key in (b'"b":"', b'"B":"', b'"a":"', b'"A":"'):
        i = BASE.index(key) + len(key)
        j = BASE.index(b'"', i)
        _same(BASE[:i] + text + BASE[j:])


def test_every_single_byte_change() -> None:
    """Each byte replaced (by a set of JSON-significant bytes), deleted or doubled."""
    subst = b'",:{}[] \\x0-.e\x00\xff'
    for i in range(len(BASE)):
        _same(BASE[:i] + BASE[i + 1:])
        _same(BASE[:i] + BASE[i:i + 1] + BASE[i:])
        for c in subst:
            if c != BASE[i]:
                _same(BASE[:i] + bytes([c]) + BASE[i + 1:])


@pytest.mark.parametrize("payload", [
    BASE.replace(b'"u":400900217', b'"u":-1'),
    BASE.replace(b'"u":400900217', b'"u":1234567890123456789012'),
    BASE.replace(b'"u":400900217', b'"u":4.5'),
    BASE.replace(b'"s":"BTCUSDT"', b'"s":"BTC\\u0055SDT"'),
    BASE.replace(b'"s":"BTCUSDT"', b'"s":"1000"'),
    BASE.replace(b"btcusdt@bookTicker", b"btcusdt@bookTicker@x"),
    BASE.replace(b"btcusdt@bookTicker", b"btcusdt@depth"),
    BASE.replace(b'"A":"40.66000000"', b'"A":"40.66000000","E":1'),
    BASE.replace(b'"u":400900217,', b'"u":400900217,"u":5,'),
    BASE + b"x",
    BASE[:-1],
    "{\"stream\":\"btcusdt@bookTicker\",\"data\":{\"u\":1,\"s\":\"BTCÜSDT\",\"b\":\"1\",\"B\":\"1\",\"a\":\"2\",\"A\":\"1\"}}".encode(),
    b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"2","A":"1"}}',
])
def test_shapes_near_the_fast_one(payload: bytes) -> None:
    _same(payload)


def test_usdm_never_takes_the_spot_shape() -> None:
    assert _outcome(Parser("usdm"), BASE) == ("error", "ParseError")   # E and T are required


def test_recorded_spot_book_tickers() -> None:
    if not RECORDED_DIR.is_dir():
        pytest.skip(f"no recorded captures at {RECORDED_DIR}")
    files = sorted(RECORDED_DIR.glob("hftbacktest_spot_*.gz"))
    if not files:
        pytest.skip("no hftbacktest spot capture")
    n = 0
    for path in files:
        with gzip.open(path, "rb") as fh:
            for line in itertools.islice(fh, 20000):
                payload = line.rstrip(b"\r\n").split(b" ", 1)[-1]
                if b"@bookTicker" in payload:
                    _same(payload)
                    n += 1
    assert n > 100


DEPTH = (b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000162,'
         b'"s":"BTCUSDT","U":2282077837,"u":2282077841,"b":[["59999.86000000","0.00907000"],'
         b'["59999.01000000","0.00011000"]],"a":[["60000.01000000","0.00000000"]]}}')
DEPTH_FIELDS = ("stream", "symbol", "event_time", "first_update_id", "final_update_id",
                "prev_final_update_id", "transaction_time", "type")


def _depth_outcome(p: Parser, payload: bytes) -> Any:
    from fastws.events import DepthUpdate

    try:
        r = p.parse(payload)
    except Exception as exc:
        return ("error", type(exc).__name__)
    if isinstance(r, DepthUpdate):
        return ("depth", tuple(getattr(r, f) for f in DEPTH_FIELDS),
                r.bids.shape, r.bids.tobytes(), r.asks.shape, r.asks.tobytes())
    return ("other", type(r).__name__, repr(r)[:200])


def _same_depth(payload: bytes, fast: Parser | None = None) -> None:
    a = _depth_outcome(fast or Parser("spot"), payload)
    b = _depth_outcome(Parser("spot"), b" " + payload)
    assert a == b, payload


def test_depth_base_frame() -> None:
    ev = Parser("spot").parse(DEPTH)
    assert (ev.symbol, ev.first_update_id, ev.final_update_id) == ("BTCUSDT", 2282077837, 2282077841)
    assert ev.prev_final_update_id == -1 and ev.transaction_time == -1 and ev.event_time == 1700000000162
    assert ev.bids.tolist() == [[59999.86, 0.00907], [59999.01, 0.00011]]
    assert ev.asks.tolist() == [[60000.01, 0.0]]
    _same_depth(DEPTH)
    _same_depth(DEPTH + b" " * 500)


def test_depth_every_single_byte_change() -> None:
    subst = b'",:{}[] \\x0-.e\x00\xff'
    fast = Parser("spot")                    # one parser: refilled events and arrays too
    for i in range(len(DEPTH)):
        _same_depth(DEPTH[:i] + DEPTH[i + 1:], fast)
        _same_depth(DEPTH[:i] + DEPTH[i:i + 1] + DEPTH[i:], fast)
        for c in subst:
            if c != DEPTH[i]:
                _same_depth(DEPTH[:i] + bytes([c]) + DEPTH[i + 1:], fast)


@pytest.mark.parametrize("payload", [
    DEPTH.replace(b'"b":[["59999.86000000","0.00907000"],["59999.01000000","0.00011000"]]', b'"b":[]'),
    DEPTH.replace(b'"a":[["60000.01000000","0.00000000"]]', b'"a":[]'),
    DEPTH.replace(b'"u":2282077841,', b'"u":2282077841,"pu":2282077836,'),
    DEPTH.replace(b'"E":1700000000162,', b'"E":1700000000162,"T":1700000000160,'),
    DEPTH.replace(b'"U":2282077837', b'"U":12345678901234567890'),
    DEPTH.replace(b'"0.00907000"', b'"1e400"'),
    DEPTH.replace(b'"0.00907000"', b'"abc"'),
    DEPTH.replace(b'["59999.01000000","0.00011000"]', b'["59999.01000000","0.00011000",1]'),
    DEPTH.replace(b'"s":"BTCUSDT"', b'"s":"BTC\\u0055SDT"'),
])
def test_depth_shapes_near_the_fast_one(payload: bytes) -> None:
    _same_depth(payload)


def test_recorded_spot_depth() -> None:
    if not RECORDED_DIR.is_dir():
        pytest.skip(f"no recorded captures at {RECORDED_DIR}")
    files = sorted(RECORDED_DIR.glob("hftbacktest_spot_*.gz"))
    if not files:
        pytest.skip("no hftbacktest spot capture")
    n = 0
    fast = Parser("spot")
    for path in files:
        with gzip.open(path, "rb") as fh:
            for line in itertools.islice(fh, 20000):
                payload = line.rstrip(b"\r\n").split(b" ", 1)[-1]
                if b"depthUpdate" in payload:
                    _same_depth(payload, fast)
                    n += 1
    assert n > 100
