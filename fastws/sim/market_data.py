"""Public market-data queries beyond the book: trades, klines, averages and tickers, shared by the
WS API (``trades.recent``, ``klines``, ``ticker.24hr``...) and REST (``/api/v3/trades``,
``/fapi/v1/klines``, ``/api/v3/ticker/24hr``...).

Each handler takes the request's params and returns ``(weight, result)``; shapes, weights and
limits are Binance's (SPEC §5.5; the USD-M variants from its futures docs). Trades come from the
:class:`~fastws.sim.tape.Tape` (the ids the streams carried), statistics from the market's own
minute buckets.
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Optional

import orjson

from fastws.sim import params as pm
from fastws.sim import payloads as P
from fastws.sim.market import _INTERVAL_MS, KLINE_INTERVALS, SymbolMarket, kline_end, kline_start
from fastws.sim.tape import Tape
from fastws.sim.wsapi import ApiError

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["MarketData", "WS_METHODS"]

WS_METHODS = {
    "spot": ("trades.recent", "trades.historical", "trades.aggregate", "klines", "uiKlines",
             "avgPrice", "ticker.24hr", "ticker.tradingDay", "ticker", "ticker.price",
             "ticker.book", "blockTrades.historical", "referencePrice",
             "referencePrice.calculation"),
    "usdm": ("ticker.price", "ticker.book"),
}
"""WS API methods served by :class:`MarketData`, per market."""

_WINDOW = re.compile(r"^(\d{1,2})([mhd])$")
_WINDOW_UNIT = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_WINDOW_MAX = {"m": 59, "h": 23, "d": 7}


def _bad(name: str) -> ApiError:
    return ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def _q8(d: Decimal, places: int = 8) -> str:
    return f"{d:.{places}f}"


class MarketData:
    """Market-data handlers of one :class:`~fastws.sim.Exchange`."""

    def __init__(self, ex: "Exchange", tape: Tape) -> None:
        self.ex = ex
        self.tape = tape
        self.spot = ex.market == "spot"

    # -- WS API dispatch ----------------------------------------------------------------------
    def ws_handler(self, name: str) -> Optional[Callable[[dict], tuple[int, Any]]]:
        """The handler of WS API method ``name`` on this market, or None."""
        if name not in WS_METHODS[self.ex.market]:
            return None
        return {
            "trades.recent": self.trades_recent, "trades.historical": self.trades_historical,
            "trades.aggregate": self.agg_trades, "klines": self.klines,
            "uiKlines": self.klines, "avgPrice": self.avg_price,
            "ticker.24hr": self.ticker_24hr, "ticker.tradingDay": self.ticker_trading_day,
            "ticker": self.ticker_window, "ticker.price": self.ticker_price,
            "ticker.book": self.ticker_book, "blockTrades.historical": self.block_trades,
            "referencePrice": self.reference_price,
            "referencePrice.calculation": self.reference_price_calculation}[name]

    # -- params -------------------------------------------------------------------------------
    def _market(self, p: dict) -> SymbolMarket:
        sym = p.get("symbol")
        if not isinstance(sym, str) or not sym:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/"
                                       "null, or malformed.")
        m = self.ex._markets.get(sym)
        if m is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return m

    def _markets(self, p: dict, required: bool = False) -> tuple[list[SymbolMarket], bool]:
        """(markets, single): ``symbol`` alone answers an object, ``symbols`` or none a list."""
        if p.get("symbol") not in (None, "") and p.get("symbols") not in (None, ""):
            raise ApiError(400, -1106, "Parameter 'symbols' sent when not required.")
        if p.get("symbol") not in (None, ""):
            return [self._market(p)], True
        raw = p.get("symbols")
        if raw in (None, ""):
            if required:
                raise ApiError(400, -1102, "Mandatory parameter 'symbols' was not sent, was "
                                           "empty/null, or malformed.")
            return list(self.ex._markets.values()), False
        if isinstance(raw, str):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ApiError(400, -1100, "Illegal characters found in parameter "
                                           "'symbols'.") from None
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
            raise ApiError(400, -1100, "Illegal characters found in parameter 'symbols'.")
        out = []
        for s in raw:
            m = self.ex._markets.get(s)
            if m is None:
                raise ApiError(400, -1121, "Invalid symbol.")
            out.append(m)
        return out, False

    @staticmethod
    def _limit(p: dict, default: int, top: int) -> int:
        n = pm.integer(p, "limit", default)
        assert n is not None
        if n < 1:
            raise _bad("limit")
        return min(n, top)

    @staticmethod
    def _type(p: dict) -> str:
        t = p.get("type") or "FULL"
        if t not in ("FULL", "MINI"):
            raise _bad("type")
        return str(t)

    # -- trades -------------------------------------------------------------------------------
    def _trade_row(self, m: SymbolMarket, t: tuple) -> dict:
        tid, tick, lots, time, bm = t
        d: dict[str, Any] = {"id": tid, "price": m.px(tick), "qty": m.qty(lots),
                             "quoteQty": self._quote(m, tick, lots), "time": time,
                             "isBuyerMaker": bm}
        if self.spot:
            d["isBestMatch"] = True
        return d

    def _quote(self, m: SymbolMarket, tick: int, lots: int) -> str:
        v = m.notional(tick, lots)
        return _q8(v) if self.spot else _q8(v, max(m.pdec + m.qdec, 2)).rstrip("0").rstrip(".")

    def trades_recent(self, p: dict) -> tuple[int, list]:
        m = self._market(p)
        n = self._limit(p, 500, 1000)
        rows = list(self.tape.trades[m.symbol])[-n:]
        return (25 if self.spot else 5), [self._trade_row(m, t) for t in rows]

    def trades_historical(self, p: dict) -> tuple[int, list]:
        m = self._market(p)
        n = self._limit(p, 500, 1000)
        first = pm.integer(p, "fromId")
        tape = self.tape.trades[m.symbol]
        rows = Tape.from_id(tape, first)[:n] if first is not None else list(tape)[-n:]
        return (25 if self.spot else 20), [self._trade_row(m, t) for t in rows]

    def agg_trades(self, p: dict) -> tuple[int, list]:
        m = self._market(p)
        n = self._limit(p, 500, 1000)
        first = pm.integer(p, "fromId")
        start, end = pm.integer(p, "startTime"), pm.integer(p, "endTime")
        if first is not None and (start is not None or end is not None):
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > 3_600_000:
            raise ApiError(400, -1127, "More than 1 hours between startTime and endTime.")
        tape = self.tape.aggs[m.symbol]
        if first is not None:
            rows = Tape.from_id(tape, first)[:n]
        elif start is not None or end is not None:
            rows = [a for a in tape if (start is None or a[5] >= start)
                    and (end is None or a[5] <= end)][:n]
        else:
            rows = list(tape)[-n:]
        out = []
        for agg_id, tick, lots, f, last, t, bm in rows:
            d: dict[str, Any] = {"a": agg_id, "p": m.px(tick), "q": m.qty(lots), "f": f,
                                 "l": last, "T": t, "m": bm}
            if self.spot:
                d["M"] = True
            out.append(d)
        return (4 if self.spot else 20), out

    # -- klines -------------------------------------------------------------------------------
    @staticmethod
    def _time_zone(p: dict) -> int:
        """``timeZone`` (``-1:00``, ``05:45``, ``8``) as an offset in ms."""
        tz = p.get("timeZone")
        if tz in (None, ""):
            return 0
        mt = re.match(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$", str(tz))
        if not mt:
            raise _bad("timeZone")
        sign = -1 if mt.group(1) == "-" else 1
        minutes = int(mt.group(2)) * 60 + int(mt.group(3) or 0)
        off = sign * minutes
        if not -12 * 60 <= off <= 14 * 60:
            raise _bad("timeZone")
        return off * 60_000

    def klines(self, p: dict) -> tuple[int, list]:
        m = self._market(p)
        interval = p.get("interval")
        if interval in (None, ""):
            raise ApiError(400, -1102, "Mandatory parameter 'interval' was not sent, was "
                                       "empty/null, or malformed.")
        if interval not in KLINE_INTERVALS or (interval == "1s" and not self.spot):
            raise ApiError(400, -1120, "Invalid interval.")
        n = self._limit(p, 500, 1000 if self.spot else 1500)
        off = self._time_zone(p) if self.spot else 0
        start, end = pm.integer(p, "startTime"), pm.integer(p, "endTime")
        now = self.ex.now_ms()
        trades = list(self.tape.trades[m.symbol])
        if not trades:
            return 2, []
        rows: list[list] = []
        first_open = kline_start(trades[0][3], interval, off)
        cur = first_open if start is None else max(first_open, kline_start(start, interval, off))
        last_open = kline_start(min(now, end) if end is not None else now, interval, off)
        if start is None and interval not in ("1w", "1M"):
            cur = max(cur, last_open - (n - 1) * _INTERVAL_MS[interval])
        i = bisect_trades(trades, cur)
        prev_close = trades[max(0, i - 1)][1]
        while cur <= last_open:
            close_t = kline_end(cur, interval, off)
            o = h = lo = c = prev_close
            vol = qv = tv = tq = 0
            cnt = 0
            while i < len(trades) and trades[i][3] <= close_t:
                _tid, tick, lots, _t, bm = trades[i]
                if cnt == 0:
                    o = h = lo = tick
                h, lo, c = max(h, tick), min(lo, tick), tick
                vol += lots
                qv += tick * lots
                if not bm:
                    tv += lots
                    tq += tick * lots
                cnt += 1
                i += 1
            prev_close = c
            rows.append([cur, m.px(o), m.px(h), m.px(lo), m.px(c), m.qty(vol), close_t,
                         P._qv(m, qv), cnt, m.qty(tv), P._qv(m, tq), "0"])
            cur = close_t + 1
        rows = rows[:n] if start is not None else rows[-n:]
        weight = 2 if self.spot else (1 if n < 100 else 2 if n < 500 else 5 if n <= 1000
                                      else 10)
        return weight, rows

    # -- averages and tickers -----------------------------------------------------------------
    def avg_price(self, p: dict) -> tuple[int, dict]:
        m = self._market(p)
        a = P.avg_price(m, self.ex.now_ms())
        return 2, {"mins": 5, "price": a["w"], "closeTime": a["T"]}

    def _stats(self, m: SymbolMarket, window_ms: int, now: int, typ: str,
               with_book: bool = False, open_time: Optional[int] = None,
               close_time: Optional[int] = None) -> dict:
        d, s = P._stats(m, window_ms, now)
        out: dict[str, Any] = {"symbol": m.symbol}
        if typ == "FULL":
            out.update({"priceChange": d["p"], "priceChangePercent": d["P"],
                        "weightedAvgPrice": d["w"]})
            if with_book:
                if self.spot:
                    out["prevClosePrice"] = m.px(s["prev_close"])
                out.update({"lastPrice": d["c"], "lastQty": m.qty(m.last_lots)})
                if self.spot:
                    out.update({"bidPrice": m.px(m.best_bid),
                                "bidQty": m.qty(m.bids.get(m.best_bid, 0)),
                                "askPrice": m.px(m.best_ask),
                                "askQty": m.qty(m.asks.get(m.best_ask, 0))})
        out.update({"openPrice": d["o"], "highPrice": d["h"], "lowPrice": d["l"]})
        if not (typ == "FULL" and with_book):
            out["lastPrice"] = d["c"]
        out.update({"volume": d["v"], "quoteVolume": d["q"],
                    "openTime": open_time if open_time is not None else s["open_time"],
                    "closeTime": close_time if close_time is not None else now,
                    "firstId": s["first"], "lastId": s["last"], "count": s["n"]})
        return out

    def ticker_24hr(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p)
        typ = self._type(p)
        now = self.ex.now_ms()
        rows = [self._stats(m, 86_400_000, now, typ, True, now - 86_400_000) for m in ms]
        n = len(ms)
        if self.spot:
            weight = 2 if single or n <= 20 else 40 if n <= 100 else 80
            if not single and p.get("symbols") in (None, ""):
                weight = 80
        else:
            weight = 1 if single else 40
        return weight, rows[0] if single else rows

    def ticker_trading_day(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p, required=True)
        typ = self._type(p)
        off = self._time_zone(p)
        now = self.ex.now_ms()
        day = kline_start(now, "1d", off)
        rows = [self._stats(m, now - day, now, typ, False, day, day + 86_400_000 - 1)
                for m in ms]
        return min(4 * len(ms), 200), rows[0] if single else rows

    def ticker_window(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p, required=True)
        typ = self._type(p)
        ws = p.get("windowSize") or "1d"
        mt = _WINDOW.match(str(ws))
        if not mt or not 1 <= int(mt.group(1)) <= _WINDOW_MAX[mt.group(2)]:
            raise _bad("windowSize")
        if len(ms) > 200:
            raise ApiError(400, -1101, "Too many values sent for parameter 'symbols'.")
        window = int(mt.group(1)) * _WINDOW_UNIT[mt.group(2)]
        now = self.ex.now_ms()
        rows = [self._stats(m, window, now, typ) for m in ms]
        return (4 * len(ms) if len(ms) <= 50 else 200), rows[0] if single else rows

    def ticker_price(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p)
        now = self.ex.now_ms()
        rows = []
        for m in ms:
            d: dict[str, Any] = {"symbol": m.symbol, "price": m.px(m.last_price)}
            if not self.spot:
                d["time"] = m.last_trade_time
            rows.append(d)
        del now
        return (2 if single else 4) if self.spot else (1 if single else 2), \
            rows[0] if single else rows

    def ticker_book(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p)
        rows = []
        for m in ms:
            d: dict[str, Any] = {}
            if not self.spot:
                d["lastUpdateId"] = m.update_id
            d.update({"symbol": m.symbol, "bidPrice": m.px(m.best_bid),
                      "bidQty": m.qty(m.bids.get(m.best_bid, 0)), "askPrice": m.px(m.best_ask),
                      "askQty": m.qty(m.asks.get(m.best_ask, 0))})
            if not self.spot:
                d["time"] = m.time
            rows.append(d)
        return (2 if single else 4) if self.spot else (2 if single else 5), \
            rows[0] if single else rows

    def block_trades(self, p: dict) -> tuple[int, list]:
        """``blockTrades.historical`` (``fromId`` required): the ``blockTrade`` stream's
        prints."""
        m = self._market(p)
        n = self._limit(p, 500, 1000)
        first = pm.integer(p, "fromId")
        if first is None:
            raise ApiError(400, -1102, "Mandatory parameter 'fromId' was not sent, was "
                                       "empty/null, or malformed.")
        rows = Tape.from_id(self.tape.blocks[m.symbol], first)[:n]
        return 25, [{"id": bid, "price": m.px(tick), "qty": m.qty(lots),
                     "quoteQty": self._quote(m, tick, lots), "time": t, "isBuyerMaker": bm}
                    for bid, tick, lots, t, bm in rows]

    def reference_price(self, p: dict) -> tuple[int, dict]:
        """``referencePrice``: the mid price the ``referencePrice`` stream carries."""
        m = self._market(p)
        now = self.ex.now_ms()
        r = P.reference_price(m, now)
        return 2, {"symbol": m.symbol, "referencePrice": r["r"], "timestamp": r["t"]}

    def reference_price_calculation(self, p: dict) -> tuple[int, dict]:
        m = self._market(p)
        return 2, {"symbol": m.symbol, "calculationType": "ARITHMETIC_MEAN",
                   "bucketCount": 1, "bucketWidthMs": 1000}

    # -- USD-M extras (REST) ------------------------------------------------------------------
    def premium_index(self, p: dict) -> tuple[int, Any]:
        ms, single = self._markets(p)
        now = self.ex.now_ms()
        rows = []
        for m in ms:
            mp = P.mark_price(m, now)
            rows.append({"symbol": m.symbol, "markPrice": mp["p"], "indexPrice": mp["i"],
                         "estimatedSettlePrice": mp["P"], "lastFundingRate": mp["r"],
                         "interestRate": "0.00010000", "nextFundingTime": mp["T"],
                         "time": now})
        return 1 if single else 10, rows[0] if single else rows


def bisect_trades(trades: list, t: int) -> int:
    """Index of the first trade at or after time ``t``."""
    lo, hi = 0, len(trades)
    while lo < hi:
        mid = (lo + hi) // 2
        if trades[mid][3] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo
