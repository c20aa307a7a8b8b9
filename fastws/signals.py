"""Trading signals from recent trades and tickers: momentum and volume spikes (tools layer, no I/O).

A bot feeds a :class:`SignalEngine` per symbol with plain numbers (``on_trade``, ``on_ticker``)
or with fastws events (``on_event``) and asks ``evaluate(now_ms)`` for a :class:`Signal`:

>>> eng = SignalEngine("BTCUSDT")
>>> eng.on_trade(1_700_000_000_000, 67234.56, 0.01, is_buyer_maker=False)
>>> eng.evaluate(1_700_000_000_500) is None          # warming up: not enough history
True
>>> eng.assess(1_700_000_000_500).status
'warming up: momentum needs 60 s of price history, have 1 s'

How the data is kept
--------------------
Updates are aggregated into bars of ``bar_s`` seconds (1 s by default): the last price
(close), the traded volume, the taker-buy volume (``is_buyer_maker`` false), the trade count
and the number of price updates. Finished bars go into a :class:`fastws.ring.RecordRing`
sized for the longest lookback, so memory is fixed whatever the trade rate and an update is
O(1) (a few Python operations; a bar is written to the ring once per bar). Bars with no update
are not stored; at evaluation time the lookback is rebuilt as a dense series (the price carried
forward, volume 0). A trade stamped earlier than the bar being filled (out of order) is counted
in the current bar and reported in ``late_updates``.

The maths
---------
Momentum (:class:`Momentum`), over the last ``window_s`` seconds, ``w`` bars:

* ``R = ln(close_now / close_window_start)``, the log return over the window;
* ``sigma``: standard deviation of the per-bar log returns over the last ``volatility_s``
  seconds (including the window), the market's own noise level;
* ``z = R / max(sigma * sqrt(w), min_move)``: the move in units of what a random walk with that
  volatility would do in ``w`` bars; ``min_move`` (default 0.05 %) stops a dead-flat market
  from turning a one-tick move into a huge ``z``;
* fires when ``|z| >= threshold`` (2.0): "Positive momentum" (BUY) or "Negative momentum" (SELL).

Volume spike (:class:`VolumeSpike`), recent ``window_s`` (10 s, ``w`` bars) against the
``baseline_s`` (300 s) before it:

* ``V`` = volume in the window; per-bar baseline mean ``mu`` and standard deviation ``s``;
* ``z = (V - w*mu) / max(sqrt(w) * s, 0.1 * w*mu)``: a z-score of the window's volume against
  the baseline (bars treated as independent; the 10 % floor keeps a perfectly regular
  baseline from making every wiggle a spike);
* fires when ``z >= threshold`` (3.0) **and** ``V >= min_ratio * w*mu`` (2x): "Volume spike".
  Its side comes from the taker imbalance ``(buy - sell) / V`` in the window when
  ``|imbalance| >= pressure`` (0.3): "Buy pressure" / "Sell pressure".

Scores: each detector squashes its statistic into [0, 1] with ``tanh(|z| / scale)`` (``scale``
defaults to the threshold, so a detector that just fires scores 0.76, and ``z`` twice the
threshold scores 0.96). The engine combines the detectors that agree on a side as
``1 - prod(1 - score_i)`` (each confirmation raises the score, never above 1): momentum sets
the side; a volume spike confirms it unless its taker pressure points the other way; a volume
spike alone gives a signal only with a clear pressure side, scored ``spike score * |imbalance|``.

Warm-up: no signal until momentum has a price at least ``window_s`` old and ``min_updates``
updates in the window, or the volume detector has ``min_baseline_s`` of baseline before its
window. ``assess()`` says which, in words (``Assessment.status``).

The defaults suit liquid spot pairs watched for minutes. For a short demo use shorter windows,
e.g. ``Momentum(window_s=5, volatility_s=30)`` and
``VolumeSpike(window_s=2, baseline_s=30, min_baseline_s=6)``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fastws.ring import RecordRing

__all__ = [
    "BUY",
    "SELL",
    "REASON_POSITIVE_MOMENTUM",
    "REASON_NEGATIVE_MOMENTUM",
    "REASON_VOLUME_SPIKE",
    "REASON_BUY_PRESSURE",
    "REASON_SELL_PRESSURE",
    "Signal",
    "DetectorResult",
    "Assessment",
    "BarSeries",
    "Momentum",
    "VolumeSpike",
    "SignalEngine",
    "format_signal",
    "format_ticker",
]

Side = Literal["BUY", "SELL"]
BUY: Side = "BUY"
SELL: Side = "SELL"

REASON_POSITIVE_MOMENTUM = "Positive momentum"
REASON_NEGATIVE_MOMENTUM = "Negative momentum"
REASON_VOLUME_SPIKE = "Volume spike"
REASON_BUY_PRESSURE = "Buy pressure"
REASON_SELL_PRESSURE = "Sell pressure"

_BAR_FIELDS = ("time", "close", "volume", "buy_volume", "trades", "updates")


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """A trading signal: which side, how strong, and why.

    Attributes
    ----------
    symbol : str
        Upper-case symbol, e.g. ``"BTCUSDT"``.
    side : {"BUY", "SELL"}
    score : float
        Strength in [0, 1].
    reasons : tuple of str
        Human-readable reasons in order of importance, e.g.
        ``("Positive momentum", "Volume spike")``.
    time : int
        Evaluation time in milliseconds (the ``now_ms`` it was computed for).
    """

    symbol: str
    side: Side
    score: float
    reasons: tuple[str, ...]
    time: int

    def __post_init__(self) -> None:
        if self.side not in (BUY, SELL):
            raise ValueError(f"Signal side must be 'BUY' or 'SELL', got {self.side!r}")
        if not (0.0 <= self.score <= 1.0):
            raise ValueError(f"Signal score must be within [0, 1], got {self.score!r}")
        if not isinstance(self.reasons, tuple) or not all(isinstance(r, str) for r in self.reasons):
            raise TypeError("Signal reasons must be a tuple of str")

    def format(self) -> str:
        """The monitor's line: ``SIGNAL: BUY | 0.723 | Positive momentum, Volume spike``."""
        return format_signal(self)


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """What one detector concluded at one evaluation.

    Attributes
    ----------
    name : str
        ``"momentum"`` or ``"volume_spike"``.
    ready : bool
        False during warm-up (not enough data); then ``fired`` is False and ``score`` 0.
    fired : bool
        The statistic crossed the detector's threshold.
    score : float
        ``tanh(|z| / scale)`` in [0, 1] (0 when not ready).
    z : float
        The detector's statistic (signed for momentum; volume z-score otherwise).
    direction : int
        +1 (up / buying), -1 (down / selling) or 0 (no side).
    reason : str or None
        The reason text when fired, e.g. ``"Positive momentum"``.
    detail : str
        One line in words: the figures, or why it is not ready.
    imbalance : float
        Volume detector only: ``(taker buy - taker sell) / volume`` in its window, in [-1, 1].
    """

    name: str
    ready: bool
    fired: bool
    score: float
    z: float
    direction: int
    reason: str | None
    detail: str
    imbalance: float = 0.0


@dataclass(frozen=True, slots=True)
class Assessment:
    """The full outcome of :meth:`SignalEngine.assess`: the signal (or None) and why."""

    symbol: str
    time: int
    signal: Signal | None
    momentum: DetectorResult
    volume: DetectorResult
    status: str

    @property
    def warming_up(self) -> bool:
        """True while neither detector has enough data to speak."""
        return not (self.momentum.ready or self.volume.ready)


def _not_ready(name: str, detail: str) -> DetectorResult:
    return DetectorResult(name, False, False, 0.0, 0.0, 0, None, detail)


def _squash(z: float, scale: float) -> float:
    s = math.tanh(abs(z) / scale)
    if not s >= 0.0:  # NaN guard
        return 0.0
    return min(1.0, s)


# -- bars ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BarSeries:
    """A dense run of bars ending with the bar that contains the evaluation time.

    Arrays all have the same length, oldest bar first; bar ``i`` covers
    ``[start_ms + i*bar_ms, start_ms + (i+1)*bar_ms)``. ``close`` is the last price known at the
    end of each bar (carried forward; NaN before the first known price). ``history_bars`` is how
    many of the trailing bars lie after the first update ever seen: volumes before that are
    unknown, not zero.
    """

    start_ms: int
    bar_ms: int
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    buy_volume: npt.NDArray[np.float64]
    trades: npt.NDArray[np.float64]
    updates: npt.NDArray[np.float64]
    history_bars: int

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @classmethod
    def from_arrays(
        cls,
        close: Sequence[float] | npt.NDArray[np.float64],
        volume: Sequence[float] | npt.NDArray[np.float64],
        *,
        buy_volume: Sequence[float] | npt.NDArray[np.float64] | None = None,
        bar_ms: int = 1000,
        start_ms: int = 0,
        updates: Sequence[float] | npt.NDArray[np.float64] | None = None,
    ) -> BarSeries:
        """Bars from plain per-bar arrays (for detectors used on their own, and tests).

        ``buy_volume`` defaults to half the volume (no taker imbalance); ``updates`` to one
        update per bar that has a finite close. Every bar counts as history.
        """
        c = np.asarray(close, dtype=np.float64)
        v = np.asarray(volume, dtype=np.float64)
        if c.ndim != 1 or v.shape != c.shape:
            raise ValueError(f"close and volume must be 1-D of one length, got {c.shape}, {v.shape}")
        b = v / 2.0 if buy_volume is None else np.asarray(buy_volume, dtype=np.float64)
        if updates is None:
            u = np.isfinite(c).astype(np.float64)
        else:
            u = np.asarray(updates, dtype=np.float64)
        if b.shape != c.shape or u.shape != c.shape:
            raise ValueError("buy_volume and updates must have the same shape as close")
        return cls(start_ms, bar_ms, c, v, b, u.copy(), u, int(c.shape[0]))


# -- detectors -------------------------------------------------------------------------------


def _positive(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _bars(seconds: float, bar_ms: int) -> int:
    return max(1, math.ceil(seconds * 1000.0 / bar_ms - 1e-9))


class Momentum:
    """Price momentum: the window's log return measured against the market's volatility.

    Parameters
    ----------
    window_s : float, default 60
        Lookback of the return.
    volatility_s : float, default 300
        Lookback of the per-bar return volatility (uses what is available, at least the window).
    threshold : float, default 2.0
        ``|z|`` needed to fire.
    scale : float, optional
        Score is ``tanh(|z| / scale)``; defaults to ``threshold``.
    min_move : float, default 0.0005
        Floor of the expected move (a fraction: 0.0005 = 0.05 %), so a silent market does not
        turn one tick into a large ``z``.
    min_updates : int, default 10
        Price updates needed inside the window before the detector speaks.
    """

    name = "momentum"

    def __init__(
        self,
        window_s: float = 60.0,
        volatility_s: float = 300.0,
        *,
        threshold: float = 2.0,
        scale: float | None = None,
        min_move: float = 0.0005,
        min_updates: int = 10,
    ) -> None:
        self.window_s = _positive("window_s", window_s)
        self.volatility_s = _positive("volatility_s", volatility_s)
        self.threshold = _positive("threshold", threshold)
        self.scale = self.threshold if scale is None else _positive("scale", scale)
        if not isinstance(min_move, (int, float)) or not math.isfinite(min_move) or min_move < 0:
            raise ValueError(f"min_move must be a finite number >= 0, got {min_move!r}")
        self.min_move = float(min_move)
        if isinstance(min_updates, bool) or not isinstance(min_updates, int) or min_updates < 1:
            raise ValueError(f"min_updates must be an int >= 1, got {min_updates!r}")
        self.min_updates = min_updates

    def lookback_bars(self, bar_ms: int) -> int:
        """Bars of history this detector reads."""
        return max(_bars(self.window_s, bar_ms), _bars(self.volatility_s, bar_ms)) + 1

    def evaluate(self, bars: BarSeries) -> DetectorResult:
        """Momentum at the end of ``bars``."""
        w = _bars(self.window_s, bars.bar_ms)
        n = len(bars)
        if n < w + 1:
            return _not_ready(self.name, f"series too short: {n} bars, need {w + 1}")
        close = bars.close
        c0 = float(close[-1 - w])
        c1 = float(close[-1])
        if not (math.isfinite(c0) and c0 > 0):
            have = bars.history_bars * bars.bar_ms / 1000.0
            return _not_ready(
                self.name,
                f"momentum needs {self.window_s:g} s of price history, have {have:.0f} s",
            )
        updates = int(bars.updates[-w:].sum())
        if updates < self.min_updates:
            return _not_ready(
                self.name,
                f"momentum needs {self.min_updates} price updates in {self.window_s:g} s, "
                f"have {updates}",
            )
        ret = math.log(c1 / c0)
        vb = min(_bars(self.volatility_s, bars.bar_ms), n - 1)
        seg = close[-1 - vb:]
        seg = seg[np.isfinite(seg)]
        sigma = float(np.diff(np.log(seg)).std()) if seg.shape[0] >= 3 else 0.0
        denom = max(sigma * math.sqrt(w), self.min_move)
        if denom <= 0.0:  # min_move == 0 in a flat market
            z = 0.0 if ret == 0.0 else math.copysign(math.inf, ret)
        else:
            z = ret / denom
        fired = abs(z) >= self.threshold and ret != 0.0
        direction = (1 if ret > 0 else -1) if fired else 0
        reason = None
        if fired:
            reason = REASON_POSITIVE_MOMENTUM if ret > 0 else REASON_NEGATIVE_MOMENTUM
        detail = (
            f"momentum {ret * 100:+.3f}% over {self.window_s:g} s = {z:+.2f} sigma "
            f"(threshold {self.threshold:g}; vol {sigma * 100:.4f}%/bar)"
        )
        score = _squash(z, self.scale)
        return DetectorResult(self.name, True, fired, score, z, direction, reason, detail)

    def __repr__(self) -> str:
        return (
            f"Momentum(window_s={self.window_s:g}, volatility_s={self.volatility_s:g}, "
            f"threshold={self.threshold:g}, scale={self.scale:g}, min_move={self.min_move:g}, "
            f"min_updates={self.min_updates})"
        )


class VolumeSpike:
    """Traded volume in a short window against a longer baseline just before it.

    Parameters
    ----------
    window_s : float, default 10
        The recent window whose volume is tested.
    baseline_s : float, default 300
        The baseline before the window (uses what is available, at least ``min_baseline_s``).
    threshold : float, default 3.0
        Volume z-score needed to fire.
    scale : float, optional
        Score is ``tanh(z / scale)`` for ``z > 0``; defaults to ``threshold``.
    min_ratio : float, default 2.0
        The window's volume must also be at least this multiple of the expected volume.
    min_baseline_s : float, default 60
        Baseline needed before the detector speaks (warm-up).
    pressure : float, default 0.3
        ``|imbalance|`` from which the taker side counts as buy or sell pressure.
    """

    name = "volume_spike"

    def __init__(
        self,
        window_s: float = 10.0,
        baseline_s: float = 300.0,
        *,
        threshold: float = 3.0,
        scale: float | None = None,
        min_ratio: float = 2.0,
        min_baseline_s: float = 60.0,
        pressure: float = 0.3,
    ) -> None:
        self.window_s = _positive("window_s", window_s)
        self.baseline_s = _positive("baseline_s", baseline_s)
        self.threshold = _positive("threshold", threshold)
        self.scale = self.threshold if scale is None else _positive("scale", scale)
        self.min_ratio = _positive("min_ratio", min_ratio)
        self.min_baseline_s = _positive("min_baseline_s", min_baseline_s)
        if self.min_baseline_s > self.baseline_s:
            raise ValueError(
                f"min_baseline_s ({min_baseline_s:g}) cannot exceed baseline_s ({baseline_s:g})"
            )
        self.pressure = _positive("pressure", pressure)
        if self.pressure > 1.0:
            raise ValueError(f"pressure must be within (0, 1], got {pressure!r}")

    def lookback_bars(self, bar_ms: int) -> int:
        """Bars of history this detector reads."""
        return _bars(self.window_s, bar_ms) + _bars(self.baseline_s, bar_ms)

    def evaluate(self, bars: BarSeries) -> DetectorResult:
        """Volume spike at the end of ``bars``."""
        w = _bars(self.window_s, bars.bar_ms)
        mb = _bars(self.min_baseline_s, bars.bar_ms)
        n = len(bars)
        if n < w + mb:
            return _not_ready(self.name, f"series too short: {n} bars, need {w + mb}")
        avail = min(_bars(self.baseline_s, bars.bar_ms), bars.history_bars - w, n - w)
        if avail < mb:
            have = bars.history_bars * bars.bar_ms / 1000.0
            need = (w + mb) * bars.bar_ms / 1000.0
            return _not_ready(
                self.name, f"volume spike needs {need:g} s of volume history, have {have:.0f} s"
            )
        vol = bars.volume
        total = float(vol[-w:].sum())
        base = vol[-w - avail:-w]
        mu = float(base.mean())
        sd = float(base.std())
        expected = w * mu
        denom = max(math.sqrt(w) * sd, 0.1 * expected)
        if denom > 0.0:
            z = (total - expected) / denom
        else:  # silent baseline
            z = math.inf if total > 0.0 else 0.0
        ratio = total / expected if expected > 0.0 else (math.inf if total > 0.0 else 0.0)
        imbalance = 0.0
        if total > 0.0:
            imbalance = (2.0 * float(bars.buy_volume[-w:].sum()) - total) / total
            imbalance = min(1.0, max(-1.0, imbalance))
        fired = total > 0.0 and z >= self.threshold and ratio >= self.min_ratio
        direction = 0
        if abs(imbalance) >= self.pressure:
            direction = 1 if imbalance > 0 else -1
        score = _squash(z, self.scale) if z > 0 else 0.0
        detail = (
            f"volume {total:.6g} in {self.window_s:g} s = {ratio:.2f}x baseline, z {z:+.2f} "
            f"(threshold {self.threshold:g}); taker imbalance {imbalance:+.2f}"
        )
        return DetectorResult(
            self.name, True, fired, score, z, direction,
            REASON_VOLUME_SPIKE if fired else None, detail, imbalance,
        )

    def __repr__(self) -> str:
        return (
            f"VolumeSpike(window_s={self.window_s:g}, baseline_s={self.baseline_s:g}, "
            f"threshold={self.threshold:g}, scale={self.scale:g}, min_ratio={self.min_ratio:g}, "
            f"min_baseline_s={self.min_baseline_s:g}, pressure={self.pressure:g})"
        )


# -- the engine ------------------------------------------------------------------------------


def _check_time(name: str, t: object) -> int:
    if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of milliseconds, got {type(t).__name__}")
    f = float(t)
    if not math.isfinite(f) or f < 0:
        raise ValueError(f"{name} must be a finite time >= 0 in ms, got {t!r}")
    return int(t) if isinstance(t, (int, np.integer)) else math.floor(f)


def _check_num(name: str, v: object, *, positive: bool) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f) or (f <= 0 if positive else f < 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {v!r}")
    return f


def _optional_num(v: object) -> float:
    """A ticker field that may be absent: NaN when None/NaN, else a float."""
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"expected a number or None, got {type(v).__name__}")
    return float(v)


class SignalEngine:
    """Momentum and volume-spike signals for one symbol, fed by trades and tickers.

    Parameters
    ----------
    symbol : str
        The symbol (stored upper-case); events for another symbol are ignored by ``on_event``.
    momentum : Momentum, optional
        Defaults to ``Momentum()`` (60 s window, 2 sigma).
    volume : VolumeSpike, optional
        Defaults to ``VolumeSpike()`` (10 s vs 300 s, z >= 3 and 2x).
    bar_s : float, default 1.0
        Bar length in seconds.
    min_score : float, default 0.0
        Signals scoring below this are suppressed (``assess`` says so).

    Notes
    -----
    Feed one trade stream per symbol (``trade`` *or* ``aggTrade``, not both, or volume counts
    twice). Times are milliseconds; ``now_ms`` is usually wall-clock time
    (``time.time() * 1000``); a ``now_ms`` earlier than the newest update is treated as the
    newest update's time. Not thread-safe: feed and evaluate from one thread / event loop.
    """

    def __init__(
        self,
        symbol: str,
        *,
        momentum: Momentum | None = None,
        volume: VolumeSpike | None = None,
        bar_s: float = 1.0,
        min_score: float = 0.0,
    ) -> None:
        if not isinstance(symbol, str) or not symbol.strip():
            raise ValueError(f"symbol must be a non-empty str, got {symbol!r}")
        self.symbol = symbol.strip().upper()
        self.momentum = Momentum() if momentum is None else momentum
        self.volume = VolumeSpike() if volume is None else volume
        if not isinstance(self.momentum, Momentum) or not isinstance(self.volume, VolumeSpike):
            raise TypeError("momentum and volume must be Momentum and VolumeSpike instances")
        bar_ms = round(_positive("bar_s", bar_s) * 1000.0)
        if bar_ms < 1:
            raise ValueError(f"bar_s must be at least 0.001 s, got {bar_s!r}")
        if not isinstance(min_score, (int, float)) or not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score!r}")
        self.min_score = float(min_score)
        self.bar_ms: int = bar_ms
        self._lookback = max(self.momentum.lookback_bars(bar_ms), self.volume.lookback_bars(bar_ms))
        self._bars = RecordRing(self._lookback + 2, _BAR_FIELDS)
        self.last_assessment: Assessment | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._bars.clear()
        self._first_bar = -1  # bar index of the first update ever seen (-1: none)
        self._bar = -1  # bar index being filled
        self._close = math.nan
        self._vol = 0.0
        self._buy = 0.0
        self._trades = 0
        self._updates = 0
        self._last_ms = -1
        self.last_price = math.nan
        """Last trade or ticker price (NaN before any)."""
        self.volume_24h = math.nan
        """24 h base-asset volume from the last ticker (NaN before any)."""
        self.change_24h_pct = math.nan
        """24 h price change in percent from the last ticker (NaN before any)."""
        self.trade_count = 0
        """Trades recorded."""
        self.late_updates = 0
        """Updates stamped before the bar being filled (counted in that bar)."""
        self.rejected_events = 0
        """Events ``on_event`` could not use because of invalid numbers."""

    def reset(self) -> None:
        """Forget all data (e.g. after a long outage), keeping the configuration."""
        self._reset_state()
        self.last_assessment = None

    # -- feeding -----------------------------------------------------------------------------

    def _update(self, time_ms: int, price: float, qty: float, buy: bool, trade: bool) -> None:
        b = time_ms // self.bar_ms
        if b > self._bar:
            if self._bar >= 0:
                self._bars.append(
                    self._bar * self.bar_ms, self._close, self._vol, self._buy,
                    float(self._trades), float(self._updates),
                )
            else:
                self._first_bar = b
            self._bar = b
            self._vol = 0.0
            self._buy = 0.0
            self._trades = 0
            self._updates = 0
        elif b < self._bar:
            self.late_updates += 1
        self._close = price
        self._updates += 1
        if trade:
            self._vol += qty
            if buy:
                self._buy += qty
            self._trades += 1
        if time_ms > self._last_ms:
            self._last_ms = time_ms
        self.last_price = price

    def on_trade(self, time_ms: int, price: float, qty: float, is_buyer_maker: bool = False) -> None:
        """Record one trade.

        Parameters
        ----------
        time_ms : int
            Trade time in milliseconds.
        price : float
            Trade price (> 0).
        qty : float
            Base-asset quantity (>= 0).
        is_buyer_maker : bool
            Binance's ``m``: True when the seller was the taker (a sell), False for a taker buy.

        Raises ``TypeError``/``ValueError`` on a bad value; nothing is recorded then.
        """
        if (
            type(time_ms) is int and type(price) is float and type(qty) is float
            and time_ms >= 0 and 0.0 < price < math.inf and 0.0 <= qty < math.inf
        ):  # the common case from parsed events, checked in one go
            self._update(time_ms, price, qty, not is_buyer_maker, True)
        else:
            t = _check_time("time_ms", time_ms)
            p = _check_num("price", price, positive=True)
            q = _check_num("qty", qty, positive=False)
            self._update(t, p, q, not is_buyer_maker, True)
        self.trade_count += 1

    def on_ticker(
        self,
        time_ms: int | None,
        last_price: float,
        volume: float | None = None,
        change_pct: float | None = None,
    ) -> None:
        """Record a ticker: its last price feeds momentum; volume and change feed the ticker line.

        ``volume`` is the 24 h base-asset volume and ``change_pct`` the 24 h change in percent
        (None when unknown). ``time_ms`` None uses the newest time seen; with no time at all
        only the ticker line is updated. Ticker volume is cumulative, so it never counts as
        traded volume: volume spikes need trades.
        """
        p = _check_num("last_price", last_price, positive=True)
        vol = _optional_num(volume)
        chg = _optional_num(change_pct)
        t = _check_time("time_ms", time_ms) if time_ms is not None else self._last_ms
        if t >= 0:
            self._update(t, p, 0.0, False, False)
        else:
            self.last_price = p
        if not math.isnan(vol):
            self.volume_24h = vol
        if not math.isnan(chg):
            self.change_24h_pct = chg

    def on_event(self, ev: Any) -> bool:
        """Feed a fastws event (duck-typed); return True if it was used.

        Trades (``Trade``, ``AggTrade``, anything with ``trade_time``, ``price``, ``quantity``,
        ``is_buyer_maker``), 24 h tickers (``Ticker``: ``last_price``,
        ``price_change_percent``, ``volume``) and mini tickers (``MiniTicker``: ``close``,
        ``open``, ``volume``) are used. Events for another symbol, klines, rolling-window
        tickers and anything else are ignored (False). An event whose numbers are unusable
        (NaN or non-positive price, negative quantity, no time) is not recorded, returns
        False and is counted in ``rejected_events``; the plain ``on_*`` methods raise instead.
        """
        try:
            return self._on_event(ev)
        except (TypeError, ValueError):
            self.rejected_events += 1
            return False

    def _on_event(self, ev: Any) -> bool:
        sym = getattr(ev, "symbol", None)
        if isinstance(sym, str) and sym.upper() != self.symbol:
            return False
        if hasattr(ev, "trade_time") and hasattr(ev, "price") and hasattr(ev, "quantity"):
            t = ev.trade_time
            if t is None or t < 0:
                t = getattr(ev, "event_time", -1)
            self.on_trade(t, ev.price, ev.quantity, bool(getattr(ev, "is_buyer_maker", False)))
            return True
        if hasattr(ev, "window") or hasattr(ev, "interval"):
            return False  # rolling-window tickers and klines are not 24 h statistics
        t = getattr(ev, "event_time", -1)
        if t is None or t < 0:
            t = getattr(ev, "close_time", -1)
        when = t if isinstance(t, int) and t >= 0 else None
        if hasattr(ev, "last_price") and hasattr(ev, "price_change_percent"):
            self.on_ticker(when, ev.last_price, getattr(ev, "volume", None), ev.price_change_percent)
            return True
        if hasattr(ev, "close") and hasattr(ev, "open") and hasattr(ev, "volume"):
            op = ev.open
            chg = (ev.close - op) / op * 100.0 if op and op > 0 else None
            self.on_ticker(when, ev.close, ev.volume, chg)
            return True
        return False

    # -- evaluating --------------------------------------------------------------------------

    def bars(self, now_ms: int | None = None) -> BarSeries | None:
        """The dense bar series the detectors read, ending at ``now_ms``'s bar (None: no data)."""
        if self._bar < 0:
            return None
        bm = self.bar_ms
        end = self._bar
        if now_ms is not None:
            end = max(end, _check_time("now_ms", now_ms) // bm)
        n = self._lookback
        start = end - n + 1
        ring = self._bars
        i0 = ring.index_since(start * bm)
        close = np.full(n, np.nan)
        volume = np.zeros(n)
        buy = np.zeros(n)
        trades = np.zeros(n)
        updates = np.zeros(n)
        pos = ring.column("time", i0) // bm - start
        for arr, name in ((close, "close"), (volume, "volume"), (buy, "buy_volume"),
                          (trades, "trades"), (updates, "updates")):
            arr[pos] = ring.column(name, i0)
        cur = self._bar - start
        if cur >= 0:
            close[cur] = self._close
            volume[cur] = self._vol
            buy[cur] = self._buy
            trades[cur] = self._trades
            updates[cur] = self._updates
        prev = float(ring[i0 - 1][1]) if i0 > 0 else math.nan
        # carry the last known close forward through bars without updates
        idx = np.where(updates > 0, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        close = np.where(idx >= 0, close[np.maximum(idx, 0)], prev)
        history = min(n, end - self._first_bar + 1)
        return BarSeries(start * bm, bm, close, volume, buy, trades, updates, history)

    def assess(self, now_ms: int | None = None) -> Assessment:
        """Run both detectors at ``now_ms`` (default: the newest update) and explain the outcome."""
        t = _check_time("now_ms", now_ms) if now_ms is not None else max(self._last_ms, 0)
        series = self.bars(t)
        if series is None:
            m = _not_ready(Momentum.name, "no data yet")
            v = _not_ready(VolumeSpike.name, "no data yet")
            result = Assessment(self.symbol, t, None, m, v, "warming up: no data yet")
            self.last_assessment = result
            return result
        t = max(t, self._last_ms)
        m = self.momentum.evaluate(series)
        v = self.volume.evaluate(series)
        reasons: list[str] = []
        scores: list[float] = []
        side = 0
        if m.fired and m.reason is not None:
            side = m.direction
            reasons.append(m.reason)
            scores.append(m.score)
        if v.fired:
            if side == 0 and v.direction != 0:
                side = v.direction
                reasons.append(REASON_VOLUME_SPIKE)
                scores.append(v.score * abs(v.imbalance))
            elif side != 0 and v.direction != -side:
                reasons.append(REASON_VOLUME_SPIKE)
                scores.append(v.score)
            if side != 0 and v.direction == side:
                reasons.append(REASON_BUY_PRESSURE if side > 0 else REASON_SELL_PRESSURE)
        signal: Signal | None = None
        if side != 0:
            keep = 1.0
            for s in scores:
                keep *= 1.0 - s
            score = min(1.0, max(0.0, 1.0 - keep))
            if score >= self.min_score:
                signal = Signal(self.symbol, BUY if side > 0 else SELL, score, tuple(reasons), t)
        status = self._status(m, v, signal, side)
        result = Assessment(self.symbol, t, signal, m, v, status)
        self.last_assessment = result
        return result

    def _status(self, m: DetectorResult, v: DetectorResult, signal: Signal | None, side: int) -> str:
        if signal is not None:
            return f"{signal.side} {signal.score:.3f}: {', '.join(signal.reasons)}"
        if not m.ready and not v.ready:
            return f"warming up: {m.detail}"
        if side != 0:
            return f"no signal: score below min_score {self.min_score:g}"
        parts = [m.detail if m.ready else f"momentum not ready ({m.detail})",
                 v.detail if v.ready else f"volume not ready ({v.detail})"]
        if v.fired and m.fired:
            parts.append("the volume spike's taker pressure contradicts the momentum")
        elif v.fired:
            parts.append("volume spike without a clear taker side")
        return "no signal: " + "; ".join(parts)

    def evaluate(self, now_ms: int | None = None) -> Signal | None:
        """The signal at ``now_ms`` or None (no signal, or warming up: see ``assess``)."""
        return self.assess(now_ms).signal

    def ticker_line(self) -> str | None:
        """``BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%`` (None before any price)."""
        if math.isnan(self.last_price):
            return None
        return format_ticker(self.symbol, self.last_price, self.volume_24h, self.change_24h_pct)

    def __repr__(self) -> str:
        return (
            f"SignalEngine({self.symbol!r}, momentum={self.momentum!r}, volume={self.volume!r}, "
            f"bar_s={self.bar_ms / 1000:g}, trades={self.trade_count})"
        )


# -- formatting ------------------------------------------------------------------------------


def format_signal(signal: Signal) -> str:
    """``SIGNAL: BUY | 0.723 | Positive momentum, Volume spike``."""
    return f"SIGNAL: {signal.side} | {signal.score:.3f} | {', '.join(signal.reasons)}"


def format_ticker(
    symbol: str, price: float, volume: float | None = None, change_pct: float | None = None
) -> str:
    """``BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%``.

    Price with 4 decimals, volume rounded to a whole number, change signed with 2 decimals
    (a change that rounds to zero prints ``+0.00%``). Unknown (None/NaN) values print ``n/a``.
    """
    p = _optional_num(price)
    v = _optional_num(volume)
    c = _optional_num(change_pct)
    ps = f"${p:.4f}" if math.isfinite(p) else "$n/a"
    vs = f"{v:.0f}" if math.isfinite(v) else "n/a"
    if math.isfinite(c):
        c = round(c, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
        cs = f"{c:+.2f}%"
    else:
        cs = "n/a"
    return f"{symbol}: {ps} | Vol: {vs} | 24h: {cs}"
