"""Synthetic, seeded market for one symbol: an order book, the trades that consume it, statistics.

Prices and quantities are held as exact integers (ticks and lots), so every decimal string the
simulator prints is exact. One engine step is one market action at a simulated time:

* an *arrival*: a limit order adds quantity at a price near a drifting fair price;
* a *cancel*: quantity is removed from a level;
* a *trade*: a market order consumes levels from the top of one side.

Every level change takes a fresh update id (spot: +1; USDⓈ-M: +1 to +3, so that ``U`` rarely
equals the previous ``u + 1``, as on Binance). Every stream the simulator serves is derived from
this one state, so depth diffs, snapshots, bookTicker, trades, klines and tickers agree.

No I/O here: :meth:`SymbolMarket.step` returns what happened as plain data.
"""
from __future__ import annotations

import math
import random
import zlib
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

__all__ = ["SymbolSpec", "SymbolMarket", "StepResult", "TradeFill", "default_spec",
           "format_units", "PriceProcess"]


def _decimals(s: str) -> int:
    d = Decimal(s).normalize()
    exp = d.as_tuple().exponent
    return max(0, -int(exp))


def format_units(units: int, decimals: int) -> str:
    """Format an integer number of ``10**-decimals`` units as a decimal string (exact)."""
    if decimals == 0:
        return str(units)
    neg = units < 0
    if neg:
        units = -units
    scale = 10 ** decimals
    s = f"{units // scale}.{units % scale:0{decimals}d}"
    return "-" + s if neg else s


@dataclass(frozen=True)
class SymbolSpec:
    """Static description of one symbol.

    Parameters
    ----------
    symbol : str
        Upper-case symbol, e.g. ``"BTCUSDT"``.
    base_asset, quote_asset : str
        Asset names (exchangeInfo).
    tick_size, step_size : str
        PRICE_FILTER ``tickSize`` and LOT_SIZE ``stepSize`` as decimal strings.
    price : str
        Initial mid price.
    min_notional : str
        NOTIONAL (spot) / MIN_NOTIONAL (USDⓈ-M) filter value.
    """

    symbol: str
    base_asset: str
    quote_asset: str
    tick_size: str
    step_size: str
    price: str
    min_notional: str = "5"

    @property
    def price_decimals(self) -> int:
        return _decimals(self.tick_size)

    @property
    def qty_decimals(self) -> int:
        return _decimals(self.step_size)


_KNOWN = {
    # symbol: (tick, step) spot, (tick, step) usdm, price
    "BTCUSDT": (("0.01", "0.00001"), ("0.10", "0.001"), "60000"),
    "ETHUSDT": (("0.01", "0.0001"), ("0.01", "0.001"), "3000"),
    "BNBUSDT": (("0.01", "0.001"), ("0.010", "0.01"), "550"),
    "SOLUSDT": (("0.01", "0.001"), ("0.0100", "1"), "150"),
    "XRPUSDT": (("0.0001", "0.1"), ("0.0001", "0.1"), "0.6"),
    "BNBBTC": (("0.000001", "0.001"), ("0.000001", "0.001"), "0.009"),
    "ETHBTC": (("0.00001", "0.0001"), ("0.00001", "0.001"), "0.05"),
}
_QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def default_spec(symbol: str, market: str = "spot") -> SymbolSpec:
    """A realistic :class:`SymbolSpec` for ``symbol`` (known majors, else a generic small cap).

    Raises ``ValueError`` for a name Binance could not have (``BTC-USDT``, ``btc/usdt``):
    symbols are letters and digits only."""
    symbol = symbol.upper()
    if not (2 <= len(symbol) <= 20 and symbol.isascii() and symbol.isalnum()):
        raise ValueError(f"{symbol!r} is not a Binance symbol: symbols are letters and digits "
                         f"only, e.g. BTCUSDT")
    base, quote = symbol, "USDT"
    for q in _QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            base, quote = symbol[: -len(q)], q
            break
    known = _KNOWN.get(symbol)
    if known is not None:
        (tick, step) = known[0] if market == "spot" else known[1]
        price = known[2]
    else:
        tick, step, price = "0.0001", "0.1", "1.5"
    return SymbolSpec(symbol, base, quote, tick, step, price,
                      min_notional="5" if market == "spot" else "5")


@dataclass
class TradeFill:
    """One fill of a taker order against one level (one ``trade`` event)."""

    trade_id: int
    price: int          # ticks
    lots: int
    time: int           # ms
    buyer_is_maker: bool


@dataclass
class StepResult:
    """What one engine step did. Lists are empty when nothing of that kind happened."""

    time: int
    changes: list = field(default_factory=list)      # (is_bid, tick, lots, update_id)
    fills: list = field(default_factory=list)        # TradeFill
    agg: list = field(default_factory=list)          # (agg_id, tick, lots, first, last, time, bm)
    block: Optional[tuple] = None                    # (block_id, tick, lots, time, bm)
    top_changed: bool = False


class _Bucket:
    """Trade statistics of one minute (rolling windows are built from these)."""

    __slots__ = ("minute", "open", "high", "low", "close", "vol", "qvol", "first", "last", "n",
                 "prev_close")

    def __init__(self, minute: int, prev_close: int) -> None:
        self.minute = minute
        self.open = self.high = self.low = self.close = -1
        self.vol = 0
        self.qvol = 0
        self.first = -1
        self.last = -1
        self.n = 0
        self.prev_close = prev_close


class _Kline:
    __slots__ = ("start", "open", "high", "low", "close", "vol", "qvol", "tvol", "tqvol",
                 "first", "last", "n", "first_uid", "last_uid")

    def __init__(self, start: int, price: int) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.vol = self.qvol = self.tvol = self.tqvol = 0
        self.first = self.last = -1
        self.first_uid = self.last_uid = -1
        self.n = 0


_INTERVAL_MS = {"1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000}
KLINE_INTERVALS = tuple(_INTERVAL_MS)


def kline_start(t: int, interval: str, offset_ms: int = 0) -> int:
    """Open time of the kline of ``interval`` holding time ``t`` (ms), aligned to UTC+offset."""
    if interval == "1M":
        import datetime as _dt
        d = _dt.datetime.fromtimestamp((t + offset_ms) / 1000, _dt.timezone.utc)
        start = _dt.datetime(d.year, d.month, 1, tzinfo=_dt.timezone.utc)
        return int(start.timestamp() * 1000) - offset_ms
    if interval == "1w":
        # Binance weeks start on Monday; the epoch was a Thursday.
        week = 604_800_000
        return (t + offset_ms - 345_600_000) // week * week + 345_600_000 - offset_ms
    size = _INTERVAL_MS[interval]
    return (t + offset_ms) // size * size - offset_ms


def kline_end(start: int, interval: str, offset_ms: int = 0) -> int:
    """Close time (inclusive, ms) of the kline opened at ``start``."""
    if interval == "1M":
        import datetime as _dt
        d = _dt.datetime.fromtimestamp((start + offset_ms) / 1000, _dt.timezone.utc)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        nxt = int(_dt.datetime(y, m, 1, tzinfo=_dt.timezone.utc).timestamp() * 1000)
        return nxt - offset_ms - 1
    return start + _INTERVAL_MS[interval] - 1


class SymbolMarket:
    """Order book and trade tape of one symbol, driven step by step.

    Parameters
    ----------
    spec : SymbolSpec
        Tick size, lot size, initial price.
    market : {"spot", "usdm"}
        Changes the update-id increments and number formatting.
    seed : int
        Seed of this symbol's random generator (mixed with the symbol name).
    start_ms : int
        Simulated time of the initial state.
    rate : float
        Mean engine steps per simulated second.
    levels : int
        Initial number of price levels per side.
    process : {"flat", "regimes"}
        ``"flat"`` (default): a small random walk held near the book (the market stays where
        it started: what tests that place orders at computed prices rely on);
        ``"regimes"``: the fair price follows a :class:`PriceProcess` (drift and volatility
        regimes, volume bursts) and the book chases it. :meth:`liven` switches later.
    history : bool
        Start with 24 h of minute statistics behind the initial state (rolling tickers show a
        24 h change and volume from the first second); off (default): statistics start empty.
    """

    def __init__(self, spec: SymbolSpec, market: str = "spot", seed: int = 0,
                 start_ms: int = 0, rate: float = 50.0, levels: int = 200,
                 process: str = "flat", history: bool = False) -> None:
        self.spec = spec
        self.market = market
        self.symbol = spec.symbol
        self.rng = random.Random((seed * 1_000_003) ^ zlib.crc32(spec.symbol.encode()))
        self.rate = float(rate)
        self.pdec = spec.price_decimals if market == "usdm" else 8
        self.qdec = spec.qty_decimals if market == "usdm" else 8
        self._tick_units = int(Decimal(spec.tick_size) * (10 ** self.pdec))
        self._lot_units = int(Decimal(spec.step_size) * (10 ** self.qdec))
        self._tick_dec = Decimal(spec.tick_size)
        self._lot_dec = Decimal(spec.step_size)
        mid = int(Decimal(spec.price) / self._tick_dec)
        # Typical order size: about 200 quote units worth, at least one lot.
        notional_lots = Decimal(200) / (Decimal(spec.price) * self._lot_dec)
        self._size = max(1, int(notional_lots))
        self.fair = float(mid)
        self._sigma = max(0.3, mid * 2e-6)          # fair-price drift per step, ticks
        self.target_levels = levels
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.update_id = self.rng.randrange(10**9, 5 * 10**9)
        self.trade_id = self.rng.randrange(10**8, 10**9)
        self.agg_id = self.rng.randrange(10**7, 10**8)
        self.block_id = self.rng.randrange(10**5, 10**6)
        self.time = start_ms
        self.next_time = start_ms + self._gap()
        self.last_trade: Optional[TradeFill] = None
        self.last_price = mid
        self.last_lots = 0
        self.last_trade_time = start_ms
        self.buckets: deque[_Bucket] = deque()
        self.klines: dict[tuple[str, int], _Kline] = {}
        self.gap_pending = 0
        self.force: Optional[tuple] = None          # latest liquidation (forceOrder stream)
        self._id_step_max = 3 if market == "usdm" else 1
        for i in range(levels):
            self.bids[mid - 1 - i - (i // 7)] = self._rand_lots()
            self.asks[mid + 1 + i + (i // 7)] = self._rand_lots()
        self.best_bid = max(self.bids)
        self.best_ask = min(self.asks)
        if process not in ("regimes", "flat"):
            raise ValueError(f"process must be 'regimes' or 'flat', got {process!r}")
        self.process: Optional[PriceProcess] = None
        self._seed = seed
        self._start = (start_ms, mid, self.trade_id)     # for a history seeded later
        self._history = False
        if process == "regimes":
            self.liven(history=history)
        elif history:
            self._seed_history()

    # -- formatting ---------------------------------------------------------------------------
    def px(self, tick: int) -> str:
        """Price string of ``tick`` (spot pads to 8 decimals, USDⓈ-M to the tick's decimals)."""
        return format_units(tick * self._tick_units, self.pdec)

    def qty(self, lots: int) -> str:
        """Quantity string of ``lots``."""
        return format_units(lots * self._lot_units, self.qdec)

    def price_decimal(self, tick: int) -> Decimal:
        return tick * self._tick_dec

    def qty_decimal(self, lots: int) -> Decimal:
        return lots * self._lot_dec

    def notional(self, tick: int, lots: int) -> Decimal:
        return tick * self._tick_dec * lots * self._lot_dec

    # -- random helpers -----------------------------------------------------------------------
    def _gap(self) -> int:
        proc = getattr(self, "process", None)
        rate = self.rate * (proc.activity if proc is not None else 1.0)
        return max(1, int(self.rng.expovariate(rate) * 1000))

    def _rand_lots(self) -> int:
        return max(1, int(self.rng.expovariate(1.0) * self._size) + 1)

    def _next_id(self) -> int:
        if self._id_step_max == 1:
            self.update_id += 1
        else:
            self.update_id += self.rng.randint(1, self._id_step_max)
        return self.update_id

    # -- book ---------------------------------------------------------------------------------
    def mid_tick(self) -> float:
        return (self.best_bid + self.best_ask) / 2.0

    def _set(self, res: StepResult, is_bid: bool, tick: int, lots: int) -> None:
        # The best prices are kept up to date here (a full scan only when the best level goes).
        side = self.bids if is_bid else self.asks
        if lots <= 0:
            if side.pop(tick, None) is None:
                return
            lots = 0
            if is_bid and tick == self.best_bid:
                if self.bids:
                    self.best_bid = max(self.bids)
                res.top_changed = True
            elif not is_bid and tick == self.best_ask:
                if self.asks:
                    self.best_ask = min(self.asks)
                res.top_changed = True
        else:
            if side.get(tick) == lots:
                return
            side[tick] = lots
            if is_bid and tick >= self.best_bid:
                self.best_bid = tick
                res.top_changed = True
            elif not is_bid and tick <= self.best_ask:
                self.best_ask = tick
                res.top_changed = True
        res.changes.append((is_bid, tick, lots, self._next_id()))

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Best ``n`` levels per side as ``(tick, lots)``, best first."""
        import heapq
        if n >= len(self.bids):
            bids = sorted(self.bids.items(), reverse=True)
        else:
            bids = heapq.nlargest(n, self.bids.items())
        if n >= len(self.asks):
            asks = sorted(self.asks.items())
        else:
            asks = heapq.nsmallest(n, self.asks.items())
        return bids[:n], asks[:n]

    # -- engine -------------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Run the engine step due at :attr:`next_time` and schedule the next one."""
        t = self.next_time
        self.time = t
        self.next_time = t + self._gap()
        res = StepResult(time=t)
        rng = self.rng
        p_trade = 0.12
        if self.process is not None:
            self.fair = self.process.advance(t)
            self._follow(res)
            p_trade = min(0.5, 0.12 * self.process.activity)
        else:
            self.fair += rng.gauss(0.0, self._sigma)
            mid = self.mid_tick()
            # Keep the fair price near the book so that the market stays lively.
            spread = self.best_ask - self.best_bid
            if abs(self.fair - mid) > 20 + spread:
                self.fair = mid + math.copysign(20 + spread, self.fair - mid)
        r = rng.random()
        # Cancels grow with the book's size, so the number of levels hovers around the target.
        fill = (len(self.bids) + len(self.asks)) / (2.0 * self.target_levels)
        p_cancel = 0.42 * min(2.0, fill)
        if r < p_trade:
            self._trade(res)
        elif r < 0.14 + p_cancel:
            self._cancel(res)
        else:
            self._arrive(res)
        if self.market == "usdm" and rng.random() < 0.002:
            # a liquidation order (forceOrder stream): side, lots, price near the touch, time
            sell = rng.random() < 0.5
            lots = self._rand_lots() * 3
            tick = self.best_bid if sell else self.best_ask
            self.force = ("SELL" if sell else "BUY", lots, tick, t)
        if rng.random() < 0.002 and self.market == "spot":
            self.block_id += 1
            bm = rng.random() < 0.5
            res.block = (self.block_id, int(round(self.fair)), self._rand_lots() * 20, t, bm)
        return res

    def _arrive(self, res: StepResult) -> None:
        rng = self.rng
        is_bid = not self.bids or (bool(self.asks) and rng.random() < 0.5)
        if rng.random() < 0.6:
            dist = int(rng.expovariate(0.12))               # near the touch
        else:
            dist = rng.randrange(self.target_levels * 2)    # anywhere in the visible book
        f = int(round(self.fair))
        if is_bid:
            tick = min(f - dist, self.best_ask - 1)
            self._set(res, True, tick, self.bids.get(tick, 0) + self._rand_lots())
        else:
            tick = max(f + dist, self.best_bid + 1)
            self._set(res, False, tick, self.asks.get(tick, 0) + self._rand_lots())

    def _cancel(self, res: StepResult) -> None:
        rng = self.rng
        is_bid = rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        if len(side) <= 5:
            return self._arrive(res)
        # Far levels are cancelled more often than near ones: sample a few, keep the farthest.
        keys = list(side)
        tick = max((rng.choice(keys) for _ in range(2)),
                   key=lambda k: abs(k - self.fair))
        lots = side[tick]
        if rng.random() < 0.5 or lots <= 1:
            self._set(res, is_bid, tick, 0)
        else:
            self._set(res, is_bid, tick, lots - max(1, int(lots * rng.random())))

    def _trade(self, res: StepResult) -> None:
        rng = self.rng
        mid = self.mid_tick()
        p_buy = min(0.9, max(0.1, 0.5 + (self.fair - mid) * 0.05))
        if self.process is not None and self.process.bias:
            p_buy = min(0.95, max(0.05, p_buy + self.process.bias))
        taker_buys = rng.random() < p_buy
        book = self.asks if taker_buys else self.bids
        if len(book) <= 5:
            return self._arrive(res)
        want = max(1, int(rng.expovariate(1.0) * self._size * 1.5))
        t = res.time
        while want > 0 and len(book) > 5:
            tick = min(book) if taker_buys else max(book)
            avail = book[tick]
            take = min(avail, want)
            want -= take
            first = self.trade_id + 1
            self.trade_id += 1
            fill = TradeFill(self.trade_id, tick, take, t, not taker_buys)
            res.fills.append(fill)
            self.agg_id += 1
            res.agg.append((self.agg_id, tick, take, first, self.trade_id, t, not taker_buys))
            self._set(res, not taker_buys, tick, avail - take)
            self._record_trade(fill)

    def _record_trade(self, f: TradeFill) -> None:
        self.last_trade = f
        self.last_price = f.price
        self.last_lots = f.lots
        self.last_trade_time = f.time
        minute = f.time // 60_000
        if not self.buckets or self.buckets[-1].minute != minute:
            prev = self.buckets[-1].close if self.buckets else f.price
            self.buckets.append(_Bucket(minute, prev))
            while self.buckets and self.buckets[0].minute < minute - 1440 * 3:
                self.buckets.popleft()
        b = self.buckets[-1]
        if b.open < 0:
            b.open = b.high = b.low = f.price
            b.first = f.trade_id
        b.high = max(b.high, f.price)
        b.low = min(b.low, f.price)
        b.close = f.price
        b.vol += f.lots
        b.qvol += f.lots * f.price
        b.last = f.trade_id
        b.n += 1
        for (interval, off), k in self.klines.items():
            self._kline_roll(k, interval, off, f.time)
            k = self.klines[(interval, off)]
            if k.n == 0:
                k.open = k.high = k.low = f.price
                k.first = f.trade_id
                k.first_uid = self.update_id
            k.high = max(k.high, f.price)
            k.low = min(k.low, f.price)
            k.close = f.price
            k.vol += f.lots
            k.qvol += f.lots * f.price
            if not f.buyer_is_maker:
                k.tvol += f.lots
                k.tqvol += f.lots * f.price
            k.last = f.trade_id
            k.last_uid = self.update_id
            k.n += 1

    # -- the book chasing the price process (process="regimes") ------------------------------
    def liven(self, history: bool = True) -> None:
        """Make this a market worth watching: from now on the fair price follows a seeded
        :class:`PriceProcess` (regimes, volume bursts) and, with ``history``, the rolling
        statistics get the day before the start (a 24 h change and volume). Idempotent."""
        if self.process is None:
            self.process = PriceProcess(self.mid_tick(), seed=(self._seed * 1_000_003) ^ zlib.crc32(
                (self.spec.symbol + "/price").encode()), start_ms=self.time)
        if history and not self._history:
            self._seed_history()


    def _follow(self, res: StepResult) -> None:
        """Move the book toward the fair price: takers sweep the quotes the fair price has
        passed (a few levels a step), makers re-quote next to it so the spread stays tight."""
        f = self.fair
        for taker_buys in (True, False):
            book = self.asks if taker_buys else self.bids
            swept = 0
            while swept < 3 and len(book) > 5:
                tick = self.best_ask if taker_buys else self.best_bid
                if (taker_buys and tick >= f - 1) or (not taker_buys and tick <= f + 1):
                    break
                self._take(res, taker_buys, tick, book[tick])
                swept += 1
        ft = int(round(f))
        if self.best_ask - self.best_bid > 4:
            if ft - self.best_bid > 2 and ft - 1 < self.best_ask:
                tick = max(self.best_bid + 1, min(ft - 1, self.best_ask - 1))
                self._set(res, True, tick, self.bids.get(tick, 0) + self._rand_lots())
            if self.best_ask - ft > 2 and ft + 1 > self.best_bid:
                tick = min(self.best_ask - 1, max(ft + 1, self.best_bid + 1))
                self._set(res, False, tick, self.asks.get(tick, 0) + self._rand_lots())
        # depth refills behind a moving price, and the far side of a long move thins out
        rng = self.rng
        for is_bid, side in ((True, self.bids), (False, self.asks)):
            if len(side) < self.target_levels // 2:
                dist = 1 + int(rng.expovariate(0.05))
                tick = (min(ft - dist, self.best_ask - 1) if is_bid
                        else max(ft + dist, self.best_bid + 1))
                self._set(res, is_bid, tick, side.get(tick, 0) + self._rand_lots())
            elif len(side) > 2 * self.target_levels:
                self._set(res, is_bid, min(side) if is_bid else max(side), 0)

    def _take(self, res: StepResult, taker_buys: bool, tick: int, lots: int) -> None:
        """A taker order consuming ``lots`` at ``tick`` (one trade, one aggTrade)."""
        book = self.asks if taker_buys else self.bids
        avail = book.get(tick, 0)
        take = min(avail, lots)
        if take <= 0:
            return
        self.trade_id += 1
        fill = TradeFill(self.trade_id, tick, take, res.time, not taker_buys)
        res.fills.append(fill)
        self.agg_id += 1
        res.agg.append((self.agg_id, tick, take, self.trade_id, self.trade_id, res.time,
                        not taker_buys))
        self._set(res, not taker_buys, tick, avail - take)
        self._record_trade(fill)

    def _seed_history(self) -> None:
        """24 h of minute buckets before the start, ending at the starting price: a seeded
        random walk with a daily move of a few percent, volume with an intraday rhythm, trade
        ids just below the first live one (put before any live bucket)."""
        self._history = True
        now_ms, start_price, start_trade_id = self._start
        rng = random.Random((self._seed * 1_000_003) ^ zlib.crc32((self.symbol + "/day").encode()))
        minutes = 1441
        daily = rng.gauss(0.0, 0.025)
        sd = 0.025 / math.sqrt(1440)
        rets = [rng.gauss(daily / 1440, sd) for _ in range(minutes)]
        # prices backwards from now: the last bucket closes at the current price
        log_p = [0.0] * (minutes + 1)
        for i in range(minutes - 1, -1, -1):
            log_p[i] = log_p[i + 1] - rets[i]
        p0 = float(start_price)
        trades_per_min = self.rate * 60 * 0.12
        lots_per_trade = self._size * 1.5
        now_minute = now_ms // 60_000
        counts = [max(1, int(trades_per_min * (0.6 + 0.8 * abs(math.sin(i * math.pi / 720)))
                             * math.exp(rng.gauss(0, 0.4)))) for i in range(minutes)]
        first_id = start_trade_id - sum(counts) + 1        # the last one ends there
        prev_close = int(round(p0 * math.exp(log_p[0])))
        hist = []
        for i in range(minutes):
            minute = now_minute - minutes + i
            o = prev_close
            c = int(round(p0 * math.exp(log_p[i + 1])))
            wick = abs(rng.gauss(0, sd / 2)) * p0
            b = _Bucket(minute, prev_close)
            b.open, b.close = o, c
            b.high = int(round(max(o, c) + wick))
            b.low = max(1, int(round(min(o, c) - wick)))
            b.n = counts[i]
            b.vol = max(1, int(counts[i] * lots_per_trade * math.exp(rng.gauss(0, 0.3))))
            b.qvol = b.vol * ((o + c) // 2)
            b.first = first_id
            b.last = first_id + b.n - 1
            first_id += b.n
            hist.append(b)
            prev_close = c
        self.buckets.extendleft(reversed(hist))

    # -- klines -------------------------------------------------------------------------------
    def watch_kline(self, interval: str, offset_ms: int = 0) -> None:
        """Start keeping a kline of ``interval`` (klines are kept only for subscribed streams)."""
        key = (interval, offset_ms)
        if key not in self.klines:
            self.klines[key] = _Kline(kline_start(self.time, interval, offset_ms), self.last_price)

    def _kline_roll(self, k: _Kline, interval: str, off: int, t: int) -> Optional[_Kline]:
        """Replace the kline by a fresh one when ``t`` is past its close; return the closed one."""
        if t <= kline_end(k.start, interval, off):
            return None
        fresh = _Kline(kline_start(t, interval, off), k.close)
        self.klines[(interval, off)] = fresh
        return k

    def kline_at(self, interval: str, offset_ms: int, t: int) -> tuple[Optional[_Kline], _Kline]:
        """(the kline closed by time ``t`` or None, the current kline)."""
        self.watch_kline(interval, offset_ms)
        k = self.klines[(interval, offset_ms)]
        closed = self._kline_roll(k, interval, offset_ms, t)
        return closed, self.klines[(interval, offset_ms)]

    # -- rolling statistics -------------------------------------------------------------------
    def window_stats(self, window_ms: int, now: int) -> dict:
        """Statistics of the trades in the rolling window ending at ``now``.

        The window opens on a minute boundary, as Binance's rolling tickers do (SPEC §2.5).
        """
        start_minute = (now - window_ms) // 60_000
        o = h = l = c = -1
        vol = qvol = n = 0
        first = last = -1
        prev_close = -1
        for b in self.buckets:
            if b.minute < start_minute:
                prev_close = b.close
                continue
            if b.open < 0:
                continue
            if o < 0:
                o, h, l = b.open, b.high, b.low
                first = b.first
                if prev_close < 0:
                    prev_close = b.prev_close
            h = max(h, b.high)
            l = min(l, b.low)
            c = b.close
            vol += b.vol
            qvol += b.qvol
            last = b.last
            n += b.n
        if o < 0:
            o = h = l = c = self.last_price
            first = last = -1
        if prev_close < 0:
            prev_close = o
        return {"open": o, "high": h, "low": l, "close": c, "vol": vol, "qvol": qvol,
                "first": first, "last": last, "n": n, "prev_close": prev_close,
                "open_time": start_minute * 60_000, "close_time": now}


class PriceProcess:
    """A seeded fair-price and activity process for one symbol, in ticks (no I/O).

    The log price follows a random walk whose drift and volatility switch between regimes
    (a Markov chain in continuous time): *calm* (small moves), *trend up* / *trend down* (a
    steady drift, about 0.06 % in 5 s, the kind of move momentum signals are made for) and
    *volatile* (large moves both ways). Independently, *volume bursts* (about one every 12 s,
    2-4 s long) raise the trading activity several times over and lean the takers to one side
    (the trend's, or either side when there is none), as news and liquidations do.

    :meth:`advance` moves the process to a time (ms) and returns the fair price in ticks;
    :attr:`activity` (a rate multiplier, 1 when quiet) and :attr:`bias` (added to the
    probability that a taker buys) describe the moment.
    """

    #: regime: (drift per second, volatility per sqrt(second), mean duration in s), log terms
    REGIMES = {
        "calm": (0.0, 0.00003, 20.0),
        "trend up": (0.00012, 0.00004, 12.0),
        "trend down": (-0.00012, 0.00004, 12.0),
        "volatile": (0.0, 0.00015, 8.0),
    }
    #: regime -> the regimes it moves to, with weights
    NEXT = {
        "calm": (("trend up", 0.35), ("trend down", 0.35), ("volatile", 0.3)),
        "trend up": (("calm", 0.6), ("volatile", 0.25), ("trend down", 0.15)),
        "trend down": (("calm", 0.6), ("volatile", 0.25), ("trend up", 0.15)),
        "volatile": (("calm", 0.5), ("trend up", 0.25), ("trend down", 0.25)),
    }
    BURST_EVERY_S = 12.0

    def __init__(self, mid_tick: float, seed: int = 0, start_ms: int = 0) -> None:
        self.rng = random.Random(seed)
        self.origin = float(mid_tick)
        self.log = 0.0                      # log(fair / origin)
        self.time = start_ms
        self.regime = self.rng.choice(list(self.REGIMES))
        self.regime_until = start_ms + self._duration(self.regime)
        self.burst_until = 0
        self.next_burst = start_ms + int(self.rng.expovariate(1.0 / self.BURST_EVERY_S) * 1000)
        self.activity = 1.0
        self.bias = 0.0
        self.regimes_seen = [self.regime]

    def _duration(self, regime: str) -> int:
        return max(1000, int(self.rng.expovariate(1.0 / self.REGIMES[regime][2]) * 1000))

    @property
    def fair(self) -> float:
        """The fair price in ticks."""
        return self.origin * math.exp(self.log)

    def advance(self, t: int) -> float:
        """Move the process to time ``t`` (ms; earlier times change nothing); the fair price."""
        rng = self.rng
        while self.time < t:
            step_end = min(t, self.regime_until)
            dt = (step_end - self.time) / 1000.0
            drift, vol, _ = self.REGIMES[self.regime]
            if dt > 0:
                self.log += drift * dt + vol * math.sqrt(dt) * rng.gauss(0.0, 1.0)
            self.time = step_end
            if self.time >= self.regime_until:
                nxt = self.NEXT[self.regime]
                self.regime = rng.choices([n for n, _ in nxt], [w for _, w in nxt])[0]
                self.regime_until = self.time + self._duration(self.regime)
                self.regimes_seen.append(self.regime)
        # keep the walk within a band around where it started (+-15 %), as a day's range
        self.log = max(-0.15, min(0.15, self.log))
        if t >= self.next_burst:
            self.burst_until = t + rng.randint(2000, 4000)
            self.next_burst = self.burst_until + int(rng.expovariate(1.0 / self.BURST_EVERY_S) * 1000)
            side = (1 if self.regime == "trend up" else -1 if self.regime == "trend down"
                    else rng.choice((1, -1)))
            self._burst = (rng.uniform(3.0, 6.0), side * rng.uniform(0.3, 0.45))
        if t < self.burst_until:
            self.activity, self.bias = self._burst
        else:
            self.activity, self.bias = 1.0, 0.0
        return self.fair
