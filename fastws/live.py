"""The live view of ``fastws demo``, ``monitor`` and ``trade``, and what those commands share.

:class:`LiveView` turns a :class:`~fastws.market_stream.MarketStream` and a
:class:`~fastws.signals.SignalEngine` per symbol into lines::

    BTCUSDT: $67234.5600 | Vol: 1234 | 24h: +2.45%
      bid 67234.55 / ask 67234.57 | spread 0.02 | 412 msg/s | book synced
    SIGNAL: BUY | 0.723 | Positive momentum, Volume spike

:class:`LiveScreen` shows them: on a terminal one screen redrawn in place by rich's live display
(it measures wrapped lines and the window's height itself; log records and notes print above
it, never through it), elsewhere (a pipe, a log file, CI) plain blocks of lines.

Also here: :func:`venue_for_url` (a :class:`~fastws.venues.Venue` for a running ``fastws sim``)
and :func:`stop_event` (Ctrl-C ends a command's loop so that it can print its summary).
"""
from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from fastws.events import AggTrade, Ticker, Trade
from fastws.signals import Momentum, SignalEngine, VolumeSpike, format_signal
from fastws.venues import SPOT_LIMITS, USDM_LIMITS, Venue

__all__ = ["LiveView", "LiveScreen", "venue_for_url", "stop_event", "streams_for", "short_engine",
           "liven"]


def streams_for(symbol: str, books: bool = True, market: str = "spot") -> list[str]:
    """The streams the live view needs for one symbol (USD-M has ``@aggTrade``, no ``@trade``)."""
    s = symbol.lower()
    trades = "trade" if market == "spot" else "aggTrade"
    out = [f"{s}@ticker", f"{s}@{trades}", f"{s}@bookTicker"]
    if books:
        out.append(f"{s}@depth@100ms")
    return out


def venue_for_url(url: str, market: str = "spot", rest_url: str | None = None,
                  ca_file: str | None = None) -> Venue:
    """A :class:`Venue` for a ``fastws sim`` running at ``url`` (``ws://host:port``).

    The simulator serves streams at ``url``, the WS API at ``/ws-api/v3`` (USD-M
    ``/ws-fapi/v1``) and REST on the next port (``fastws sim``'s default) unless ``rest_url``
    says otherwise; ``ca_file``: the CA of a ``--tls`` simulator (its banner's ``ca-file``).
    Raises ``ValueError`` for a URL that is not ``ws://`` / ``wss://`` with a
    host and port.
    """
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port is None:
        raise ValueError(f"{url!r} is not a simulator address: want ws://HOST:PORT "
                         "(the 'streams' line of the fastws sim banner)")
    if market not in ("spot", "usdm"):
        raise ValueError(f"market must be spot or usdm, got {market!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    base = f"{parts.scheme}://{host}:{port}"
    http = "https" if parts.scheme == "wss" else "http"
    return Venue(name=f"sim-{market}@{host}:{port}", market=market,  # type: ignore[arg-type]
                 stream_url=base,
                 ws_api_url=base + ("/ws-api/v3" if market == "spot" else "/ws-fapi/v1"),
                 rest_url=rest_url or f"{http}://{host}:{port + 1}",
                 limits=SPOT_LIMITS if market == "spot" else USDM_LIMITS,
                 split_routes=market == "usdm", testnet=True, ca_file=ca_file)


def liven(ex: Any) -> None:
    """Give every symbol of a started simulator ``ex`` the lively market of the demo: a price
    process with regimes and volume bursts, and the day before it in the 24 h statistics
    (``SymbolMarket.liven``). Nothing to do when it replays a capture."""
    if getattr(ex, "replay", None) is not None:
        return
    for s in ex.symbols:
        ex.market_of(s).liven()


def stop_event() -> tuple[asyncio.Event, list[int]]:
    """An event set by Ctrl-C / SIGTERM in the running loop, and the list of signals received.

    A command's loop waits on it instead of dying with ``KeyboardInterrupt``, so it still closes
    its connections and prints its summary (and exits 130 when ``signals`` is not empty)."""
    stop = asyncio.Event()
    got: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(sig: int) -> None:
        got.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    return stop, got


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; True when it was set."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except (TimeoutError, asyncio.TimeoutError):
        return False
    return True


def short_engine(symbol: str) -> SignalEngine:
    """A signal engine with windows for short sessions (5 s momentum over 30 s of volatility,
    2 s volume spikes against 30 s): signals can fire within a 20 s demo."""
    return SignalEngine(symbol, momentum=Momentum(window_s=5, volatility_s=30, min_updates=5,
                                                  min_move=0.0001),
                        volume=VolumeSpike(window_s=2, baseline_s=30, min_baseline_s=6))


def _fmt(x: float, digits: int = 8) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"


class LiveView:
    """Signal engines and the view's lines for a set of symbols on one MarketStream.

    Parameters
    ----------
    ms : MarketStream
        The stream (its ``@ticker`` and ``@trade`` / ``@aggTrade`` events feed the engines).
    symbols : sequence of str
    short_windows : bool
        Signal windows for a short session (see :func:`short_engine`); off: the library
        defaults (60 s momentum, 300 s volume baseline).
    verbose : bool
        Under each symbol, the detectors' figures and why no signal fired (long lines);
        otherwise one short status.
    extra : callable, optional
        More lines (``trade`` shows orders, position and PnL there).
    on_signal : callable, optional
        Called with each :class:`~fastws.signals.Signal` when the view is drawn.
    """

    def __init__(self, ms: Any, symbols: Sequence[str], *, short_windows: bool = False,
                 verbose: bool = False, extra: Callable[[], list[str]] | None = None,
                 on_signal: Callable[[Any], None] | None = None,
                 out: IO[str] | None = None, tty: bool | None = None) -> None:
        self.ms = ms
        self.symbols = [s.upper() for s in symbols]
        self.verbose = verbose
        self.extra = extra
        self.on_signal = on_signal
        self.engines: dict[str, SignalEngine] = {
            sym: short_engine(sym) if short_windows else SignalEngine(sym) for sym in self.symbols}
        self.signals_fired = 0
        self._prev: dict[str, tuple[float, int]] = {}
        # the pre-rich interface (LiveView(ms, symbols, out=..., tty=...).render()) still works
        self._screen: LiveScreen | None = LiveScreen(out, tty=tty) if out is not None or tty is not None else None
        ms.on(Trade, self._feed)
        ms.on(AggTrade, self._feed)
        ms.on(Ticker, self._feed)

    def _feed(self, ev: Any) -> None:
        eng = self.engines.get(ev.symbol)
        if eng is not None:
            eng.on_event(ev)

    def _rate(self, sym: str, stats: Any, now: float) -> float:
        total = 0
        prefix = sym.lower() + "@"
        for name, d in stats.streams.items():
            if name.startswith(prefix):
                total += d["messages"]
        prev = self._prev.get(sym)
        self._prev[sym] = (now, total)
        if prev is None or now - prev[0] <= 0:
            return 0.0
        return (total - prev[1]) / (now - prev[0])

    def lines(self) -> list[str]:
        """The view now, as lines (signals found now are counted and handed to ``on_signal``)."""
        stats = self.ms.stats()
        now = time.monotonic()
        now_ms = int(time.time() * 1000)
        out = []
        for sym in self.symbols:
            eng = self.engines[sym]
            out.append(eng.ticker_line() or f"{sym}: waiting for data")
            book = self.ms.books.get(sym)
            parts = []
            if book is not None and book.best_bid() is not None and book.best_ask() is not None:
                bid, ask = book.best_bid_price, book.best_ask_price
                parts.append(f"bid {_fmt(bid)} / ask {_fmt(ask)} | spread {_fmt(ask - bid)}")
            parts.append(f"{self._rate(sym, stats, now):.0f} msg/s")
            if book is not None:
                parts.append("book synced" if book.is_synced else "book resyncing")
            out.append("  " + " | ".join(parts))
            a = eng.assess(now_ms)
            if a.signal is not None:
                self.signals_fired += 1
                out.append(format_signal(a.signal))
                if self.on_signal is not None:
                    self.on_signal(a.signal)
            else:
                out.append("  signal: " + ("warming up" if a.warming_up else "none"))
            if self.verbose:
                out.append(f"    status: {a.status}")
                out.append(f"    momentum: {a.momentum.detail}")
                out.append(f"    volume: {a.volume.detail}")
        out.append(f"[{stats.msgs_per_s:.0f} msg/s total | {stats.connections} connection(s) | "
                   f"{stats.reconnects} reconnects | {stats.gaps} gaps | {stats.resyncs} resyncs | "
                   f"{stats.parse_errors} parse errors]")
        if self.extra is not None:
            out.extend(self.extra())
        return out

    # the pre-rich interface, used by scripts that drew the view themselves
    def note(self, text: str) -> None:
        """Print a message line above the view."""
        if self._screen is None:
            self._screen = LiveScreen()
        self._screen.note(text)

    def render(self) -> None:
        """Draw the view now."""
        if self._screen is None:
            self._screen = LiveScreen()
        self._screen.show(self.lines())


class LiveScreen:
    """Where the view goes: a rich live display on a terminal, plain lines elsewhere.

    Use as a context manager (``with LiveScreen() as screen: screen.show(lines)``); on a
    terminal, records of the ``fastws`` loggers (and anything written to stdout / stderr) are
    printed above the view while it is up. ``tty=None`` asks ``out.isatty()``.
    """

    def __init__(self, out: IO[str] | None = None, *, tty: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = bool(self.out.isatty()) if tty is None else tty
        self._live: Any = None
        self._console: Any = None
        self._handler: logging.Handler | None = None
        self._saved: tuple[list[logging.Handler], bool] | None = None
        self._last: list[str] = []

    def __enter__(self) -> LiveScreen:
        if self.tty:
            self._start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.logging import RichHandler
        self._console = Console(file=self.out, force_terminal=True, highlight=False,
                                soft_wrap=False)
        self._live = Live(console=self._console, auto_refresh=False, transient=False,
                          redirect_stdout=self.out is sys.stdout, redirect_stderr=True,
                          vertical_overflow="crop")
        self._live.start()
        lg = logging.getLogger("fastws")
        self._saved = (list(lg.handlers), lg.propagate)
        self._handler = RichHandler(console=self._console, show_path=False, markup=False,
                                    rich_tracebacks=False, log_time_format="%H:%M:%S")
        lg.handlers = [self._handler]
        lg.propagate = False
        if lg.level == logging.NOTSET:
            lg.setLevel(logging.WARNING)

    def _renderable(self, lines: list[str]) -> Any:
        from rich.text import Text
        return Text("\n".join(lines), no_wrap=False, overflow="fold")

    def show(self, lines: list[str]) -> None:
        """Draw ``lines``: replace the screen's view, or print them as a block."""
        self._last = lines
        if self.tty:
            if self._live is None:
                self._start()
            self._live.update(self._renderable(lines), refresh=True)
        else:
            self.out.write("\n".join(lines) + "\n\n")
            self.out.flush()

    def note(self, text: str) -> None:
        """A message line, printed above the view (plain: in sequence)."""
        if self._live is not None:
            from rich.text import Text
            self._console.print(Text(text))
        else:
            self.out.write(text + "\n")
            self.out.flush()

    def close(self) -> None:
        """Leave the last view on screen and give the terminal and the loggers back."""
        if self._live is not None:
            try:
                self._live.stop()
            finally:
                self._live = None
                lg = logging.getLogger("fastws")
                if self._saved is not None:
                    lg.handlers, lg.propagate = self._saved
                    self._saved = None
