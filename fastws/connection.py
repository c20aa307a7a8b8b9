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
    :class:`~fastws.retry.ConnectionBudget` (:class:`~fastws.retry.ReconnectPolicy`). It never
    gives up (:func:`~fastws.retry.stream_failure`): 429 and 418 wait at least what the server
    said (``Retry-After``, the ban's end), 403 and other 4xx back off long, 5xx and network
    errors back off; only a certificate that does not verify ends it. The backoff restarts
    only once a link has delivered data for ``stable_after`` seconds (a server that drops
    every link right after opening it gets fewer and fewer attempts). Meanwhile
    :attr:`StreamConnection.state` / ``state_reason`` say what is going on (one log line per
    change) and each stream's ``StreamStat.link`` too;
  * every link starts with the wanted streams in its URL (up to :data:`MAX_URL_LENGTH`), the
    rest are subscribed with paced ``SUBSCRIBE`` frames, then ``LIST_SUBSCRIPTIONS`` checks the
    server holds exactly the wanted set (a difference is fixed and checked again with
    backoff, a bounded number of times, then reported). A link is in use as soon as data
    flows or its subscriptions are answered: a LIST that is never answered, or garbled, is
    reported and never tears down a flowing link. A runtime ``SUBSCRIBE`` the venue refuses
    raises :class:`~fastws.exceptions.SubscriptionError`;
  * our control frames and pongs go through a :class:`~fastws.streams.ControlPacer`
    (5/s spot, 10/s USD-M, with a slot kept for pongs); pings are answered at once by the
    listener;
  * **make-before-break** before the 24-hour cut (:class:`~fastws.retry.CutoverSchedule`), at
    once on ``serverShutdown`` and when streams fall silent: a new link is opened and
    subscribed; the shared :class:`~fastws.listener.StreamTable` moves each stream to it as
    soon as it has caught up with what the old link delivered (its backlog is dropped), and
    the old link is closed once every stream moved (at most ``SWITCH_TIMEOUT`` later). No
    gap, no duplicate. A ``serverShutdown`` on the replacement itself makes it give way to
    another one while the old link goes on delivering;
  * silence detection: a stream with a nominal update period (depth, tickers, klines) that
    sends nothing for ``silence_factor`` periods (at least ``min_silence`` seconds) is reported
    and healed by a replacement link: at once when every such stream of the link is silent,
    after ``max_silence`` when others still deliver (a quiet symbol is not a broken feed), with
    a doubling limit for streams a replacement did not cure (no reconnect loop). A link that
    receives no frame at all (not even the server's pings) for ``3 * ping_interval + 5``
    seconds is dropped and reconnected. Event streams (trade, aggTrade) have no period: their
    limit adapts to their recent rate (a silence that rate makes improbable, below one in a
    million for a Poisson stream), or is set per stream (:meth:`StreamConnection.set_silence`);
  * every drop is logged with its cause (the close code and reason, a protocol error, a
    message too big, a reset without close frame, a timeout, a replacement).

- private mode (``private=PrivateStream(...)``): the same machinery carries a stream of
  account events (the USD-M user data stream, ``/private/ws?listenKey=<key>``): the URL comes
  from the :class:`PrivateStream` at every link (a renewed key is used at once), there is no
  SUBSCRIBE/LIST control plane, no market parser and no stream table: every JSON message is
  handed to ``PrivateStream.on_message`` (``serverShutdown`` excepted, which starts the
  switch). A make-before-break switch keeps both links delivering for ``PrivateStream.overlap``
  seconds (or until the old one closes), so the consumer sees each event once or twice and
  deduplicates by its ids; nothing is lost. :meth:`StreamConnection.refresh` forces a switch
  (e.g. to a renewed listenKey).
- :class:`StreamPool`: spreads streams over :class:`StreamConnection` shards with
  :class:`~fastws.streams.ShardPlanner` (1024 per connection; USD-M ``/public`` and
  ``/market`` never mixed, SPEC §4.1).
- :func:`run`: run a coroutine under uvloop when it is installed, asyncio otherwise.
"""
from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
from picows import WSListener, WSMsgType, WSTransport, ws_connect

from fastws.exceptions import (
    ConnectError,
    ConnectionClosedError,
    InvalidUsage,
    ParseError,
    SubscriptionError,
)
from fastws.listener import Router, StreamListener, StreamTable
from fastws.parser import Parser
from fastws.retry import (
    ConnectionBudget,
    CutoverSchedule,
    ReconnectPolicy,
    backoff,
    connect_error,
    stream_failure,
    tls_advice,
)
from fastws.streams import (
    ControlOutcome,
    ControlPacer,
    ControlRequest,
    ShardPlanner,
    SubscriptionManager,
    parse_stream,
)
from fastws.venues import Venue

__all__ = [
    "ConnectError",
    "MAX_URL_LENGTH",
    "ConnectionStats",
    "Link",
    "PrivateStream",
    "StreamConnection",
    "StreamPool",
    "ssl_context_for",
    "tls_advice",
    "run",
]

_log = logging.getLogger("fastws.connection")

#: Longest stream URL built; streams beyond it are subscribed with SUBSCRIBE frames.
MAX_URL_LENGTH = 8000
#: Seconds to wait for a control answer (SUBSCRIBE, LIST_SUBSCRIPTIONS).
CONTROL_TIMEOUT = 10.0
#: Seconds a switch may take (every stream caught up on the replacement) before it is forced.
SWITCH_TIMEOUT = 10.0
#: Seconds a stream's old link may deliver nothing, while the replacement delivers it, before
#: the stream moves anyway during a switch (that link stopped; waiting helps nobody).
STALE_SOURCE = 1.0
#: Seconds a link must deliver data before the reconnect backoff starts again from the bottom.
STABLE_AFTER = 10.0
#: Seconds to wait for a new link's first data or subscription answers before it is dropped.
USABLE_TIMEOUT = 20.0
#: Attempts to bring a disagreeing LIST_SUBSCRIPTIONS in line before it is only reported.
LISTING_ATTEMPTS = 4
#: Probability below which an event stream's silence is taken for a broken stream.
SILENCE_PROBABILITY = 1e-6
#: Seconds of history an event stream's rate is measured over.
RATE_WINDOW = 60.0
#: Events an event stream must have delivered in the window before its rate is trusted.
RATE_MIN_EVENTS = 20
#: Event kinds whose silence is checked adaptively by default.
_EVENT_KINDS = ("trade", "aggTrade")
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
    stray_control_errors: int = 0
    listing_mismatches: int = 0
    listing_failures: int = 0
    frames: int = 0
    bytes: int = 0
    duplicates: int = 0
    unsubscribed_frames: int = 0
    too_big: int = 0
    switch_timeouts: int = 0
    drops: dict[str, int] = field(default_factory=dict)


# -- private mode (account event streams) -------------------------------------------------------


class PrivateStream:
    """What a :class:`StreamConnection` in private mode needs from its owner.

    Parameters
    ----------
    url : callable
        ``() -> str``: the URL of the next link (called at every link, so a renewed key is
        used by the next one).
    on_message : callable
        ``(message, link_serial) -> None``: each JSON message of any link (during a switch,
        both links deliver: the consumer deduplicates). Called on the event loop.
    before_connect : async callable, optional
        Awaited before every reconnection attempt (not before the first link, nor before a
        planned make-before-break replacement), e.g. to check or renew the key; at most
        ``control_timeout`` seconds; an exception is logged and the attempt made anyway.
    overlap : float
        Seconds both links deliver during a make-before-break switch before the old one is
        closed (it is closed earlier if the server closes it).
    """

    __slots__ = ("url", "on_message", "before_connect", "overlap")

    def __init__(self, url: Callable[[], str], on_message: Callable[[Any, int], None], *,
                 before_connect: Callable[[], Awaitable[None]] | None = None,
                 overlap: float = 2.0) -> None:
        if overlap < 0:
            raise InvalidUsage(f"overlap must be >= 0 seconds, got {overlap}")
        self.url = url
        self.on_message = on_message
        self.before_connect = before_connect
        self.overlap = float(overlap)


class _PrivateListener(WSListener):
    """picows listener of one private link: pings, close, reassembly (capped), JSON, and
    ``serverShutdown``; the same counters the watchdog reads from a StreamListener."""

    def __init__(self, link: "Link", deliver: Callable[[Any, int], None], max_message_size: int) -> None:
        super().__init__()
        self.link = link
        self.deliver = deliver
        self.max_message_size = max_message_size
        self.transport: WSTransport | None = None
        self.frames = 0
        self.bytes = 0
        self.messages = 0
        self.last_frame_time = time.monotonic()
        self.muted = False
        self._fragments: bytearray | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.last_frame_time = time.monotonic()
        self.link.on_connected(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._fragments = None
        self.link.on_disconnected()

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        t = frame.msg_type
        self.last_frame_time = time.monotonic()
        self.frames += 1
        if t == WSMsgType.TEXT and frame.fin:
            self._message(frame.get_payload_as_bytes())
        elif t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
            self.link.on_ping()
        elif t == WSMsgType.PONG:
            pass
        elif t == WSMsgType.CLOSE:
            code = frame.get_close_code()
            try:
                reason = frame.get_close_reason()
            except Exception:
                reason = ""
            self.link.on_close_frame(int(code), reason or "")
            if not transport.is_close_frame_sent:
                transport.send_close(code)
            transport.disconnect()
        elif t == WSMsgType.TEXT or t == WSMsgType.CONTINUATION:
            if t == WSMsgType.TEXT:
                self._fragments = bytearray()
            if self._fragments is None:
                self.link.on_bad_frame("continuation", frame.get_payload_as_bytes()[:160], None)
                return
            size = len(self._fragments) + frame.payload_size
            if size > self.max_message_size:
                self._fragments = None
                self.link.on_message_too_big(size)
                return
            self._fragments += frame.get_payload_as_bytes()
            if frame.fin:
                whole = bytes(self._fragments)
                self._fragments = None
                self._message(whole)
        else:
            self.link.on_bad_frame("binary", frame.get_payload_as_bytes()[:160], None)

    def _message(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.muted:
            return
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self.link.on_bad_frame("parse", data[:160], exc)
            return
        inner = msg.get("data") if isinstance(msg, dict) and "stream" in msg else msg
        if isinstance(inner, dict) and inner.get("e") == "serverShutdown":
            self.link.on_server_shutdown(inner)
            return
        self.messages += 1
        if self.messages == 1:
            self.link.on_first_message()
        try:
            self.deliver(msg, self.link.serial)
        except Exception:  # an exception here would make picows drop the connection
            _log.exception("~ %s: private message handler failed", self.link)


# -- one physical connection -------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one :meth:`Link.sync_subscriptions` achieved."""

    listing_ok: bool | None = None           # None: no LIST answered
    refused: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    still_listed: frozenset[str] = frozenset()  # unwanted streams the last listing still held
    problem: str = ""                         # what did not answer, or how the listing differs


class Link:
    """One physical WebSocket of a :class:`StreamConnection` (the listener's ``owner``)."""

    def __init__(self, conn: "StreamConnection", serial: int) -> None:
        self.conn = conn
        self.serial = serial
        self.subs = SubscriptionManager(conn.market, route=conn.route if conn.market == "usdm"  # type: ignore[arg-type]
                                        and conn.private is None else None)
        self.pacer = ControlPacer.for_market(conn.market)
        self.transport: WSTransport | None = None
        self.listener: Any = None             # StreamListener, or _PrivateListener in private mode
        self.connected_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()
        self.first_message = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.retiring = False
        self.doomed = False                   # announced serverShutdown
        self.stable = False
        self.sync_task: asyncio.Task[Any] | None = None
        self._waiters: dict[int, asyncio.Future[Any]] = {}
        self._send_lock = asyncio.Lock()
        self.close_code: int | None = None
        self.close_reason = ""
        self.cause = ""                       # why it dropped (first reporter wins)
        self.waiting_for = ""                 # what a pending control exchange waits for

    def __repr__(self) -> str:
        return f"<Link {self.conn.name}#{self.serial} {'closed' if self.closed.done() else 'open'}>"

    def drop(self, cause: str, code: int | None = None) -> None:
        """Drop the link for ``cause`` (kept for the log line)."""
        if not self.cause:
            self.cause = cause
        if self.transport is not None and not self.closed.done():
            if code is not None and not self.transport.is_close_frame_sent:
                self.transport.send_close(code, cause[:120].encode())  # type: ignore[arg-type]
            self.transport.disconnect(code is not None)

    # listener callbacks (rare events only) ----------------------------------------------------
    def on_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected_at = time.monotonic()

    def _disconnect_cause(self) -> str:
        hs = getattr(self.transport, "close_handshake", None) if self.transport is not None else None
        recv = getattr(hs, "recv", None)
        sent = getattr(hs, "sent", None)
        if recv is not None:
            reason = recv.reason.decode("utf-8", "replace") if isinstance(recv.reason, bytes) else recv.reason
            return f"closed by the server (code {int(recv.code)}{' ' + reason if reason else ''})"
        if self.close_code is not None:
            return f"closed by the server (code {self.close_code} {self.close_reason})".rstrip()
        if sent is not None:
            reason = sent.reason.decode("utf-8", "replace") if isinstance(sent.reason, bytes) else sent.reason
            return f"protocol error (we closed with code {int(sent.code)}{': ' + reason if reason else ''})"
        return "connection reset (no close frame)"

    def on_disconnected(self) -> None:
        if not self.cause:
            self.cause = self._disconnect_cause()
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionClosedError(self.close_code, f"link lost: {self.cause}"))
        self._waiters.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.listener is not None and self.conn.private is None:
            self.conn.table.drop_link(self.listener)
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

    def on_message_too_big(self, size: int) -> None:
        cap = self.listener.max_message_size if self.listener is not None else 0
        self.conn.stats.too_big += 1
        self.conn._bad_frame("too_big", b"", None)
        self.drop(f"message too big ({size} bytes reassembled > max_message_size {cap})", 1009)

    def on_unsubscribed(self, stream: object, count: int) -> None:
        self.conn._unsubscribed(stream, count)

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
            if outcome.request is None:
                self.conn.stats.stray_control_errors += 1
        req = outcome.request
        if req is not None:
            fut = self._waiters.pop(req.id, None)
            if fut is not None and not fut.done():
                fut.set_result(outcome)
        for r in outcome.unanswered:
            # answered in order before the LIST: no answer will come; the listing says the rest
            fut = self._waiters.pop(r.id, None)
            if fut is not None and not fut.done():
                fut.set_result(ControlOutcome(r, False, None, None, "no answer with its id "
                                              "(settled by LIST_SUBSCRIPTIONS)"))
        if outcome.listing is not None and not outcome.listing.ok:
            self.conn.stats.listing_mismatches += 1

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
                    fut.set_exception(ConnectionClosedError(None, f"link lost: {self.cause}"))
                    fut.exception()
                    continue
                self.pacer.record(time.monotonic())
                self.transport.send(WSMsgType.TEXT, req.data)
        return futs

    async def _exchange(self, reqs: list[ControlRequest]) -> list[ControlOutcome | None]:
        """Send ``reqs`` and wait for their answers (None where none came in time)."""
        futs = await self.send_controls(reqs)
        what = ", ".join(f"{r.method} id={r.id}" for r in reqs[:4]) + (" ..." if len(reqs) > 4 else "")
        self.waiting_for = f"{what} sent on link #{self.serial}, no answer yet"
        done, _ = await asyncio.wait(futs, timeout=self.conn.control_timeout)
        self.waiting_for = ""
        out: list[ControlOutcome | None] = []
        for r, f in zip(reqs, futs):
            if f in done:
                exc = f.exception()
                if exc is not None:
                    raise exc
                out.append(f.result())
            else:
                self._waiters.pop(r.id, None)
                f.cancel()
                out.append(None)
        return out

    async def sync_subscriptions(self, check: bool = True) -> SyncResult:
        """Bring the server to the wanted set (paced), then confirm with LIST_SUBSCRIPTIONS.

        A listing that disagrees is fixed and checked again, with backoff, up to
        :data:`LISTING_ATTEMPTS` times; then the difference is reported (a warning, and
        ``stats.listing_failures``), never a reason to drop the link. Raises
        ConnectionClosedError if the link dies meanwhile.
        """
        result = SyncResult()
        delay = 0.5
        for attempt in range(LISTING_ATTEMPTS):
            reqs = self.subs.requests_to_send()
            listing_req = self.subs.list_subscriptions() if check else None
            if listing_req is not None:
                reqs.append(listing_req)
            if not reqs:
                result.listing_ok = True
                break
            outcomes = await self._exchange(reqs)
            unanswered = [r for r, o in zip(reqs, outcomes) if o is None]
            for r, o in zip(reqs, outcomes):
                if o is not None and not o.ok and o.error_code is not None and r.method == "SUBSCRIBE":
                    for name in r.params:
                        result.refused[str(name)] = (o.error_code, o.error_msg or "")
                if o is not None and o.refused:
                    for name, (code, msg) in o.refused.items():
                        result.refused[name] = (code, msg)
            if unanswered:
                for r in unanswered:
                    self.subs.abandon(r.id)
                names = ", ".join(f"{r.method} id={r.id}" for r in unanswered[:4])
                result.problem = (f"{names} not answered within {self.conn.control_timeout:g} s "
                                  f"on link #{self.serial}")
            subs_answered = all(o is not None for r, o in zip(reqs, outcomes) if r.method != "LIST_SUBSCRIPTIONS")
            if subs_answered:
                self.subscribed.set()
            if not check:
                if subs_answered:
                    return result
            else:
                last = outcomes[-1]
                if last is not None and not last.ok:
                    result.problem = last.error_msg or "LIST_SUBSCRIPTIONS answered with an error"
                elif last is not None and last.listing is not None:
                    self.subscribed.set()        # the listing is the server's own word
                    if last.listing.ok:
                        result.listing_ok = True
                        result.problem = ""
                        result.still_listed = frozenset()
                        break
                    result.listing_ok = False
                    lst = last.listing
                    result.still_listed = lst.unexpected
                    result.problem = (f"the server's listing differs: missing {sorted(lst.missing)[:5]}, "
                                      f"unexpected {sorted(lst.unexpected)[:5]}")
            if attempt + 1 < LISTING_ATTEMPTS and not self.closed.done():
                _log.warning("~ %s: %s; checking again in %.1f s", self, result.problem, delay)
                await asyncio.sleep(delay)
                delay *= 2
        if result.problem:
            self.conn.stats.listing_failures += 1
            _log.warning("~ %s: giving up on the subscription check after %d attempts: %s "
                         "(the stream goes on)", self, LISTING_ATTEMPTS, result.problem)
        return result

    def close(self) -> None:
        if self.transport is not None and not self.closed.done():
            if not self.cause:
                self.cause = "closed by us"
            self.transport.send_close()
            self.transport.disconnect()


# -- one logical connection (a shard) ------------------------------------------------------------


LinkStateCallback = Callable[[list[str], str, str], Any]


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
        (reported: a warning and ``stats.silences``). Event streams (trade, aggTrade) use an
        adaptive limit instead (see the module docstring), at least ``min_silence``.
    max_silence : float
        When some streams are silent while others on the same link deliver, the link is
        replaced only once a stream has been silent this long; when every checked stream is
        silent, at once. A replacement that does not cure a stream doubles its limit (up to
        64x) for 10 minutes, so a quiet market never makes the connection flap.
    max_message_size : int
        Largest fragmented message reassembled; beyond it the link is dropped (16 MiB).
    on_error : callable, optional
        Called with the exception when the connection gives up (only a certificate that does
        not verify, or local misuse).
    on_link_state : callable, optional
        ``(streams, state, reason)``: ``state`` is ``"down"`` when the link carrying
        ``streams`` is lost (reconnecting) and ``"up"`` when a link carries them again (also
        after each make-before-break switch).
    private : PrivateStream, optional
        Private mode (see the module docstring): ``streams`` must be empty.
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
                 max_message_size: int = 16 << 20,
                 on_error: Callable[[BaseException], None] | None = None,
                 on_link_state: LinkStateCallback | None = None,
                 private: PrivateStream | None = None,
                 name: str = "shard") -> None:
        if max_message_size < 1:
            raise InvalidUsage(f"max_message_size must be >= 1, got {max_message_size}")
        self.private = private
        if private is not None:
            streams = list(streams)
            if streams:
                raise InvalidUsage("a private StreamConnection carries no market streams")
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
        self.max_message_size = max_message_size
        self.control_timeout = CONTROL_TIMEOUT
        self.switch_timeout = SWITCH_TIMEOUT
        self.stable_after = STABLE_AFTER
        self.usable_timeout = USABLE_TIMEOUT
        self._on_error = on_error
        self._on_link_state = on_link_state
        self.desired: dict[str, None] = dict.fromkeys(streams)
        self.table.want(self.desired)
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
        #: the exception the connection gave up with (only TLS verification, misuse); None
        #: while it lives, whatever its state
        self.error: BaseException | None = None
        #: "connecting", "up", "switching", "reconnecting", "backing-off", "closed", "failed"
        self.state = "connecting"
        self.state_reason = ""
        #: the last failed attempt's reason (kept after recovery, for stats and logs)
        self.last_failure: str | None = None
        self._down = False
        self._logged_kinds: set[str] = set()
        self._since: dict[str, float] = {}
        self._strikes: dict[str, tuple[int, float]] = {}
        self._silence: dict[str, float | None] = {}
        self._rates: dict[str, deque[tuple[float, int]]] = {}
        self._prev_frames = 0
        self._prev_bytes = 0

    def __repr__(self) -> str:
        return f"<StreamConnection {self.name} {self.state} streams={len(self.desired)} links={len(self.links)}>"

    # state ------------------------------------------------------------------------------------------
    def _set_state(self, state: str, reason: str = "") -> None:
        if state == self.state and reason == self.state_reason:
            return
        changed = state != self.state
        self.state, self.state_reason = state, reason
        down = state in ("reconnecting", "backing-off", "failed", "closed")
        if changed:
            log = _log.warning if down and state != "closed" else _log.info
            log("%s %s: %s%s", "~" if down else "=", self.name, state, f" ({reason})" if reason else "")
        self.table.set_link_state(list(self.desired), state if not reason else f"{state}: {reason}")
        if down != self._down:
            self._down = down
            if self._on_link_state is not None:
                try:
                    self._on_link_state(list(self.desired), "down" if down else "up", reason or state)
                except Exception:
                    _log.exception("~ %s: on_link_state callback failed", self.name)

    def describe(self) -> str:
        """One line: the state, why, and what is awaited."""
        parts = [self.state + (f" ({self.state_reason})" if self.state_reason else "")]
        link = self.active or (self.links[-1] if self.links else None)
        if link is not None and not link.closed.done():
            if link.waiting_for:
                parts.append(link.waiting_for)
            if not link.first_message.is_set():
                parts.append(f"no data yet on link #{link.serial}")
        if self.last_failure:
            parts.append(f"last failure: {self.last_failure}")
        return "; ".join(parts)

    # lifecycle ------------------------------------------------------------------------------------
    async def start(self, timeout: float | None = None) -> None:
        """Start the connection task and wait until the first link delivers or is subscribed.

        Raises :class:`ConnectError` for a certificate that does not verify; ``TimeoutError``
        after ``timeout`` with what did not answer (the connection task is then still
        running: close it, or wait more with :meth:`wait_ready`).
        """
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"fastws-{self.name}")
            self._watch = asyncio.create_task(self._watchdog(), name=f"fastws-{self.name}-watch")
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float | None = None) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{self.name}: not delivering after {timeout:g} s: "
                               f"{self.describe()}") from None

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
        self.state, self.state_reason = "closed", ""
        if not self._ready.done():
            self._ready.set_exception(ConnectionClosedError(None, "closed before connecting"))
            self._ready.exception()

    def _spawn(self, coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        async def guarded() -> Any:
            try:
                return await coro
            except asyncio.CancelledError:
                raise
            except ConnectionClosedError:
                return None
            except Exception:
                _log.exception("~ %s: %s failed", self.name, what)
                return None
        t = asyncio.create_task(guarded())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # runtime subscriptions ------------------------------------------------------------------------
    async def update(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """Subscribe / unsubscribe at runtime on the active link (the next links follow).

        Raises :class:`~fastws.exceptions.SubscriptionError` when the venue refuses a
        ``SUBSCRIBE`` (those streams are dropped from this connection; the others go on), or
        still lists a stream after every ``UNSUBSCRIBE`` attempt (its frames are dropped).
        """
        add = list(add)
        remove = list(remove)
        for s in remove:
            self.desired.pop(s, None)
            self.table.forget(s)
            self._since.pop(s, None)
            self._rates.pop(s, None)
        now = time.monotonic()
        for s in add:
            self.desired[s] = None
            self._since.setdefault(s, now)
        self.table.want(add)
        result: SyncResult | None = None
        for link in list(self.links):
            if link.closed.done():
                continue
            link.subs.unsubscribe(remove)
            new = [s for s in self.desired if s not in link.subs.desired]
            if new:
                link.subs.subscribe(new)
            if link is self.active:
                try:
                    result = await link.sync_subscriptions(check=True)
                except ConnectionClosedError:
                    result = None           # the next link subscribes them
            else:
                self._spawn(link.sync_subscriptions(check=True), "subscription update")
        if result is not None and result.refused:
            refused = {s: v for s, v in result.refused.items() if s in add or s in self.desired}
            if refused:
                for s in refused:
                    self.desired.pop(s, None)
                    self.table.forget(s)
                    self._since.pop(s, None)
                code, msg = next(iter(refused.values()))
                raise SubscriptionError(sorted(refused), code, msg)
        if result is not None and remove and result.still_listed:
            kept = sorted(set(remove) & result.still_listed)
            if kept:
                # the venue would not drop them: their frames are dropped here (counted)
                active = self.active
                stray = active.subs.stray_errors[-1] if active is not None and active.subs.stray_errors else None
                raise SubscriptionError(kept, stray[0] if stray else None,
                                        stray[1] if stray else "the venue still lists them "
                                        f"after {LISTING_ATTEMPTS} UNSUBSCRIBE attempts",
                                        method="UNSUBSCRIBE")

    def refresh(self, reason: str = "refresh") -> None:
        """Replace the active link now, make-before-break (e.g. a private stream whose URL
        changed: a renewed listenKey). Nothing happens while no link is up (the next one uses
        the new URL anyway)."""
        link = self.active
        if link is None or link.closed.done() or link.retiring or self._closing:
            return
        self._reason = reason
        self._wake.set()

    def set_silence(self, stream: str, limit: float | None | str = "auto") -> None:
        """How ``stream``'s silence is checked: ``"auto"`` (its period, or for trade and
        aggTrade its recent rate), a number of seconds, or None (never)."""
        if limit == "auto":
            self._silence.pop(stream, None)
        elif limit is None or (isinstance(limit, (int, float)) and limit > 0):
            self._silence[stream] = None if limit is None else float(limit)
        else:
            raise InvalidUsage(f"silence limit must be 'auto', None or seconds > 0, got {limit!r}")

    # the supervising loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            while not self._closing:
                if self.active is None or self.active.closed.done():
                    if self.active is not None:
                        self.stats.reconnects += 1
                        cause = self.active.cause or "unknown cause"
                        self.stats.drops[cause.split(" (")[0]] = self.stats.drops.get(cause.split(" (")[0], 0) + 1
                        _log.warning("~ %s: link #%d lost: %s; reconnecting", self.name,
                                     self.active.serial, cause)
                        self._set_state("reconnecting", f"link #{self.active.serial} lost: {cause}")
                    self.active = None
                    # no other link delivers now: forget the ids delivered, so a venue whose
                    # ids restarted after a server restart is not taken for duplicates
                    self.table.reset_ids()
                    link = await self._connect()
                    self.active = link
                    self._set_state("up", f"link #{link.serial}")
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
            self._set_state("failed", str(exc))
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

    async def _open_link(self, replacing: Link | None = None) -> Link:
        self._serial += 1
        link = Link(self, self._serial)
        streams = list(self.desired)
        private = self.private
        if private is not None:
            url, url_streams = private.url(), list[str]()
        else:
            url, url_streams = self._url(streams)
        parser = self._parser_factory() if private is None else None
        factory = self._listener_factory

        def make() -> Any:
            if private is not None:
                plst = _PrivateListener(link, private.on_message, self.max_message_size)
                link.listener = plst
                return plst
            lst = factory(parser, self.router, self.table, link)
            lst.max_message_size = self.max_message_size
            link.listener = lst
            old = replacing
            if old is not None and old.listener is not None and not old.closed.done():
                # from its first frame on, the replacement's events are held or dropped until
                # it has caught up with what the old link delivered
                self.table.begin_switch(old.listener, lst)
            return lst

        host = urlsplit(url).netloc
        timeout = 10.0
        try:
            await asyncio.wait_for(
                ws_connect(make, url, ssl_context=self._ssl, enable_auto_pong=False,
                           enable_auto_ping=False, websocket_handshake_timeout=timeout,
                           max_frame_size=self.max_message_size, logger_name="fastws.picows"),
                timeout + 5.0)
        except asyncio.TimeoutError:
            if link.listener is not None and private is None and self.table.candidate is link.listener:
                self.table.drop_link(link.listener)
            raise TimeoutError(f"TCP/TLS connect and WebSocket upgrade of {host} not done "
                               f"within {timeout + 5.0:g} s") from None
        except BaseException:
            if link.listener is not None and private is None and self.table.candidate is link.listener:
                self.table.drop_link(link.listener)
            raise
        self.links.append(link)
        link.subs.subscribe(streams)
        link.subs.connection_reset(url_streams)
        if len(url_streams) == len(streams):
            link.subscribed.set()
        self.stats.connects += 1
        if private is None:
            _log.info("= %s: link #%d open (%d streams in URL, %d to subscribe)", self.name,
                      link.serial, len(url_streams), len(streams) - len(url_streams))
        else:
            _log.info("= %s: private link #%d open", self.name, link.serial)
        return link

    async def _connect(self, replacing: Link | None = None) -> Link:
        """Dial until a link is up and in use (backoff under the budget, never giving up on
        an HTTP answer). A planned replacement makes its first attempt at once (budget
        permitting)."""
        planned = replacing is not None
        while True:
            if replacing is not None and replacing.closed.done():
                # the link being replaced is gone meanwhile: this is a reconnect now
                self._set_state("reconnecting", f"link #{replacing.serial} lost: {replacing.cause}")
                replacing = None
            now = time.monotonic()
            wait = self.policy.budget.delay(now) if planned else self.policy.next_delay(now)
            planned = False
            if wait > 0:
                if replacing is None and self.last_failure:
                    self._set_state("backing-off", f"next attempt in {wait:.1f} s"
                                    + (f" after {self.last_failure}" if self.last_failure else ""))
                await asyncio.sleep(wait)
            if replacing is None:
                self._set_state("reconnecting" if self._ready.done() else "connecting",
                                self.last_failure or "")
            if (self.private is not None and self.private.before_connect is not None
                    and self._serial and replacing is None):
                # a reconnect (not a planned replacement: that one must be quick, and the
                # key it uses is known good)
                try:
                    await asyncio.wait_for(self.private.before_connect(), self.control_timeout)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _log.warning("~ %s: before_connect failed (%s: %s); connecting anyway",
                                 self.name, type(exc).__name__, exc)
            self.policy.attempted(time.monotonic())
            try:
                link = await self._open_link(replacing)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.failed_attempts += 1
                advice = stream_failure(exc, int(time.time() * 1000))
                if not advice.retry:
                    raise connect_error(self.venue.stream_url, exc) from exc
                self.policy.failed(advice, time.monotonic())
                reason = advice.reason or f"{type(exc).__name__}: {exc}"
                # one log line per change: the same failure again is only a debug line
                log = _log.debug if reason == self.last_failure else _log.warning
                self.last_failure = reason
                log("~ %s: connect failed (%s); retrying", self.name, reason)
                continue
            if await self._usable(link):
                now = time.monotonic()
                for s in self.desired:
                    self._since[s] = now
                return link
            if not link.closed.done():
                self.last_failure = (f"link #{link.serial} open but {self.describe_link(link)} "
                                     f"within {self.usable_timeout:g} s")
                link.drop(self.last_failure)
            else:
                self.last_failure = f"link #{link.serial} lost right after opening: {link.cause}"
            self.policy.failed(stream_failure(ConnectionClosedError(None, self.last_failure), 0),
                               time.monotonic())
            _log.warning("~ %s: %s; retrying", self.name, self.last_failure)

    @staticmethod
    def describe_link(link: Link) -> str:
        return link.waiting_for or "neither data nor subscription answers came"

    async def _usable(self, link: Link) -> bool:
        """Start the subscription (and its check) on ``link``; True as soon as data flows or
        the subscriptions are answered, False if the link dies or stays mute. A private link
        is in use once open (its URL subscribed it; a quiet account sends nothing)."""
        if self.private is not None:
            return not link.closed.done()
        link.sync_task = self._spawn(link.sync_subscriptions(check=True), f"subscriptions of link #{link.serial}")
        waiters = [asyncio.ensure_future(link.first_message.wait()),
                   asyncio.ensure_future(link.subscribed.wait()),
                   asyncio.ensure_future(asyncio.shield(link.closed))]
        try:
            await asyncio.wait(waiters, timeout=self.usable_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if link.closed.done():
            return False
        return link.first_message.is_set() or link.subscribed.is_set()

    async def _replace(self, old: Link, reason: str) -> None:
        """Make-before-break: open a new link, move each stream to it once it has caught up,
        close the old one. A replacement that announces its own shutdown gives way to
        another one while the old link goes on delivering."""
        _log.info("= %s: replacing link #%d (%s)", self.name, old.serial, reason)
        old.retiring = True
        self._set_state("switching", reason)
        while not self._closing:
            new = await self._connect(replacing=old if not old.closed.done() else None)
            if await self._switch(old, new, reason):
                break
            _log.warning("~ %s: replacement link #%d %s; opening another", self.name, new.serial,
                         "announced serverShutdown" if new.doomed else f"lost: {new.cause}")
            if old.closed.done():
                if not new.closed.done():
                    # the old link is gone too: the doomed one delivers until a new one is up
                    self.active = new
                    new.retiring = True
                    old = new
                    continue
                self.active = old          # closed: the supervising loop logs it and reconnects
                return
        now = time.monotonic()
        for s in self.desired:
            self._since[s] = now

    async def _switch(self, old: Link, new: Link, reason: str) -> bool:
        """Wait until every stream moved to ``new`` (or ``switch_timeout``); False if ``new``
        died or announced its shutdown meanwhile."""
        if self.private is not None:
            return await self._switch_private(old, new, reason)
        loop = asyncio.get_running_loop()
        start = loop.time()
        periods = [p for p in (_expected_interval(s, self.market) for s in self.desired) if p]
        overlap = min(max([0.3] + [1.5 * p for p in periods]), 5.0)
        forced = False
        while True:
            if new.doomed or new.closed.done():
                return False
            if old.closed.done() or self.table.candidate is not new.listener:
                break
            elapsed = loop.time() - start
            # a stream whose old link stopped delivering while the new one delivers moves now
            self.table.move_stale(STALE_SOURCE if reason != "silence" else 0.0)
            if new.subscribed.is_set() and not self.table.pending() and (
                    elapsed >= overlap or not self.table.unmoved()):
                break
            if elapsed >= self.switch_timeout:
                forced = True
                late = self.table.pending()
                self.stats.switch_timeouts += 1
                _log.warning("~ %s: switch to link #%d timed out after %.1f s: %d stream(s) not "
                             "caught up (%s); switching anyway (their backlog is dropped)",
                             self.name, new.serial, elapsed, len(late), ", ".join(late[:3]))
                break
            await asyncio.sleep(0.01)
        self.table.finish_switch()
        self._switched(old, new, reason, loop.time() - start, " (forced)" if forced else "")
        return True

    async def _switch_private(self, old: Link, new: Link, reason: str) -> bool:
        """Both links deliver for ``private.overlap`` seconds (the consumer deduplicates),
        then the old one is closed: whatever the server sent before the new link was
        subscribed has reached us on the old one by then, the rest comes on the new one."""
        assert self.private is not None
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < self.private.overlap and not old.closed.done():
            if new.doomed or new.closed.done():
                return False
            await asyncio.sleep(0.01)
        if new.doomed or new.closed.done():
            return False
        self._switched(old, new, reason, loop.time() - start)
        return True

    def _switched(self, old: Link, new: Link, reason: str, took: float, note: str = "") -> None:
        """The end of every make-before-break switch: the old link is muted (nothing more
        from it reaches the user) and closed, the new one is the active link."""
        if old.listener is not None:
            old.listener.muted = True
        if not old.closed.done():
            old.cause = f"replaced ({reason})"
            old.close()
        self.active = new
        if reason == "cut-over":
            self.stats.cutovers += 1
        _log.info("= %s: switched to link #%d in %.2f s%s", self.name, new.serial, took, note)
        self._set_state("up", f"link #{new.serial}")
        if self._on_link_state is not None:
            try:
                self._on_link_state(list(self.desired), "up", f"switched to link #{new.serial} ({reason})")
            except Exception:
                _log.exception("~ %s: on_link_state callback failed", self.name)

    def _link_closed(self, link: Link) -> None:
        if link in self.links:
            self.links.remove(link)
        self._prev_frames += link.listener.frames if link.listener else 0
        self._prev_bytes += link.listener.bytes if link.listener else 0
        if link is self.active:
            self._wake.set()

    def _server_shutdown(self, link: Link) -> None:
        self.stats.server_shutdowns += 1
        if self.private is not None:
            candidate = link is not self.active and not link.closed.done()
        else:
            candidate = link.listener is not None and self.table.candidate is link.listener
        if candidate and link.listener is not None:
            # the replacement itself is going away: the old link goes on delivering and
            # another replacement is opened (see _replace)
            _log.warning("~ %s: serverShutdown on replacement link #%d: opening another",
                         self.name, link.serial)
            link.doomed = True
            if self.private is None:
                self.table.drop_link(link.listener)
            link.listener.muted = True
            link.cause = "serverShutdown (replacement given up)"
            link.close()
            return
        link.doomed = True
        _log.warning("~ %s: serverShutdown on link #%d: replacing it now", self.name, link.serial)
        if link is self.active and not link.retiring:
            self._reason = "serverShutdown"
            self._wake.set()

    def _bad_frame(self, kind: str, excerpt: bytes, exc: BaseException | None) -> None:
        self.stats.parse_errors += 1
        key = kind if exc is None else f"{kind}:{type(exc).__name__}:{getattr(exc, 'reason', '')}"
        self.stats.bad_frames[kind] = self.stats.bad_frames.get(kind, 0) + 1
        if key not in self._logged_kinds and len(self._logged_kinds) < 64:
            self._logged_kinds.add(key)
            _log.warning("~ %s: bad %s frame (counted; the stream goes on; later ones of this "
                         "kind are counted only): %s; excerpt %r", self.name, kind, exc, excerpt[:120])

    def _unsubscribed(self, stream: object, count: int) -> None:
        self.stats.unsubscribed_frames = self.table.unsubscribed
        if count == 1:
            _log.warning("~ %s: frames of %r, which is not subscribed, are dropped (counted in "
                         "stats.unsubscribed_frames)", self.name, stream)

    # silence ----------------------------------------------------------------------------------------
    def _limit_for(self, stream: str, now: float) -> float | None:
        """Seconds of silence after which ``stream`` is reported; None: not checked."""
        if stream in self._silence:
            base = self._silence[stream]
            if base is None:
                return None
        else:
            period = _expected_interval(stream, self.market)
            if period is not None:
                base = max(self.silence_factor * period, self.min_silence)
            elif stream.split("@", 1)[-1] in _EVENT_KINDS:
                rate = self._rate(stream)
                if rate is None:
                    return None
                base = max(math.log(1.0 / SILENCE_PROBABILITY) / rate, self.min_silence)
            else:
                return None
        strikes = self._strikes.get(stream, (0, 0.0))[0]
        return base * float(1 << strikes)

    def _sample_rates(self, now: float) -> None:
        for s in self.desired:
            if s.split("@", 1)[-1] not in _EVENT_KINDS:
                continue
            st = self.table.stats.get(s)
            if st is None:
                continue
            q = self._rates.setdefault(s, deque())
            if not q or q[-1][1] != st.messages:
                q.append((st.last_time, st.messages))
            while len(q) > 2 and q[0][0] < now - RATE_WINDOW:
                q.popleft()

    def _rate(self, stream: str) -> float | None:
        """Events per second the stream delivered recently (up to its last event)."""
        q = self._rates.get(stream)
        if not q or len(q) < 2:
            return None
        (t0, n0), (t1, n1) = q[0], q[-1]
        if n1 - n0 < RATE_MIN_EVENTS or t1 - t0 <= 0:
            return None
        return (n1 - n0) / (t1 - t0)

    def _silent_for(self, now: float) -> dict[str, float]:
        """Checked streams -> seconds of silence beyond their limit (only those over it)."""
        out = {}
        for s in self.desired:
            limit = self._limit_for(s, now)
            if limit is None:
                continue
            st = self.table.stats.get(s)
            last = max(st.last_time if st is not None else 0.0, self._since.get(s, now))
            quiet = now - last
            if quiet > limit:
                out[s] = quiet
        return out

    def silent_streams(self, now: float | None = None) -> list[str]:
        """Streams that sent nothing for too long (see the class doc)."""
        return list(self._silent_for(time.monotonic() if now is None else now))

    def _heal_decision(self, silent: dict[str, float], now: float) -> bool:
        """Replace the link when every checked stream on it is silent (a dead feed), or when a
        stream stays silent past ``max_silence`` while others deliver (a quiet market alone
        does not flap the connection)."""
        checked = [s for s in self.desired if self._limit_for(s, now) is not None]
        if len(silent) == len(checked):
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
                link.drop(f"timeout: no frame at all (not even a ping) for {now - lst.last_frame_time:.1f} s")
                continue
            if (not link.stable and lst is not None and (lst.messages > 0 or self.private is not None)
                    and now - link.connected_at >= self.stable_after):
                link.stable = True
                self.policy.succeeded()        # only a link that delivered for a while resets it
            self.stats.unsubscribed_frames = self.table.unsubscribed
            self._sample_rates(now)
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
                             ", ".join(f"{s} for {silent[s]:.1f} s" for s in new[:3]),
                             "..." if len(new) > 3 else "")
            if silent and self._heal_decision(silent, now):
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
        return self._prev_frames + int(sum(l.listener.frames for l in self.links if l.listener))

    @property
    def bytes(self) -> int:
        return self._prev_bytes + int(sum(l.listener.bytes for l in self.links if l.listener))

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
        self._silence: dict[str, float | None | str] = {}

    async def set_streams(self, streams: Iterable[str], timeout: float | None = None) -> None:
        """Make the pool carry exactly ``streams`` (opening / closing shards as needed)."""
        wanted = list(streams)
        refused: list[SubscriptionError] = []
        async with self._lock:
            changes = self.planner.update(wanted)
            starts = []
            for ch in changes:
                if ch.new:
                    conn = StreamConnection(
                        self.venue, ch.add, self.router, route=ch.route,
                        policy=ReconnectPolicy(self.budget, self._backoff),
                        name=f"{self.venue.name}/{ch.route or 'stream'}#{ch.shard}", **self._kwargs)
                    self.shards[ch.shard] = conn
                    for s, limit in self._silence.items():
                        conn.set_silence(s, limit)
                    starts.append(conn.start(timeout))
                elif ch.closed:
                    conn = self.shards.pop(ch.shard)
                    self.retired_stats.append(conn.stats)
                    await conn.close()
                else:
                    conn = self.shards[ch.shard]
                    try:
                        await conn.update(ch.add, ch.remove)
                    except SubscriptionError as exc:
                        refused.append(exc)
            if starts:
                results = await asyncio.gather(*starts, return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException):
                        raise r
            if refused:
                # the venue refused them: the pool no longer plans them either
                gone = {s for exc in refused for s in exc.streams}
                self.planner.update([s for s in wanted if s not in gone])
                raise refused[0]

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.shards.values()), return_exceptions=True)

    def set_silence(self, stream: str, limit: float | None | str = "auto") -> None:
        """How ``stream``'s silence is checked (see :meth:`StreamConnection.set_silence`);
        applies to the shards open now and to later ones."""
        probe = StreamConnection.set_silence  # validate once, with a clear error
        for c in self.shards.values():
            probe(c, stream, limit)
        if limit == "auto":
            self._silence.pop(stream, None)
        else:
            self._silence[stream] = limit

    def states(self) -> dict[str, str]:
        """Shard name -> its state line (:meth:`StreamConnection.describe`)."""
        return {c.name: c.describe() for c in self.shards.values()}

    def table_stats(self) -> dict[str, Any]:
        """Stream name -> :class:`~fastws.listener.StreamStat` over every shard."""
        out: dict[str, Any] = {}
        for c in self.shards.values():
            out.update(c.table.stats)
        return out
