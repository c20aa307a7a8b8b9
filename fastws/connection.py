"""Market-stream connections that survive everything: the only stream I/O in fastws.

Layers (STYLE habit 6, like picows' ``api.py`` over ``picows.pyx``): per-frame work is the
Cython :class:`fastws.listener.StreamListener`; this module does the setup and the decisions
that happen a few times a day, in plain Python, by asking the pure policy objects of
:mod:`fastws.streams` and :mod:`fastws.retry`.

- :func:`ssl_context_for`: TLS verified by default (the system store, or ``ca_file``). A
  certificate that does not verify raises :class:`ConnectError` with the reason; it is never
  retried and never downgraded.
- :class:`StreamConnection`: one *logical* connection (a shard of at most 1024 streams) kept
  alive across physical ones (:class:`Link`):

  * connect with jittered exponential backoff under the shared 300-per-5-minutes
    :class:`~fastws.retry.ConnectionBudget` (:class:`~fastws.retry.ReconnectPolicy`); fatal
    errors (:func:`~fastws.retry.is_retryable` false) end it and are reported;
  * every link starts with the wanted streams in its URL (up to :data:`MAX_URL_LENGTH`), the
    rest are subscribed with paced ``SUBSCRIBE`` frames, then ``LIST_SUBSCRIPTIONS`` checks the
    server holds exactly the wanted set (missing ones are sent again);
  * our control frames and pongs go through a :class:`~fastws.streams.ControlPacer`
    (5/s spot, 10/s USD-M, with a slot kept for pongs); pings are answered at once by the
    listener;
  * **make-before-break** before the 24-hour cut (:class:`~fastws.retry.CutoverSchedule`), at
    once on ``serverShutdown`` and when streams fall silent: a new link is opened and
    subscribed, both deliver for a moment (the shared :class:`~fastws.listener.StreamTable`
    drops whatever was already delivered, by update/trade id, or by event time during the
    overlap), then the old link is closed. No gap, no duplicate;
  * silence detection: a stream with a nominal update period (depth, tickers, klines) that
    sends nothing for ``silence_factor`` periods (at least ``min_silence`` seconds) is reported
    and healed by a replacement link: at once when every such stream of the link is silent,
    after ``max_silence`` when others still deliver (a quiet symbol is not a broken feed), with
    a doubling limit for streams a replacement did not cure (no reconnect loop). A link that
    receives no frame at all (not even the server's pings) for ``3 * ping_interval + 5``
    seconds is dropped and reconnected.

- :class:`StreamPool`: spreads streams over :class:`StreamConnection` shards with
  :class:`~fastws.streams.ShardPlanner` (1024 per connection; USD-M ``/public`` and
  ``/market`` never mixed, SPEC §4.1).
- :func:`run`: run a coroutine under uvloop when it is installed, asyncio otherwise.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from picows import WSMsgType, WSTransport, ws_connect

from fastws.exceptions import ConnectError, ConnectionClosedError, InvalidUsage, ParseError
from fastws.listener import Router, StreamListener, StreamTable
from fastws.parser import Parser
from fastws.retry import ConnectionBudget, CutoverSchedule, ReconnectPolicy, backoff, is_retryable
from fastws.streams import ControlPacer, ControlRequest, ShardPlanner, SubscriptionManager, parse_stream
from fastws.venues import Venue

__all__ = [
    "ConnectError",
    "MAX_URL_LENGTH",
    "ConnectionStats",
    "Link",
    "StreamConnection",
    "StreamPool",
    "ssl_context_for",
    "run",
]

_log = logging.getLogger("fastws.connection")

#: Longest stream URL built; streams beyond it are subscribed with SUBSCRIBE frames.
MAX_URL_LENGTH = 8000
#: Seconds to wait for a control answer (SUBSCRIBE, LIST_SUBSCRIPTIONS).
CONTROL_TIMEOUT = 10.0
#: Seconds a replacement link may take to deliver its first message before it is used anyway.
SWITCH_TIMEOUT = 10.0
#: Seconds a silence strike (a replacement that did not cure a stream) is remembered.
STRIKE_MEMORY = 600.0

T = TypeVar("T")


def ssl_context_for(venue: Venue, ca_file: str | None = None,
                    ssl_context: ssl.SSLContext | None = None) -> ssl.SSLContext | None:
    """The TLS context for ``venue``: None for ``ws://``; otherwise certificate and host name
    verified against ``ca_file``, the venue's own ``ca_file`` (the simulator's CA), or the
    system trust store. A given ``ssl_context`` is used as it is."""
    if ssl_context is not None:
        return ssl_context
    if not (venue.stream_url.startswith("wss://") or venue.ws_api_url.startswith("wss://")):
        return None
    ctx = ssl.create_default_context(cafile=ca_file or venue.ca_file)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _connect_error(url: str, exc: BaseException) -> ConnectError:
    host = urlsplit(url).netloc
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = (f"TLS certificate of {host} does not verify ({exc.verify_message or exc}); "
               "trust its CA with ca_file= (the simulator's is Exchange.ca_file). "
               "Verification is never turned off.")
    else:
        msg = f"cannot connect to {host}: {type(exc).__name__}: {exc} (not retryable)"
    err = ConnectError(msg)
    err.__cause__ = exc
    return err


def run(main: Awaitable[T]) -> T:
    """Run ``main`` on a uvloop event loop if uvloop is installed, else on asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a core dependency on Linux/macOS
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)  # type: ignore[arg-type]


def _expected_interval(name: str, market: str) -> float | None:
    try:
        info = parse_stream(name, market)  # type: ignore[arg-type]
    except (InvalidUsage, ValueError):
        return None
    return info.update_ms / 1000.0 if info.update_ms else None


# -- statistics --------------------------------------------------------------------------------


@dataclass
class ConnectionStats:
    """Counters of one :class:`StreamConnection` (cumulative, all its links)."""

    connects: int = 0
    reconnects: int = 0
    failed_attempts: int = 0
    cutovers: int = 0
    server_shutdowns: int = 0
    silences: int = 0
    heals: int = 0
    parse_errors: int = 0
    bad_frames: dict[str, int] = field(default_factory=dict)
    control_errors: int = 0
    listing_mismatches: int = 0
    frames: int = 0
    bytes: int = 0
    duplicates: int = 0


# -- one physical connection -------------------------------------------------------------------


class Link:
    """One physical WebSocket of a :class:`StreamConnection` (the listener's ``owner``)."""

    def __init__(self, conn: "StreamConnection", serial: int) -> None:
        self.conn = conn
        self.serial = serial
        self.subs = SubscriptionManager(conn.market, route=conn.route if conn.market == "usdm" else None)  # type: ignore[arg-type]
        self.pacer = ControlPacer.for_market(conn.market)
        self.transport: WSTransport | None = None
        self.listener: StreamListener | None = None
        self.connected_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.first_message = asyncio.Event()
        self.retiring = False
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._send_lock = asyncio.Lock()
        self.close_code: int | None = None
        self.close_reason = ""

    def __repr__(self) -> str:
        return f"<Link {self.conn.name}#{self.serial} {'closed' if self.closed.done() else 'open'}>"

    # listener callbacks (rare events only) ----------------------------------------------------
    def on_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected_at = time.monotonic()

    def on_disconnected(self) -> None:
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionClosedError(self.close_code, "connection lost"))
        self._waiters.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.conn._link_closed(self)

    def on_close_frame(self, code: int, reason: str) -> None:
        self.close_code = code
        self.close_reason = reason

    def on_ping(self) -> None:
        self.pacer.record(time.monotonic())

    def on_first_message(self) -> None:
        self.first_message.set()

    def on_server_shutdown(self, ev: Any) -> None:
        self.conn._server_shutdown(self)

    def on_bad_frame(self, kind: str, excerpt: bytes, exc: BaseException | None) -> None:
        self.conn._bad_frame(kind, excerpt, exc)

    def on_control(self, ev: Any) -> None:
        try:
            outcome = self.subs.receive(ev)
        except ParseError as exc:
            self.conn._bad_frame("control", b"", exc)
            return
        except Exception:  # an exception here would make picows drop the connection
            _log.exception("~ %s: control frame %r not understood", self, ev)
            return
        if not outcome.ok:
            self.conn.stats.control_errors += 1
        req = outcome.request
        if req is not None:
            fut = self._waiters.pop(req.id, None)
            if fut is not None and not fut.done():
                fut.set_result(outcome)
        if outcome.listing is not None and not outcome.listing.ok:
            self.conn.stats.listing_mismatches += 1
            self.conn._spawn(self.sync_subscriptions(check=True), "fix subscriptions")

    # sending ------------------------------------------------------------------------------------
    async def send_controls(self, reqs: list[ControlRequest]) -> list[asyncio.Future[Any]]:
        """Send control frames paced by the pacer; returns a future per request (its outcome)."""
        loop = asyncio.get_running_loop()
        futs = []
        async with self._send_lock:
            for req in reqs:
                fut: asyncio.Future[Any] = loop.create_future()
                self._waiters[req.id] = fut
                futs.append(fut)
                while True:
                    wait = self.pacer.delay(time.monotonic())
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                if self.transport is None or self.closed.done():
                    fut.set_exception(ConnectionClosedError(None, "connection lost"))
                    continue
                self.pacer.record(time.monotonic())
                self.transport.send(WSMsgType.TEXT, req.data)
        return futs

    async def sync_subscriptions(self, check: bool = True) -> bool:
        """Bring the server to the wanted set (paced), then confirm with LIST_SUBSCRIPTIONS.

        Returns True when the listing matched.
        """
        for _ in range(3):
            reqs = self.subs.requests_to_send()
            if check:
                reqs.append(self.subs.list_subscriptions())
            if not reqs:
                return True
            futs = await self.send_controls(reqs)
            try:
                outcomes = await asyncio.wait_for(asyncio.gather(*futs), CONTROL_TIMEOUT)
            except ConnectionClosedError:
                return False
            except asyncio.TimeoutError:
                for r in reqs:
                    self.subs.abandon(r.id)
                    self._waiters.pop(r.id, None)
                _log.warning("~ %s: control answers timed out; retrying", self)
                continue
            if not check:
                return True
            listing = outcomes[-1].listing
            if listing is None or listing.ok:
                return True
        return False

    def close(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send_close()
            self.transport.disconnect()


# -- one logical connection (a shard) ------------------------------------------------------------


class StreamConnection:
    """A shard: up to 1024 streams kept delivering across reconnects (see the module docstring).

    Parameters
    ----------
    venue : Venue
    streams : iterable of str
        The initial streams (canonical names, all on ``route`` for USD-M).
    router : Router
        Shared event fan-out.
    route : {"public", "market"} or None
        USD-M route of this shard.
    parser_factory : callable
        Returns a :class:`~fastws.parser.Parser`; one per link.
    listener_factory : callable
        ``(parser, router, table, owner) -> StreamListener``; a Cython subclass for the fastest path.
    ssl_context : ssl.SSLContext or None
    policy : ReconnectPolicy
        Its budget is normally shared by every connection of the process.
    cutover : CutoverSchedule or None
        When to replace a link before the server's cut (None: never, e.g. in some tests).
    silence_factor, min_silence : float
        A stream is silent after ``max(silence_factor * period, min_silence)`` seconds
        (reported: a warning and ``stats.silences``).
    max_silence : float
        When some streams are silent while others on the same link deliver, the link is
        replaced only once a stream has been silent this long; when every periodic stream is
        silent, at once. A replacement that does not cure a stream doubles its limit (up to
        64x) for 10 minutes, so a quiet market never makes the connection flap.
    on_error : callable, optional
        Called with the exception when the connection gives up (fatal error).
    on_link_state : callable, optional
        ``on_link_state(streams, state, reason)``: ``"down"`` when the link carrying
        ``streams`` is lost (reconnecting), ``"up"`` when a new link carries them again.
    name : str
    """

    def __init__(self, venue: Venue, streams: Iterable[str], router: Router, *,
                 route: str | None = None,
                 parser_factory: Callable[[], Parser] | None = None,
                 listener_factory: Callable[..., StreamListener] = StreamListener,
                 ssl_context: ssl.SSLContext | None = None,
                 policy: ReconnectPolicy | None = None,
                 cutover: CutoverSchedule | None = None,
                 silence_factor: float = 10.0, min_silence: float = 5.0,
                 max_silence: float = 60.0,
                 on_error: Callable[[BaseException], None] | None = None,
                 on_link_state: Callable[[list[str], str, str], None] | None = None,
                 name: str = "shard") -> None:
        self.venue = venue
        self.market = venue.market
        self.route = route
        self.router = router
        self.table = StreamTable()
        self.name = name
        self._parser_factory = parser_factory or (lambda: Parser(venue.market))
        self._listener_factory = listener_factory
        self._ssl = ssl_context
        self.policy = policy or ReconnectPolicy()
        self.cutover = cutover if cutover is not None else CutoverSchedule(
            lifetime=venue.limits.connection_lifetime,
            margin=min(600.0, venue.limits.connection_lifetime * 0.05),
            spread=min(1200.0, venue.limits.connection_lifetime * 0.05))
        self.silence_factor = silence_factor
        self.min_silence = min_silence
        self.max_silence = max_silence
        self._on_error = on_error
        self._on_link_state = on_link_state
        self.desired: dict[str, None] = dict.fromkeys(streams)
        self.stats = ConnectionStats()
        self.active: Link | None = None
        self.links: list[Link] = []
        self._serial = 0
        self._wake = asyncio.Event()
        self._reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._ready = asyncio.get_running_loop().create_future()
        self.error: BaseException | None = None
        self._logged_kinds: set[str] = set()
        self._since: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._prev_frames = 0
        self._prev_bytes = 0

    def __repr__(self) -> str:
        return f"<StreamConnection {self.name} streams={len(self.desired)} links={len(self.links)}>"

    # lifecycle ------------------------------------------------------------------------------------
    async def start(self, timeout: float | None = None) -> None:
        """Start the connection task and wait for the first link to be subscribed.

        Raises :class:`ConnectError` for a fatal error, ``TimeoutError`` after ``timeout``.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"fastws-{self.name}")
            self._watch = asyncio.create_task(self._watchdog(), name=f"fastws-{self.name}-watch")
        await asyncio.wait_for(asyncio.shield(self._ready), timeout)

    async def close(self) -> None:
        """Close every link and stop reconnecting."""
        self._closing = True
        self._wake.set()
        for t in (self._task, self._watch, *self._tasks):
            if t is not None and not t.done():
                t.cancel()
        for t in (self._task, self._watch, *list(self._tasks)):
            if t is not None:
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        for link in list(self.links):
            link.close()
        for link in list(self.links):
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), 1.0)
            except (asyncio.TimeoutError, Exception):
                if link.transport is not None:
                    link.transport.disconnect(False)
        if not self._ready.done():
            self._ready.set_exception(ConnectionClosedError(None, "closed before connecting"))
            self._ready.exception()

    def _spawn(self, coro: Awaitable[Any], what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("~ %s: %s failed", self.name, what)
        t = asyncio.create_task(guarded())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # runtime subscriptions ------------------------------------------------------------------------
    async def update(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """Subscribe / unsubscribe at runtime on the active link (the next links follow)."""
        for s in remove:
            self.desired.pop(s, None)
            self.table.forget(s)
            self._since.pop(s, None)
        now = time.monotonic()
        for s in add:
            self.desired[s] = None
            self._since.setdefault(s, now)
        for link in list(self.links):
            if link.closed.done():
                continue
            link.subs.unsubscribe(list(remove))
            new = [s for s in self.desired if s not in link.subs.desired]
            if new:
                link.subs.subscribe(new)
            if link is self.active:
                await link.sync_subscriptions(check=True)
            else:
                self._spawn(link.sync_subscriptions(check=True), "subscription update")

    # the supervising loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while not self._closing:
                if self.active is None or self.active.closed.done():
                    if self.active is not None:
                        self.stats.reconnects += 1
                        _log.warning("~ %s: link lost (code %s %s); reconnecting", self.name,
                                     self.active.close_code, self.active.close_reason)
                        if self._on_link_state is not None:
                            self._on_link_state(list(self.desired), "down", f"link lost (code "
                                                f"{self.active.close_code} {self.active.close_reason}"
                                                .rstrip() + ")")
                    lost = self.active is not None
                    self.active = None
                    # no other link delivers now: forget the ids delivered, so a venue whose
                    # ids restarted after a server restart is not taken for duplicates
                    self.table.reset_ids()
                    link = await self._connect()
                    self.active = link
                    if lost and self._on_link_state is not None:
                        self._on_link_state(list(self.desired), "up", f"link #{link.serial}")
                    if not self._ready.done():
                        self._ready.set_result(None)
                    continue
                self._reason = None
                self._wake.clear()
                link = self.active
                due = self.cutover.cutover_at(link.connected_at) - time.monotonic()
                waiters = [asyncio.ensure_future(self._wake.wait()),
                           asyncio.ensure_future(asyncio.shield(link.closed))]
                try:
                    await asyncio.wait(waiters, timeout=max(due, 0.0),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
                if self._closing:
                    return
                if link.closed.done():
                    continue
                reason = self._reason or ("cut-over" if due <= 0 or
                                          self.cutover.cutover_at(link.connected_at) <= time.monotonic()
                                          else None)
                if reason is None:
                    continue
                await self._replace(link, reason)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            _log.error("! %s: giving up: %s", self.name, exc)
            if not self._ready.done():
                self._ready.set_exception(exc)
            if self._on_error is not None:
                self._on_error(exc)

    def _url(self, streams: list[str]) -> tuple[str, list[str]]:
        base = self.venue.stream_base(self.route) + "/stream"  # type: ignore[arg-type]
        url_streams: list[str] = []
        if not streams:
            return base, url_streams
        length = len(base) + 10
        for s in streams:
            if length + len(s) + 3 > MAX_URL_LENGTH:
                break
            url_streams.append(s)
            length += len(s) + 3
        if not url_streams:
            return base, url_streams
        return self.venue.combined_stream_url(url_streams), url_streams

    async def _open_link(self) -> Link:
        self._serial += 1
        link = Link(self, self._serial)
        streams = list(self.desired)
        url, url_streams = self._url(streams)
        parser = self._parser_factory()
        factory = self._listener_factory

        def make() -> StreamListener:
            lst = factory(parser, self.router, self.table, link)
            link.listener = lst
            return lst

        await ws_connect(make, url, ssl_context=self._ssl, enable_auto_pong=False,
                         enable_auto_ping=False, websocket_handshake_timeout=10,
                         max_frame_size=16 << 20, logger_name="fastws.picows")
        self.links.append(link)
        link.subs.subscribe(streams)
        link.subs.connection_reset(url_streams)
        self.stats.connects += 1
        _log.info("= %s: link #%d open (%d streams in URL, %d to subscribe)", self.name,
                  link.serial, len(url_streams), len(streams) - len(url_streams))
        return link

    async def _connect(self, planned: bool = False) -> Link:
        """Dial until a link is up and subscribed (backoff under the budget).

        A planned replacement makes its first attempt at once (budget permitting)."""
        while True:
            now = time.monotonic()
            wait = self.policy.budget.delay(now) if planned else self.policy.next_delay(now)
            planned = False
            if wait > 0:
                await asyncio.sleep(wait)
            self.policy.attempted(time.monotonic())
            try:
                link = await self._open_link()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failed_attempts += 1
                if not is_retryable(exc):
                    raise _connect_error(self.venue.stream_url, exc) from exc
                _log.warning("~ %s: connect failed (%s: %s); retrying", self.name,
                             type(exc).__name__, exc)
                continue
            ok = await link.sync_subscriptions(check=True)
            if link.closed.done():
                continue
            if not ok:
                _log.warning("~ %s: server listing still differs from the wanted streams", self.name)
            self.policy.succeeded()
            now = time.monotonic()
            for s in self.desired:
                self._since[s] = now
            return link

    async def _replace(self, old: Link, reason: str) -> None:
        """Make-before-break: open a new link, let both deliver, switch, close the old one."""
        _log.info("= %s: replacing link #%d (%s)", self.name, old.serial, reason)
        old.retiring = True
        try:
            new = await self._connect(planned=True)
        except asyncio.CancelledError:
            raise
        try:
            await asyncio.wait_for(new.first_message.wait(), SWITCH_TIMEOUT if self.desired else 0.01)
        except asyncio.TimeoutError:
            pass
        self.table.overlap = True
        self.active = new
        # let every stream of the old link show up on the new one before closing it
        periods = [p for p in (_expected_interval(s, self.market) for s in self.desired) if p]
        overlap = min(max([0.3] + [1.5 * p for p in periods]), 5.0)
        waiter = asyncio.ensure_future(asyncio.shield(new.closed))
        try:
            await asyncio.wait([waiter], timeout=overlap)
        finally:
            waiter.cancel()
        if old.listener is not None:
            old.listener.muted = True          # nothing more from the old link reaches the user
        self.table.overlap = False
        self.table.reset_ids()
        old.close()
        if reason == "cut-over":
            self.stats.cutovers += 1
        now = time.monotonic()
        for s in self.desired:
            self._since[s] = now

    def _link_closed(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
        self._prev_frames += link.listener.frames if link.listener else 0
        self._prev_bytes += link.listener.bytes if link.listener else 0
        if link is self.active:
            self._wake.set()

    def _server_shutdown(self, link: Link) -> None:
        self.stats.server_shutdowns += 1
        _log.warning("~ %s: serverShutdown on link #%d: replacing it now", self.name, link.serial)
        if link is self.active and not link.retiring:
            self._reason = "serverShutdown"
            self._wake.set()

    def _bad_frame(self, kind: str, excerpt: bytes, exc: BaseException | None) -> None:
        self.stats.parse_errors += 1
        key = kind if exc is None else f"{kind}:{type(exc).__name__}:{getattr(exc, 'reason', '')}"
        self.stats.bad_frames[kind] = self.stats.bad_frames.get(kind, 0) + 1
        if key not in self._logged_kinds:
            self._logged_kinds.add(key)
            _log.warning("~ %s: bad %s frame (counted; the stream goes on; later ones of this "
                         "kind are counted only): %s; excerpt %r", self.name, kind, exc, excerpt[:120])

    # silence ----------------------------------------------------------------------------------------
    def _limit(self, stream: str, period: float) -> float:
        strikes = self._strikes.get(stream, (0, 0.0))[0]
        return max(self.silence_factor * period, self.min_silence) * float(1 << strikes)

    def _silent_for(self, now: float) -> dict[str, float]:
        """Periodic streams -> seconds of silence beyond their limit (only those over it)."""
        out = {}
        for s in self.desired:
            period = _expected_interval(s, self.market)
            if period is None:
                continue
            st = self.table.stats.get(s)
            last = max(st.last_time if st is not None else 0.0, self._since.get(s, now))
            quiet = now - last
            if quiet > self._limit(s, period):
                out[s] = quiet
        return out

    def silent_streams(self, now: float | None = None) -> list[str]:
        """Streams with a nominal period that sent nothing for too long (see the class doc)."""
        return list(self._silent_for(time.monotonic() if now is None else now))

    def _heal_decision(self, silent: dict[str, float]) -> bool:
        """Replace the link when every periodic stream on it is silent (a dead feed), or when a
        stream stays silent past ``max_silence`` while others deliver (a quiet market alone
        does not flap the connection)."""
        periodic = [s for s in self.desired if _expected_interval(s, self.market) is not None]
        if len(silent) == len(periodic):
            return True
        return any(q > self.max_silence for q in silent.values())

    async def _watchdog(self) -> None:
        tick = min(1.0, self.min_silence / 4)
        dead_after = self.venue.limits.ping_interval * 3 + 5.0
        reported: set[str] = set()
        while not self._closing:
            await asyncio.sleep(tick)
            link = self.active
            if link is None or link.closed.done() or link.retiring or self._reason:
                continue
            now = time.monotonic()
            lst = link.listener
            if lst is not None and now - lst.last_frame_time > dead_after:
                _log.warning("~ %s: no frame at all for %.1f s: dropping link #%d", self.name,
                             now - lst.last_frame_time, link.serial)
                if link.transport is not None:
                    link.transport.disconnect(False)
                continue
            # a strike (a heal that did not cure the stream) doubles its limit for 10 minutes
            for s, (n, at) in list(self._strikes.items()):
                if now - at > STRIKE_MEMORY:
                    del self._strikes[s]
            silent = self._silent_for(now)
            new = [s for s in silent if s not in reported]
            reported.intersection_update(silent)
            if new:
                self.stats.silences += 1
                reported.update(new)
                _log.warning("~ %s: %d stream(s) silent (%s%s)", self.name, len(new),
                             ", ".join(new[:3]), "..." if len(new) > 3 else "")
            if silent and self._heal_decision(silent):
                for s in silent:
                    self._strikes[s] = (min(self._strikes.get(s, (0, 0.0))[0] + 1, 6), now)
                _log.warning("~ %s: silent stream(s) %s: replacing the link", self.name,
                             ", ".join(list(silent)[:3]))
                self.stats.heals += 1
                reported.clear()
                self._reason = "silence"
                self._wake.set()

    # views ----------------------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return self._prev_frames + sum(l.listener.frames for l in self.links if l.listener)

    @property
    def bytes(self) -> int:
        return self._prev_bytes + sum(l.listener.bytes for l in self.links if l.listener)

    @property
    def confirmed(self) -> frozenset[str]:
        """Streams the active link's server confirmed (or listed)."""
        return self.active.subs.confirmed if self.active is not None else frozenset()


# -- sharding -------------------------------------------------------------------------------------


class StreamPool:
    """Streams spread over :class:`StreamConnection` shards (ShardPlanner: 1024 each, USD-M
    routes apart). Keyword arguments are passed to every :class:`StreamConnection`."""

    def __init__(self, venue: Venue, router: Router, *, max_per_connection: int | None = None,
                 budget: ConnectionBudget | None = None,
                 backoff_factory: Callable[[], Any] | None = None, **conn_kwargs: Any) -> None:
        self.venue = venue
        self.router = router
        self.planner = ShardPlanner(venue.market, max_per_connection or venue.limits.max_streams_per_connection)
        self.budget = budget or ConnectionBudget(venue.limits.max_connection_attempts,
                                                 venue.limits.connection_attempts_window)
        self._backoff = backoff_factory or (lambda: backoff(initial=0.5, max_delay=30.0))
        self._kwargs = conn_kwargs
        self.shards: dict[int, StreamConnection] = {}
        self.retired_stats: list[ConnectionStats] = []
        self._lock = asyncio.Lock()

    async def set_streams(self, streams: Iterable[str], timeout: float | None = None) -> None:
        """Make the pool carry exactly ``streams`` (opening / closing shards as needed)."""
        async with self._lock:
            changes = self.planner.update(streams)
            starts = []
            for ch in changes:
                if ch.new:
                    conn = StreamConnection(
                        self.venue, ch.add, self.router, route=ch.route,
                        policy=ReconnectPolicy(self.budget, self._backoff),
                        name=f"{self.venue.name}/{ch.route or 'stream'}#{ch.shard}", **self._kwargs)
                    self.shards[ch.shard] = conn
                    starts.append(conn.start(timeout))
                elif ch.closed:
                    conn = self.shards.pop(ch.shard)
                    self.retired_stats.append(conn.stats)
                    await conn.close()
                else:
                    conn = self.shards[ch.shard]
                    await conn.update(ch.add, ch.remove)
            if starts:
                results = await asyncio.gather(*starts, return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException):
                        raise r

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.shards.values()), return_exceptions=True)

    def table_stats(self) -> dict[str, Any]:
        """Stream name -> :class:`~fastws.listener.StreamStat` over every shard."""
        out: dict[str, Any] = {}
        for c in self.shards.values():
            out.update(c.table.stats)
        return out
