"""The WebSocket API client: requests by id over one picows connection, kept alive.

:class:`ApiClient` is the I/O shell around the sans-I/O :class:`~fastws.api.protocol.ApiProtocol`
(STYLE habit 1): the protocol numbers, matches and accounts requests; this module only sends the
bytes, waits, sleeps and reconnects.

- Many requests in flight at once; each awaited with a timeout. One loop timer serves every
  request in flight (:class:`fastws.api._session.Deadlines`): no extra task, and no timer armed and cancelled per
  request on the latency path.
- Rate limits: before a request goes, :meth:`ApiProtocol.delay_ms` says how long to wait so the
  client never sends into a 429 (``pace=True``, the default); a ``retryAfter`` holds everything
  back; during a 418 ban :class:`~fastws.exceptions.IPBannedError` is raised at once, nothing is
  sent.
- Signed requests (SPEC §7): ``timestamp`` from a :class:`~fastws.api.signing.ClockOffset` fed by
  ``time`` round trips (so a skewed local clock is not rejected with -1021); on a session
  logged on with an Ed25519 key (``session.logon``), requests carry only ``timestamp``.
- Events (``{"subscriptionId", "event"}`` and ``{"event": {"e": "serverShutdown"}}``) are
  routed to the callbacks given to :meth:`ApiClient.on_event`, apart from responses.
- Reconnect: a dropped connection is re-opened with jittered backoff under the shared
  connection budget (:class:`~fastws.retry.ReconnectPolicy`); the clock is re-synced and
  ``session.logon`` re-done by itself, then the :meth:`ApiClient.on_reconnect` hooks run
  (:class:`~fastws.api.user_stream.UserStream` resubscribes and reconciles there). On
  ``serverShutdown`` the new connection is opened *before* the old one is closed.

Requests in flight when a connection drops fail with
:class:`~fastws.exceptions.ConnectionClosedError`: their outcome is unknown (an order may have
been accepted). :class:`~fastws.api.order_stream.OrderStream` queries such orders before any retry.

Secrets: the API key is shown masked in ``repr`` and logs; params and signatures are never
logged.

Note: :class:`fastws.connection.ApiConnection` (the market-data snapshot client) and this class
do the same job and should be merged.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

from picows import WSMsgType, WSTransport, ws_connect

from fastws.api._session import ApiListener, Deadlines, LinkState, Session, client_request, client_response
from fastws.api.protocol import ApiEvent, ApiProtocol, ApiResponse, RateLimits, handshake_refusal
from fastws.connection import ssl_context_for
from fastws.exceptions import (
    ApiError,
    ConnectError,
    ConnectionClosedError,
    InvalidUsage,
    IPBannedError,
    ParseError,
    RateLimitError,
)
from fastws.retry import ConnectionBudget, ReconnectPolicy, _handshake_status, backoff, connect_error, is_retryable
from fastws.api.signing import CLOCK_RESYNC_MS, ClockOffset, Ed25519Signer, Signer, check_recv_window, mask_key, sign_params
from fastws.venues import Venue

__all__ = ["ApiClient", "DEFAULT_TIMEOUT", "EventCallback"]

#: Seconds to wait for an answer before a request fails with ``TimeoutError`` (Binance's own
#: backend timeout is 10 s, after which it answers -1007, SPEC §5.1).
DEFAULT_TIMEOUT = 12.0
#: ``time`` round trips made to estimate the clock offset on each (re)connect.
CLOCK_SAMPLES = 3
#: Longest WS API message reassembled from fragments (bytes); beyond it the connection is
#: dropped with that reason (the market streams' cap).
MAX_MESSAGE_SIZE = 16 << 20

EventCallback = Callable[[ApiEvent], None]

_log = logging.getLogger("fastws.api.client")


def _now_ms() -> float:
    return time.time() * 1000.0


_time = time.time




class _Link(LinkState):
    """One physical connection: its transport and the requests waiting on it (the fields are
    C fields of :class:`fastws.api._session.LinkState`, read by the compiled request paths)."""

    __slots__ = ()

    def __init__(self, client: "ApiClient", serial: int) -> None:
        self.client = client
        self.serial = serial
        self.transport: WSTransport | None = None
        self.waiters: dict[int, asyncio.Future[ApiResponse]] = {}
        self.closed = False
        self.close_reason = None
        self.connected_at = 0.0
        #: the loop the connection lives in (the request path creates its futures there
        #: without asking asyncio, whose get_running_loop costs a getpid system call)
        self.loop = asyncio.get_running_loop()
        self.new_future = self.loop.create_future
        self.loop_time = self.loop.time

    def frame(self, data: bytes) -> None:
        self.client._frame(self, data)

    def lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport = None
        proto = self.client.protocol
        for id_, fut in list(self.waiters.items()):
            proto.abandon(id_)
            if not fut.done():
                why = f" ({self.close_reason})" if self.close_reason else ""
                fut.set_exception(ConnectionClosedError(
                    None, f"WS API connection lost with the request in flight{why}"))
        self.waiters.clear()
        self.client._link_lost(self)

    def close(self) -> None:
        tr = self.transport
        if tr is not None:
            try:
                tr.send_close()
            except Exception:  # pragma: no cover - already closing
                pass
            tr.disconnect()


class ApiClient:
    """One WS API session that survives disconnects.

    Parameters
    ----------
    venue : Venue
        Where to connect (``venue.ws_api_url``).
    api_key : str, optional
        The API key (needed for signed requests). Shown masked everywhere.
    signer : Signer, optional
        :class:`~fastws.api.signing.HmacSigner`, :class:`~fastws.api.signing.RsaSigner` or
        :class:`~fastws.api.signing.Ed25519Signer`.
    logon : bool, optional
        Log the session on with ``session.logon`` (Ed25519 keys only, SPEC §5.5), again after
        every reconnect, so signed requests need no per-request signature. Defaults to True
        with an Ed25519 signer and an API key.
    recv_window : int, Decimal or str, optional
        ``recvWindow`` of signed requests (ms, SPEC §7.4); Binance's default 5000 if omitted.
    timeout : float
        Seconds to wait for each answer.
    pace : bool
        Wait for rate-limit room instead of sending into a 429 (default True). With False a
        request that would overshoot raises :class:`~fastws.exceptions.RateLimitError` locally.
    reconnect : bool
        Re-open the connection after it drops (default True).
    limits : RateLimits, optional
        Shared accounting (one per IP/account); a private one otherwise.
    budget : ConnectionBudget, optional
        Shared connection-attempt budget (300 per 5 min per IP).
    ssl_context : ssl.SSLContext, optional
        TLS context; by default verified against the venue's CA or the system store.
    sync_clock : bool
        Estimate the server clock with ``time`` on connect (default True).
    logger : logging.Logger, optional
        Defaults to ``fastws.api.client``.
    max_message_size : int
        Longest answer reassembled from a fragmented message, in bytes (default 16 MiB);
        beyond it the connection is dropped with that reason and reconnected.
    """

    def __init__(
        self,
        venue: Venue,
        *,
        api_key: str | None = None,
        signer: Signer | None = None,
        logon: bool | None = None,
        recv_window: int | Decimal | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        pace: bool = True,
        reconnect: bool = True,
        limits: RateLimits | None = None,
        budget: ConnectionBudget | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sync_clock: bool = True,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        if not isinstance(venue, Venue):
            raise InvalidUsage(f"venue must be a fastws Venue, got {type(venue).__name__}")
        if api_key is not None and (not isinstance(api_key, str) or not api_key):
            raise InvalidUsage("api_key must be a non-empty str")
        if signer is not None and not isinstance(signer, Signer):
            raise InvalidUsage("signer must be an HmacSigner, RsaSigner or Ed25519Signer")
        if timeout <= 0:
            raise InvalidUsage("timeout must be > 0")
        if not isinstance(max_message_size, int) or max_message_size < 1024:
            raise InvalidUsage("max_message_size must be an int >= 1024 (bytes)")
        self.max_message_size = max_message_size
        if logon is None:
            logon = isinstance(signer, Ed25519Signer) and api_key is not None
        if logon and not (isinstance(signer, Ed25519Signer) and api_key is not None):
            raise InvalidUsage("session.logon needs an api_key and an Ed25519Signer (SPEC §5.5)")
        #: the state the compiled request paths read (typed C fields); ``_link``,
        #: ``logged_on``, ``recv_window``, ``timeout`` and ``requests`` live there
        self._c = Session()
        self.venue = venue
        self.market = venue.market
        self._api_key = api_key
        self._signer = signer
        self.logon = bool(logon)
        self.recv_window = recv_window
        self.timeout = float(timeout)
        self.pace = pace
        self.reconnect = reconnect
        self.clock = ClockOffset()
        self.protocol = ApiProtocol(venue.market, limits=limits, clock=self._server_ms)
        self.policy = ReconnectPolicy(budget, lambda: backoff(initial=0.2, max_delay=10.0))
        self._ssl = ssl_context_for(venue, ssl_context=ssl_context)
        self._sync_clock = sync_clock
        self._log = logger or _log
        self._debug = self._log.isEnabledFor(logging.DEBUG)
        self._link = None
        self._serial = 0
        self._event_callbacks: list[EventCallback] = []
        self._reconnect_hooks: list[Callable[[], Awaitable[None]]] = []
        self._closed = False
        self._started = False
        self._ready = asyncio.Event()
        self._ban_seen = asyncio.Event()
        self._resync: asyncio.Future[None] | None = None
        self._c.attach(self, self.protocol, self.clock, venue.market, sync_clock,
                       type(self)._server_ms is ApiClient._server_ms,
                       current_link=self._current_link, pace=self._pace, sign=self._sign,
                       clock_rejected=self._clock_rejected, server_ms=self._server_ms,
                       timestamp=self.timestamp)
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fatal: BaseException | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        self._deadlines = self._c.deadlines
        self._last_error: BaseException | None = None
        self._event_link = 0
        self._open_links: dict[int, _Link] = {}
        self.logged_on = False
        #: physical connections opened so far
        self.connections = 0
        self.requests = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self.connected else "idle")
        return (f"ApiClient({self.venue.name}, key={mask_key(self._api_key)}, "
                f"signer={type(self._signer).__name__ if self._signer else None}, {state})")

    __str__ = __repr__

    # -- properties ----------------------------------------------------------------------------

    # state kept in the C session (one value for the Python and the compiled paths)

    @property
    def _link(self) -> _Link | None:
        link: _Link | None = self._c.link
        return link

    @_link.setter
    def _link(self, link: _Link | None) -> None:
        self._c.link = link

    @property
    def logged_on(self) -> bool:
        """The session is logged on (``session.logon``): signed requests carry no signature."""
        return bool(self._c.logged_on)

    @logged_on.setter
    def logged_on(self, value: bool) -> None:
        self._c.logged_on = value

    @property
    def recv_window(self) -> int | Decimal | None:
        """``recvWindow`` of signed requests (ms), None for Binance's default."""
        value: int | Decimal | None = self._c.recv_window
        return value

    @recv_window.setter
    def recv_window(self, value: int | Decimal | str | None) -> None:
        self._c.recv_window = check_recv_window(value) if value is not None else None

    @property
    def timeout(self) -> float:
        """Seconds to wait for each answer."""
        return float(self._c.timeout)

    @timeout.setter
    def timeout(self, value: float) -> None:
        if not value > 0:
            raise InvalidUsage("timeout must be > 0")
        self._c.timeout = float(value)

    @property
    def requests(self) -> int:
        """Requests sent."""
        return int(self._c.requests)

    @requests.setter
    def requests(self, value: int) -> None:
        self._c.requests = value

    @property
    def api_key_masked(self) -> str:
        """The API key for display (``'vmPU...Eh8A'``)."""
        return mask_key(self._api_key)

    @property
    def can_sign(self) -> bool:
        """An API key and a signer are set."""
        return self._api_key is not None and self._signer is not None

    @property
    def connected(self) -> bool:
        return self._link is not None and self._link.transport is not None and not self._link.closed

    @property
    def link_serial(self) -> int:
        """Serial number of the current physical connection (0 before the first)."""
        return self._link.serial if self._link is not None else 0

    @property
    def link_serials(self) -> frozenset[int]:
        """Serials of the physical connections still open (two during a serverShutdown switch)."""
        return frozenset(self._open_links)

    @property
    def event_link_serial(self) -> int:
        """Serial of the connection the event being dispatched arrived on (read it inside an
        :meth:`on_event` callback: subscription ids are per connection)."""
        return self._event_link

    @property
    def limits(self) -> RateLimits:
        """The rate-limit accounting (remaining weight and order counts)."""
        return self.protocol.limits

    def remaining(self, type_: str = "REQUEST_WEIGHT") -> int | None:
        """Room left in the tightest window of ``type_`` (``REQUEST_WEIGHT`` or ``ORDERS``)."""
        return self.protocol.limits.remaining(type_, self._server_ms())

    def _server_ms(self) -> int:
        # ClockOffset.server_time(_now_ms()) in one call (it runs twice per request)
        return int(round(_time() * 1000.0 + self.clock.state.offset))

    def timestamp(self) -> int:
        """The ``timestamp`` to sign now: the server clock's lower bound (SPEC §7.4)."""
        return self.clock.timestamp(_now_ms())

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> "ApiClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self, timeout: float | None = None) -> None:
        """Open the connection (clock sync and logon included). Idempotent.

        Raises
        ------
        ConnectError
            If the venue cannot be reached and retrying cannot help (bad certificate, 4xx).
        TimeoutError
            If no connection could be made within ``timeout`` (default: 3 x the request timeout).
        """
        if self._closed:
            raise InvalidUsage("this ApiClient is closed")
        if not self._started:
            self._started = True
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        ban = self._ban_error()
        if ban is not None and not self._ready.is_set():
            raise ban
        waiter = asyncio.ensure_future(self._ready.wait())
        banned = asyncio.ensure_future(self._ban_seen.wait())
        sup = self._supervisor
        assert sup is not None
        done, _ = await asyncio.wait({waiter, sup, banned}, timeout=timeout or 3 * self.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        banned.cancel()
        if waiter not in done:
            waiter.cancel()
            ban = self._ban_error()
            if ban is not None:
                raise ban
            if sup in done and self._fatal is not None:
                raise self._fatal
            last = f" (last error: {type(self._last_error).__name__}: {self._last_error})" if self._last_error else ""
            raise asyncio.TimeoutError(f"could not connect to {self.venue.name} WS API{last}")

    async def close(self) -> None:
        """Close the connection and stop reconnecting; requests in flight fail."""
        if self._closed:
            return
        self._closed = True
        if self.logged_on and self.connected:
            self.logged_on = False
        link = self._link
        self._link = None
        if link is not None:
            link.close()
            link.lost()
        if self._supervisor is not None:
            self._supervisor.cancel()
            try:
                await self._supervisor
            except (asyncio.CancelledError, Exception):
                pass
        for t in list(self._tasks):
            t.cancel()
        self._tasks.clear()
        self._deadlines.cancel()

    def on_event(self, callback: EventCallback) -> Callable[[], None]:
        """Call ``callback(ApiEvent)`` for every event frame; returns a function that removes it."""
        self._event_callbacks.append(callback)

        def remove() -> None:
            if callback in self._event_callbacks:
                self._event_callbacks.remove(callback)

        return remove

    def on_reconnect(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], None]:
        """Await ``hook()`` after each re-established connection (logon already redone)."""
        self._reconnect_hooks.append(hook)

        def remove() -> None:
            if hook in self._reconnect_hooks:
                self._reconnect_hooks.remove(hook)

        return remove

    async def _open(self) -> _Link:
        self._serial += 1
        link = _Link(self, self._serial)
        self.policy.attempted(time.monotonic())
        url = self.venue.ws_api_url
        try:
            await ws_connect(lambda: ApiListener(link), url, ssl_context=self._ssl,
                             enable_auto_pong=False, websocket_handshake_timeout=10,
                             logger_name="fastws.picows.api")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            refusal = self._refusal(exc)
            if refusal is not None:
                raise refusal from exc
            if not is_retryable(exc):
                raise connect_error(url, exc) from exc
            raise
        self.connections += 1
        link.connected_at = time.monotonic()
        self._open_links[link.serial] = link
        connect_weight = 2 if self.market == "spot" else 5
        self.protocol.limits.add(connect_weight, self._server_ms())
        return link

    def _refusal(self, exc: BaseException) -> RateLimitError | None:
        """A handshake refused with 418 or 429 as the rate-limit error it stands for, recorded
        so that requests fail at once (ban) or wait (429) until it ends; None for other errors."""
        status = _handshake_status(exc)
        if status not in (418, 429):
            return None
        body = getattr(exc, "raw_body", None)
        headers = getattr(getattr(exc, "response", None), "headers", None)
        hint: float | None = None
        try:
            value = headers.get("Retry-After") if headers is not None else None
            hint = float(value) if value is not None else None
        except (AttributeError, TypeError, ValueError):
            hint = None
        err = handshake_refusal(status, body if isinstance(body, bytes) else None, hint, self._server_ms())
        if err is not None:
            self.protocol.limits.on_error(err, self._server_ms())
            if isinstance(err, IPBannedError):
                self._ban_seen.set()
        return err

    def _hold_s(self) -> float:
        """Seconds before a connection attempt may be made (a ban's or a 429's end)."""
        return max(0.0, (self.protocol.limits.hold_until - self._server_ms()) / 1000.0)

    def _ban_error(self) -> IPBannedError | None:
        """The error a request made now meets while the IP is banned, or None."""
        ban = self.protocol.limits.ban_error(self._server_ms())
        if ban is None:
            return None
        until = ban.retry_after
        when = time.strftime("%H:%M:%S", time.gmtime(until / 1000.0)) if until else "unknown"
        err = IPBannedError(ban.code, f"{self.venue.name}: IP banned until {until} ({when} UTC); "
                            f"nothing is sent before then and the client reconnects by itself "
                            f"(server said: {ban.msg})", ban.status, ban.data, retry_after=until)
        return err

    async def _prepare(self, link: _Link) -> None:
        """Clock sync and logon on a fresh link, before it carries user requests."""
        if self._sync_clock:
            samples: list[tuple[float, float, float]] = []
            for _ in range(CLOCK_SAMPLES):
                sent = _now_ms()
                try:
                    res = await self._call(link, "time", None)
                except ApiError as exc:  # a venue without `time` on its WS API
                    self._log.warning("= %s: no clock sync (%s)", self.venue.name, exc)
                    break
                received = _now_ms()
                if isinstance(res, dict) and isinstance(res.get("serverTime"), int):
                    st = res["serverTime"]
                    if st > 10**14:  # timeUnit=MICROSECOND
                        st //= 1000
                    samples.append((sent, st, received))
            # a fresh estimate per connection: the clock may have stepped while we were away
            self.clock.restart(samples)
        if self.logon:
            params = self._sign({})
            await self._call(link, "session.logon", params)
            self._log.info("= %s session logged on with key %s", self.venue.name, self.api_key_masked)

    async def _supervise(self) -> None:
        first = True
        while not self._closed:
            try:
                wait = self.policy.next_delay(time.monotonic()) if not first else 0.0
                # never dial into a ban or a 429's retryAfter: sleep until it ends
                hold = self._hold_s()
                if hold > 0:
                    self._log.warning("= %s WS API: holding connection attempts for %.1f s "
                                      "(ban or retryAfter)", self.venue.name, hold)
                    wait = max(wait, hold + 0.05)
                if wait > 0:
                    await asyncio.sleep(wait)
                self._ban_seen.clear()
                link = await self._open()
                self._link = link
                self.logged_on = False
                try:
                    await self._prepare(link)
                except (ConnectionClosedError, asyncio.TimeoutError) as exc:
                    self._log.warning("= %s WS API setup failed (%s); reconnecting", self.venue.name, exc)
                    link.close()
                    link.lost()
                    first = False
                    continue
                self.logged_on = self.logon
                self.policy.succeeded()
                self._log.info("= %s WS API connected (connection %d)", self.venue.name, link.serial)
                self._ready.set()
                self._c.is_ready = True
                if not first:
                    # the hooks (resubscribe, reconcile) send requests themselves
                    for hook in list(self._reconnect_hooks):
                        try:
                            await hook()
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            self._log.exception("reconnect hook failed")
                first = False
                while not self._closed:
                    cur = self._link
                    if cur is None or cur.closed:
                        break
                    await self._wait_closed(cur)
                self._ready.clear()
                self._c.is_ready = False
                if self._closed or not self.reconnect:
                    return
                self._log.info("= %s WS API connection %d lost; reconnecting", self.venue.name, link.serial)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._closed:
                    return
                failed = self._link
                if failed is not None and not failed.closed and not self._ready.is_set():
                    failed.close()      # setup failed (logon refused, banned...): drop it
                    failed.lost()
                if isinstance(exc, RateLimitError) and self.reconnect:
                    # 418 / 429 at the handshake: the hold is recorded; wait it out, then retry
                    self._log.warning("= %s WS API connect refused (%s); retrying after %.1f s",
                                      self.venue.name, exc, self._hold_s())
                    self._last_error = exc
                    first = False
                    continue
                if not is_retryable(exc) or not self.reconnect:
                    self._fatal = exc
                    self._log.error("= %s WS API: giving up: %s", self.venue.name, exc)
                    return
                self._log.warning("= %s WS API connect failed: %s", self.venue.name, exc)
                self._last_error = exc
                first = False

    async def _wait_closed(self, link: _Link) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._closed_waiter = fut
        if link.closed:
            return
        try:
            await fut
        finally:
            self._closed_waiter = None

    def _link_lost(self, link: _Link) -> None:
        self._open_links.pop(link.serial, None)
        if link.close_reason:
            self._log.warning("= %s WS API connection %d dropped: %s", self.venue.name, link.serial,
                              link.close_reason)
        if link is self._link:
            self.logged_on = False
            waiter = self._closed_waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def _switch_link(self) -> None:
        """``serverShutdown``: open the next connection first, then retire the old one."""
        old = self._link
        if old is None or self._closed:
            return
        try:
            new = await self._open()
            await self._prepare(new)
        except Exception as exc:
            self._log.warning("= %s make-before-break failed (%s); the old connection stays until it drops",
                              self.venue.name, exc)
            return
        self._link = new
        self.logged_on = self.logon
        waiter = self._closed_waiter
        # the supervisor now watches the new link
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        for hook in list(self._reconnect_hooks):
            try:
                await hook()
            except Exception:
                self._log.exception("reconnect hook failed")
        # let the old link's requests finish, then close it
        deadline = time.monotonic() + self.timeout
        while old.waiters and time.monotonic() < deadline and not old.closed:
            await asyncio.sleep(0.01)
        old.close()
        old.lost()  # no longer the current link: the supervisor is not woken

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- receiving -----------------------------------------------------------------------------

    def _frame(self, link: _Link, data: bytes) -> None:
        try:
            msg = self.protocol.receive(data)
        except ParseError as exc:
            self._log.warning("~ %s WS API: bad frame: %s", self.venue.name, exc.reason if hasattr(exc, "reason") else exc)
            return
        if msg.__class__ is ApiResponse:
            assert isinstance(msg, ApiResponse)
            id_ = msg.id
            fut = link.waiters.pop(id_, None) if id_.__class__ is int else None
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif id_ is None and msg.error is not None:
                self._log.warning("< %s unsolicited error: %s", self.venue.name, msg.error)
            return
        assert isinstance(msg, ApiEvent)
        self._event_link = link.serial
        if msg.is_server_shutdown and link is self._link:
            self._log.info("< %s serverShutdown: switching connections", self.venue.name)
            self._spawn(self._switch_link())
        for cb in self._event_callbacks:
            try:
                cb(msg)
            except Exception:
                self._log.exception("event callback failed")

    # -- sending -------------------------------------------------------------------------------

    def _sign(self, params: Mapping[str, object]) -> dict[str, object]:
        if self._signer is None or self._api_key is None:
            raise InvalidUsage("signed requests need api_key= and signer=")
        if self._sync_clock:
            newest = self.clock.newest_ms
            if newest is not None and _now_ms() - newest > CLOCK_RESYNC_MS:
                self._spawn(self.sync_clock())
        return sign_params(params, self._signer, self._api_key, timestamp=self.timestamp(),
                           recv_window=self.recv_window if "recvWindow" not in params else None)

    async def _clock_rejected(self) -> bool:
        """A signed request was answered -1021 (timestamp outside ``recvWindow``, or 1 s ahead):
        the clock estimate is stale (the local clock stepped, or the server's). Re-estimate it at
        once from fresh samples only; every request rejected meanwhile shares the one resync.
        Returns whether the request may be sent again (False with ``sync_clock=False``: the
        local clock is taken as it is, and -1021 is the caller's)."""
        if not self._sync_clock:
            return False
        task = self._resync
        if task is None or task.done():
            self._log.warning("= %s: timestamp rejected (-1021): re-syncing the clock now", self.venue.name)
            task = self._resync = asyncio.ensure_future(self._resync_now())
        await asyncio.shield(task)
        return True

    async def _resync_now(self) -> None:
        samples: list[tuple[float, float, float]] = []
        for _ in range(CLOCK_SAMPLES):
            sent = _now_ms()
            res = await self.request("time")
            received = _now_ms()
            if isinstance(res, dict) and isinstance(res.get("serverTime"), int):
                st = res["serverTime"]
                samples.append((sent, st // 1000 if st > 10**14 else st, received))
        self.clock.restart(samples)
        self._log.info("= %s clock re-synced: %r", self.venue.name, self.clock)

    async def sync_clock(self, samples: int = CLOCK_SAMPLES) -> ClockOffset:
        """Take ``samples`` more ``time`` round trips into the clock estimate; returns it."""
        for _ in range(samples):
            sent = _now_ms()
            res = await self.request("time")
            received = _now_ms()
            if isinstance(res, dict) and isinstance(res.get("serverTime"), int):
                self.clock.add_sample(sent, res["serverTime"], received)
        return self.clock

    async def _pace(self, method: str, params: Mapping[str, object] | None, weight: int) -> None:
        """Sleep until ``method`` fits the rate limits (raises during a ban, or with pace=False)."""
        while True:
            wait = self.protocol.delay_ms(method, params, weight=weight)  # IPBannedError in a ban
            if wait <= 0:
                return
            if not self.pace:
                raise RateLimitError(-1015 if "order" in method.lower() else -1003,
                                     f"local rate-limit accounting: {method} would exceed a limit; "
                                     f"room again in {wait} ms", None, None,
                                     retry_after=self._server_ms() + wait)
            if self._debug:
                self._log.debug("= pacing %s for %d ms", method, wait)
            await asyncio.sleep(min(wait, 1000) / 1000.0)

    async def _call(self, link: _Link, method: str, params: Mapping[str, object] | None,
                    timeout: float | None = None) -> object:
        resp = await self._send(link, method, params, timeout)
        return resp.unwrap()

    async def _send(self, link: _Link, method: str, params: Mapping[str, object] | None,
                    timeout: float | None) -> ApiResponse:
        tr = link.transport
        if tr is None or link.closed:
            raise ConnectionClosedError(None, "WS API connection is not open")
        req = self.protocol.request(method, params)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ApiResponse] = loop.create_future()
        link.waiters[req.id] = fut
        deadlines = self._deadlines
        deadlines.add(loop, req.id, fut, method, self.timeout if timeout is None else timeout)
        tr.send(WSMsgType.TEXT, req.data)
        self.requests += 1
        try:
            return await fut
        except asyncio.TimeoutError:
            self.protocol.abandon(req.id)
            raise
        finally:
            deadlines.entries.pop(req.id, None)
            link.waiters.pop(req.id, None)

    async def _current_link(self) -> _Link:
        if self._closed:
            raise InvalidUsage("this ApiClient is closed")
        link = self._link
        if link is not None and link.transport is not None and not link.closed and self._ready.is_set():
            return link
        ban = self._ban_error()
        if ban is not None:
            raise ban
        if not self._started:
            await self.connect()
        elif self._fatal is not None:
            raise self._fatal
        else:
            # wait for the reconnect, or for the ban its handshake may meet (then fail at once)
            ready = asyncio.ensure_future(self._ready.wait())
            banned = asyncio.ensure_future(self._ban_seen.wait())
            try:
                await asyncio.wait({ready, banned}, timeout=3 * self.timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                banned.cancel()
            ban = self._ban_error()
            if ban is not None:
                raise ban
            if not self._ready.is_set():
                raise ConnectionClosedError(None, f"{self.venue.name} WS API is not connected")
        link = self._link
        if link is None or link.transport is None:
            raise ConnectionClosedError(None, f"{self.venue.name} WS API is not connected")
        return link

    async def response(self, method: str, params: Mapping[str, object] | None = None, *,
                       signed: bool = False, timeout: float | None = None) -> ApiResponse:
        """Send one request and return the whole :class:`~fastws.api.protocol.ApiResponse`
        (the server's error is in it, not raised).

        ``signed=True`` adds ``timestamp`` and, unless the session is logged on, ``apiKey`` and
        ``signature`` (SPEC §7.2). Rate limits are checked first (pacing, or
        :class:`~fastws.exceptions.IPBannedError` at once during a ban: nothing is sent into a
        418); the answer is awaited ``timeout`` seconds (the client's by default). A signed
        request answered -1021 (timestamp outside ``recvWindow``) was not executed: the clock
        is re-synced at once and the request sent again, once (:meth:`_clock_rejected`).

        The request path is compiled (:func:`fastws.api._session.client_response`): a request
        without params nor signature on an open connection with room in its windows is checked,
        built, sent and registered in one C call.
        """
        return await client_response(self._c, method, params, signed=signed, timeout=timeout)

    async def request(self, method: str, params: Mapping[str, object] | None = None, *,
                      signed: bool = False, timeout: float | None = None) -> Any:
        """Send one request and return its ``result`` (:meth:`response`, the error raised).

        Raises
        ------
        ApiError
            The error the server answered (a subclass: ``RateLimitError``, ``IPBannedError``,
            ``AuthError``, ``OutcomeUnknownError``); ``IPBannedError`` also *before* sending,
            during a ban, with the ban's end in ``retry_after``.
        asyncio.TimeoutError
            No answer within ``timeout`` (the outcome is unknown).
        ConnectionClosedError
            The connection dropped with the request in flight (the outcome is unknown).
        """
        return await client_request(self._c, method, params, signed=signed, timeout=timeout)

    async def drop_connection(self) -> None:
        """Drop the current connection abruptly (tests and diagnostics: it is reconnected)."""
        link = self._link
        if link is not None and link.transport is not None:
            link.transport.disconnect()

