"""``fastws.MarketStream``: live market data with synced order books, the object bots embed.

>>> async with MarketStream(["btcusdt@depth@100ms", "btcusdt@bookTicker"],
...                         venue=fastws.venues.BINANCE_SPOT) as ms:    # doctest: +SKIP
...     ms.on(fastws.BookTicker, on_quote)          # fast path: called from the listener
...     book = ms.books["BTCUSDT"]                   # synced OrderBook, resynced by itself
...     async for ev in ms:                          # convenient path: bounded queue
...         ...

Two ways to receive events
--------------------------
* **Callbacks** (:meth:`MarketStream.on`), per event type or per stream name, are called from
  the Cython listener (:mod:`fastws.listener`) as each frame is parsed: no queue, no task
  switch. Keep them short; an exception in one is logged and counted, never fatal. For no
  Python call at all, pass ``listener_factory=`` a Cython subclass of
  :class:`~fastws.listener.StreamListener` overriding ``on_event``.
* **Iteration** (``async for ev in ms``) uses a bounded queue (``queue_size``) with a policy
  per stream when the consumer is slow: ``"conflate"`` (tickers, bookTicker, partial depth,
  klines, mark price: only the latest value of each stream is kept) or ``"keep"`` (trades,
  diff depth: every event, in order). When a ``"keep"`` stream overflows the queue the event is
  dropped from the *queue*, never silently: the loop itself receives an :class:`Overflow`
  marker (``Overflow(stream, dropped)``) exactly where that stream's events are missing, and
  ``stats().queue_dropped`` / ``stats().queue_overflows`` count them. The books are fed
  before the queue and never miss an event because of it: a slow consumer never costs a
  correct book. The queue exists only while a loop runs: it is installed when iteration
  starts (a bot that only uses callbacks pays nothing for it) and removed when the last loop
  ends (``break``, an exception, or its task cancelled).

Books
-----
Every diff-depth stream (``<symbol>@depth``, ``@depth@100ms``) gets a
:class:`~fastws.sync.BookSync`; ``books[SYMBOL]`` is its :class:`~fastws.book.OrderBook`.
Snapshots come from the WS API ``depth`` method (REST ``/depth`` if the WS API fails), up to
``snapshot_concurrency`` at a time (a flood that slows every answer delays the books side by
side, not one after another) and paced under the venue's request weight
(:class:`~fastws.api_protocol.RateLimits`);
snapshots together never use more than ``snapshot_weight_share`` of the venue's weight per
minute (half by default, the rest stays for the bot's own requests), each taking at most
``snapshot_timeout`` seconds. After every failure kind (stale or crossed snapshot, error,
timeout) that book's next attempt backs off (0.2 s doubling to 10 s, jittered), without
delaying the other books.
A book that cannot be trusted is marked stale with a reason (``syncs[symbol].stale_reason``,
``stats().stale``) and resynced alone; other books are untouched. Besides gaps this covers
update ids going backwards (a venue reset), an implausible id, events that stop advancing the
book, a new link whose first events do not bridge the book, and the stream being down: while
the connection carrying a book is lost or reconnecting, that book is not synced
(see :class:`~fastws.sync.BookSync`).

Connections
-----------
:class:`~fastws.connection.StreamPool` shards the streams (1024 per connection, USD-M routes
apart) and keeps each shard alive: reconnect with backoff under the 300/5 min budget, every
subscription restored and checked with ``LIST_SUBSCRIPTIONS``, make-before-break at the 24 h
cut and on ``serverShutdown``, silence detection. See :mod:`fastws.connection`.
"""
from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastws.book import OrderBook
from fastws.api_client import ApiClient
from fastws.connection import ConnectionStats, StreamPool, ssl_context_for
from fastws.events import (
    AvgPrice, BookTicker, ContinuousKline, DepthUpdate, EventType, Kline, MarkPrice, MiniTicker,
    PartialDepth, ReferencePrice, Ticker, WindowTicker,
)
from fastws.exceptions import InvalidUsage, SubscriptionError
from fastws.listener import Router, StreamListener, monotonic
from fastws.parser import Parser
from fastws.retry import ConnectionBudget, CutoverSchedule
from fastws.streams import StreamInfo, parse_stream
from fastws.sync import BookSync, SyncAction
from fastws.venues import BINANCE_SPOT, Venue

__all__ = ["MarketStream", "MarketStreamStats", "Overflow", "Policy", "CONFLATED_KINDS",
           "SNAPSHOT_WEIGHT_SHARE"]

_log = logging.getLogger("fastws.market_stream")

Policy = Literal["conflate", "keep"]

#: Event kinds whose streams conflate to the latest value by default when the queue is behind.
CONFLATED_KINDS = frozenset({
    EventType.BOOK_TICKER, EventType.TICKER, EventType.MINI_TICKER, EventType.WINDOW_TICKER,
    EventType.KLINE, EventType.CONTINUOUS_KLINE, EventType.PARTIAL_DEPTH, EventType.AVG_PRICE,
    EventType.REFERENCE_PRICE, EventType.MARK_PRICE,
})
#: Share of the venue's request weight per minute that book snapshots may use together.
SNAPSHOT_WEIGHT_SHARE = 0.5
#: Backoff of one book's snapshot attempts after a failure: first delay, cap (seconds).
SNAPSHOT_BACKOFF = (0.2, 10.0)
#: Book snapshots in flight at once.
SNAPSHOT_CONCURRENCY = 4
_ = (AvgPrice, BookTicker, ContinuousKline, Kline, MarkPrice, MiniTicker, PartialDepth,
     ReferencePrice, Ticker, WindowTicker)


@dataclass
class MarketStreamStats:
    """A snapshot of :meth:`MarketStream.stats` (plain data, safe to keep).

    Attributes
    ----------
    messages, bytes : int
        Events delivered (after deduplication) and their payload bytes, all streams.
    msgs_per_s : float
        Delivery rate over the last second or two.
    frames : int
        WebSocket frames received (pings and control answers included).
    connections : int
        Physical connections open now.
    connects, reconnects, cutovers, server_shutdowns, silences, heals : int
        Links opened; unplanned reconnects; 24 h cut-overs; ``serverShutdown`` notices;
        silence episodes reported; links replaced because of silence.
    gaps, resyncs, snapshots : int
        Books found untrustworthy (id gaps, and ids going backwards, implausible ids, stalls,
        a new link that does not bridge: see ``stale``); books synced again after the first
        time; snapshots fetched.
    parse_errors : int
        Frames that did not parse (``bad_frames`` by kind).
    duplicates : int
        Events dropped because their id was already delivered (server repeats, cut-over overlap).
    queue_dropped, conflated : int
        Events the ``async for`` queue dropped ("keep" streams overflowing) / replaced by a newer
        value ("conflate" streams).
    queue_overflows : dict
        Stream -> events of it the ``async for`` queue dropped (each drop is also announced
        in the loop by an :class:`Overflow` marker).
    stale : dict
        Symbol -> why its book is not synced now (books that are synced are absent).
    snapshot_failures : int
        Snapshot attempts that failed (error, timeout, stale or crossed snapshot).
    callback_errors : int
        Exceptions raised by user callbacks.
    streams : dict
        Stream name -> ``{"messages", "bytes", "duplicates", "last_time", "last_id", ...}``.
    last_message : dict
        Symbol -> epoch seconds (wall clock) of its latest event.
    """

    messages: int = 0
    bytes: int = 0
    msgs_per_s: float = 0.0
    frames: int = 0
    connections: int = 0
    connects: int = 0
    reconnects: int = 0
    cutovers: int = 0
    server_shutdowns: int = 0
    silences: int = 0
    heals: int = 0
    gaps: int = 0
    resyncs: int = 0
    snapshots: int = 0
    parse_errors: int = 0
    bad_frames: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    queue_dropped: int = 0
    conflated: int = 0
    queue_overflows: dict[str, int] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    snapshot_failures: int = 0
    callback_errors: int = 0
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_message: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """One line: messages, reconnects, gaps, resyncs, parse errors."""
        return (f"{self.messages} messages ({self.bytes / 1e6:.1f} MB), {self.reconnects} reconnects, "
                f"{self.cutovers} cut-overs, {self.gaps} gaps, {self.resyncs} resyncs, "
                f"{self.parse_errors} parse errors, {self.duplicates} duplicates dropped")


class _Key:
    __slots__ = ("stream",)

    def __init__(self, stream: str) -> None:
        self.stream = stream


class Overflow:
    """What ``async for ev in ms`` yields where events of a ``"keep"`` stream are missing.

    The consumer was too slow and the queue was full, so ``dropped`` events of ``stream``
    were left out of the *queue* right before the events that follow this marker (callbacks
    and books saw them all; books stay synced). Check ``type(ev) is fastws.Overflow`` in
    loops that must know.

    Attributes
    ----------
    stream : str
        The stream whose events were dropped.
    dropped : int
        How many were dropped at this point.
    """

    __slots__ = ("stream", "dropped")

    def __init__(self, stream: str, dropped: int) -> None:
        self.stream = stream
        self.dropped = dropped

    def __repr__(self) -> str:
        return f"Overflow(stream={self.stream!r}, dropped={self.dropped})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Overflow) and other.stream == self.stream
                and other.dropped == self.dropped)

    __hash__ = None  # type: ignore[assignment]


class MarketStream:
    """Live market streams of one venue, with synced books (see the module docstring).

    Parameters
    ----------
    streams : iterable of str
        Stream names (``"btcusdt@depth@100ms"``) or helper results (``fastws.streams.depth(...)``).
        More can be added with :meth:`subscribe`.
    venue : Venue
        Where to connect (default Binance spot; the simulator's ``ex.venue`` in tests).
    books : bool
        Keep a synced book per diff-depth stream (default True).
    snapshot_limit : int
        Levels asked per snapshot (1000: spot weight 50, USD-M weight 20).
    snapshot_source : {"ws_api", "rest"}
        Where snapshots come from first (the other one is the fallback).
    queue_size : int
        Bound of the ``async for`` queue.
    ca_file : str, optional
        CA bundle to verify ``wss://`` against (default: the venue's, else the system store).
    ssl_context : ssl.SSLContext, optional
        Use this context as it is.
    listener_factory : callable
        ``(parser, router, table, owner) -> StreamListener``.
    cutover : CutoverSchedule, optional
        When to replace connections before the 24 h cut (default: from the venue's lifetime).
    silence_factor, min_silence, max_silence : float
        Silence threshold of a stream: ``max(silence_factor * period, min_silence)`` seconds;
        a link whose other streams still deliver is replaced after ``max_silence`` (see
        :class:`~fastws.connection.StreamConnection`).
    connect_timeout : float
        How long :meth:`start` waits for the first connections before ``TimeoutError``.
    max_per_connection : int, optional
        Streams per connection (default the venue's 1024).
    budget : ConnectionBudget, optional
        Connection-attempt budget, shared by every connection (a fresh 300/5 min one if omitted).
    keep_raw : bool
        Keep each event's payload in ``ev.raw`` (slower).
    api : ApiClient or BaseOperations, optional
        A WS API session to take snapshots on (shared with the bot's own requests and their
        rate-limit accounting). By default MarketStream opens its own when the first snapshot
        is needed, and closes it with the stream.
    snapshot_timeout : float
        Seconds one snapshot request may take before it counts as failed (default 10).
    snapshot_weight_share : float
        Share of the venue's request weight per minute that snapshots may use together
        (default 0.5, at most 1).
    snapshot_concurrency : int
        Snapshots in flight at once (default 4), all within that share.
    """

    def __init__(self, streams: Iterable[str] = (), *, venue: Venue = BINANCE_SPOT,
                 books: bool = True, snapshot_limit: int = 1000,
                 snapshot_source: Literal["ws_api", "rest"] = "ws_api",
                 queue_size: int = 10_000, ca_file: str | None = None,
                 ssl_context: ssl.SSLContext | None = None,
                 listener_factory: Callable[..., StreamListener] = StreamListener,
                 cutover: CutoverSchedule | None = None,
                 silence_factor: float = 10.0, min_silence: float = 5.0,
                 max_silence: float = 60.0, connect_timeout: float = 30.0, max_per_connection: int | None = None,
                 budget: ConnectionBudget | None = None, keep_raw: bool = False,
                 api: Any = None, snapshot_timeout: float = 10.0,
                 snapshot_weight_share: float = SNAPSHOT_WEIGHT_SHARE,
                 snapshot_concurrency: int = SNAPSHOT_CONCURRENCY) -> None:
        if queue_size < 1:
            raise InvalidUsage(f"queue_size must be >= 1, got {queue_size}")
        if snapshot_source not in ("ws_api", "rest"):
            raise InvalidUsage(f"snapshot_source must be 'ws_api' or 'rest', got {snapshot_source!r}")
        if not 0 < snapshot_weight_share <= 1:
            raise InvalidUsage(f"snapshot_weight_share must be in (0, 1], got {snapshot_weight_share!r}")
        if not snapshot_timeout > 0:
            raise InvalidUsage(f"snapshot_timeout must be > 0, got {snapshot_timeout!r}")
        if not isinstance(snapshot_concurrency, int) or snapshot_concurrency < 1:
            raise InvalidUsage(f"snapshot_concurrency must be an int >= 1, got {snapshot_concurrency!r}")
        self.snapshot_concurrency = snapshot_concurrency
        self.venue = venue
        self.market = venue.market
        self.keep_books = books
        self.snapshot_timeout = snapshot_timeout
        self.snapshot_weight_share = snapshot_weight_share
        self.snapshot_limit = snapshot_limit
        self.snapshot_source = snapshot_source
        self.queue_size = queue_size
        self.connect_timeout = connect_timeout
        self._ssl = ssl_context_for(venue, ca_file, ssl_context)
        self._budget = budget or ConnectionBudget(venue.limits.max_connection_attempts,
                                                  venue.limits.connection_attempts_window)
        self.router = Router()
        self.router.error_hook = self._callback_error
        if books:
            self.router.depth_hook = self._on_depth
        market = venue.market
        self.pool = StreamPool(
            venue, self.router, max_per_connection=max_per_connection, budget=self._budget,
            parser_factory=lambda: Parser(market, keep_raw=keep_raw),
            listener_factory=listener_factory, ssl_context=self._ssl, cutover=cutover,
            silence_factor=silence_factor, min_silence=min_silence, max_silence=max_silence,
            on_error=self._fatal, on_link_state=self._on_link_state)
        self._wanted: dict[str, StreamInfo] = {}
        for s in ([streams] if isinstance(streams, str) else streams):
            info = self._info(s)
            self._wanted[info.name] = info
        #: Symbol -> synced order book (one per diff-depth stream).
        self.books: dict[str, OrderBook] = {}
        #: Symbol -> its book-sync state machine.
        self.syncs: dict[str, BookSync] = {}
        self._book_stream: dict[str, str] = {}
        self._by_type: dict[type, list[Callable[[Any], Any]]] = {}
        self._by_stream: dict[str, list[Callable[[Any], Any]]] = {}
        self._policy: dict[str, Policy] = {}
        self._q: deque[Any] = deque()
        self._latest: dict[str, Any] = {}
        self._keys: dict[str, _Key] = {}
        self._has_item = asyncio.Event()
        self._queue_dropped = 0
        self._conflated = 0
        self._overflowing: set[str] = set()
        self._overflows: dict[str, int] = {}
        self._overflow_logged: dict[str, float] = {}
        self._missing: dict[str, int] = {}     # stream -> drops not yet announced in the loop
        self._iterators = 0
        self._snap_retry: dict[str, tuple[int, float]] = {}   # symbol -> (failures, not before)
        self._snap_weights: deque[tuple[float, int]] = deque()
        self._snap_failures = 0
        self._snap_queue: asyncio.Queue[str] = asyncio.Queue()
        self._snap_pending: set[str] = set()
        self._snap_task: asyncio.Task[None] | None = None
        self._rate_task: asyncio.Task[None] | None = None
        self._rate: deque[tuple[float, int]] = deque(maxlen=4)
        self._api: ApiClient | None = getattr(api, "client", api)
        self._own_api = api is None
        self._gaps = 0
        self._snapshots = 0
        self._started = False
        self._closed = False
        self.error: BaseException | None = None
        for info in self._wanted.values():
            self._prepare(info)

    def __repr__(self) -> str:
        return f"<MarketStream {self.venue.name} streams={len(self._wanted)} books={len(self.books)}>"

    # names ----------------------------------------------------------------------------------------
    def _info(self, name: str) -> StreamInfo:
        info = parse_stream(name, self.market)
        if not info.subscribable:
            raise InvalidUsage(f"{name!r} is sent by the server and cannot be subscribed")
        return info

    def _prepare(self, info: StreamInfo) -> None:
        self._policy.setdefault(info.name, "conflate" if info.kind in CONFLATED_KINDS else "keep")
        if (self.keep_books and info.kind == EventType.DEPTH_UPDATE and info.symbol
                and info.symbol not in self.syncs):
            sync = BookSync(info.symbol, self.market)
            self.syncs[info.symbol] = sync
            self.books[info.symbol] = sync.book
            self._book_stream[info.symbol] = info.name

    @property
    def streams(self) -> list[str]:
        """The streams wanted (canonical names)."""
        return list(self._wanted)

    # lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> "MarketStream":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect every shard and subscribe (waits up to ``connect_timeout``)."""
        if self._started:
            return
        self._started = True
        self._snap_task = asyncio.create_task(self._snapshot_worker(), name="fastws-snapshots")
        self._rate_task = asyncio.create_task(self._rate_sampler(), name="fastws-rate")
        try:
            if self._wanted:
                await self.pool.set_streams(list(self._wanted), timeout=self.connect_timeout)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close every connection; iterators stop."""
        if self._closed:
            return
        self._closed = True
        for t in (self._snap_task, self._rate_task):
            if t is not None:
                t.cancel()
                try:
                    await t
                except (asyncio.CancelledError, Exception):
                    pass
        await self.pool.close()
        if self._api is not None and self._own_api:
            await self._api.close()
        for sync in self.syncs.values():
            sync.link_down("stream closed", level=logging.DEBUG)
        self._has_item.set()

    def _fatal(self, exc: BaseException) -> None:
        self.error = exc
        for sync in self.syncs.values():
            sync.link_down(f"stream ended: {type(exc).__name__}: {exc}")
        self._has_item.set()

    def _on_link_state(self, streams: list[str], state: str, reason: str) -> None:
        """Called by the connection layer: the link carrying ``streams`` is ``"down"`` (gone or
        reconnecting: their books are not synced) or ``"up"`` again (a new link carries them:
        its first depth events must bridge each book, else it is resynced)."""
        if state not in ("down", "up"):
            raise InvalidUsage(f"link state must be 'down' or 'up', got {state!r}")
        for name in streams:
            info = self._wanted.get(name)
            if info is None or not info.symbol or self._book_stream.get(info.symbol) != name:
                continue
            sync = self.syncs.get(info.symbol)
            if sync is None:
                continue
            if state == "down":
                sync.link_down(f"stream down: {reason}" if reason else "stream down")
            else:
                sync.link_changed()

    # subscriptions ----------------------------------------------------------------------------------
    async def subscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Add streams at runtime; returns the canonical names newly added.

        Raises :class:`~fastws.exceptions.SubscriptionError` when the venue refuses the
        ``SUBSCRIBE``: the refused streams (``exc.streams``) are then no longer wanted (not in
        :attr:`streams`, no book for them); every other stream goes on.
        """
        names = [streams] if isinstance(streams, str) else list(streams)
        infos = [self._info(n) for n in names]
        new = [i for i in infos if i.name not in self._wanted]
        for info in new:
            self._wanted[info.name] = info
            self._prepare(info)
        if new and self._started:
            await self._set_streams()
        return [i.name for i in new]

    async def unsubscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Remove streams at runtime (their books go too); returns the names removed.

        Raises :class:`~fastws.exceptions.SubscriptionError` when the venue still lists a
        stream after every ``UNSUBSCRIBE`` attempt; it is removed here all the same (its
        frames are dropped, counted)."""
        names = [streams] if isinstance(streams, str) else list(streams)
        removed = []
        for n in names:
            try:
                name = self._info(n).name
            except InvalidUsage:
                continue
            if self._forget(name):
                removed.append(name)
        if removed and self._started:
            await self._set_streams()
        return removed

    def _forget(self, name: str) -> bool:
        """Stop wanting ``name`` (its book and the book's state go too); False if not wanted."""
        info = self._wanted.pop(name, None)
        if info is None:
            return False
        if info.symbol and self._book_stream.get(info.symbol) == name:
            del self._book_stream[info.symbol]
            self.syncs.pop(info.symbol, None)
            self._snap_retry.pop(info.symbol, None)
            self.books.pop(info.symbol, None)
        return True

    async def _set_streams(self) -> None:
        """Make the pool carry :attr:`streams`; streams whose SUBSCRIBE the venue refused
        are forgotten here too (the pool already dropped them) before the error is raised."""
        try:
            await self.pool.set_streams(list(self._wanted), timeout=self.connect_timeout)
        except SubscriptionError as exc:
            if exc.method == "SUBSCRIBE":
                # exc.streams names one shard's refusal; the pool no longer plans any refused
                # stream (several shards may have refused some)
                planner = self.pool.planner
                gone = set(exc.streams) | {n for n in self._wanted if planner.shard_of(n) is None}
                for name in gone:
                    self._forget(name)
            raise

    # callbacks --------------------------------------------------------------------------------------
    def on(self, what: type | str, callback: Callable[[Any], Any] | None = None) -> Any:
        """Call ``callback(ev)`` for every event of a type (``fastws.BookTicker``) or of a stream
        (``"btcusdt@trade"``), from the listener, in arrival order. Usable as a decorator."""
        if callback is None:
            return lambda cb: self.on(what, cb)
        if not callable(callback):
            raise InvalidUsage(f"callback must be callable, got {callback!r}")
        if isinstance(what, type):
            self._by_type.setdefault(what, []).append(callback)
        elif isinstance(what, str):
            self._by_stream.setdefault(self._info(what).name, []).append(callback)
        else:
            raise InvalidUsage(f"on() takes an event type or a stream name, not {what!r}")
        self.router.set_callbacks(self._by_type, self._by_stream)
        return callback

    def off(self, what: type | str, callback: Callable[[Any], Any]) -> None:
        """Remove a callback registered with :meth:`on`."""
        table: Mapping[Any, list[Any]] = self._by_type if isinstance(what, type) else self._by_stream
        key = what if isinstance(what, type) else self._info(what).name
        cbs = table.get(key, [])
        if callback in cbs:
            cbs.remove(callback)
        self.router.set_callbacks(self._by_type, self._by_stream)

    def _callback_error(self, exc: BaseException, cb: Any, ev: Any) -> None:
        _log.error("! callback %r raised %s: %s (the stream goes on)",
                   getattr(cb, "__qualname__", cb), type(exc).__name__, exc, exc_info=exc)

    # iteration --------------------------------------------------------------------------------------
    def set_policy(self, stream: str, policy: Policy) -> None:
        """Slow-consumer policy of one stream: ``"conflate"`` or ``"keep"``."""
        if policy not in ("conflate", "keep"):
            raise InvalidUsage(f"policy must be 'conflate' or 'keep', got {policy!r}")
        self._policy[self._info(stream).name] = policy

    def __aiter__(self) -> AsyncIterator[Any]:
        """Events in arrival order (and :class:`Overflow` markers where a slow loop missed
        some); the queue exists while at least one loop runs."""
        return self._iterate()

    @property
    def iterating(self) -> bool:
        """True while an ``async for`` loop runs (the queue is installed)."""
        return self._iterators > 0

    async def _iterate(self) -> AsyncIterator[Any]:
        self._iterators += 1
        self.router.queue_hook = self._enqueue
        try:
            while True:
                q = self._q
                if q:
                    item = q.popleft()
                    if type(item) is _Key:
                        yield self._latest.pop(item.stream)
                    else:
                        yield item
                    continue
                if self._missing:
                    stream, n = self._missing.popitem()
                    yield Overflow(stream, n)
                    continue
                if self.error is not None:
                    raise self.error
                if self._closed:
                    return
                self._has_item.clear()
                await self._has_item.wait()
        finally:
            self._iterators -= 1
            if self._iterators == 0:
                # nobody iterates any more: remove the queue (events stop piling up)
                self.router.queue_hook = None
                self._q.clear()
                self._latest.clear()
                self._missing.clear()
                self._overflowing.clear()

    def _enqueue(self, ev: Any) -> None:
        stream = getattr(ev, "stream", None)
        policy = self._policy.get(stream, "keep") if stream is not None else "keep"
        if policy == "conflate" and stream is not None:
            if stream in self._latest:
                self._latest[stream] = ev
                self._conflated += 1
                return
            self._latest[stream] = ev
            key = self._keys.get(stream)
            if key is None:
                key = self._keys[stream] = _Key(stream)
            self._q.append(key)
        elif len(self._q) >= self.queue_size:
            self._overflow(stream)
            return
        else:
            if self._missing and stream in self._missing:
                # announce the drop right where this stream's events are missing
                self._q.append(Overflow(stream, self._missing.pop(stream)))
            if self._overflowing and stream in self._overflowing:
                self._overflowing.discard(stream)
            self._q.append(ev)
        if not self._has_item.is_set():
            self._has_item.set()

    def _overflow(self, stream: str | None) -> None:
        # the queue only: books and callbacks already had the event
        self._queue_dropped += 1
        key = stream or "?"
        self._overflows[key] = self._overflows.get(key, 0) + 1
        self._missing[key] = self._missing.get(key, 0) + 1
        if key not in self._overflowing:
            self._overflowing.add(key)
            now = time.monotonic()
            if now - self._overflow_logged.get(key, -1e9) < 10.0:
                return
            self._overflow_logged[key] = now
            _log.warning("~ queue full (%d): dropping events of %s from the async-for queue "
                         "until the consumer catches up (the loop gets an Overflow marker; "
                         "books and callbacks miss nothing)", self.queue_size, key)

    # books ------------------------------------------------------------------------------------------
    def _on_depth(self, ev: DepthUpdate) -> None:
        sym: str = ev.symbol  # type: ignore[assignment]
        sync = self.syncs.get(sym)
        if sync is None or self._book_stream.get(sym) != ev.stream:
            return
        action = sync.on_event(ev)
        if action is SyncAction.APPLIED or action is SyncAction.BUFFERED:
            return
        if action is SyncAction.GAP:
            self._gaps += 1
        if action.needs_snapshot:
            self._want_snapshot(sym)

    def _want_snapshot(self, symbol: str) -> None:
        if symbol not in self._snap_pending:
            self._snap_pending.add(symbol)
            self._snap_queue.put_nowait(symbol)

    async def _fetch_depth(self, symbol: str) -> dict[str, Any]:
        params = {"symbol": symbol, "limit": self.snapshot_limit}
        first, second = (self._ws_depth, self._rest_depth)
        if self.snapshot_source == "rest":
            first, second = second, first
        try:
            return await first(params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.warning("~ %s snapshot via %s failed (%s: %s); trying the fallback", symbol,
                         getattr(first, "__name__", "?"), type(exc).__name__, exc)
            return await second(params)

    async def _ws_depth(self, params: dict[str, Any]) -> dict[str, Any]:
        if self._api is None:
            self._api = ApiClient(self.venue, ssl_context=self._ssl, budget=self._budget,
                                  sync_clock=False)
        result = await self._api.request("depth", params)
        if not isinstance(result, dict):
            raise ValueError("depth result is not an object")
        return result

    async def _rest_depth(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover
            raise RuntimeError("REST snapshots need aiohttp (pip install aiohttp)") from exc
        from fastws.api_protocol import request_weight
        limits = self._api.protocol.limits if self._api is not None else None
        if limits is not None:
            wait = limits.delay_ms(request_weight("depth", params, self.market), 0, int(time.time() * 1000))
            if wait > 0:
                await asyncio.sleep(wait / 1000)
        async with aiohttp.ClientSession() as session:
            async with session.get(self.venue.rest_depth_url, params=params, ssl=self._ssl or True,
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
                resp.raise_for_status()
                body = await resp.json(content_type=None)
        if not isinstance(body, dict):
            raise ValueError("depth body is not an object")
        return body

    def _snapshot_failed(self, symbol: str, what: str) -> None:
        """Back this book's next attempt off (the other books are not delayed)."""
        self._snap_failures += 1
        n, _ = self._snap_retry.get(symbol, (0, 0.0))
        first, cap = SNAPSHOT_BACKOFF
        delay = min(first * 2 ** n, cap) * random.uniform(0.8, 1.2)
        self._snap_retry[symbol] = (n + 1, time.monotonic() + delay)
        _log.warning("~ %s snapshot: %s; next attempt in %.1f s", symbol, what, delay)

    async def _pace_weight(self, weight: int) -> None:
        """Wait until ``weight`` fits in the snapshots' share of the venue's weight per minute."""
        budget = max(weight, int(self.venue.limits.request_weight_per_minute * self.snapshot_weight_share))
        spent = self._snap_weights
        while True:
            now = time.monotonic()
            while spent and spent[0][0] <= now - 60.0:
                spent.popleft()
            if sum(w for _, w in spent) + weight <= budget:
                spent.append((now, weight))
                return
            await asyncio.sleep(spent[0][0] + 60.0 - now + 0.01)

    async def _snapshot_worker(self) -> None:
        """``snapshot_concurrency`` loops taking books from one queue (cancelled together)."""
        await asyncio.gather(*(self._snapshot_loop() for _ in range(self.snapshot_concurrency)))

    async def _snapshot_loop(self) -> None:
        from fastws.api_protocol import request_weight
        loop = asyncio.get_running_loop()
        while True:
            symbol = await self._snap_queue.get()
            self._snap_pending.discard(symbol)
            sync = self.syncs.get(symbol)
            if sync is None or not sync.needs_snapshot or sync.link_is_down:
                continue
            _, not_before = self._snap_retry.get(symbol, (0, 0.0))
            wait = not_before - time.monotonic()
            if wait > 0:
                self._snap_pending.add(symbol)
                loop.call_later(wait, self._snap_queue.put_nowait, symbol)
                continue
            params = {"symbol": symbol, "limit": self.snapshot_limit}
            await self._pace_weight(request_weight("depth", params, self.market))
            if self.syncs.get(symbol) is not sync or not sync.needs_snapshot:
                continue
            try:
                snap = await asyncio.wait_for(self._fetch_depth(symbol), self.snapshot_timeout)
                self._snapshots += 1
                action = sync.on_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
            except asyncio.CancelledError:
                raise
            except asyncio.TimeoutError:
                self._snapshot_failed(symbol, f"no answer within {self.snapshot_timeout} s")
                self._want_snapshot(symbol)
                continue
            except Exception as exc:
                self._snapshot_failed(symbol, f"failed ({type(exc).__name__}: {exc})")
                self._want_snapshot(symbol)
                continue
            if action is SyncAction.SYNCED or action is SyncAction.IGNORED:
                self._snap_retry.pop(symbol, None)
            elif action is SyncAction.STALE_SNAPSHOT or action is SyncAction.CROSSED:
                self._snapshot_failed(symbol, action.value)
            if action is SyncAction.GAP:
                self._gaps += 1
            if action.needs_snapshot:
                self._want_snapshot(symbol)

    async def wait_synced(self, symbols: Iterable[str] | None = None, timeout: float = 10.0) -> None:
        """Wait until the books of ``symbols`` (default: all) are synced; ``TimeoutError`` else."""
        want = [s.upper() for s in symbols] if symbols is not None else list(self.books)
        deadline = time.monotonic() + timeout
        while True:
            if self.error is not None:
                raise self.error
            if all(s in self.books and self.books[s].is_synced for s in want):
                return
            if time.monotonic() > deadline:
                bad = [s for s in want if s not in self.books or not self.books[s].is_synced]
                raise TimeoutError(f"books not synced after {timeout} s: {bad}")
            await asyncio.sleep(0.01)

    # statistics -------------------------------------------------------------------------------------
    async def _rate_sampler(self) -> None:
        while True:
            self._rate.append((time.monotonic(), self._total_messages()))
            await asyncio.sleep(0.5)

    def _total_messages(self) -> int:
        return sum(st.messages for st in self.pool.table_stats().values())

    @property
    def connections(self) -> int:
        """Physical stream connections open now."""
        return sum(len(c.links) for c in self.pool.shards.values())

    def stats(self) -> MarketStreamStats:
        """Statistics now (see :class:`MarketStreamStats`); cheap enough to call every second."""
        out = MarketStreamStats()
        now_mono = monotonic()
        now_wall = time.time()
        for name, st in self.pool.table_stats().items():
            d = st.as_dict()
            out.streams[name] = d
            out.messages += st.messages
            out.bytes += st.bytes
            out.duplicates += st.duplicates
            info = self._wanted.get(name)
            if info is not None and info.symbol and st.last_time > 0:
                t = now_wall - (now_mono - st.last_time)
                if t > out.last_message.get(info.symbol, 0.0):
                    out.last_message[info.symbol] = t
        conn_stats: list[ConnectionStats] = [c.stats for c in self.pool.shards.values()]
        conn_stats += self.pool.retired_stats
        for cs in conn_stats:
            out.connects += cs.connects
            out.reconnects += cs.reconnects
            out.cutovers += cs.cutovers
            out.server_shutdowns += cs.server_shutdowns
            out.silences += cs.silences
            out.heals += cs.heals
            out.parse_errors += cs.parse_errors
            for k, v in cs.bad_frames.items():
                out.bad_frames[k] = out.bad_frames.get(k, 0) + v
        out.frames = sum(c.frames for c in self.pool.shards.values())
        out.connections = self.connections
        out.gaps = self._gaps
        out.resyncs = sum(s.stats.resyncs for s in self.syncs.values())
        out.snapshots = self._snapshots
        out.queue_dropped = self._queue_dropped
        out.conflated = self._conflated
        out.queue_overflows = dict(self._overflows)
        out.stale = {sym: sync.stale_reason or "stale" for sym, sync in self.syncs.items()
                     if not sync.book.is_synced}
        out.snapshot_failures = self._snap_failures
        out.callback_errors = self.router.callback_errors
        if self._rate:
            t0, n0 = self._rate[0]
            dt = time.monotonic() - t0
            if dt > 0.2:
                out.msgs_per_s = (out.messages - n0) / dt
        return out
