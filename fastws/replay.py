"""Replay a recorded capture through parser -> sync -> book, and check it against bookTicker.

``fastws replay FILE...`` (CLI, :func:`main`) and :func:`replay` (library, used by the tests)
stream the records of one capture session (see :mod:`fastws.captures`) as follows:

* every WebSocket message is decoded by :class:`fastws.parser.Parser` (the hot path: depth
  levels go from the payload into numpy arrays and from there into the book in C);
* ``DepthUpdate`` events are routed by symbol to one :class:`fastws.sync.BookSync` each;
* REST snapshots in the capture (parsed with orjson, off the hot path) are handed to the
  sync of their symbol (from the request URL, or the capture's only symbol);
* after every event that leaves a book synced, the book's best bid and ask (price **and**
  quantity) are compared with the latest ``bookTicker`` whose update id is <= the event's
  final update id (bookTickers that arrive later with a smaller id are waited for).

The report counts events, gaps, resyncs, crossings and bookTicker agreement per symbol.
"""
from __future__ import annotations

import argparse
import bisect
import gzip
import json
import os
import sys
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Iterable, Iterator, Sequence

import orjson

from fastws.book import OrderBook
from fastws.captures import CaptureRecord, RecordKind, market_from_url, read_capture
from fastws.events import BookTicker, DepthUpdate
from fastws.exceptions import ParseError
from fastws.sync import BookSync, Market, SyncAction

__all__ = ["replay", "ReplayReport", "SymbolReport", "Mismatch", "detect_market", "main"]

_MAX_EXAMPLES = 5
_DETECT_RECORDS = 2000

Top = tuple[float, float, float, float]  # bid price, bid qty, ask price, ask qty


@dataclass(frozen=True)
class Mismatch:
    """One event where the book's top differed from the matching bookTicker."""

    update_id: int
    book: Top
    book_ticker: Top
    book_ticker_id: int


@dataclass
class SymbolReport:
    """Replay results of one symbol."""

    symbol: str
    depth_events: int = 0
    applied: int = 0
    ignored: int = 0
    snapshots: int = 0
    stale_snapshots: int = 0
    syncs: int = 0
    gaps: int = 0
    crossed: int = 0
    rejected: int = 0
    rejected_example: str | None = None
    book_tickers: int = 0
    compared: int = 0
    matched: int = 0
    not_comparable: int = 0
    mismatch_examples: list[Mismatch] = field(default_factory=list)
    synced: bool = False
    update_id: int = -1
    tick_size: float | None = None
    bid_levels: int = 0
    ask_levels: int = 0

    @property
    def resyncs(self) -> int:
        """Syncs after the first one."""
        return max(0, self.syncs - 1)

    @property
    def mismatches(self) -> int:
        return self.compared - self.matched

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "mismatch_examples"}
        d["resyncs"] = self.resyncs
        d["mismatches"] = self.mismatches
        d["mismatch_examples"] = [m.__dict__ for m in self.mismatch_examples]
        return d


@dataclass
class ReplayReport:
    """What :func:`replay` found."""

    files: list[str]
    market: str
    records: int = 0
    messages: int = 0
    snapshots: int = 0
    unassigned_snapshots: int = 0
    parse_errors: int = 0
    parse_error_examples: list[str] = field(default_factory=list)
    other_messages: int = 0
    elapsed: float = 0.0
    symbols: dict[str, SymbolReport] = field(default_factory=dict)

    @property
    def depth_events(self) -> int:
        return sum(s.depth_events for s in self.symbols.values())

    @property
    def gaps(self) -> int:
        return sum(s.gaps for s in self.symbols.values())

    @property
    def resyncs(self) -> int:
        return sum(s.resyncs for s in self.symbols.values())

    @property
    def ok(self) -> bool:
        """No parse error, no crossing or rejected event, every symbol with a snapshot synced."""
        return (
            self.parse_errors == 0
            and all(s.crossed == 0 and s.rejected == 0 for s in self.symbols.values())
            and all(s.synced for s in self.symbols.values() if s.snapshots)
        )

    @property
    def checked(self) -> bool:
        """At least one book was synced and so checked (False: the capture had nothing to
        start a book from, e.g. no snapshot; ``ok`` is then vacuous)."""
        return any(s.synced or s.compared or s.applied for s in self.symbols.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "market": self.market,
            "records": self.records,
            "messages": self.messages,
            "snapshots": self.snapshots,
            "unassigned_snapshots": self.unassigned_snapshots,
            "parse_errors": self.parse_errors,
            "parse_error_examples": self.parse_error_examples,
            "other_messages": self.other_messages,
            "elapsed": self.elapsed,
            "ok": self.ok,
            "checked": self.checked,
            "symbols": {k: v.as_dict() for k, v in self.symbols.items()},
        }

    def format(self) -> str:
        """A human-readable summary (what the CLI prints)."""
        lines = [
            f"replayed {len(self.files)} file(s), market {self.market}: {self.records} records, "
            f"{self.messages} messages, {self.snapshots} snapshots in {self.elapsed:.2f} s",
        ]
        if self.parse_errors:
            lines.append(f"parse errors: {self.parse_errors} (first: {self.parse_error_examples[:1]})")
        if self.unassigned_snapshots:
            lines.append(f"snapshots with no symbol to attach to: {self.unassigned_snapshots}")
        head = (f"{'symbol':<12} {'events':>7} {'applied':>7} {'ignored':>7} {'snaps':>5} "
                f"{'gaps':>4} {'resync':>6} {'cross':>5} {'bookTicker agree':>18} {'synced':>6}")
        lines += ["", head, "-" * len(head)]
        for s in self.symbols.values():
            agree = f"{s.matched}/{s.compared}" if s.compared else "-"
            lines.append(
                f"{s.symbol:<12} {s.depth_events:>7} {s.applied:>7} {s.ignored:>7} "
                f"{s.snapshots:>5} {s.gaps:>4} {s.resyncs:>6} {s.crossed:>5} {agree:>18} "
                f"{'yes' if s.synced else 'no':>6}"
            )
        if any(s.mismatch_examples for s in self.symbols.values()):
            lines.append("mismatches (first few): the book's top after the depth event with final "
                         "update id u, as (bid price, bid qty, ask price, ask qty), against the "
                         "bookTicker with the largest update id <= u:")
        for s in self.symbols.values():
            if s.rejected:
                lines.append(f"  {s.symbol}: {s.rejected} event(s) rejected ({s.rejected_example})")
            for m in s.mismatch_examples:
                lines.append(
                    f"  {s.symbol} mismatch at u={m.update_id}: book {m.book} vs bookTicker "
                    f"u={m.book_ticker_id} {m.book_ticker}"
                )
        lines.append("")
        if self.ok and not self.checked:
            lines.append("NOT OK: no book ever synced, so nothing was checked: the capture holds no "
                         "depth snapshot (a REST /depth answer) to start a book from")
        else:
            lines.append("OK" if self.ok else "NOT OK")
        return "\n".join(lines)


class _SymbolState:
    """Sync + bookTicker bookkeeping of one symbol during a replay."""

    __slots__ = ("report", "sync", "bt_ids", "bt_tops", "pending", "last_bt_id")

    def __init__(self, symbol: str, market: Market, tick_size: Any) -> None:
        self.report = SymbolReport(symbol)
        self.sync = BookSync(symbol, market, OrderBook(symbol, tick_size))
        self.bt_ids: list[int] = []
        self.bt_tops: list[Top] = []
        self.pending: Deque[tuple[int, Top]] = deque()
        self.last_bt_id = -1

    def on_book_ticker(self, ev: BookTicker) -> None:
        u = ev.update_id
        self.report.book_tickers += 1
        if u <= self.last_bt_id:
            return  # out of order or repeated: the ids must grow for the lookup below
        self.last_bt_id = u
        self.bt_ids.append(u)
        self.bt_tops.append((ev.best_bid_price, ev.best_bid_quantity,
                             ev.best_ask_price, ev.best_ask_quantity))
        pending = self.pending
        while pending and pending[0][0] < u:
            self._resolve(*pending.popleft())
        if len(self.bt_ids) > 200_000:  # bound memory: keep the recent half
            del self.bt_ids[:100_000]
            del self.bt_tops[:100_000]

    def after_depth(self) -> None:
        book = self.sync.book
        if not book.is_synced:
            return
        top: Top = (book.best_bid_price, book.best_bid_quantity,
                    book.best_ask_price, book.best_ask_quantity)
        u = book.update_id
        if self.last_bt_id > u:
            self._resolve(u, top)
        else:
            self.pending.append((u, top))

    def _resolve(self, u: int, top: Top) -> None:
        i = bisect.bisect_right(self.bt_ids, u) - 1
        rep = self.report
        if i < 0:
            rep.not_comparable += 1
            return
        bt = self.bt_tops[i]
        rep.compared += 1
        if bt == top:
            rep.matched += 1
        elif len(rep.mismatch_examples) < _MAX_EXAMPLES:
            rep.mismatch_examples.append(Mismatch(u, top, bt, self.bt_ids[i]))

    def finish(self) -> SymbolReport:
        while self.pending:
            self._resolve(*self.pending.popleft())
        rep, sync, book = self.report, self.sync, self.sync.book
        st = sync.stats
        rep.depth_events = st.events
        rep.applied = st.applied
        rep.ignored = st.ignored
        rep.stale_snapshots = st.stale_snapshots
        rep.syncs = st.syncs
        rep.gaps = st.gaps
        rep.crossed = st.crossed
        rep.rejected = st.rejected
        rep.rejected_example = str(sync.last_error) if sync.last_error else None
        rep.synced = book.is_synced
        rep.update_id = book.update_id
        rep.tick_size = book.tick_size
        rep.bid_levels = book.bid_count
        rep.ask_levels = book.ask_count
        return rep


def detect_market(records: Iterable[CaptureRecord]) -> str | None:
    """``"spot"``/``"usdm"`` from the URLs or the depth/bookTicker payloads of ``records``."""
    for rec in records:
        m = market_from_url(rec.url)
        if m:
            return m
        if rec.kind is RecordKind.SNAPSHOT:
            if b'"E":' in rec.payload[:80] or b'"T":' in rec.payload[:80]:
                return "usdm"  # the USD-M REST depth response carries E and T
            continue
        p = rec.payload
        if b'"depthUpdate"' in p:
            return "usdm" if b'"pu":' in p else "spot"
        if b"@depth@0ms" in p[:60]:
            return "usdm"
    return None


def replay(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    market: str | None = None,
    *,
    tick_sizes: dict[str, Any] | None = None,
) -> ReplayReport:
    """Replay one capture session and check every book against bookTicker.

    Parameters
    ----------
    paths : path or list of paths
        The files of one session (plain or gzipped), e.g. ``[part1, part2]`` or
        ``[ws_log, http_log]``; merged by timestamp.
    market : {"spot", "usdm"}, optional
        Detected from the URLs or payloads when omitted.
    tick_sizes : dict, optional
        ``{symbol: tick_size}``; symbols not listed infer the tick from their snapshot.

    Returns
    -------
    ReplayReport
    """
    from fastws.parser import Parser  # the compiled parser is required

    files = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    records: Iterator[CaptureRecord] = read_capture(files)
    head: list[CaptureRecord] = []
    if market is None:
        for rec in records:
            head.append(rec)
            market = detect_market([rec])
            if market or len(head) >= _DETECT_RECORDS:
                break
        if market is None:
            raise ValueError(f"cannot tell spot from USD-M in {files}; pass market=")
    if market not in ("spot", "usdm"):
        raise ValueError(f"market must be 'spot' or 'usdm', got {market!r}")
    mkt: Market = "spot" if market == "spot" else "usdm"
    report = ReplayReport(files=files, market=mkt)
    parser = Parser(market=mkt)
    ticks = {k.upper(): v for k, v in (tick_sizes or {}).items()}
    states: dict[str, _SymbolState] = {}
    orphans: list[dict[str, Any]] = []  # symbol-less snapshots seen before any symbol

    def state(symbol: str) -> _SymbolState:
        st = states.get(symbol)
        if st is None:
            st = states[symbol] = _SymbolState(symbol, mkt, ticks.get(symbol))
            while orphans:
                snapshot(st, orphans.pop(0))
        return st

    def snapshot(st: _SymbolState, doc: dict[str, Any]) -> None:
        st.report.snapshots += 1
        try:
            action = st.sync.on_snapshot(doc["lastUpdateId"], doc.get("bids", ()), doc.get("asks", ()))
        except ValueError as exc:
            report.parse_errors += 1
            if len(report.parse_error_examples) < _MAX_EXAMPLES:
                report.parse_error_examples.append(f"{st.report.symbol}: bad snapshot ({exc})")
            return
        if action is SyncAction.SYNCED:
            st.after_depth()

    t0 = time.perf_counter()
    parse = parser.parse
    for rec in _chain(head, records):
        report.records += 1
        kind = rec.kind
        if kind is RecordKind.MESSAGE:
            report.messages += 1
            try:
                ev = parse(rec.payload)
            except ParseError as exc:
                report.parse_errors += 1
                if len(report.parse_error_examples) < _MAX_EXAMPLES:
                    report.parse_error_examples.append(f"{rec.source}: {exc}")
                continue
            if isinstance(ev, DepthUpdate):
                sym = ev.symbol or "?"
                st = states.get(sym) or state(sym)
                action = st.sync.on_event(ev)
                if action is SyncAction.APPLIED or action is SyncAction.SYNCED:
                    st.after_depth()
            elif isinstance(ev, BookTicker):
                sym = ev.symbol or "?"
                (states.get(sym) or state(sym)).on_book_ticker(ev)
            else:
                report.other_messages += 1
                other = getattr(ev, "symbol", None)
                if other and other not in states:
                    state(other)
        elif kind is RecordKind.SNAPSHOT:
            report.snapshots += 1
            try:
                doc = orjson.loads(rec.payload)
                int(doc["lastUpdateId"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                report.parse_errors += 1
                if len(report.parse_error_examples) < _MAX_EXAMPLES:
                    report.parse_error_examples.append(f"{rec.source}: bad snapshot ({exc})")
                continue
            target = rec.symbol
            if target is None and len(states) == 1:
                target = next(iter(states))
            if target is not None:
                snapshot(state(target), doc)
            elif not states:
                orphans.append(doc)
            else:
                report.unassigned_snapshots += 1
    report.unassigned_snapshots += len(orphans)
    for sym, st in states.items():
        report.symbols[sym] = st.finish()
    report.elapsed = time.perf_counter() - t0
    return report


def _chain(head: list[CaptureRecord], rest: Iterator[CaptureRecord]) -> Iterator[CaptureRecord]:
    yield from head
    yield from rest


def main(argv: Sequence[str] | None = None) -> int:
    """``fastws replay FILE... [--market spot|usdm] [--tick-size SYMBOL=TICK] [--json]``.

    Exit status: 0 when the report is OK (no parse error, no crossing, every book with a
    snapshot synced at the end), 1 otherwise, 2 on bad arguments or unreadable files.
    """
    from fastws.cliargs import ArgumentParser
    ap = ArgumentParser(
        prog="fastws replay",
        description="Replay a recorded Binance capture (hftbacktest or cryptofeed format, plain "
        "or gzipped; several files of one session are merged by time) through the parser, the "
        "sync procedure and the order book, and check the book against bookTicker.",
    )
    ap.add_argument("files", nargs="+", metavar="FILE")
    ap.add_argument("--market", choices=("spot", "usdm"), help="default: detected")
    ap.add_argument("--tick-size", action="append", default=[], metavar="SYMBOL=TICK",
                    help="tick size of a symbol (default: inferred from its snapshot)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    ticks: dict[str, str] = {}
    for item in args.tick_size:
        sym, sep, tick = item.partition("=")
        if not sep or not sym or not tick:
            ap.error(f"--tick-size expects SYMBOL=TICK, got {item!r}")
        ticks[sym.upper()] = tick
    for path in args.files:
        if not os.path.isfile(path):
            print(f"fastws replay: {path}: no such file", file=sys.stderr)
            return 2
    try:
        report = replay(args.files, args.market, tick_sizes=ticks)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        print(f"fastws replay: {', '.join(args.files)}: truncated or corrupt gzip file ({exc}); "
              "nothing reported", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"fastws replay: {', '.join(args.files)}: not a text capture ({exc.reason} at byte "
              f"{exc.start})", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"fastws replay: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.format())
    return 0 if report.ok and report.checked else 1
