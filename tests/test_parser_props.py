"""Property tests of fastws.parser against the orjson-based reference decoder (hypothesis).

- decimal strings of every shape convert bit-identically to ``float(s)``;
- generated events (every kind, both markets, raw or enveloped) with shuffled keys, random
  whitespace, unknown keys, extreme magnitudes and long level lists equal the reference;
- every truncation and random byte corruption of the sample payloads either equals the
  reference or raises ``ParseError``, never anything else;
- bytes / bytearray / memoryview / str inputs agree.
"""
from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastws.exceptions import ParseError
from fastws.parser import Parser
from tests.reference_decoder import compare, normalise, reference_decode
from tests.utils import SAMPLES_DIR

SETTINGS = settings(deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------------- decimals

digits = st.text(alphabet="0123456789", max_size=30)


@st.composite
def decimal_text(draw):
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(digits)
    frac = draw(st.one_of(st.none(), digits))
    if not whole and not frac:
        whole = draw(st.text(alphabet="0123456789", min_size=1, max_size=25))
    body = whole + ("" if frac is None else "." + frac)
    if draw(st.booleans()):
        body += "0" * draw(st.integers(0, 30))  # trailing zeros
    exp = ""
    if draw(st.integers(0, 3)) == 0:
        exp = draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
        exp += str(draw(st.integers(0, 400)))
    return sign + body + exp


@st.composite
def typical_decimal(draw):
    """Binance-like: a float formatted with 0 to 12 fixed decimals, maybe padded."""
    x = draw(st.floats(min_value=0, max_value=1e12, allow_nan=False))
    places = draw(st.integers(0, 12))
    return f"{x:.{places}f}"


def _bits(x: float) -> str:
    return float(x).hex()


@SETTINGS
@given(st.one_of(decimal_text(), typical_decimal()))
def test_decimal_bit_identical_to_float(text):
    payload = (b'{"u":1,"s":"A","b":"' + text.encode() + b'","B":"1","a":"1","A":"1"}')
    ev = Parser().parse(payload)
    assert _bits(ev.best_bid_price) == _bits(float(text)), text
    depth = (b'{"e":"depthUpdate","E":1,"s":"A","U":1,"u":2,"b":[["' + text.encode()
             + b'","' + text.encode() + b'"]],"a":[]}')
    lv = Parser().parse(depth).bids
    assert _bits(lv[0, 0]) == _bits(lv[0, 1]) == _bits(float(text)), text


@st.composite
def long_mantissa(draw):
    """15-19 significant digits, exponent within +-27: the extended-precision fast path,
    including exact midpoints between two doubles (which must take the slow path)."""
    if draw(st.booleans()):
        e = draw(st.integers(0, 10))
        m = (2**53 + 2 * draw(st.integers(0, 10**5)) + 1) * 2**e  # an odd multiple: midpoint
        text = str(m)
    else:
        nd = draw(st.integers(15, 19))
        text = str(draw(st.integers(10 ** (nd - 1), 10**nd - 1)))
    k = draw(st.integers(0, len(text)))
    form = draw(st.integers(0, 2))
    if form == 0:
        return text[:k] + "." + text[k:]
    if form == 1:
        return text + "e" + str(draw(st.integers(-27, 27)))
    return "-" + text


@settings(deadline=None, max_examples=1000)
@given(long_mantissa())
def test_long_mantissas_bit_identical(text):
    payload = (b'{"u":1,"s":"A","b":"' + text.encode() + b'","B":"1","a":"1","A":"1"}')
    assert _bits(Parser().parse(payload).best_bid_price) == _bits(float(text)), text
    depth = (b'{"e":"depthUpdate","E":1,"s":"A","U":1,"u":2,"b":[["' + text.encode()
             + b'","1"]],"a":[]}')
    assert _bits(Parser().parse(depth).bids[0, 0]) == _bits(float(text)), text


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_repr_of_any_double_roundtrips(x):
    text = repr(x)
    ev = Parser().parse(b'{"u":1,"s":"A","b":"' + text.encode() + b'","B":"1","a":"1","A":"1"}')
    assert _bits(ev.best_bid_price) == _bits(x)


@SETTINGS
@given(st.text(alphabet="0123456789.eE+-_ xabn", min_size=0, max_size=12))
def test_decimal_garbage_is_rejected_like_the_reference(text):
    payload = (b'{"u":1,"s":"A","b":"' + text.encode() + b'","B":"1","a":"1","A":"1"}')
    try:
        expected = reference_decode(payload)
    except Exception:
        with pytest.raises(ParseError):
            Parser().parse(payload)
        return
    compare(normalise(Parser().parse(payload)), expected)


# ---------------------------------------------------------------------------- events

int64s = st.one_of(st.integers(0, 2**63 - 1), st.integers(-(2**63), 2**63 - 1),
                   st.integers(0, 10**13))
decimals = st.one_of(typical_decimal(), decimal_text())
symbols = st.one_of(st.sampled_from(["BTCUSDT", "ETHUSDT", "币安人生USDT"]),
                    st.text(min_size=0, max_size=12))
level = st.tuples(decimals, decimals).map(list)


def _seeded_levels(args):
    """Long level lists drawn from a seed (cheap for hypothesis): wide magnitudes, padding."""
    seed, n = args
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        row = []
        for _ in range(2):
            mag = rng.choice([1e-8, 1e-3, 1, 100, 6e4, 1e9, 1e15])
            places = rng.randint(0, 10)
            row.append(f"{rng.random() * mag:.{places}f}")
        out.append(row)
    return out


levels = st.one_of(st.lists(level, max_size=5),
                   st.tuples(st.integers(0, 2**32), st.integers(50, 1000)).map(_seeded_levels))
junk = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=8)


def event_strategy(market):
    kline = st.fixed_dictionaries({
        "t": int64s, "T": int64s, "s": symbols, "i": st.sampled_from(["1m", "1s", "1M"]),
        "f": int64s, "L": int64s, "o": decimals, "c": decimals, "h": decimals, "l": decimals,
        "v": decimals, "n": int64s, "x": st.booleans(), "q": decimals, "V": decimals,
        "Q": decimals, "B": st.just("0")})
    usdm = market == "usdm"
    kinds = [
        st.fixed_dictionaries({"e": st.just("depthUpdate"), "E": int64s, "s": symbols,
                               "U": int64s, "u": int64s, "b": levels, "a": levels,
                               **({"T": int64s, "pu": int64s} if usdm else {})}),
        st.fixed_dictionaries({"e": st.just("trade"), "E": int64s, "s": symbols, "t": int64s,
                               "p": decimals, "q": decimals, "T": int64s, "m": st.booleans(),
                               "M": st.booleans()}),
        st.fixed_dictionaries({"e": st.just("aggTrade"), "E": int64s, "s": symbols,
                               "a": int64s, "p": decimals, "q": decimals, "f": int64s,
                               "l": int64s, "T": int64s, "m": st.booleans()}),
        st.fixed_dictionaries({"u": int64s, "s": symbols, "b": decimals, "B": decimals,
                               "a": decimals, "A": decimals,
                               **({"e": st.just("bookTicker"), "E": int64s, "T": int64s}
                                  if usdm else {})}),
        st.fixed_dictionaries({"e": st.just("kline"), "E": int64s, "s": symbols, "k": kline}),
        st.fixed_dictionaries({"e": st.just("24hrMiniTicker"), "E": int64s, "s": symbols,
                               "c": decimals, "o": decimals, "h": decimals, "l": decimals,
                               "v": decimals, "q": decimals}),
        st.fixed_dictionaries({"e": st.sampled_from(["1hTicker", "4hTicker", "1dTicker", "24hrTicker"]),
                               "E": int64s, "s": symbols, "p": decimals, "P": decimals,
                               "o": decimals, "h": decimals, "l": decimals, "c": decimals,
                               "w": decimals, "v": decimals, "q": decimals, "Q": decimals,
                               "O": int64s, "C": int64s, "F": int64s, "L": int64s,
                               "n": int64s}),
        st.fixed_dictionaries({"e": st.just("referencePrice"), "s": symbols,
                               "r": st.one_of(st.none(), decimals), "t": int64s}),
        st.fixed_dictionaries({"e": st.just("markPriceUpdate"), "E": int64s, "s": symbols,
                               "p": decimals, "i": decimals, "P": st.one_of(st.just(""), decimals),
                               "r": decimals, "T": int64s}),
        st.fixed_dictionaries({"e": st.just("forceOrder"), "E": int64s, "o": st.fixed_dictionaries({
            "s": symbols, "S": st.sampled_from(["BUY", "SELL"]), "o": st.just("LIMIT"),
            "f": st.just("IOC"), "q": decimals, "p": decimals, "ap": decimals,
            "X": st.just("FILLED"), "l": decimals, "z": decimals, "T": int64s})}),
        st.fixed_dictionaries({"lastUpdateId": int64s, "bids": levels, "asks": levels}),
    ]
    return st.one_of(kinds)


WS = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  ", "   "])


def dump(draw, value) -> str:
    """JSON text of ``value`` with random whitespace, random key order and random escapes."""
    ws = lambda: draw(WS)  # noqa: E731
    if isinstance(value, dict):
        items = list(value.items())
        order = draw(st.permutations(range(len(items)))) if items else []
        body = ",".join(f"{ws()}{dump(draw, items[i][0])}{ws()}:{ws()}{dump(draw, items[i][1])}{ws()}"
                        for i in order)
        return "{" + (body or ws()) + "}"
    if isinstance(value, list):
        return "[" + (",".join(ws() + dump(draw, v) + ws() for v in value) or ws()) + "]"
    if isinstance(value, str) and value and draw(st.integers(0, 9)) == 0:
        return json.dumps(value, ensure_ascii=True)  # \uXXXX escapes
    return json.dumps(value, ensure_ascii=False)


@st.composite
def frames(draw, market):
    ev = dict(draw(event_strategy(market)))
    for key in draw(st.lists(st.sampled_from(["zz", "x1", "extra", "M", "X"]), max_size=2)):
        if key not in ev:
            ev[key] = draw(junk)
    form = draw(st.integers(0, 2))
    if form == 1:
        name = "btcusdt@depth5" if "lastUpdateId" in ev else (
            "btcusdt@bookTicker" if "u" in ev and "b" in ev and "e" not in ev else "btcusdt@x")
        ev = {"stream": name, "data": ev}
    elif form == 2 and "e" in ev:
        ev = [ev, ev]
    return dump(draw, ev)


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_generated_events_equal_reference(market):
    @SETTINGS
    @given(st.data())
    def run(data):
        text = data.draw(frames(market))
        payload = text.encode()
        try:
            expected = reference_decode(payload, market)
        except Exception:
            with pytest.raises(ParseError):
                Parser(market).parse(payload)
            return
        compare(normalise(Parser(market).parse(payload)), expected)
        # every input type agrees
        for form in (bytearray(payload), memoryview(payload), text):
            compare(normalise(Parser(market).parse(form)), expected)

    run()


# ---------------------------------------------------------------------------- corruption

def _sample_payloads():
    if not SAMPLES_DIR.is_dir():
        return []
    out = []
    for p in sorted(SAMPLES_DIR.glob("*_stream_*.json")):
        data = p.read_bytes()
        out.append((p.name, orjson.dumps(orjson.loads(data))))  # compact, like the wire
        out.append((p.name + "[pretty]", data))
    return out


SAMPLES = _sample_payloads()


def _agree(payload: bytes, market: str) -> None:
    try:
        expected = reference_decode(payload, market)
    except Exception:
        try:
            Parser(market).parse(payload)
        except ParseError:
            return
        raise AssertionError(f"reference rejects, fastws accepts: {payload!r}")
    got = Parser(market).parse(payload)
    compare(normalise(got), expected)


def test_every_truncation_of_every_sample(samples_dir):
    assert SAMPLES
    for name, payload in SAMPLES:
        market = "usdm" if name.startswith("usdm") else "spot"
        for cut in range(len(payload)):
            # a slice of a longer buffer: the bytes after the cut are there but must not be read
            view = memoryview(payload)[:cut]
            try:
                Parser(market).parse(view)
            except ParseError:
                pass
            else:
                _agree(bytes(view), market)


@settings(deadline=None, max_examples=600)
@given(st.data())
def test_random_byte_corruption(data):
    if not SAMPLES:
        pytest.skip("samples not available")
    name, payload = data.draw(st.sampled_from(SAMPLES))
    market = "usdm" if name.startswith("usdm") else "spot"
    buf = bytearray(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        op = data.draw(st.integers(0, 2))
        byte = data.draw(st.one_of(st.sampled_from(b'"\\{}[],:0.-e \x00\xff\xc3'), st.integers(0, 255)))
        if op == 0:
            buf[pos] = byte
        elif op == 1:
            del buf[pos]
        else:
            buf.insert(pos, byte)
    _agree(bytes(buf), market)


def test_seeded_mass_corruption():
    """A few thousand deterministic single-byte corruptions (fast, reproducible)."""
    if not SAMPLES:
        pytest.skip("samples not available")
    rng = random.Random(1234)
    for _ in range(4000):
        name, payload = rng.choice(SAMPLES)
        market = "usdm" if name.startswith("usdm") else "spot"
        buf = bytearray(payload)
        buf[rng.randrange(len(buf))] = rng.randrange(256)
        _agree(bytes(buf), market)


# ---------------------------------------------------------------------------- guard page

class GuardedBuffer:
    """Payload bytes placed flush against a PROT_NONE page: any read past the end faults."""

    def __init__(self):
        import ctypes
        import mmap

        self.page = mmap.PAGESIZE
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mmap.restype = ctypes.c_void_p
        self.libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_long]
        self.libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.size = 64 * self.page
        addr = self.libc.mmap(None, self.size + self.page, mmap.PROT_READ | mmap.PROT_WRITE,
                              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        assert self.libc.mprotect(addr + self.size, self.page, 0) == 0  # PROT_NONE
        self.addr = addr
        self.ctypes = ctypes

    def close(self) -> None:
        self.libc.munmap.argtypes = [self.ctypes.c_void_p, self.ctypes.c_size_t]
        self.libc.munmap(self.addr, self.size + self.page)

    def view(self, data: bytes) -> memoryview:
        assert len(data) <= self.size
        start = self.addr + self.size - len(data)
        self.ctypes.memmove(start, data, len(data))
        arr = (self.ctypes.c_char * len(data)).from_address(start)
        return memoryview(arr).cast("B")


@pytest.mark.skipif(not hasattr(__import__("os"), "uname") or __import__("os").uname().sysname != "Linux",
                    reason="guard pages via mmap/mprotect are set up for Linux only")
def test_never_reads_past_the_end_of_the_buffer():
    guard = GuardedBuffer()
    try:
        _parse_against_guard(guard)
    finally:
        guard.close()


def _parse_against_guard(guard: GuardedBuffer) -> None:
    rng = random.Random(7)
    payloads = [p for _, p in SAMPLES] or [b'{"e":"trade","E":1,"s":"A","t":1,"p":"1","q":"1","T":1,"m":true}']
    for payload in payloads:
        for market in ("spot", "usdm"):
            parser = Parser(market)
            for cut in range(len(payload) + 1):
                try:
                    parser.parse(guard.view(payload[:cut]))
                except ParseError:
                    pass
            for _ in range(50):
                buf = bytearray(payload)
                buf[rng.randrange(len(buf))] = rng.randrange(256)
                cut = rng.randrange(len(buf) + 1)
                try:
                    parser.parse(guard.view(bytes(buf[:cut])))
                except ParseError:
                    pass
