"""A deliberately simple reference decoder for Binance stream frames, built on orjson.

It applies the same rules as ``fastws.parser`` (SPEC §2.4, §2.5, §4.3, §9) in plain Python, so
tests can compare the two field by field. Results are *normalised* values: an event becomes
``(class_name, {field: value})`` with floats as ``float.hex()`` strings (bit-exact compare,
nan included) and level arrays as lists of ``[price_hex, qty_hex]``; lists stay lists;
control frames become ``("ControlResponse", {...})`` / ``("ControlError", {...})``; anything
else is the orjson value itself. :func:`normalise` turns a fastws result into the same shape.

Every malformed input raises :class:`RefError` (or an orjson error).
"""
from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson

_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)


class RefError(ValueError):
    """The reference decoder rejects the frame."""


def _hex(x: float) -> str:
    return float(x).hex()


def _req(d: dict, key: str) -> Any:
    if key not in d:
        raise RefError(f"missing {key}")
    return d[key]


def dec(d: dict, key: str, *, null=False, empty=False, optional=False) -> str:
    if key not in d:
        if optional:
            return _hex(math.nan)
        raise RefError(f"missing {key}")
    v = d[key]
    if v is None and null:
        return _hex(math.nan)
    if not isinstance(v, str):
        raise RefError(f"{key}: not a string")
    if v == "" and empty:
        return _hex(math.nan)
    if not _DECIMAL.fullmatch(v):
        raise RefError(f"{key}: not a decimal: {v!r}")
    return _hex(float(v))


def i64(d: dict, key: str, *, optional=False) -> int:
    if key not in d:
        if optional:
            return -1
        raise RefError(f"missing {key}")
    v = d[key]
    if type(v) is not int or not (_INT64[0] <= v <= _INT64[1]):
        raise RefError(f"{key}: not an int64: {v!r}")
    return v


def boolean(d: dict, key: str) -> bool:
    v = _req(d, key)
    if type(v) is not bool:
        raise RefError(f"{key}: not a bool")
    return v


def text(d: dict, key: str) -> str:
    v = _req(d, key)
    if not isinstance(v, str):
        raise RefError(f"{key}: not a string")
    return v


def levels(d: dict, key: str) -> list:
    v = _req(d, key)
    if not isinstance(v, list):
        raise RefError(f"{key}: not an array")
    out = []
    for lvl in v:
        if not isinstance(lvl, list) or len(lvl) != 2:
            raise RefError(f"{key}: bad level")
        out.append([dec({"x": lvl[0]}, "x"), dec({"x": lvl[1]}, "x")])
    return out


def _kline_fields(d: dict) -> dict:
    k = _req(d, "k")
    if not isinstance(k, dict):
        raise RefError("k: not an object")
    return {
        "start_time": i64(k, "t"), "close_time": i64(k, "T"), "interval": text(k, "i"),
        "first_trade_id": i64(k, "f"), "last_trade_id": i64(k, "L"),
        "open": dec(k, "o"), "close": dec(k, "c"), "high": dec(k, "h"), "low": dec(k, "l"),
        "volume": dec(k, "v"), "trade_count": i64(k, "n"), "is_closed": boolean(k, "x"),
        "quote_volume": dec(k, "q"), "taker_buy_base_volume": dec(k, "V"),
        "taker_buy_quote_volume": dec(k, "Q"),
    }


def _event(d: dict, stream: str | None, usdm: bool):
    base = {"stream": stream}
    if "e" in d:
        e = d["e"]
        if not isinstance(e, str):
            return None
        if e == "depthUpdate":
            return "DepthUpdate", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "first_update_id": i64(d, "U"), "final_update_id": i64(d, "u"),
                "transaction_time": i64(d, "T", optional=not usdm),
                "prev_final_update_id": i64(d, "pu", optional=not usdm),
                "bids": levels(d, "b"), "asks": levels(d, "a"),
            }
        if e == "trade":
            return "Trade", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "trade_id": i64(d, "t"), "price": dec(d, "p"), "quantity": dec(d, "q"),
                "trade_time": i64(d, "T"), "is_buyer_maker": boolean(d, "m"),
            }
        if e == "bookTicker":
            return _book_ticker(d, base, usdm)
        if e == "aggTrade":
            return "AggTrade", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "agg_trade_id": i64(d, "a"), "price": dec(d, "p"), "quantity": dec(d, "q"),
                "first_trade_id": i64(d, "f"), "last_trade_id": i64(d, "l"),
                "trade_time": i64(d, "T"), "is_buyer_maker": boolean(d, "m"),
            }
        if e == "markPriceUpdate":
            return "MarkPrice", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "mark_price": dec(d, "p"), "index_price": dec(d, "i", empty=True),
                "estimated_settle_price": dec(d, "P", empty=True),
                "funding_rate": dec(d, "r", empty=True), "next_funding_time": i64(d, "T"),
            }
        if e == "kline":
            return "Kline", {**base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                             **_kline_fields(d)}
        if e == "continuous_kline":
            pair = text(d, "ps")
            return "ContinuousKline", {
                **base, "event_time": i64(d, "E"), "pair": pair, "symbol": pair,
                "contract_type": text(d, "ct"), **_kline_fields(d),
            }
        if e == "24hrTicker":
            return "Ticker", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "price_change": dec(d, "p"), "price_change_percent": dec(d, "P"),
                "weighted_avg_price": dec(d, "w"),
                "prev_close_price": dec(d, "x", optional=True), "last_price": dec(d, "c"),
                "last_quantity": dec(d, "Q"), "best_bid_price": dec(d, "b", optional=True),
                "best_bid_quantity": dec(d, "B", optional=True),
                "best_ask_price": dec(d, "a", optional=True),
                "best_ask_quantity": dec(d, "A", optional=True), "open": dec(d, "o"),
                "high": dec(d, "h"), "low": dec(d, "l"), "volume": dec(d, "v"),
                "quote_volume": dec(d, "q"), "open_time": i64(d, "O"),
                "close_time": i64(d, "C"), "first_trade_id": i64(d, "F"),
                "last_trade_id": i64(d, "L"), "trade_count": i64(d, "n"),
            }
        if e == "24hrMiniTicker":
            return "MiniTicker", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "close": dec(d, "c"), "open": dec(d, "o"), "high": dec(d, "h"),
                "low": dec(d, "l"), "volume": dec(d, "v"), "quote_volume": dec(d, "q"),
            }
        if e in ("1hTicker", "4hTicker", "1dTicker"):
            return "WindowTicker", {
                **base, "window": e[:2], "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "price_change": dec(d, "p"), "price_change_percent": dec(d, "P"),
                "open": dec(d, "o"), "high": dec(d, "h"), "low": dec(d, "l"),
                "last_price": dec(d, "c"), "weighted_avg_price": dec(d, "w"),
                "volume": dec(d, "v"), "quote_volume": dec(d, "q"), "open_time": i64(d, "O"),
                "close_time": i64(d, "C"), "first_trade_id": i64(d, "F"),
                "last_trade_id": i64(d, "L"), "trade_count": i64(d, "n"),
            }
        if e == "blockTrade":
            return "BlockTrade", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "block_trade_id": i64(d, "t"), "price": dec(d, "p"), "quantity": dec(d, "q"),
                "trade_time": i64(d, "T"), "is_buyer_maker": boolean(d, "m"),
            }
        if e == "avgPrice":
            return "AvgPrice", {
                **base, "event_time": i64(d, "E"), "symbol": text(d, "s"),
                "interval": text(d, "i"), "price": dec(d, "w"), "last_trade_time": i64(d, "T"),
            }
        if e == "referencePrice":
            return "ReferencePrice", {
                **base, "event_time": i64(d, "E", optional=True), "symbol": text(d, "s"),
                "price": dec(d, "r", null=True), "engine_time": i64(d, "t"),
            }
        if e == "forceOrder":
            o = _req(d, "o")
            if not isinstance(o, dict):
                raise RefError("o: not an object")
            return "ForceOrder", {
                **base, "event_time": i64(d, "E"), "symbol": text(o, "s"),
                "side": text(o, "S"), "order_type": text(o, "o"),
                "time_in_force": text(o, "f"), "orig_quantity": dec(o, "q"),
                "price": dec(o, "p"), "avg_price": dec(o, "ap"),
                "order_status": text(o, "X"), "last_filled_quantity": dec(o, "l"),
                "filled_quantity": dec(o, "z"), "trade_time": i64(o, "T"),
            }
        if e == "serverShutdown":
            return "ServerShutdown", {**base, "event_time": i64(d, "E"), "symbol": None}
        return None
    if stream is not None:
        if "@bookTicker" in stream:
            return _book_ticker(d, base, usdm)
        i = stream.find("@depth")
        if i >= 0 and i + 6 < len(stream) and stream[i + 6].isdigit():
            return _partial(d, base, stream)
    if "lastUpdateId" in d:
        return _partial(d, base, stream)
    if "u" in d and "b" in d and "a" in d:
        return _book_ticker(d, base, usdm)
    return None


def _book_ticker(d: dict, base: dict, usdm: bool):
    return "BookTicker", {
        **base, "update_id": i64(d, "u"), "symbol": text(d, "s"),
        "best_bid_price": dec(d, "b"), "best_bid_quantity": dec(d, "B"),
        "best_ask_price": dec(d, "a"), "best_ask_quantity": dec(d, "A"),
        "event_time": i64(d, "E", optional=not usdm),
        "transaction_time": i64(d, "T", optional=not usdm),
    }


def _partial(d: dict, base: dict, stream: str | None):
    return "PartialDepth", {
        **base, "symbol": None if stream is None else stream.partition("@")[0].upper(),
        "last_update_id": i64(d, "lastUpdateId"), "event_time": i64(d, "E", optional=True),
        "transaction_time": i64(d, "T", optional=True),
        "bids": levels(d, "bids"), "asks": levels(d, "asks"),
    }


def _control(d: dict):
    if set(d) == {"result", "id"}:
        return "ControlResponse", {"id": d["id"], "result": d["result"]}
    keys = set(d)
    if keys == {"code", "msg"} or keys == {"code", "msg", "id"}:
        return "ControlError", {"code": i64(d, "code"), "msg": text(d, "msg"), "id": d.get("id")}
    return None


def _array(items: list, stream: str | None, usdm: bool):
    out = []
    for item in items:
        if not isinstance(item, dict):
            return None
        ev = _event(item, stream, usdm)
        if ev is None:
            return None
        out.append(ev)
    return out


def reference_decode(payload: bytes | bytearray | memoryview | str, market: str = "spot"):
    """Decode one frame the simple way; returns the normalised result (see module doc)."""
    usdm = market == "usdm"
    doc = orjson.loads(payload)
    result = None
    if isinstance(doc, dict):
        if isinstance(doc.get("stream"), str) and "data" in doc:
            data = doc["data"]
            if isinstance(data, dict):
                result = _event(data, doc["stream"], usdm)
            elif isinstance(data, list):
                result = _array(data, doc["stream"], usdm)
        else:
            result = _event(doc, None, usdm)
            if result is None:
                result = _control(doc)
    elif isinstance(doc, list):
        result = _array(doc, None, usdm)
    return doc if result is None else result


def _norm_value(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [[_hex(p), _hex(q)] for p, q in v.tolist()]
    if isinstance(v, float):
        return _hex(v)
    if hasattr(v, "value") and type(v).__name__ == "EventType":
        return int(v)
    return v


def normalise(result: Any) -> Any:
    """A fastws ``parse`` result in the reference decoder's shape."""
    from fastws.events import ControlError, ControlResponse, Event

    if isinstance(result, list) and result and all(isinstance(r, Event) for r in result):
        return [normalise(r) for r in result]
    if isinstance(result, Event):
        d = result.to_dict()
        d.pop("type")
        return type(result).__name__, {k: _norm_value(v) for k, v in d.items()}
    if isinstance(result, ControlResponse):
        return "ControlResponse", {"id": result.id, "result": result.result}
    if isinstance(result, ControlError):
        return "ControlError", {"code": result.code, "msg": result.msg, "id": result.id}
    return result


def compare(fast: Any, ref: Any) -> None:
    """Assert a normalised fastws result equals the reference's, naming the first difference."""
    if isinstance(ref, tuple):
        assert isinstance(fast, tuple) and fast[0] == ref[0], (fast, ref)
        fdict, rdict = fast[1], ref[1]
        for key, value in rdict.items():
            assert key in fdict, f"{ref[0]}: fastws has no field {key}"
            assert fdict[key] == value, f"{ref[0]}.{key}: fastws {fdict[key]!r} != ref {value!r}"
        # every field fastws reports is covered by the reference
        extra = set(fdict) - set(rdict) - {"event_time"}
        assert not extra, f"{ref[0]}: fields not checked by the reference: {extra}"
        if "event_time" not in rdict and "event_time" in fdict:
            assert fdict["event_time"] == -1
        return
    if isinstance(ref, list) and ref and isinstance(ref[0], tuple):
        assert isinstance(fast, list) and len(fast) == len(ref)
        for f, r in zip(fast, ref):
            compare(f, r)
        return
    assert fast == ref
