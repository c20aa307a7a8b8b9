"""Faults on demand: make the simulator misbehave exactly when and where a test says.

Every fault targets either a symbol (all connections see the same broken stream) or one
connection (``conn=`` a connection object or its integer id, see
:attr:`fastws.sim.Exchange.connections`). ``conn=None`` on a connection fault means every open
stream connection.

Depth faults (drop, duplicate, reorder, gap) act on diff-depth events (``@depth``...);
snapshot faults on the REST / WS API ``depth`` answers.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["Faults"]

log = logging.getLogger("fastws.sim.faults")

ConnRef = Union[int, Any, None]


@dataclass
class _DepthFault:
    action: str               # drop | duplicate | reorder
    symbol: Optional[str]
    conn_id: Optional[int]
    count: int


class Faults:
    """Fault switchboard of one :class:`~fastws.sim.Exchange` (``ex.faults``)."""

    def __init__(self, exchange: "Exchange") -> None:
        self._ex = exchange
        self._depth: list[_DepthFault] = []
        self._gaps: dict[str, int] = {}
        self._stale: dict[str, int] = {}
        self._refuse_until = 0.0
        self._refuse_status = 503
        self.conn_faults = False          # fast flag: any connection-level depth fault pending
        self._api: list[list] = []        # [action, methods, conn id, count, delay]
        self.api_faults = False
        self.fragment_size = 64           # of the last "fragment" fault taken

    # -- scripting ----------------------------------------------------------------------------
    def at(self, t_ms: int, fault: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Inject ``fault(*args, **kwargs)`` when simulated time reaches ``t_ms`` (epoch ms).

        It runs between engine steps, so with a :class:`~fastws.sim.ManualClock` the moment
        is exact and repeatable: ``ex.faults.at(t0 + 1500, ex.faults.gap, "BTCUSDT")``.
        """
        self._ex._hub.call_at(t_ms, lambda: fault(*args, **kwargs))

    def after(self, ms: int, fault: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Like :meth:`at`, ``ms`` simulated milliseconds from now."""
        self.at(self._ex.now_ms() + int(ms), fault, *args, **kwargs)

    # -- depth events -------------------------------------------------------------------------
    def _add_depth(self, action: str, symbol: Optional[str], count: int, conn: ConnRef) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        cid = self._conn_id(conn)
        self._depth.append(_DepthFault(action, symbol.upper() if symbol else None, cid, count))
        if cid is not None:
            self.conn_faults = True

    def drop_next_depth(self, symbol: Optional[str] = None, count: int = 1,
                        conn: ConnRef = None) -> None:
        """Drop the next ``count`` diff-depth events of ``symbol`` (any symbol if None).

        With ``conn`` only that connection misses them, otherwise every subscriber does.
        """
        self._add_depth("drop", symbol, count, conn)

    def duplicate_next_depth(self, symbol: Optional[str] = None, count: int = 1,
                             conn: ConnRef = None) -> None:
        """Send each of the next ``count`` diff-depth events twice."""
        self._add_depth("duplicate", symbol, count, conn)

    def reorder_next_depth(self, symbol: Optional[str] = None, conn: ConnRef = None) -> None:
        """Hold the next diff-depth event back and send it after the one that follows it."""
        self._add_depth("reorder", symbol, 1, conn)

    def gap(self, symbol: str, size: int = 1000) -> None:
        """Open a gap in ``symbol``'s update ids.

        Spot: ``size`` update ids are skipped at the next whole second of simulated time (a
        push boundary for every depth speed), so the next event of every depth stream has
        ``U == previous u + 1 + size`` (no level change is lost; snapshots know the new ids). USDⓈ-M: the next diff
        event is lost at the source, so the following one's ``pu`` does not match.
        """
        sym = symbol.upper()
        m = self._ex._markets[sym]
        if self._ex.market == "spot":
            m.gap_pending += int(size)
        else:
            self._gaps[sym] = self._gaps.get(sym, 0) + 1

    def take_symbol_gap(self, symbol: str, market: str) -> bool:
        n = self._gaps.get(symbol)
        if not n:
            return False
        if n == 1:
            del self._gaps[symbol]
        else:
            self._gaps[symbol] = n - 1
        log.info("= fault: USD-M depth event of %s lost (gap)", symbol)
        return True

    def take_depth(self, symbol: str, conn_id: Optional[int]) -> Optional[str]:
        """Consume the first pending depth fault matching ``symbol`` and ``conn_id``."""
        if not self._depth:
            return None
        for i, f in enumerate(self._depth):
            if f.conn_id == conn_id and (f.symbol is None or f.symbol == symbol):
                f.count -= 1
                if f.count <= 0:
                    del self._depth[i]
                    self.conn_faults = any(x.conn_id is not None for x in self._depth)
                log.info("= fault: %s depth event of %s (conn %s)", f.action, symbol, conn_id)
                return f.action
        return None

    # -- snapshots ----------------------------------------------------------------------------
    def stale_snapshot(self, symbol: str, count: int = 1) -> None:
        """Answer the next ``count`` depth snapshot requests for ``symbol`` with an old book.

        The stale snapshot is the oldest one kept (taken every 5 s, about a minute back, or the
        starting book), so its ``lastUpdateId`` is older than any event a fresh subscriber saw.
        """
        sym = symbol.upper()
        self._stale[sym] = self._stale.get(sym, 0) + count

    def take_stale(self, symbol: str) -> bool:
        n = self._stale.get(symbol, 0)
        if n <= 0:
            return False
        self._stale[symbol] = n - 1
        return True

    # -- connections --------------------------------------------------------------------------
    def _conn_id(self, conn: ConnRef) -> Optional[int]:
        if conn is None:
            return None
        if isinstance(conn, int):
            return conn
        return int(conn.id)

    def _targets(self, conn: ConnRef, api: bool = False) -> list:
        conns = self._ex.connections if not api else self._ex.all_connections
        if conn is None:
            return list(conns)
        cid = self._conn_id(conn)
        found = [c for c in self._ex.all_connections if c.id == cid]
        if not found:
            raise KeyError(f"no open connection with id {cid}")
        return found

    def stall(self, seconds: float, symbol: Optional[str] = None, conn: ConnRef = None,
              hold: bool = False) -> None:
        """Stop sending data for ``seconds`` while the connection stays up (pings go on).

        Parameters
        ----------
        seconds : float
            How long the silence lasts.
        symbol : str, optional
            Silence only this symbol's streams.
        conn : connection or id, optional
            Only this connection (default: every open stream connection).
        hold : bool
            False (default): events of the silent period are lost. True: they are kept and
            sent in one burst when the stall ends.
        """
        until = time.monotonic() + seconds
        for c in self._targets(conn):
            c.stall(until, symbol.upper() if symbol else None, hold)

    def slow(self, delay: float, conn: ConnRef = None) -> None:
        """Delay every data write of the connection(s) by ``delay`` seconds (0 restores)."""
        for c in self._targets(conn):
            c.delay = max(0.0, float(delay))

    def close(self, conn: ConnRef = None, how: str = "clean", code: int = 1000,
              reason: str = "") -> None:
        """Close connection(s): ``how`` is ``clean`` (close frame), ``reset`` (TCP abort) or
        ``midframe`` (half a data frame, then abort)."""
        if how not in ("clean", "reset", "midframe"):
            raise ValueError("how must be 'clean', 'reset' or 'midframe'")
        for c in self._targets(conn, api=True):
            c.fault_close(how, code, reason)

    def send_bad_frame(self, kind: str = "malformed", conn: ConnRef = None) -> None:
        """Send one bad frame: ``malformed`` (invalid JSON text), ``truncated`` (a valid
        event cut short) or ``binary`` (a binary frame where text is expected)."""
        if kind not in ("malformed", "truncated", "binary"):
            raise ValueError("kind must be 'malformed', 'truncated' or 'binary'")
        for c in self._targets(conn):
            c.send_bad(kind)

    def server_shutdown(self, conn: ConnRef = None, close_after: float = 0.2) -> None:
        """Send ``serverShutdown`` (SPEC §2.2) and close the connection(s) ``close_after``
        seconds later."""
        for c in self._targets(conn, api=True):
            c.server_shutdown(close_after)

    def ban_ip(self, seconds: Optional[float] = None) -> None:
        """Ban the (loopback) IP from REST and WS API now: requests get 418 / -1003 with
        ``retryAfter``, WS API connections are dropped and refused until it ends. ``seconds``
        defaults to the next ban length (2 min, doubling per ban, SPEC §5.3)."""
        self._ex.weights.ban(seconds)
        for c in list(self._ex.api_connections):
            c._close_now()

    # -- WS API answers ---------------------------------------------------------------------
    _TRADING = ("order.place", "order.cancel", "order.cancelReplace", "orderList.place.oco",
                "openOrders.cancelAll", "order.modify")

    def _add_api(self, action: str, methods: Any, conn: ConnRef, count: Optional[int],
                 delay: float = 0.0) -> None:
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 (or None: until cleared)")
        ms = None if methods is None else ((methods,) if isinstance(methods, str)
                                           else tuple(methods))
        self._api.append([action, ms, self._conn_id(conn), count, float(delay)])
        self.api_faults = True

    def delay_responses(self, seconds: float, count: Optional[int] = None,
                        methods: Any = None, conn: ConnRef = None) -> None:
        """Answer WS API requests ``seconds`` late (the request itself runs at once).

        ``count`` requests (None: until :meth:`clear`), of ``methods`` (None: any)."""
        self._add_api("delay", methods, conn, count, seconds)

    def outcome_unknown(self, count: int = 1, methods: Any = _TRADING,
                        conn: ConnRef = None) -> None:
        """Run the next ``count`` trading requests but answer 503 / -1007 "Timeout waiting for
        response from backend server..." (SPEC §5.1): the order *did* execute."""
        self._add_api("unknown", methods, conn, count)

    def drop_after_accept(self, count: int = 1, methods: Any = _TRADING,
                          conn: ConnRef = None) -> None:
        """Run the next ``count`` trading requests, then drop the connection (TCP reset)
        before answering."""
        self._add_api("drop", methods, conn, count)

    def take_api(self, method: str, conn_id: int) -> tuple[Optional[str], float]:
        """(action, delay) for a WS API request: consumes one matching fault of each kind."""
        action: Optional[str] = None
        delay = 0.0
        for f in list(self._api):
            kind, ms, cid, count, d = f
            if (ms is not None and method not in ms) or (cid is not None and cid != conn_id):
                continue
            if kind == "delay":
                if delay:
                    continue
                delay = d
            elif action is None:
                action = kind
                if kind == "fragment":
                    self.fragment_size = int(d)
            else:
                continue
            if count is not None:
                f[3] -= 1
                if f[3] <= 0:
                    self._api.remove(f)
            log.info("= fault: %s on %s (conn %s)", kind, method, conn_id)
        self.api_faults = bool(self._api)
        return action, delay

    # -- WS API: clock steps, fragmented answers ------------------------------------------------
    def step_clock(self, ms: int) -> None:
        """Step the exchange's clock by ``ms`` milliseconds now, as when a client's clock is
        stepped the other way (NTP, a VM resumed): the client's clock estimate is suddenly
        wrong and its signed requests meet -1021 until it re-syncs. A manual clock only steps
        forward (use :meth:`~fastws.sim.Exchange.advance` to let the market catch up)."""
        from fastws.sim.clock import ManualClock, WallClock
        clock = self._ex.clock
        if isinstance(clock, ManualClock):
            clock.advance(int(ms))
        elif isinstance(clock, WallClock):
            clock._t0 += int(ms) / 1000.0
        else:
            raise TypeError(f"cannot step a {type(clock).__name__}")
        log.info("= fault: exchange clock stepped by %+d ms", int(ms))

    def fragment_answers(self, size: int = 64, count: Optional[int] = None,
                         methods: Any = None, conn: ConnRef = None) -> None:
        """Send WS API answers as fragmented messages: a text frame of ``size`` bytes, then
        continuation frames of ``size`` bytes (RFC 6455 §5.4), ``count`` answers (None: until
        :meth:`clear`) of ``methods`` (None: any)."""
        if size < 1:
            raise ValueError("size must be >= 1")
        self._add_api("fragment", methods, conn, count, float(size))

    def lose_requests(self, count: int = 1, methods: Any = _TRADING, conn: ConnRef = None) -> None:
        """Swallow the next ``count`` requests of ``methods``: not executed, never answered (a
        request lost before the matching engine; the client's timeout decides)."""
        self._add_api("lose", methods, conn, count)

    def unknown_not_executed(self, count: int = 1, methods: Any = _TRADING,
                             conn: ConnRef = None) -> None:
        """Answer the next ``count`` trading requests 503 / -1007 without running them (the
        backend never got them): the client must find out by querying, not by resending."""
        self._add_api("unknown-lost", methods, conn, count)

    def refuse_connections(self, seconds: float, status: int = 503) -> None:
        """Answer every new WebSocket handshake with HTTP ``status`` for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds
        self._refuse_status = int(status)

    def refusing(self) -> Optional[int]:
        """The HTTP status to refuse with now, or None."""
        if time.monotonic() < self._refuse_until:
            return self._refuse_status
        return None

    def clear(self) -> None:
        """Forget every pending fault (stalls and delays of open connections too)."""
        self._depth.clear()
        self._gaps.clear()
        self._stale.clear()
        self._refuse_until = 0.0
        self.conn_faults = False
        self._api.clear()
        self.api_faults = False
        for c in self._ex.connections:
            c.stall(0.0, None, False)
            c.delay = 0.0

    def pending(self) -> Iterable[str]:
        """Human-readable list of pending depth and snapshot faults."""
        out = [f"{f.action} x{f.count} {f.symbol or '*'} conn={f.conn_id}" for f in self._depth]
        out += [f"gap {s} x{n}" for s, n in self._gaps.items()]
        out += [f"stale snapshot {s} x{n}" for s, n in self._stale.items() if n]
        out += [f"api {k} {ms or '*'} conn={c} x{n}" for k, ms, c, n, _ in self._api]
        return out
