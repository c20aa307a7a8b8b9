"""Payload builders: plain Python dicts in Binance's exact shapes, encoded with orjson.

Field names and JSON types follow SPEC §2.4-2.5 (spot) and §4.3 (USDⓈ-M): prices and
quantities are strings, ids and times integers, flags booleans. Nothing here imports fastws's
parser: these payloads are the independent oracle the parser is tested against.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Optional

import orjson

from fastws.sim.market import SymbolMarket, kline_end

__all__ = ["dumps", "frame", "to_micro", "user_event_micro", "combined", "depth_diff", "partial_depth", "book_ticker", "trade",
           "agg_trade", "block_trade", "kline", "mini_ticker", "ticker", "window_ticker",
           "avg_price", "reference_price", "mark_price", "server_shutdown", "snapshot"]

dumps = orjson.dumps


def frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """An unmasked server WebSocket frame around ``payload`` (FIN set unless ``fin=False``)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return bytes((b0, 126, n >> 8, n & 0xFF)) + payload
    return bytes((b0, 127)) + n.to_bytes(8, "big") + payload


def fragments(payload: bytes, size: int) -> list[bytes]:
    """``payload`` as one fragmented text message (RFC 6455 §5.4): a TEXT frame without FIN,
    then CONTINUATION frames of ``size`` bytes, the last one with FIN."""
    parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    last = len(parts) - 1
    return [frame(part, 0x1 if i == 0 else 0x0, fin=i == last) for i, part in enumerate(parts)]


def combined(stream: str, raw: bytes) -> bytes:
    """Wrap a raw payload in the combined-stream envelope ``{"stream":...,"data":...}``."""
    return b'{"stream":' + orjson.dumps(stream) + b',"data":' + raw + b"}"


def _dec(v: Decimal, places: int) -> str:
    q = Decimal(1).scaleb(-places)
    return str(v.quantize(q))


def _levels(m: SymbolMarket, items: list) -> list:
    px, qty = m.px, m.qty
    return [[px(t), qty(l)] for t, l in items]


def depth_diff(m: SymbolMarket, E: int, U: int, u: int, bids: list, asks: list,
               pu: Optional[int] = None, T: Optional[int] = None) -> dict:
    """``depthUpdate``: spot ``e E s U u b a``; USDⓈ-M adds ``T`` and ``pu``."""
    if m.market == "spot":
        return {"e": "depthUpdate", "E": E, "s": m.symbol, "U": U, "u": u,
                "b": _levels(m, bids), "a": _levels(m, asks)}
    return {"e": "depthUpdate", "E": E, "T": T if T is not None else E, "s": m.symbol,
            "U": U, "u": u, "pu": pu, "b": _levels(m, bids), "a": _levels(m, asks)}


def partial_depth(m: SymbolMarket, levels: int) -> dict:
    """Spot partial depth: ``{"lastUpdateId", "bids", "asks"}`` (no ``e``/``E``/``s``)."""
    bids, asks = m.top(levels)
    return {"lastUpdateId": m.update_id, "bids": _levels(m, bids), "asks": _levels(m, asks)}


def snapshot(m: SymbolMarket, limit: int, E: Optional[int] = None,
             T: Optional[int] = None) -> dict:
    """REST / WS API depth snapshot; USDⓈ-M adds ``E`` and ``T`` (SPEC §3.3)."""
    bids, asks = m.top(limit)
    if m.market == "spot":
        return {"lastUpdateId": m.update_id, "bids": _levels(m, bids), "asks": _levels(m, asks)}
    return {"lastUpdateId": m.update_id, "E": E, "T": T, "bids": _levels(m, bids),
            "asks": _levels(m, asks)}


def book_ticker(m: SymbolMarket, E: int) -> dict:
    """bookTicker: spot ``u s b B a A`` (no ``e``/``E``); USDⓈ-M ``e u E T s b B a A``."""
    bb, ba = m.best_bid, m.best_ask
    b, B = m.px(bb), m.qty(m.bids.get(bb, 0))
    a, A = m.px(ba), m.qty(m.asks.get(ba, 0))
    if m.market == "spot":
        return {"u": m.update_id, "s": m.symbol, "b": b, "B": B, "a": a, "A": A}
    return {"e": "bookTicker", "u": m.update_id, "E": E, "T": m.time, "s": m.symbol,
            "b": b, "B": B, "a": a, "A": A}


def trade(m: SymbolMarket, E: int, f: Any) -> dict:
    """``trade``: spot ``e E s t p q T m M``; USDⓈ-M adds ``X`` (order type) and drops ``M``."""
    if m.market == "spot":
        return {"e": "trade", "E": E, "s": m.symbol, "t": f.trade_id, "p": m.px(f.price),
                "q": m.qty(f.lots), "T": f.time, "m": f.buyer_is_maker, "M": True}
    return {"e": "trade", "E": E, "T": f.time, "s": m.symbol, "t": f.trade_id,
            "p": m.px(f.price), "q": m.qty(f.lots), "X": "MARKET", "m": f.buyer_is_maker}


def agg_trade(m: SymbolMarket, E: int, a: tuple) -> dict:
    """``aggTrade``: ``e E s a p q f l T m`` plus ``M`` on spot only."""
    agg_id, tick, lots, first, last, t, bm = a
    d = {"e": "aggTrade", "E": E, "s": m.symbol, "a": agg_id, "p": m.px(tick), "q": m.qty(lots),
         "f": first, "l": last, "T": t, "m": bm}
    if m.market == "spot":
        d["M"] = True
    return d


def block_trade(m: SymbolMarket, E: int, b: tuple) -> dict:
    """``blockTrade`` (spot, since 2026-05): ``e E s t p q T m``, no ``M``."""
    bid, tick, lots, t, bm = b
    return {"e": "blockTrade", "E": E, "s": m.symbol, "t": bid, "p": m.px(tick),
            "q": m.qty(lots), "T": t, "m": bm}


def _qv(m: SymbolMarket, qunits: int) -> str:
    # qvol is kept in tick*lot units; print with the quote precision.
    v = Decimal(qunits) * m._tick_dec * m._lot_dec
    return _dec(v, 8 if m.market == "spot" else max(m.pdec, 2))


def kline(m: SymbolMarket, E: int, k: Any, interval: str, offset_ms: int, closed: bool) -> dict:
    """``kline`` event; ``k.x`` tells whether the kline is closed."""
    return {"e": "kline", "E": E, "s": m.symbol, "k": {
        "t": k.start, "T": kline_end(k.start, interval, offset_ms), "s": m.symbol,
        "i": interval, "f": k.first, "L": k.last, "o": m.px(k.open), "c": m.px(k.close),
        "h": m.px(k.high), "l": m.px(k.low), "v": m.qty(k.vol), "n": k.n, "x": closed,
        "q": _qv(m, k.qvol), "V": m.qty(k.tvol), "Q": _qv(m, k.tqvol), "B": "0"}}


def _stats(m: SymbolMarket, window_ms: int, now: int) -> tuple[dict, dict]:
    s = m.window_stats(window_ms, now)
    o, c = s["open"], s["close"]
    change = m.price_decimal(c - o)
    pct = (Decimal(c - o) * 100 / Decimal(o)) if o else Decimal(0)
    w = (Decimal(s["qvol"]) * m._tick_dec / Decimal(s["vol"])) if s["vol"] else m.price_decimal(c)
    out = {"p": m.px(c - o) if c >= o else "-" + m.px(o - c),
           "P": _dec(pct, 3), "w": _dec(w, m.pdec), "o": m.px(o), "h": m.px(s["high"]),
           "l": m.px(s["low"]), "c": m.px(c), "v": m.qty(s["vol"]), "q": _qv(m, s["qvol"])}
    del change
    return out, s


def mini_ticker(m: SymbolMarket, E: int) -> dict:
    """``24hrMiniTicker``: ``e E s c o h l v q``."""
    d, _ = _stats(m, 86_400_000, E)
    return {"e": "24hrMiniTicker", "E": E, "s": m.symbol, "c": d["c"], "o": d["o"],
            "h": d["h"], "l": d["l"], "v": d["v"], "q": d["q"]}


def ticker(m: SymbolMarket, E: int) -> dict:
    """``24hrTicker``; USDⓈ-M leaves out ``x b B a A`` (SPEC §4.3)."""
    d, s = _stats(m, 86_400_000, E)
    out = {"e": "24hrTicker", "E": E, "s": m.symbol, "p": d["p"], "P": d["P"], "w": d["w"]}
    if m.market == "spot":
        out["x"] = m.px(s["prev_close"])
    out["c"] = d["c"]
    out["Q"] = m.qty(m.last_lots)
    if m.market == "spot":
        out.update({"b": m.px(m.best_bid), "B": m.qty(m.bids.get(m.best_bid, 0)),
                    "a": m.px(m.best_ask), "A": m.qty(m.asks.get(m.best_ask, 0))})
    out.update({"o": d["o"], "h": d["h"], "l": d["l"], "v": d["v"], "q": d["q"],
                "O": E - 86_400_000, "C": E, "F": s["first"], "L": s["last"], "n": s["n"]})
    return out


_WINDOWS = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


def window_ticker(m: SymbolMarket, E: int, window: str) -> dict:
    """``1hTicker`` / ``4hTicker`` / ``1dTicker``: ``e E s p P o h l c w v q O C F L n``."""
    d, s = _stats(m, _WINDOWS[window], E)
    return {"e": f"{window}Ticker", "E": E, "s": m.symbol, "p": d["p"], "P": d["P"],
            "o": d["o"], "h": d["h"], "l": d["l"], "c": d["c"], "w": d["w"], "v": d["v"],
            "q": d["q"], "O": s["open_time"], "C": E, "F": s["first"], "L": s["last"],
            "n": s["n"]}


def avg_price(m: SymbolMarket, E: int) -> dict:
    """``avgPrice`` over 5 minutes: ``e E s i w T``."""
    s = m.window_stats(300_000, E)
    if s["vol"]:
        w = Decimal(s["qvol"]) * m._tick_dec / Decimal(s["vol"])
    else:
        w = m.price_decimal(m.last_price)
    return {"e": "avgPrice", "E": E, "s": m.symbol, "i": "5m", "w": _dec(w, 8),
            "T": m.last_trade_time}


def reference_price(m: SymbolMarket, E: int) -> dict:
    """``referencePrice``: ``e s r t`` (no ``E``); ``r`` is the mid price."""
    mid = (m.price_decimal(m.best_bid) + m.price_decimal(m.best_ask)) / 2
    return {"e": "referencePrice", "s": m.symbol, "r": _dec(mid, 8), "t": E}


def mark_price(m: SymbolMarket, E: int) -> dict:
    """USDⓈ-M ``markPriceUpdate``: ``e E s p i P r T``."""
    mid = (m.price_decimal(m.best_bid) + m.price_decimal(m.best_ask)) / 2
    index = mid * Decimal("0.9999")
    nxt = (E // 28_800_000 + 1) * 28_800_000
    return {"e": "markPriceUpdate", "E": E, "s": m.symbol, "p": _dec(mid, 8),
            "i": _dec(index, 8), "P": _dec(index, 8), "r": "0.00010000", "T": nxt}


def server_shutdown(E: int) -> dict:
    """``serverShutdown`` event body (SPEC §2.2)."""
    return {"e": "serverShutdown", "E": E}


# Time fields per event type, scaled by 1000 for ``timeUnit=MICROSECOND`` (SPEC §2.1).
_TIME_KEYS = {
    "trade": ("E", "T"), "aggTrade": ("E", "T"), "blockTrade": ("E", "T"),
    "kline": ("E",), "continuous_kline": ("E",), "24hrMiniTicker": ("E",),
    "24hrTicker": ("E", "O", "C"), "1hTicker": ("E", "O", "C"), "4hTicker": ("E", "O", "C"),
    "1dTicker": ("E", "O", "C"), "avgPrice": ("E", "T"), "referencePrice": ("t",),
    "depthUpdate": ("E", "T"), "markPriceUpdate": ("E", "T"), "bookTicker": ("E", "T"),
    "serverShutdown": ("E",), "forceOrder": ("E",),
    # user data (SPEC §8): timeUnit=MICROSECOND applies to these too
    "executionReport": ("E", "T", "O", "W"), "outboundAccountPosition": ("E", "u"),
    "balanceUpdate": ("E", "T"), "listStatus": ("E", "T"), "externalLockUpdate": ("E", "T"),
    "eventStreamTerminated": ("E",), "listenKeyExpired": ("E",),
    "ORDER_TRADE_UPDATE": ("E", "T"), "ACCOUNT_UPDATE": ("E", "T"),
    "ACCOUNT_CONFIG_UPDATE": ("E", "T"), "TRADE_LITE": ("E", "T"),
}


def to_micro(obj: Any) -> Any:
    """Return ``obj`` (a decoded stream payload) with every time field in microseconds."""
    if isinstance(obj, list):
        return [to_micro(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    if "stream" in obj and "data" in obj:
        return {"stream": obj["stream"], "data": to_micro(obj["data"])}
    e = obj.get("e")
    keys = _TIME_KEYS.get(e, ()) if isinstance(e, str) else ()
    if not keys:
        return obj
    out = dict(obj)
    for k in keys:
        v = out.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            out[k] = v * 1000
    kl = out.get("k")
    if isinstance(kl, dict):
        kl = dict(kl)
        for key in ("t", "T"):
            if isinstance(kl.get(key), int):
                kl[key] *= 1000
        out["k"] = kl
    o = out.get("o")
    if isinstance(o, dict) and isinstance(o.get("T"), int):
        out["o"] = dict(o, T=o["T"] * 1000)
    return out


def user_event_micro(raw: bytes) -> bytes:
    """A user data event (its JSON text) with its time fields in microseconds, for a
    connection opened with ``timeUnit=MICROSECOND``."""
    return dumps(to_micro(orjson.loads(raw)))


def continuous_kline(m: SymbolMarket, E: int, k: Any, interval: str, contract: str,
                     closed: bool) -> dict:
    """USDⓈ-M ``continuous_kline``: ``e E ps ct k{t T i f L o c h l v n x q V Q B}``; ``f``/``L``
    are update ids (SPEC §4.3)."""
    return {"e": "continuous_kline", "E": E, "ps": m.symbol, "ct": contract, "k": {
        "t": k.start, "T": kline_end(k.start, interval, 0), "i": interval,
        "f": k.first_uid, "L": k.last_uid, "o": m.px(k.open), "c": m.px(k.close),
        "h": m.px(k.high), "l": m.px(k.low), "v": m.qty(k.vol), "n": k.n, "x": closed,
        "q": _qv(m, k.qvol), "V": m.qty(k.tvol), "Q": _qv(m, k.tqvol), "B": "0"}}


def force_order(m: SymbolMarket, E: int, force: tuple) -> dict:
    """USDⓈ-M ``forceOrder``: ``e E o{s S o f q p ap X l z T}``."""
    side, lots, tick, t = force
    q, p = m.qty(lots), m.px(tick)
    return {"e": "forceOrder", "E": E, "o": {"s": m.symbol, "S": side, "o": "LIMIT", "f": "IOC",
                                             "q": q, "p": p, "ap": p, "X": "FILLED", "l": q,
                                             "z": q, "T": t}}
