"""Stream names the simulator understands (SPEC §2.5 spot, §4.3 USDⓈ-M) and their cadence.

:func:`parse_stream` turns a stream name into a :class:`StreamSpec` (kind, symbol, period,
levels, interval...) or None for a name the simulator has no data for. Binance accepts any
name in ``SUBSCRIBE`` and simply sends nothing for unknown ones; the simulator does the same.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote

from fastws.sim.market import KLINE_INTERVALS

__all__ = ["StreamSpec", "parse_stream", "REALTIME", "DEPTH_DIFF", "DEPTH_PARTIAL"]

REALTIME = 0
"""Period of a real-time stream (one event per engine step that concerns it)."""

DEPTH_DIFF = "depth"
DEPTH_PARTIAL = "depthN"


@dataclass(frozen=True)
class StreamSpec:
    """What one stream name means.

    Attributes
    ----------
    name : str
        The name as subscribed (symbol lower-case).
    kind : str
        ``trade``, ``aggTrade``, ``blockTrade``, ``kline``, ``miniTicker``, ``ticker``,
        ``windowTicker``, ``bookTicker``, ``avgPrice``, ``referencePrice``, ``depthN``,
        ``depth``, ``markPrice``, ``forceOrder``; the ``!...@arr`` forms carry ``all=True``.
    symbol : str or None
        Upper-case symbol; None for an all-market stream.
    period : int
        Milliseconds between pushes; :data:`REALTIME` (0) for event-driven streams.
    levels : int
        Partial depth levels (5, 10, 20).
    interval : str
        Kline interval or rolling-ticker window (``1h``, ``4h``, ``1d``).
    offset_ms : int
        Kline alignment offset (``@+08:00`` gives 8 h).
    contract : str
        Contract type of a USDⓈ-M continuous kline (``PERPETUAL``...).
    all : bool
        An all-market (``!...``) stream.
    """

    name: str
    kind: str
    symbol: Optional[str]
    period: int = REALTIME
    levels: int = 0
    interval: str = ""
    offset_ms: int = 0
    all: bool = False
    contract: str = ""


_DEPTH_RE = re.compile(r"^depth(5|10|20)?(?:@(\d+)ms)?$")
_KLINE_RE = re.compile(r"^kline_([0-9]+[smhdwM])(@\+08:00)?$")
_WINDOW_RE = re.compile(r"^ticker_(1h|4h|1d)$")
_SPOT_DEPTH_SPEEDS = (100, 1000)
_CONTRACTS = ("perpetual", "current_quarter", "next_quarter")
_USDM_DEPTH_SPEEDS = (0, 100, 250, 500)


def parse_stream(name: str, market: str = "spot") -> Optional[StreamSpec]:
    """Parse a stream name; None when the simulator serves no data under it.

    Parameters
    ----------
    name : str
        Stream name, possibly percent-encoded (allowed since 2025-12, SPEC §2.1).
    market : {"spot", "usdm"}
        Which catalogue to use.
    """
    name = unquote(name)
    spot = market == "spot"
    if name.startswith("!"):
        return _parse_all(name, spot)
    at = name.find("@")
    if at <= 0:
        return None
    sym, rest = name[:at], name[at + 1:]
    if not spot and rest.startswith("continuousKline_") and "_" in sym:
        pair, contract = sym.rsplit("_", 1)
        interval = rest[len("continuousKline_"):]
        if (pair != pair.lower() or contract not in _CONTRACTS or interval not in KLINE_INTERVALS):
            return None
        return StreamSpec(name, "continuousKline", pair.upper(), period=250, interval=interval,
                          contract=contract.upper())
    if sym != sym.lower():
        return None                    # Binance wants lower-case symbols in stream names
    symbol = sym.upper()
    if rest == "trade":
        return StreamSpec(name, "trade", symbol)
    if rest == "aggTrade":
        return StreamSpec(name, "aggTrade", symbol)
    if rest == "blockTrade" and spot:
        return StreamSpec(name, "blockTrade", symbol)
    if rest == "bookTicker":
        return StreamSpec(name, "bookTicker", symbol)
    if rest == "miniTicker":
        return StreamSpec(name, "miniTicker", symbol, period=1000 if spot else 2000)
    if rest == "ticker":
        return StreamSpec(name, "ticker", symbol, period=1000 if spot else 2000)
    if rest == "avgPrice" and spot:
        return StreamSpec(name, "avgPrice", symbol, period=1000)
    if rest == "referencePrice" and spot:
        return StreamSpec(name, "referencePrice", symbol, period=1000)
    if not spot and rest in ("markPrice", "markPrice@1s"):
        return StreamSpec(name, "markPrice", symbol, period=1000 if rest.endswith("1s") else 3000)
    if not spot and rest == "forceOrder":
        return StreamSpec(name, "forceOrder", symbol, period=1000)
    m = _WINDOW_RE.match(rest)
    if m and spot:
        return StreamSpec(name, "windowTicker", symbol, period=1000, interval=m.group(1))
    m = _KLINE_RE.match(rest)
    if m:
        interval = m.group(1)
        if interval not in KLINE_INTERVALS or (m.group(2) and not spot):
            return None
        if not spot and interval == "1s":
            return None
        period = (1000 if interval == "1s" else 2000) if spot else 250
        off = 8 * 3_600_000 if m.group(2) else 0
        return StreamSpec(name, "kline", symbol, period=period, interval=interval, offset_ms=off)
    m = _DEPTH_RE.match(rest)
    if m:
        levels = int(m.group(1)) if m.group(1) else 0
        speed_s = m.group(2)
        if spot:
            speed = int(speed_s) if speed_s else 1000
            if speed not in _SPOT_DEPTH_SPEEDS:
                return None
        else:
            speed = int(speed_s) if speed_s else 250
            if speed not in _USDM_DEPTH_SPEEDS:
                return None
        if levels:
            if not spot and speed == 0:
                return None
            return StreamSpec(name, DEPTH_PARTIAL, symbol, period=speed, levels=levels)
        return StreamSpec(name, DEPTH_DIFF, symbol, period=speed)
    return None


def _parse_all(name: str, spot: bool) -> Optional[StreamSpec]:
    if name == "!miniTicker@arr":
        return StreamSpec(name, "miniTicker", None, period=1000, all=True)
    if name == "!ticker@arr" and not spot:
        # Spot's !ticker@arr was RETIRED on 2026-03-26 (SPEC §2.5): nothing is sent.
        return StreamSpec(name, "ticker", None, period=1000, all=True)
    m = re.match(r"^!ticker_(1h|4h|1d)@arr$", name)
    if m and spot:
        return StreamSpec(name, "windowTicker", None, period=1000, interval=m.group(1), all=True)
    if name == "!bookTicker" and not spot:
        return StreamSpec(name, "bookTicker", None, period=5000, all=True)
    if name in ("!markPrice@arr", "!markPrice@arr@1s") and not spot:
        return StreamSpec(name, "markPrice", None,
                          period=1000 if name.endswith("1s") else 3000, all=True)
    if name == "!forceOrder@arr" and not spot:
        return StreamSpec(name, "forceOrder", None, period=1000, all=True)
    return None
