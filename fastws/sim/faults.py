"""Faults on demand: make the simulator misbehave exactly when and where a test says.

Every fault targets either a symbol (all connections see the same broken stream) or one
connection (``conn=`` a connection object or its integer id, see
:attr:`fastws.sim.Exchange.connections`). ``conn=None`` on a connection fault means every open
stream connection.

Depth faults (drop, duplicate, reorder, gap, absurd id, flood, ids restarting lower) act on
diff-depth events (``@depth``...); snapshot faults (stale, crossed) on the REST / WS API
``depth`` answers.
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
        self._crossed: dict[str, int] = {}
        self._refuse_until = 0.0
        self._refuse_status = 503
        self.conn_faults = False          # fast flag: any connection-level depth fault pending
        self._api: list[list] = []        # [action, methods, conn id, count, delay]
        self.api_faults = False
        self.fragment_size = 64           # of the last "fragment" fault taken
        self._links: list[list] = []      # new stream connections: [kind, count, args...]
        self._upgrades: list[list] = []   # [status, count, retry_after, ban_seconds]
        self._controls: list[list] = []   # [action, method, conn id, count, code, msg]
        self.absurd_trades: dict[str, list[int]] = {}   # trade stream -> [count, id offset]
        self.rewrite: Any = None          # (result, rateLimits, error) of the last "rewrite" taken
        self.order_window_spec: Optional[tuple[int, int]] = None   # (limit, ms) of order_window
        self._order_windows: dict[int, list[int]] = {}   # account uid: [window index, count]
        self.order_limits_hidden = False

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

    # -- book-trust faults (issue 10: a book that says synced must equal this one) ---------------
    def restart_ids(self, symbol: Optional[str] = None, to: Optional[int] = None,
                    reconnect: bool = True) -> None:
        """Restart ``symbol``'s update ids far lower (every symbol if None), as a testnet
        reset does, and (``reconnect``, default) drop every stream connection so clients come
        back to a venue whose ids went backwards. ``to`` defaults to a hundredth of the old id.

        The book itself is unchanged; depth events and snapshots from now on use the new ids.
        """
        for sym in ([symbol.upper()] if symbol else list(self._ex._markets)):
            m = self._ex._markets[sym]
            old = m.update_id
            new = int(to) if to is not None else max(1, old // 100)
            if new >= old:
                raise ValueError(f"restart_ids must go lower than {old}, not to {new}")
            self._ex._hub.restart_ids(sym, new)
            log.info("= fault: %s update ids restarted at %d (were %d)", sym, new, old)
        if reconnect:
            self.close(how="reset")

    def absurd_depth_id(self, symbol: Optional[str] = None, count: int = 1) -> None:
        """Give the next ``count`` diff-depth events of ``symbol`` an absurd final update id
        ``u`` (10**15 past their own); their levels and every later event are correct."""
        self._add_depth("absurd", symbol, count, None)

    def crossed_snapshot(self, symbol: str, count: int = 1) -> None:
        """Answer the next ``count`` depth snapshot requests for ``symbol`` (REST and WS API)
        with a crossed book: a bid at the best ask price."""
        sym = symbol.upper()
        self._crossed[sym] = self._crossed.get(sym, 0) + count

    def take_crossed(self, symbol: str) -> bool:
        n = self._crossed.get(symbol, 0)
        if n <= 0:
            return False
        self._crossed[symbol] = n - 1
        log.info("= fault: crossed snapshot of %s", symbol)
        return True

    def flood_depth(self, symbol: str, per_second: int = 20_000, seconds: float = 5.0,
                    levels: int = 20) -> None:
        """A diff-depth flood far beyond Binance's rate: for ``seconds`` of simulated time,
        ``per_second`` extra events of ``symbol`` on every diff-depth stream, sent right after
        the regular windows each time they are all pushed (every 100 ms for ``@depth@100ms``
        alone). Each is genuine: it takes the next update id and
        restates ``levels`` current levels at their current quantities, so the book (and any
        snapshot) stays exact while the ids race ahead."""
        if per_second < 1 or seconds <= 0:
            raise ValueError("per_second must be >= 1 and seconds > 0")
        sym = symbol.upper()
        self._ex._hub.floods[sym] = [self._ex.now_ms() + int(seconds * 1000), int(per_second),
                                     int(levels), 0]

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
                elif kind == "rewrite":
                    self.rewrite = d
            else:
                continue
            if count is not None:
                f[3] -= 1
                if f[3] <= 0:
                    self._api.remove(f)
            log.info("= fault: %s on %s (conn %s)", kind, method, conn_id)
        self.api_faults = bool(self._api)
        return action, delay

    # -- WS API: rewritten answers, order windows ----------------------------------------------
    def rewrite_answers(self, result: Any = None, rate_limits: Optional[list] = None,
                        count: Optional[int] = 1, methods: Any = _TRADING,
                        conn: ConnRef = None,
                        error: Optional[tuple[int, int, str]] = None) -> None:
        """Run the next ``count`` requests of ``methods`` (None: any) as usual but answer each
        200 with ``result`` in place of the simulator's result (any JSON value: an odd but
        valid shape, unknown fields, escaped quotes and brackets in strings), or, with
        ``error=(status, code, msg)``, with that error; and with ``rate_limits`` as its
        ``rateLimits`` when given. A bot's decoder and rate-limit accounting meet answers the
        simulator would not write; the exchange's own state stays true."""
        if count is not None and count < 1:
            raise ValueError("count must be >= 1 (or None: until cleared)")
        if error is not None:
            status, code, msg = error
            if not (isinstance(status, int) and isinstance(code, int) and isinstance(msg, str)):
                raise ValueError("error must be (status: int, code: int, msg: str)")
        ms = None if methods is None else ((methods,) if isinstance(methods, str)
                                           else tuple(methods))
        self._api.append(["rewrite", ms, self._conn_id(conn), count,
                          (result, None if rate_limits is None else list(rate_limits), error)])
        self.api_faults = True

    def order_window(self, limit: int, seconds: int = 1) -> None:
        """Add an ``ORDERS`` window of ``limit`` orders per ``seconds`` seconds (calendar
        aligned, per account) on top of Binance's 10-second and day (USDⓈ-M: minute) windows,
        as a venue or an account with a stricter limit: ``exchangeInfo`` lists it, order
        answers report its count, an order past it gets 429 / -1015 with ``retryAfter`` (the
        window's end) and counts toward an IP ban like any ignored 429. For another 10-second
        limit use ``Exchange(order_limits=...)``. Until :meth:`clear`."""
        if not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be an int >= 1")
        if not isinstance(seconds, int) or not 1 <= seconds <= 59 or seconds == 10:
            raise ValueError("seconds must be an int in 1..59 other than 10 "
                             "(Exchange(order_limits=) sets the 10-second window)")
        self.order_window_spec = (limit, seconds * 1000)
        self._order_windows.clear()

    def hide_order_limits(self, hidden: bool = True) -> None:
        """Leave every ``ORDERS`` window out of the answers' ``rateLimits`` (the limits are
        still enforced): only the client's own accounting knows how many orders it has left.
        ``exchangeInfo`` still lists the limits. ``hidden=False`` shows them again."""
        self.order_limits_hidden = bool(hidden)

    def order_window_check(self, uid: int, now_ms: int) -> None:
        """Raise the 429 / -1015 answer when account ``uid`` has no room in the
        :meth:`order_window` (the simulator's WS API calls this before an order runs)."""
        spec = self.order_window_spec
        if spec is None:
            return
        limit, ms = spec
        w = self._order_windows.setdefault(uid, [now_ms // ms, 0])
        if w[0] != now_ms // ms:
            w[0], w[1] = now_ms // ms, 0
        if w[1] >= limit:
            from fastws.sim.wsapi import ApiError
            raise ApiError(429, -1015, f"Too many new orders; current limit is {limit} orders "
                                       f"per {ms // 1000} SECOND.",
                           {"retryAfter": (w[0] + 1) * ms})

    def order_window_add(self, uid: int, now_ms: int, n: int) -> None:
        """Count ``n`` orders of account ``uid`` in the :meth:`order_window`."""
        spec = self.order_window_spec
        if spec is None or n <= 0:
            return
        w = self._order_windows.setdefault(uid, [now_ms // spec[1], 0])
        if w[0] != now_ms // spec[1]:
            w[0], w[1] = now_ms // spec[1], 0
        w[1] += n

    def order_window_limits(self, uid: Optional[int], now_ms: int) -> list[dict]:
        """The :meth:`order_window` as ``rateLimits`` entries (with ``count`` when ``uid``
        is given), or [] when there is none."""
        spec = self.order_window_spec
        if spec is None:
            return []
        limit, ms = spec
        out: dict[str, Any] = {"rateLimitType": "ORDERS", "interval": "SECOND",
                               "intervalNum": ms // 1000, "limit": limit}
        if uid is not None:
            w = self._order_windows.get(uid)
            out["count"] = w[1] if w is not None and w[0] == now_ms // ms else 0
        return [out]

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

    # -- links: switches, upgrades, control plane, frames (one block) ---------------------------
    def lag_new_links(self, delay: float, count: int = 1) -> None:
        """The next ``count`` stream connections opened deliver their data ``delay`` seconds
        late, in order (a replacement link that runs behind the old one)."""
        self._link_plan().append(["lag", int(count), float(delay)])

    def shutdown_new_link(self, after: float = 0.05, close_after: float = 0.5,
                          count: int = 1) -> None:
        """The next ``count`` stream connections opened send ``serverShutdown`` ``after``
        seconds after opening (while a client is still switching to them) and are closed
        ``close_after`` seconds later."""
        self._link_plan().append(["shutdown", int(count), float(after), float(close_after)])

    def drop_new_links(self, after: float = 0.3, count: Optional[int] = None) -> None:
        """Close (TCP reset) every new stream connection ``after`` seconds after it opens;
        ``count`` connections, or until :meth:`clear` (a server that drops every link)."""
        self._link_plan().append(["drop", count, float(after)])

    def refuse_upgrades(self, status: int, count: Optional[int] = 1,
                        retry_after: Optional[float] = None,
                        ban_seconds: Optional[float] = None) -> None:
        """Answer the next ``count`` stream/WS API upgrades (None: until :meth:`clear`) with
        HTTP ``status`` (403, 418, 429, 5xx...), with a ``Retry-After`` header if given;
        a 418 says ``IP banned until <ms>`` (``ban_seconds`` from now, default 120)."""
        self._upgrades.append([int(status), count, retry_after, ban_seconds])

    def control_errors_without_id(self, count: Optional[int] = 1, conn: ConnRef = None,
                                  refuse: bool = False, code: int = 2,
                                  msg: str = "Invalid request: unexpected error",
                                  method: Optional[str] = None) -> None:
        """The next ``count`` control requests (None: until :meth:`clear`; of ``method``
        only if given) get an error frame without ``id`` first. ``refuse=False``: the request
        is then answered and applied as usual (a stray error); ``refuse=True``: the error is
        the only answer and the request is not applied."""
        self._controls.append(["refuse" if refuse else "stray", method, self._conn_id(conn),
                               count, int(code), msg])

    def list_subscriptions_fault(self, mode: str = "silent", count: Optional[int] = 1,
                                 conn: ConnRef = None) -> None:
        """``LIST_SUBSCRIPTIONS`` never answered (``silent``), answered with no list
        (``garbled``) or with a listing that lacks the last stream (``partial``: it keeps
        disagreeing), ``count`` times (None: until :meth:`clear`)."""
        if mode not in ("silent", "garbled", "partial"):
            raise ValueError("mode must be 'silent', 'garbled' or 'partial'")
        self._controls.append([mode, "LIST_SUBSCRIPTIONS", self._conn_id(conn), count, 0, ""])

    def take_control(self, method: str, conn_id: int) -> Optional[tuple[str, int, str]]:
        """(action, code, msg) of the first control fault matching a request, consumed."""
        for f in self._controls:
            action, meth, cid, count, code, msg = f
            if (meth is not None and meth != method) or (cid is not None and cid != conn_id):
                continue
            if count is not None:
                f[3] -= 1
                if f[3] <= 0:
                    self._controls.remove(f)
            log.info("= fault: control %s on %s (conn %s)", action, method, conn_id)
            return action, code, msg
        return None

    def fragment_frames(self, size: int = 64, count: Optional[int] = 10, conn: ConnRef = None,
                        api: bool = False) -> None:
        """Send the next ``count`` data frames (None: until :meth:`clear`) of the stream
        connection(s), or of the WS API ones with ``api=True``, as fragments of ``size``
        bytes (a TEXT frame without FIN, then CONTINUATION frames)."""
        if size < 1:
            raise ValueError("size must be >= 1")
        for c in self._targets(conn, api=api):
            if api == (c.kind == "api"):
                c.fragment = [int(size), count]

    def endless_continuation(self, chunk: int = 1 << 20, conn: ConnRef = None,
                             limit: int = 1 << 30) -> None:
        """Start a fragmented message that never ends: a TEXT frame without FIN, then a
        ``chunk``-byte CONTINUATION frame every tick (up to ``limit`` bytes in all)."""
        for c in self._targets(conn):
            c.start_endless(int(chunk), int(limit))

    def send_unsubscribed(self, stream: str = "xrpusdt@trade", count: int = 1,
                          conn: ConnRef = None) -> None:
        """Send ``count`` well-formed frames of ``stream``, which the client never
        subscribed (combined envelope)."""
        for c in self._targets(conn):
            c.send_foreign(stream, int(count))

    def mute_stream(self, stream: str, seconds: float, conn: ConnRef = None) -> None:
        """Stop delivering one stream (``btcusdt@trade``...) for ``seconds`` on the
        connection(s); its other streams and the pings go on (a trade stream that stops)."""
        until = time.monotonic() + seconds
        for c in self._targets(conn):
            c.muted_streams[stream] = until

    def absurd_trade_id(self, stream: str = "btcusdt@trade", count: int = 1,
                        offset: int = 10**15) -> None:
        """Give the next ``count`` events of one ``trade`` or ``aggTrade`` stream an id
        ``offset`` past their own (``t`` / ``a``: a far-too-high trade id); their other
        fields and every later event are correct. At the source: every subscriber of that
        stream sees it."""
        name = stream.lower()
        if not (name.endswith("@trade") or name.endswith("@aggtrade")):
            raise ValueError(f"absurd_trade_id needs a trade or aggTrade stream, not {stream!r}")
        if count < 1 or offset < 1:
            raise ValueError("count and offset must be >= 1")
        self.absurd_trades[name] = [int(count), int(offset)]

    def take_absurd_trade(self, stream: str) -> int:
        """The id offset for the next event of ``stream`` (0: none), consumed."""
        f = self.absurd_trades.get(stream.lower())
        if f is None:
            return 0
        f[0] -= 1
        if f[0] <= 0:
            del self.absurd_trades[stream.lower()]
        log.info("= fault: absurd trade id on %s (+%d)", stream, f[1])
        return f[1]

    def _link_plan(self) -> list:
        return self._links

    def on_new_stream_conn(self, conn: Any) -> None:
        """Apply the pending new-link faults to a stream connection that just opened."""
        for f in list(self._links):
            kind, count = f[0], f[1]
            if kind == "lag":
                conn.delay = f[2]
            elif kind == "shutdown":
                conn.schedule_shutdown(f[2], f[3])
            elif kind == "drop":
                conn.schedule_drop(f[2])
            if count is not None:
                f[1] -= 1
                if f[1] <= 0:
                    self._links.remove(f)
            log.info("= fault: new conn %d: %s", conn.id, kind)

    def take_upgrade_refusal(self) -> Optional[tuple[int, dict, str]]:
        """(status, headers, message) to refuse the next upgrade with, or None."""
        if not self._upgrades:
            return None
        f = self._upgrades[0]
        status, count, retry_after, ban = f
        if count is not None:
            f[1] -= 1
            if f[1] <= 0:
                self._upgrades.pop(0)
        headers = {"Retry-After": str(int(retry_after) if float(retry_after).is_integer()
                                      else retry_after)} if retry_after is not None else {}
        if status == 418:
            until = self._ex.now_ms() + int((ban if ban is not None else 120.0) * 1000)
            msg = f"Way too much request weight used; IP banned until {until}."
        elif status == 429:
            msg = "Too many requests; current limit is 300 connections per 5 minutes."
        elif status == 403:
            msg = "Forbidden."
        else:
            msg = "Connection refused by fault injection."
        return status, headers, msg

    def clear(self) -> None:
        """Forget every pending fault (stalls and delays of open connections too)."""
        self._depth.clear()
        self._gaps.clear()
        self._stale.clear()
        self._crossed.clear()
        self._ex._hub.floods.clear()
        self._refuse_until = 0.0
        self.conn_faults = False
        self._api.clear()
        self.api_faults = False
        self.order_window_spec = None
        self._order_windows.clear()
        self.order_limits_hidden = False
        self._links.clear()
        self._upgrades.clear()
        self._controls.clear()
        self.absurd_trades.clear()
        for c in self._ex.connections:
            c.stall(0.0, None, False)
            c.delay = 0.0
            c.muted_streams.clear()
            c.fragment = None

    def pending(self) -> Iterable[str]:
        """Human-readable list of pending depth and snapshot faults."""
        out = [f"{f.action} x{f.count} {f.symbol or '*'} conn={f.conn_id}" for f in self._depth]
        out += [f"gap {s} x{n}" for s, n in self._gaps.items()]
        out += [f"stale snapshot {s} x{n}" for s, n in self._stale.items() if n]
        out += [f"absurd trade id {s} x{n}" for s, (n, _) in self.absurd_trades.items()]
        out += [f"api {k} {ms or '*'} conn={c} x{n}" for k, ms, c, n, _ in self._api]
        return out
