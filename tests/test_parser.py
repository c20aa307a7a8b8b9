"""fastws.parser: every sample payload, the dispatch rules, inputs, errors and edge cases.

Typed results are compared field by field (floats bit for bit) with the simple orjson-based
reference decoder in ``tests/reference_decoder.py``.
"""
from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from fastws.events import (
    AggTrade, BookTicker, ContinuousKline, ControlError, ControlResponse, DepthUpdate,
    EventType, ForceOrder, Kline, MarkPrice, MiniTicker, PartialDepth, ReferencePrice,
    ServerShutdown, Ticker, Trade, WindowTicker, BlockTrade, AvgPrice,
)
from fastws.exceptions import ParseError
from fastws.parser import Parser, parse
from tests.reference_decoder import compare, normalise, reference_decode

EXPECTED_TYPES = {
    "spot_stream_aggTrade.json": AggTrade,
    "spot_stream_avgPrice.json": AvgPrice,
    "spot_stream_blockTrade.json": BlockTrade,
    "spot_stream_bookTicker.json": BookTicker,
    "spot_stream_combined_envelope_depthUpdate_DERIVED.json": DepthUpdate,
    "spot_stream_depthUpdate.json": DepthUpdate,
    "spot_stream_depth_partial.json": PartialDepth,
    "spot_stream_kline.json": Kline,
    "spot_stream_kline_utc8.json": Kline,
    "spot_stream_miniTicker.json": MiniTicker,
    "spot_stream_miniTicker_arr_DERIVED.json": [MiniTicker],
    "spot_stream_referencePrice.json": ReferencePrice,
    "spot_stream_serverShutdown_combined.json": ServerShutdown,
    "spot_stream_serverShutdown_raw.json": ServerShutdown,
    "spot_stream_ticker.json": Ticker,
    "spot_stream_ticker_1h.json": WindowTicker,
    "spot_stream_ticker_1h_arr_DERIVED.json": [WindowTicker],
    "spot_stream_trade.json": Trade,
    "usdm_stream_aggTrade.json": AggTrade,
    "usdm_stream_assetIndex.json": list,
    "usdm_stream_bookTicker.json": BookTicker,
    "usdm_stream_bookTicker_all.json": BookTicker,
    "usdm_stream_compositeIndex.json": dict,
    "usdm_stream_continuous_kline.json": ContinuousKline,
    "usdm_stream_contractInfo.json": dict,
    "usdm_stream_depthUpdate.json": DepthUpdate,
    "usdm_stream_depth_partial.json": DepthUpdate,
    "usdm_stream_forceOrder.json": ForceOrder,
    "usdm_stream_forceOrder_all.json": ForceOrder,
    "usdm_stream_kline.json": Kline,
    "usdm_stream_markPriceUpdate.json": MarkPrice,
    "usdm_stream_markPrice_arr.json": [MarkPrice],
    "usdm_stream_miniTicker.json": MiniTicker,
    "usdm_stream_miniTicker_arr.json": [MiniTicker],
    "usdm_stream_ticker.json": Ticker,
    "usdm_stream_ticker_arr.json": [Ticker],
}


def market_of(name: str) -> str:
    return "usdm" if name.startswith("usdm") else "spot"


def check(payload, market="spot"):
    """Parse with fastws and the reference; assert equal; return the fastws result."""
    result = Parser(market).parse(payload)
    compare(normalise(result), reference_decode(payload, market))
    return result


# ---------------------------------------------------------------------------- samples

def test_every_stream_sample_is_listed(samples_dir):
    names = {p.name for p in samples_dir.glob("*_stream_*.json")}
    assert names == set(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_stream_sample(samples_dir, name):
    payload = (samples_dir / name).read_bytes()
    result = check(payload, market_of(name))
    expected = EXPECTED_TYPES[name]
    if isinstance(expected, list):
        assert isinstance(result, list) and result
        assert all(type(r) is expected[0] for r in result)
    else:
        assert type(result) is expected


def test_every_other_sample_parses_or_falls_back_to_orjson(samples_dir):
    """Control frames, WS API and user data samples: never an error, same as orjson."""
    seen = 0
    for path in sorted(samples_dir.glob("*.json")):
        if path.name in EXPECTED_TYPES:
            continue
        payload = path.read_bytes()
        try:
            expected = orjson.loads(payload)
        except orjson.JSONDecodeError:
            with pytest.raises(ParseError):
                Parser(market_of(path.name)).parse(payload)
            continue
        result = check(payload, market_of(path.name))
        if not isinstance(result, (dict, list)) or (isinstance(result, list) and result
                                                     and not isinstance(result[0], dict)):
            continue  # typed (control frames, REST depth bodies): compared by check()
        assert result == expected, path.name
        seen += 1
    assert seen > 50


def test_control_samples(samples_dir):
    sub = parse((samples_dir / "spot_control_subscribe_response.json").read_bytes())
    assert sub == ControlResponse(id=1, result=None)
    lst = parse((samples_dir / "spot_control_list_subscriptions_response.json").read_bytes())
    assert lst == ControlResponse(id=3, result=["btcusdt@aggTrade"])
    for row in orjson.loads((samples_dir / "spot_control_errors_table.json").read_bytes()):
        frame = row["message"].replace("%s", "7")
        err = parse(frame)
        assert isinstance(err, ControlError)
        assert err.msg == orjson.loads(frame)["msg"]
        assert err.id == (7 if '"id"' in frame else None)


def test_sample_fields(samples_dir):
    ev = parse((samples_dir / "spot_stream_depthUpdate.json").read_bytes())
    assert ev.type == EventType.DEPTH_UPDATE
    assert (ev.symbol, ev.first_update_id, ev.final_update_id) == ("BNBBTC", 157, 160)
    assert ev.prev_final_update_id == -1 and ev.transaction_time == -1
    assert ev.bids.dtype == np.float64 and ev.bids.shape == (1, 2)
    assert ev.bids.flags.c_contiguous and ev.bids.flags.owndata
    assert ev.bids.tolist() == [[0.0024, 10.0]] and ev.asks.tolist() == [[0.0026, 100.0]]
    assert ev.stream is None
    fut = parse((samples_dir / "usdm_stream_depthUpdate.json").read_bytes(), "usdm")
    assert (fut.prev_final_update_id, fut.transaction_time) == (149, 123456788)
    fo = parse((samples_dir / "usdm_stream_forceOrder.json").read_bytes(), "usdm")
    assert (fo.symbol, fo.side, fo.order_type, fo.avg_price) == ("BTCUSDT", "SELL", "LIMIT", 9910.0)
    wt = parse((samples_dir / "spot_stream_ticker_1h.json").read_bytes())
    assert wt.window == "1h"
    ck = parse((samples_dir / "usdm_stream_continuous_kline.json").read_bytes(), "usdm")
    assert (ck.pair, ck.symbol, ck.contract_type) == ("BTCUSDT", "BTCUSDT", "PERPETUAL")
    assert ck.type == EventType.CONTINUOUS_KLINE
    sd = parse((samples_dir / "spot_stream_serverShutdown_combined.json").read_bytes())
    assert sd.stream == "!serverShutdown" and sd.event_time == 1770123456789


# ---------------------------------------------------------------------------- dispatch

BOOK = b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}'
DEPTH = (b'{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,'
         b'"b":[["0.0024","10"],["0.0023","0.00000000"]],"a":[["0.0026","100"]]}')
PARTIAL = b'{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}'


def test_combined_envelope_keeps_stream():
    ev = check(b'{"stream":"bnbusdt@bookTicker","data":' + BOOK + b"}")
    assert isinstance(ev, BookTicker) and ev.stream == "bnbusdt@bookTicker"
    # data before stream
    ev = check(b'{"data":' + DEPTH + b',"stream":"bnbbtc@depth@100ms"}')
    assert isinstance(ev, DepthUpdate) and ev.stream == "bnbbtc@depth@100ms"
    # an escaped stream name is decoded (and still classifies the payload)
    ev = check(b'{"stream":"bnbusdt\\u0040bookTicker","data":' + BOOK + b"}")
    assert isinstance(ev, BookTicker) and ev.stream == "bnbusdt@bookTicker"


def test_partial_depth_by_stream_name_and_keys():
    ev = check(b'{"stream":"btcusdt@depth5@100ms","data":' + PARTIAL + b"}")
    assert isinstance(ev, PartialDepth) and ev.symbol == "BTCUSDT" and ev.last_update_id == 160
    ev = check(PARTIAL)
    assert isinstance(ev, PartialDepth) and ev.symbol is None and ev.stream is None


def test_book_ticker_by_stream_name_even_with_few_keys():
    with pytest.raises(ParseError, match="missing required field 'b'") as info:
        parse(b'{"stream":"x@bookTicker","data":{"u":1,"s":"X"}}')
    assert info.value.path == "$.data.b"
    # without the stream name the same payload is just JSON
    assert parse(b'{"u":1,"s":"X"}') == {"u": 1, "s": "X"}


def test_usdm_partial_depth_stream_is_a_depth_update(samples_dir):
    payload = (samples_dir / "usdm_stream_depth_partial.json").read_bytes()
    ev = check(b'{"stream":"btcusdt@depth5@100ms","data":' + payload + b"}", "usdm")
    assert isinstance(ev, DepthUpdate) and ev.bids.shape == (5, 2)


def test_usdm_requires_futures_fields():
    with pytest.raises(ParseError, match="'T'"):
        Parser("usdm").parse(DEPTH)
    with pytest.raises(ParseError, match="'pu'"):
        Parser("usdm").parse(DEPTH.replace(b'"U"', b'"T":5,"U"'))
    with pytest.raises(ParseError, match="'E'"):
        Parser("usdm").parse(BOOK)
    assert isinstance(Parser("spot").parse(DEPTH), DepthUpdate)


def test_arrays_give_lists_of_events():
    one = b'{"e":"24hrMiniTicker","E":1,"s":"A","c":"1","o":"2","h":"3","l":"0.5","v":"10","q":"18"}'
    two = one.replace(b'"A"', b'"B"')
    out = check(b'{"stream":"!miniTicker@arr","data":[' + one + b"," + two + b"]}")
    assert [e.symbol for e in out] == ["A", "B"]
    assert all(e.stream == "!miniTicker@arr" for e in out)
    assert check(b"[" + one + b"]")[0].symbol == "A"
    assert parse(b"[]") == []
    # an array holding something unknown comes back as orjson would give it
    assert parse(b"[" + one + b',{"e":"other"}]')[1] == {"e": "other"}


@pytest.mark.parametrize("payload", [
    b'{"e":"unknownEvent","E":1}',
    b'{"e":5}',
    b'{"id":"x","status":200,"result":{"a":1}}',
    b'{"subscriptionId":0,"event":{"e":"outboundAccountPosition"}}',
    b'{"result":null,"id":1,"extra":true}',
    b'{"stream":"a@b","data":5}',
    b'{"stream":1,"data":{"e":"trade"}}',
    b"123", b'"text"', b"null", b"true", b"[1,2]", b"{}",
])
def test_other_json_comes_back_as_orjson_value(payload):
    assert parse(payload) == orjson.loads(payload)


def test_control_frames():
    assert parse(b'{"result":null,"id":312}') == ControlResponse(312, None)
    assert parse(b'{"id":"abc","result":true}') == ControlResponse("abc", True)
    assert parse(b'{"code":2,"msg":"Invalid request"}') == ControlError(2, "Invalid request")
    with pytest.raises(ParseError):
        parse(b'{"code":"2","msg":"x"}')


# ---------------------------------------------------------------------------- JSON details

def test_keys_in_any_order_whitespace_and_unknown_keys():
    payload = (b' \r\n\t{ "m" : false ,"zz":{"a":[1,{"b":[]}],"c":"}"}, "T":2,"q" :"1.5",'
               b'"p":"3","t":7,"s":"BTCUSDT","E":1,"extra":[[["x"]]],"e":"trade", "n":null}\n ')
    ev = check(payload)
    assert (ev.trade_id, ev.price, ev.quantity, ev.is_buyer_maker) == (7, 3.0, 1.5, False)


def test_duplicate_keys_last_wins_like_orjson():
    ev = check(b'{"e":"trade","E":1,"s":"A","t":1,"p":"1","q":"1","T":1,"m":true,"p":"2"}')
    assert ev.price == 2.0


def test_string_escapes_in_text_fields():
    ev = check(b'{"e":"trade","E":1,"s":"\\u00e9\\ud83d\\ude00\\"\\\\\\/\\n","t":1,'
               b'"p":"1","q":"1","T":1,"m":true}')
    assert ev.symbol == 'é😀"\\/\n'
    # escaped keys are matched after decoding, as orjson does
    ev = check(b'{"\\u0065":"trade","E":1,"s":"A","t":1,"p":"1","q":"1","T":1,"m":true}')
    assert isinstance(ev, Trade)
    # a decimal written with escapes is still decoded exactly
    ev = check(b'{"e":"trade","E":1,"s":"A","t":1,"p":"\\u0031.5","q":"1","T":1,"m":true}')
    assert ev.price == 1.5


def test_non_ascii_symbol_utf8():
    ev = check('{"e":"trade","E":1,"s":"币安人生USDT","t":1,"p":"1","q":"1","T":1,"m":true}'.encode())
    assert ev.symbol == "币安人生USDT"


def test_reference_price_null_is_nan():
    ev = check(b'{"e":"referencePrice","s":"BAZUSD","r":null,"t":1770313263917}')
    assert math.isnan(ev.price) and ev.event_time == -1 and ev.engine_time == 1770313263917


def test_empty_level_arrays():
    ev = check(b'{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"b":[],"a":[ ]}')
    assert ev.bids.shape == (0, 2) and ev.asks.shape == (0, 2)


def test_microsecond_timestamps_and_big_ids():
    ev = check(b'{"e":"trade","E":1723161255343123,"s":"A","t":9223372036854775807,'
               b'"p":"1","q":"1","T":-9223372036854775808,"m":true}')
    assert ev.event_time == 1723161255343123
    assert ev.trade_id == 2**63 - 1 and ev.trade_time == -(2**63)


@pytest.mark.parametrize("text,value", [
    ("0.00100000", 0.001), ("67234.56000000", 67234.56), ("-1.5", -1.5), ("1e-5", 1e-5),
    ("+2", 2.0), (".5", 0.5), ("5.", 5.0), ("0", 0.0), ("-0", -0.0), ("1E+3", 1000.0),
    ("123456789012345678901234567890", 1.2345678901234568e29), ("1e400", math.inf),
    ("1e-400", 0.0), ("0.1000000000000000055511151231257827", 0.1),
    ("9007199254740993", 9007199254740992.0),
])
def test_decimal_strings_match_float(text, value):
    payload = ('{"e":"trade","E":1,"s":"A","t":1,"p":"%s","q":"1","T":1,"m":true}' % text).encode()
    ev = check(payload)
    assert ev.price.hex() == float(text).hex() == value.hex()


# ---------------------------------------------------------------------------- inputs

def test_every_input_type_agrees(samples_dir):
    payload = (samples_dir / "spot_stream_combined_envelope_depthUpdate_DERIVED.json").read_bytes()
    results = [parse(x) for x in (payload, bytearray(payload), memoryview(payload),
                                  payload.decode())]
    norm = [normalise(r) for r in results]
    assert all(n == norm[0] for n in norm)
    assert results[0].raw is payload
    assert results[3].raw == payload.decode()
    assert results[1].raw is None and results[2].raw is None
    kept = Parser(keep_raw=True).parse(bytearray(payload))
    assert type(kept.raw) is bytes and kept.raw == payload


def test_memoryview_slice_of_larger_buffer_is_not_read_past():
    big = bytearray(b"XXXX" + DEPTH + b'9999"]]}garbage')
    start = 4
    view = memoryview(big)[start:start + len(DEPTH)]
    ev = parse(view)
    assert ev.asks.tolist() == [[0.0026, 100.0]]
    # a truncated slice must fail even though valid bytes follow in memory
    for cut in (len(DEPTH) - 1, len(DEPTH) - 5, 30):
        with pytest.raises(ParseError):
            parse(memoryview(big)[start:start + cut])


def test_number_at_the_very_end_of_a_slice():
    big = b'{"e":"trade","E":1,"s":"A","t":1,"p":"1","q":"1","T":1,"m":true,"x":12345'
    with pytest.raises(ParseError):
        parse(memoryview(big)[: len(big) - 2])


def test_str_payload_that_is_not_valid_unicode():
    with pytest.raises(ParseError, match="not valid Unicode"):
        parse('{"e":"trade","s":"\ud800"}')


def test_bad_payload_types():
    with pytest.raises(TypeError):
        parse(12)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse(memoryview(np.zeros((4, 4))[:, 0]))  # not contiguous


def test_parser_market_is_validated():
    with pytest.raises(ValueError):
        Parser("coinm")  # type: ignore[arg-type]
    assert Parser("usdm").market == "usdm" and repr(Parser()) == "Parser(market='spot', keep_raw=False)"


def test_parser_and_events_pickle():
    import pickle

    p = pickle.loads(pickle.dumps(Parser("usdm", keep_raw=True)))
    assert (p.market, p.keep_raw) == ("usdm", True)
    ev = pickle.loads(pickle.dumps(parse(DEPTH)))
    compare(normalise(ev), reference_decode(DEPTH))
    assert ev.type is EventType.DEPTH_UPDATE


def test_symbol_string_is_reused():
    p = Parser()
    a = p.parse(BOOK)
    b = p.parse(BOOK.replace(b"400900217", b"400900218"))
    assert a.symbol is b.symbol


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("payload,reason,path", [
    (b"", "empty payload", "$"),
    (b"   ", "empty payload", "$"),
    (DEPTH[:-1], "unexpected end of data", "$"),
    (DEPTH + b"x", "trailing data", "$"),
    (DEPTH.replace(b'"U":157', b'"U":"157"'), "expected an integer", "$.U"),
    (DEPTH.replace(b'"U":157', b'"U":15.7'), "expected an integer", "$.U"),
    (DEPTH.replace(b'"U":157,', b""), "missing required field 'U'", "$.U"),
    (DEPTH.replace(b'["0.0023","0.00000000"]', b'["0.0023",0]'), "expected a decimal string", "$.b[1][1]"),
    (DEPTH.replace(b'["0.0023","0.00000000"]', b'["0.0023"]'), "[price, quantity]", "$.b[1]"),
    (DEPTH.replace(b'"0.0026"', b'"0.00x26"'), "invalid decimal", "$.a[0][0]"),
    (DEPTH.replace(b'"b":[', b'"b":{"x":1},"c":['), "expected an array", "$.b"),
    (BOOK.replace(b'"25.35190000"', b"25.3519"), "expected a decimal string", "$.b"),
    (BOOK.replace(b'"25.35190000"', b'"nan"'), "invalid decimal", "$.b"),
    (BOOK.replace(b'"25.35190000"', b'" 1"'), "invalid decimal", "$.b"),
    (BOOK.replace(b'"25.35190000"', b'"1_0"'), "invalid decimal", "$.b"),
    (BOOK.replace(b'"25.35190000"', b'""'), "invalid decimal", "$.b"),
    (BOOK.replace(b'"BNBUSDT"', b"7"), "expected a string", "$.s"),
    (BOOK.replace(b"400900217", b"99999999999999999999"), "int64", "$.u"),
    (BOOK.replace(b"BNBUSDT", b"BNB\xffUSDT"), "UTF-8", "$"),
    (BOOK.replace(b"BNBUSDT", b"BNB\x01USDT"), "control character", "$"),
    (BOOK.replace(b"BNBUSDT", b"BNB\\xUSDT"), "escape", "$"),
    (BOOK.replace(b"BNBUSDT", b"BNB\\ud800USDT"), "surrogate", "$"),
    (b'{"e":"trade","E":1,"s":"A","t":1,"p":"1","q":"1","T":1,"m":1}', "true or false", "$.m"),
    (b'{"e":"kline","E":1,"s":"A","k":[]}', "expected an object", "$.k"),
    (b'{"stream":"a@trade","data":{"e":"trade","E":1}}', "missing required field", "$.data.s"),
    (b"{'e':1}", "expected a key string", "$"),
    (b'{"a":01}', "expected ',' or '}'", "$"),
    (b'{"a":tru}', "literal", "$"),
    (b"[" * 2000 + b"]" * 2000, "depth limit", "$"),
    (b'{"x":' + b"[" * 2000 + b"]" * 2000 + b"}", "nesting", "$.x"),
    (b"\xef\xbb\xbf{}", "invalid JSON", "$"),
    (b"nope", "invalid JSON", "$"),
])
def test_parse_errors(payload, reason, path):
    with pytest.raises(ParseError) as info:
        Parser().parse(payload)
    err = info.value
    assert reason in err.reason
    assert err.path.startswith(path)
    assert isinstance(err, ValueError)
    assert err.payload == payload
    with pytest.raises(Exception):
        reference_decode(payload)


def test_error_offset_points_at_the_problem():
    bad = BOOK.replace(b'"25.35190000"', b'"25.35x90000"')
    with pytest.raises(ParseError) as info:
        parse(bad)
    assert bad[info.value.offset:].startswith(b"25.35x")
    assert "offset" in str(info.value)


def test_deep_nesting_in_an_unknown_key_is_safe():
    payload = b'{"e":"trade","x":' + b"[" * 100000 + b"]" * 100000 + b"}"
    with pytest.raises(ParseError, match="nesting"):
        parse(payload)


# ---------------------------------------------------------------------------- decimal()

def test_decimal_gives_exact_text():
    payload = (b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,'
               b'"p":"67234.56000000","q":"0.00100000","T":1,"m":true}}')
    ev = parse(payload)
    assert ev.decimal("price") == "67234.56000000" and ev.decimal("quantity") == "0.00100000"
    dep = parse(DEPTH)
    assert dep.decimal("bids") == [["0.0024", "10"], ["0.0023", "0.00000000"]]
    with pytest.raises(AttributeError):
        ev.decimal("trade_id")
    with pytest.raises(ValueError, match="keep_raw"):
        parse(bytearray(payload)).decimal("price")
    assert Parser(keep_raw=True).parse(memoryview(payload)).decimal("price") == "67234.56000000"


def test_decimal_in_arrays_and_nested_objects(samples_dir):
    arr = parse((samples_dir / "usdm_stream_markPrice_arr.json").read_bytes(), "usdm")
    assert arr[0].decimal("funding_rate") == "0.00030000"
    kl = parse((samples_dir / "spot_stream_kline.json").read_bytes())
    assert kl.decimal("open") == "0.0010"
    fo = parse((samples_dir / "usdm_stream_forceOrder.json").read_bytes(), "usdm")
    assert fo.decimal("avg_price") == "9910"
    rp = parse(b'{"e":"referencePrice","s":"BAZUSD","r":null,"t":1}')
    assert rp.decimal("price") is None


def test_nested_objects_duplicates_and_error_paths(samples_dir):
    kline = orjson.loads((samples_dir / "spot_stream_kline.json").read_bytes())
    k = kline["k"]
    # "k" twice: the last one wins, as in orjson
    first = dict(k, o="1.5")
    text = orjson.dumps(kline).decode().replace('"k":{', '"k":' + orjson.dumps(first).decode() + ',"k":{', 1)
    ev = check(text.encode())
    assert ev.open == 0.001
    # an "o" object after "k" must not be mistaken for the kline body
    ev = check(orjson.dumps(dict(kline, o={"x": 1})))
    assert ev.open == 0.001
    ev = check(orjson.dumps({"stream": "bnbbtc@kline_1m", "data": dict(kline, o={"x": 1})}))
    assert ev.close == 0.002 and ev.stream == "bnbbtc@kline_1m"
    with pytest.raises(ParseError) as info:
        parse(orjson.dumps({"stream": "x", "data": dict(kline, k=dict(k, o=1))}))
    assert info.value.path == "$.data.k.o"
    with pytest.raises(ParseError) as info:
        parse(orjson.dumps([dict(kline, k=dict(k, n="1"))]))
    assert info.value.path == "$[0].k.n"


def test_events_held_by_the_caller_are_never_rewritten():
    """The parser refills its last event only when nobody else references it."""
    p = Parser()
    frames = [BOOK.replace(b"400900217", str(400900217 + i).encode()) for i in range(50)]
    held = [p.parse(f) for f in frames]
    assert [e.update_id for e in held] == [400900217 + i for i in range(50)]
    assert len({id(e) for e in held}) == 50
    kept = p.parse(DEPTH)
    bids = kept.bids
    with pytest.raises(ParseError):
        p.parse(DEPTH.replace(b'"u":160', b'"u":"x"'))  # fails half-way through a depth event
    assert kept.final_update_id == 160 and kept.bids is bids
    # dropped events may be recycled: the next result is still complete and correct
    for i in range(5):
        ev = p.parse(frames[i])
        assert ev.update_id == 400900217 + i and ev.symbol == "BNBUSDT"
        del ev


@pytest.mark.parametrize("name", sorted(n for n, t in EXPECTED_TYPES.items() if t not in (dict, list)))
def test_decimal_table_matches_the_float_fields(samples_dir, name):
    """ev.decimal(field) is the text the float field was decoded from, for every sample."""
    result = parse((samples_dir / name).read_bytes(), market_of(name))
    for ev in result if isinstance(result, list) else [result]:
        for field in type(ev)._DECIMALS:
            text = ev.decimal(field)
            value = getattr(ev, field)
            if isinstance(value, np.ndarray):
                assert np.array_equal(np.array(text, dtype=np.float64).reshape(-1, 2), value)
            elif text is None or text == "":
                assert math.isnan(value)
            else:
                assert float(text) == value, (field, text, value)


def test_many_unknown_keys():
    trade = orjson.loads(b'{"e":"trade","E":1,"s":"A","t":1,"p":"1.5","q":"1","T":1,"m":true}')
    wide = {f"extra{i}": [i, {"x": "y"}] for i in range(200)}
    ev = check(orjson.dumps({**wide, **trade}))
    assert isinstance(ev, Trade) and ev.price == 1.5
    # more one-letter keys than the decoder records: not decoded as an event, never wrong
    letters = {chr(c): 1 for c in list(range(ord("A"), ord("Z") + 1)) + list(range(ord("f"), ord("l")))}
    payload = orjson.dumps({**letters, **trade})
    assert parse(payload) == orjson.loads(payload)


def test_reentrant_parse_from_a_finalizer():
    """A finalizer run by the GC while a parse is under way may use the same parser."""
    import gc

    p = Parser()
    inner = []
    during = []

    class Cycle:
        def __del__(self):
            inner.append(p.parse(BOOK))

    # unknown elements: orjson builds hundreds of dicts (past the dict freelist), so a
    # collection runs inside parse
    arr = b"[" + b",".join([b'{"e":"other","n":[{"a":{}}]}'] * 300) + b"]"
    f = p.parse
    old = gc.get_threshold()
    gc.disable()
    try:
        for _ in range(20):
            a = Cycle()
            a.self = a
            del a
        gc.set_threshold(1)
        gc.enable()
        out = f(arr)
        during.append(len(inner))
    finally:
        gc.set_threshold(*old)
        gc.enable()
    gc.collect()
    assert during[0] > 0, "the collection did not run inside parse"
    assert out == orjson.loads(arr)
    assert all(normalise(r) == normalise(parse(BOOK)) for r in inner)
    assert normalise(p.parse(DEPTH)) == normalise(parse(DEPTH))  # the parser is still sound


@pytest.mark.parametrize("raw", [
    b'{"result":1e400,"id":1}',
    b'{"result":null,"id":-1e999}',
    b'{"code":2,"msg":"bad","id":1e400}',
    b'{"result":[1,2e500],"id":3}',
])
def test_an_out_of_range_number_in_a_control_frame_is_a_parse_error(raw):
    """Old code: orjson.JSONDecodeError escaped Parser.parse for numbers like 1e400."""
    with pytest.raises(ParseError, match="invalid JSON value") as info:
        Parser("spot").parse(raw)
    assert info.value.payload == raw
