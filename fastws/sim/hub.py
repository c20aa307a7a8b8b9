"""The stream hub: runs the markets forward in time and routes each stream's events.

Events are produced only for streams somebody is subscribed to. Each payload is encoded once
(orjson) and handed to every subscribed connection, which frames it, wraps it for combined
streams, and batches it into one socket write per tick.
"""
from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING, Any, Callable, Optional

from fastws.sim import payloads as P
from fastws.sim.market import SymbolMarket
from fastws.sim.streams import DEPTH_DIFF, DEPTH_PARTIAL, REALTIME, StreamSpec, parse_stream

if TYPE_CHECKING:
    from fastws.sim.faults import Faults

__all__ = ["Hub", "DepthAggregator"]

log = logging.getLogger("fastws.sim")

_GRANULARITY = 50  # ms; every stream period is a multiple of it


class DepthAggregator:
    """Collects level changes of one symbol over one push period (final quantity per price).

    ``U``/``u`` are the first and last update ids of the window, ``pu`` the ``u`` of the
    previous pushed window (USDⓈ-M), ``T`` the time of the last change.
    """

    __slots__ = ("bids", "asks", "U", "u", "pu", "T")

    def __init__(self, last_id: int) -> None:
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.U = -1
        self.u = last_id
        self.pu = last_id
        self.T = 0

    def add(self, changes: list, t: int) -> None:
        for is_bid, tick, lots, uid in changes:
            (self.bids if is_bid else self.asks)[tick] = lots
            if self.U < 0:
                self.U = uid
            self.u = uid
        if changes:
            self.T = t

    def take(self) -> Optional[tuple]:
        """(U, u, pu, T, bids, asks) of the window, or None if nothing changed."""
        if self.U < 0:
            return None
        out = (self.U, self.u, self.pu,
               self.T, sorted(self.bids.items(), reverse=True), sorted(self.asks.items()))
        self.pu = self.u
        self.U = -1
        self.bids = {}
        self.asks = {}
        return out


class Hub:
    """Stream registry and event router.

    Parameters
    ----------
    markets : dict
        ``SYMBOL -> SymbolMarket``.
    market : {"spot", "usdm"}
        Protocol dialect.
    faults : Faults
        Fault switchboard consulted on every depth event.
    """

    def __init__(self, markets: dict[str, SymbolMarket], market: str, faults: "Faults",
                 start_ms: int) -> None:
        self.markets = markets
        self.market = market
        self.faults = faults
        self.now = start_ms
        self.subs: dict[str, set] = {}
        self.specs: dict[str, StreamSpec] = {}
        self.realtime: dict[str, dict[str, StreamSpec]] = {s: {} for s in markets}
        self.periodic: dict[str, StreamSpec] = {}
        self.aggs: dict[tuple[str, int], DepthAggregator] = {}
        self.next_boundary = (start_ms // _GRANULARITY + 1) * _GRANULARITY
        self.dirty: set = set()
        self.held: dict[str, bytes] = {}            # reorder faults, per stream
        self.on_step: Optional[Callable[[SymbolMarket, Any], None]] = None
        self.engine: Any = None                     # fastws.sim.engine.Engine
        self.after_engine: Optional[Callable[[], None]] = None
        # Books kept every 5 s (about a minute back) for the stale-snapshot fault:
        # (time, update id, bids, asks, last change time); the starting book comes first.
        self.snapshots: dict[str, list] = {}
        for sym, m in markets.items():
            bids, asks = m.top(1000)
            self.snapshots[sym] = [(start_ms, m.update_id, bids, asks, m.time)]
        self.frozen = False                      # replay mode: no synthetic engine
        self.timers: list[tuple[int, int, Callable[[], Any]]] = []   # heap: (time, seq, fn)
        # engine steps of all symbols in time order (ties: symbol order, as given)
        self._queue = [(m.next_time, i, m) for i, m in enumerate(markets.values())]
        heapq.heapify(self._queue)
        self._aggs_of: dict[str, list[DepthAggregator]] = {sym: [] for sym in markets}
        self._timer_seq = 0
        self.floods: dict[str, list[int]] = {}   # symbol -> [until, per s, levels, last sent]

    # -- subscriptions ------------------------------------------------------------------------
    def spec(self, name: str) -> Optional[StreamSpec]:
        spec = self.specs.get(name)
        if spec is None:
            spec = parse_stream(name, self.market)
            if spec is not None and spec.symbol is not None and spec.symbol not in self.markets:
                spec = None
        return spec

    def subscribe(self, conn: Any, name: str) -> None:
        """Deliver ``name`` to ``conn`` from now on (silently nothing for unknown names)."""
        spec = self.spec(name)
        if spec is None:
            return
        subs = self.subs.setdefault(name, set())
        subs.add(conn)
        if name in self.specs:
            return
        self.specs[name] = spec
        if spec.kind in (DEPTH_DIFF, DEPTH_PARTIAL) and not (
                spec.kind == DEPTH_PARTIAL and self.market == "spot"):
            for sym in self._symbols(spec):
                key = (sym, spec.period)
                if key not in self.aggs:
                    self.aggs[key] = DepthAggregator(self.markets[sym].update_id)
                    self._aggs_of[sym].append(self.aggs[key])
        if spec.kind in ("kline", "continuousKline"):
            for sym in self._symbols(spec):
                self.markets[sym].watch_kline(spec.interval, spec.offset_ms)
        if spec.period == REALTIME and spec.symbol is not None:
            self.realtime[spec.symbol][name] = spec
        else:
            self.periodic[name] = spec

    def unsubscribe(self, conn: Any, name: str) -> None:
        subs = self.subs.get(name)
        if not subs:
            return
        subs.discard(conn)
        if not subs:
            del self.subs[name]
            spec = self.specs.pop(name)
            if spec.period == REALTIME and spec.symbol is not None:
                self.realtime[spec.symbol].pop(name, None)
            else:
                self.periodic.pop(name, None)

    def drop_conn(self, conn: Any) -> None:
        for name in list(conn.hub_names):
            self.unsubscribe(conn, name)
        self.dirty.discard(conn)

    def _symbols(self, spec: StreamSpec) -> list[str]:
        return list(self.markets) if spec.symbol is None else [spec.symbol]

    def call_at(self, t_ms: int, fn: Callable[[], Any]) -> None:
        """Run ``fn`` when simulated time reaches ``t_ms`` (between engine steps)."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (int(t_ms), self._timer_seq, fn))

    def _run_timers(self, upto: int) -> None:
        while self.timers and self.timers[0][0] <= upto:
            _, _, fn = heapq.heappop(self.timers)
            try:
                fn()
            except Exception:                       # a scripted fault must not stop time
                log.exception("scheduled fault failed")

    def next_step_time(self) -> int:
        """Simulated time of the next engine step of any symbol."""
        return self._queue[0][0]

    # -- time ---------------------------------------------------------------------------------
    def advance_to(self, now: int) -> None:
        """Run every engine step and periodic push due up to ``now`` (ms)."""
        if self.frozen:
            self.now = max(self.now, now)
            self._run_timers(now)
            return
        queue = self._queue
        while True:
            nb = self.next_boundary
            ts, i, m = queue[0]
            if self.timers and self.timers[0][0] <= min(ts, nb, now):
                self._run_timers(min(ts, nb, now))
                continue
            if min(ts, nb) > now:
                break
            if ts <= nb:
                self._step(m)
                heapq.heapreplace(queue, (m.next_time, i, m))
            else:
                self.now = nb
                self._boundary(nb)
                self.next_boundary = nb + _GRANULARITY
        self.now = max(self.now, now)
        self._run_timers(now)

    def _step(self, m: SymbolMarket) -> None:
        res = m.step()
        if self.engine is not None:
            self.engine.after_step(m, res)          # account orders on the touched levels
        self.apply(m, res)
        if self.after_engine is not None and self.engine is not None and self.engine.events:
            self.after_engine()

    def apply(self, m: SymbolMarket, res: Any) -> None:
        """Route what happened to ``m`` (an engine step or an account order) to the streams."""
        self.now = max(self.now, res.time)
        sym = m.symbol
        if res.changes:
            for agg in self._aggs_of[sym]:
                agg.add(res.changes, res.time)
        if self.on_step is not None:
            self.on_step(m, res)
        rt = self.realtime[sym]
        if rt:
            self._realtime(m, res, rt)

    def _realtime(self, m: SymbolMarket, res: Any, rt: dict) -> None:
        E = res.time + 1
        absurd = self.faults.absurd_trades          # Faults.absurd_trade_id, usually empty
        for name, spec in list(rt.items()):
            kind = spec.kind
            if kind == "trade":
                for f in res.fills:
                    d = P.trade(m, E, f)
                    if absurd and name.lower() in absurd:
                        d["t"] += self.faults.take_absurd_trade(name)
                    self.emit(name, P.dumps(d))
            elif kind == "aggTrade":
                for a in res.agg:
                    d = P.agg_trade(m, E, a)
                    if absurd and name.lower() in absurd:
                        d["a"] += self.faults.take_absurd_trade(name)
                    self.emit(name, P.dumps(d))
            elif kind == "bookTicker":
                if res.top_changed:
                    self.emit(name, P.dumps(P.book_ticker(m, E)))
            elif kind == "blockTrade":
                if res.block is not None:
                    self.emit(name, P.dumps(P.block_trade(m, E, res.block)))
            elif kind == DEPTH_DIFF and spec.period == 0:
                self._push_depth(m, spec, E)

    def _boundary(self, b: int) -> None:
        if b % 1000 == 0:
            for sym, m in self.markets.items():
                snaps = self.snapshots[sym]
                if not snaps or b - snaps[-1][0] >= 5000:
                    bids, asks = m.top(1000)
                    snaps.append((b, m.update_id, bids, asks, m.time))
                    if len(snaps) > 12:
                        del snaps[0]
        due = [s for s in self.periodic.values() if s.period and b % s.period == 0]
        flushed: dict[tuple[str, int], Optional[tuple]] = {}
        for spec in due:
            if spec.all:
                self._push_all(spec, b)
                continue
            for sym in self._symbols(spec):
                m = self.markets[sym]
                self._periodic(m, spec, b, flushed)
        if b % 1000 == 0:
            # A spot id gap (Faults.gap) opens on a whole second, after every depth stream has
            # pushed its window, so streams of every speed see U > previous u + 1.
            for m in self.markets.values():
                if m.gap_pending:
                    m.update_id += m.gap_pending
                    m.gap_pending = 0
        if self.floods:
            self._flood(b)

    def _window(self, sym: str, period: int, flushed: dict) -> Optional[tuple]:
        key = (sym, period)
        if key not in flushed:
            agg = self.aggs.get(key)
            flushed[key] = agg.take() if agg is not None else None
        return flushed[key]

    def _periodic(self, m: SymbolMarket, spec: StreamSpec, b: int, flushed: dict) -> None:
        kind = spec.kind
        name = spec.name
        E = b
        if kind == DEPTH_DIFF:
            self._push_depth(m, spec, E, self._window(m.symbol, spec.period, flushed))
        elif kind == DEPTH_PARTIAL:
            if self.market == "spot":
                self.emit(name, P.dumps(P.partial_depth(m, spec.levels)), kind=DEPTH_PARTIAL)
            else:
                w = self._window(m.symbol, spec.period, flushed)
                if w is not None:
                    U, u, pu, T, _b, _a = w
                    bids, asks = m.top(spec.levels)
                    self.emit(name, P.dumps(P.depth_diff(m, E, U, u, bids, asks, pu, T)),
                              kind=DEPTH_PARTIAL)
        elif kind == "kline":
            closed, cur = m.kline_at(spec.interval, spec.offset_ms, b)
            if closed is not None:
                self.emit(name, P.dumps(P.kline(m, E, closed, spec.interval, spec.offset_ms, True)))
            self.emit(name, P.dumps(P.kline(m, E, cur, spec.interval, spec.offset_ms, False)))
        elif kind == "continuousKline":
            closed, cur = m.kline_at(spec.interval, 0, b)
            if closed is not None:
                self.emit(name, P.dumps(P.continuous_kline(m, E, closed, spec.interval,
                                                           spec.contract, True)))
            self.emit(name, P.dumps(P.continuous_kline(m, E, cur, spec.interval, spec.contract,
                                                       False)))
        elif kind == "forceOrder":
            if m.force is not None and m.force[3] > b - 1000:
                self.emit(name, P.dumps(P.force_order(m, E, m.force)))
        elif kind == "miniTicker":
            self.emit(name, P.dumps(P.mini_ticker(m, E)))
        elif kind == "ticker":
            self.emit(name, P.dumps(P.ticker(m, E)))
        elif kind == "windowTicker":
            self.emit(name, P.dumps(P.window_ticker(m, E, spec.interval)))
        elif kind == "avgPrice":
            self.emit(name, P.dumps(P.avg_price(m, E)))
        elif kind == "referencePrice":
            self.emit(name, P.dumps(P.reference_price(m, E)))
        elif kind == "markPrice":
            self.emit(name, P.dumps(P.mark_price(m, E)))

    def _push_all(self, spec: StreamSpec, E: int) -> None:
        ms = list(self.markets.values())
        kind = spec.kind
        if kind == "miniTicker":
            arr = [P.mini_ticker(m, E) for m in ms]
        elif kind == "ticker":
            arr = [P.ticker(m, E) for m in ms]
        elif kind == "windowTicker":
            arr = [P.window_ticker(m, E, spec.interval) for m in ms]
        elif kind == "markPrice":
            arr = [P.mark_price(m, E) for m in ms]
        elif kind == "forceOrder":
            # the docs show one object per event, not an array (SPEC §4.3)
            for m in ms:
                if m.force is not None and m.force[3] > E - 1000:
                    self.emit(spec.name, P.dumps(P.force_order(m, E, m.force)))
            return
        elif kind == "bookTicker":
            for m in ms:
                self.emit(spec.name, P.dumps(P.book_ticker(m, E)))
            return
        else:
            return
        self.emit(spec.name, P.dumps(arr))

    def _push_depth(self, m: SymbolMarket, spec: StreamSpec, E: int,
                    window: Optional[tuple] = None) -> None:
        if window is None:
            if spec.period != 0:
                return
            window = self.aggs[(m.symbol, 0)].take()
            if window is None:
                return
        U, u, pu, T, bids, asks = window
        if self.faults.take_symbol_gap(m.symbol, self.market):
            return                                   # USDⓈ-M gap: this event is lost
        raw = P.dumps(P.depth_diff(m, E, U, u, bids, asks, pu, T))
        action = self.faults.take_depth(m.symbol, None)
        if action == "drop":
            return
        if action == "absurd":
            raw = P.dumps(P.depth_diff(m, E, U, u + 10**15, bids, asks, pu, T))
        if action == "reorder":
            self.held[spec.name] = raw
            return
        self.emit(spec.name, raw, kind=DEPTH_DIFF, symbol=m.symbol)
        if action == "duplicate":
            self.emit(spec.name, raw, kind=DEPTH_DIFF, symbol=m.symbol)
        held = self.held.pop(spec.name, None)
        if held is not None:
            self.emit(spec.name, held, kind=DEPTH_DIFF, symbol=m.symbol)

    # -- book-trust faults (Faults.restart_ids, Faults.flood_depth) ---------------------------
    def restart_ids(self, sym: str, new_id: int) -> None:
        """Make ``sym``'s update ids continue from ``new_id`` (lower): windows restart empty
        and the stale-snapshot history is the current book under the new id."""
        m = self.markets[sym]
        m.update_id = new_id
        for agg in self._aggs_of[sym]:
            agg.U, agg.u, agg.pu, agg.bids, agg.asks = -1, new_id, new_id, {}, {}
        bids, asks = m.top(1000)
        self.snapshots[sym] = [(self.now, new_id, bids, asks, m.time)]

    def _depth_specs(self, sym: str) -> list[StreamSpec]:
        return [sp for sp in list(self.periodic.values()) + list(self.realtime[sym].values())
                if sp.kind == DEPTH_DIFF and (sp.symbol is None or sp.symbol == sym)]

    def _flood(self, b: int) -> None:
        """Boundary ``b``: when every diff-depth stream of a flooded symbol has just pushed its
        window, send the flood events due since the last such boundary."""
        for sym, fl in list(self.floods.items()):
            until, per_s, levels, last = fl
            if b > until:
                del self.floods[sym]
                continue
            specs = self._depth_specs(sym)
            if not specs or any(sp.period and b % sp.period for sp in specs):
                continue
            n = per_s * (b - last) // 1000 if last else per_s * max(
                [sp.period for sp in specs] + [_GRANULARITY]) // 1000
            fl[3] = b
            m = self.markets[sym]
            names = [sp.name for sp in specs]
            bids, asks = m.top(levels)
            for _ in range(n):
                pu = m.update_id
                m.update_id += 1
                raw = P.dumps(P.depth_diff(m, b, m.update_id, m.update_id, bids, asks, pu, b))
                for name in names:
                    self.emit(name, raw, kind=DEPTH_DIFF, symbol=sym)
            for agg in self._aggs_of[sym]:
                if agg.U < 0:
                    agg.u = agg.pu = m.update_id

    # -- delivery -----------------------------------------------------------------------------
    def emit(self, name: str, raw: bytes, kind: str = "", symbol: Optional[str] = None) -> None:
        """Hand one encoded payload of stream ``name`` to every subscriber."""
        subs = self.subs.get(name)
        if not subs:
            return
        env: Optional[bytes] = None
        micro: Optional[bytes] = None
        micro_env: Optional[bytes] = None
        for conn in subs:
            data = raw
            if conn.micro:
                if micro is None:
                    micro = P.dumps(P.to_micro(P.orjson.loads(raw)))
                data = micro
                if conn.combined:
                    if micro_env is None:
                        micro_env = P.combined(name, micro)
                    data = micro_env
            elif conn.combined:
                if env is None:
                    env = P.combined(name, raw)
                data = env
            conn.deliver(name, data, kind, symbol)
            self.dirty.add(conn)

    def flush(self) -> None:
        """Write every connection's batch of frames (one write per connection)."""
        if self.dirty:
            dirty, self.dirty = self.dirty, set()
            for conn in dirty:
                conn.flush()
