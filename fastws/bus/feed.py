"""``FeedHandler``: one :class:`~fastws.market_stream.MarketStream` fanned out over NATS JetStream.

>>> async with FeedHandler(["btcusdt@depth@100ms", "btcusdt@trade"], venue=v,
...                        nats="nats://127.0.0.1:4222") as fh:          # doctest: +SKIP
...     await fh.wait_synced()
...     print(fh.stats().published)

What it does (names in :mod:`fastws.bus.subjects`):

* runs a ``MarketStream(streams, venue=venue, keep_raw=True)`` (reconnects, 24 h cut-overs,
  dedup, book sync from the venue: everything MarketStream does);
* publishes every event it delivers, the frame as the venue sent it, on
  ``<prefix>.ev.<venue>.<SYMBOL>.<kind>`` with a ``Nats-Msg-Id`` made of the venue's ids. The
  JetStream stream ``FASTWS_EV`` (created or updated here, idempotently, so feed handlers start in
  any order) keeps one copy per id within its 2 minute duplicate window and republishes it on
  ``<prefix>.live.>`` for consumers: two feed handlers on the same streams give consumers each
  event once, and either can stop without a loss;
* puts each synced book's state (``lastUpdateId`` + every level) in the KV bucket
  ``fastws_books`` under ``<venue>.<SYMBOL>`` every ``book_interval`` seconds when it changed,
  and answers requests on ``<prefix>.snap.<venue>.<SYMBOL>`` with the current state. A book that
  is not synced is never published and such a request gets no answer (another feed handler's,
  or the KV, serves the consumer);
* never blocks the market stream on NATS: events go into a bounded buffer (``max_pending``)
  drained by one task; while NATS is unreachable (a restart) the buffer holds the newest events
  up to its bound and counts what it had to drop (``stats().dropped``); nats-py reconnects by
  itself and the stream and bucket are ensured again after each reconnect.

The events are published after the handler's own book applied them, so a state it answers with
covers every event it published before: a consumer that buffers the live events, asks, and
applies the answer is synced at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastws.bus.connect import connect_nats, shown_url
from fastws.bus.subjects import (
    DEFAULT_PREFIX, DUPLICATE_WINDOW, MSG_ID_HEADER, book_key, books_bucket, check_prefix,
    encode_book, event_subject, events_filter, events_stream_name, live_filter, msg_id,
    snap_subject, token,
)
from fastws.exceptions import InvalidUsage
from fastws.listener import StreamListener
from fastws.market_stream import MarketStream, MarketStreamStats
from fastws.venues import BINANCE_SPOT, Venue

__all__ = ["FeedHandler", "FeedHandlerStats", "DEFAULT_NATS_URL", "ensure_bus",
           "EVENTS_MAX_BYTES"]

_log = logging.getLogger("fastws.bus.feed")

#: Where nats-server listens by default.
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
#: Bound of the events stream's memory (the oldest go first; only the dedup window matters).
EVENTS_MAX_BYTES = 256 << 20


def _nats() -> Any:
    try:
        import nats
    except ImportError as exc:  # pragma: no cover - the extra is missing
        raise RuntimeError("the NATS bus needs nats-py: pip install 'fastws[bus]'") from exc
    return nats


async def ensure_bus(js: Any, prefix: str = DEFAULT_PREFIX, *,
                     events_max_bytes: int = EVENTS_MAX_BYTES) -> Any:
    """Create (or bring up to date) the events stream and the books KV bucket; returns the
    bucket. Idempotent and safe when several feed handlers run it at once."""
    from nats.js.api import DiscardPolicy, RePublish, StorageType, StreamConfig
    from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
    cfg = StreamConfig(
        name=events_stream_name(prefix), subjects=[events_filter(prefix)],
        storage=StorageType.MEMORY, duplicate_window=DUPLICATE_WINDOW,
        max_age=DUPLICATE_WINDOW * 2, max_bytes=events_max_bytes, discard=DiscardPolicy.OLD,
        republish=RePublish(src=events_filter(prefix), dest=live_filter(prefix)),
        description="fastws venue events (one copy per venue id), republished on "
                    + live_filter(prefix))
    for _ in range(3):
        try:
            await js.add_stream(cfg)
            break
        except BadRequestError:
            try:
                await js.update_stream(cfg)
                break
            except NotFoundError:
                continue     # deleted meanwhile: add again
    bucket = books_bucket(prefix)
    for _ in range(3):
        try:
            return await js.key_value(bucket)
        except BucketNotFoundError:
            pass
        try:
            return await js.create_key_value(bucket=bucket, history=1, storage=StorageType.FILE,
                                             description="fastws synced book states")
        except BadRequestError:
            continue         # another feed handler created it meanwhile
    return await js.key_value(bucket)


@dataclass
class FeedHandlerStats:
    """A snapshot of :meth:`FeedHandler.stats`.

    Attributes
    ----------
    published : int
        Events handed to NATS.
    dropped : int
        Events dropped because the publish buffer was full (NATS down or too slow).
    pending : int
        Events waiting in the buffer now.
    publish_errors : int
        Publishes NATS refused (other than while disconnected).
    book_puts, book_put_errors, snap_requests, snap_answers, snap_unsynced : int
        Book states put in the KV / puts that failed; snapshot requests received / answered /
        left unanswered because the book was not synced.
    nats_disconnects, nats_reconnects : int
        Connection losses to NATS and reconnects.
    connected : bool
        Connected to NATS now.
    market : MarketStreamStats
        The market stream's own statistics (venue side).
    """

    published: int = 0
    dropped: int = 0
    pending: int = 0
    publish_errors: int = 0
    book_puts: int = 0
    book_put_errors: int = 0
    snap_requests: int = 0
    snap_answers: int = 0
    snap_unsynced: int = 0
    nats_disconnects: int = 0
    nats_reconnects: int = 0
    connected: bool = False
    market: MarketStreamStats = field(default_factory=MarketStreamStats)


class _PublishingListener(StreamListener):
    """The market stream's listener, publishing each event after the books and callbacks."""

    sink: Any = None

    def on_event(self, ev: object) -> None:
        StreamListener.on_event(self, ev)
        sink = self.sink
        if sink is not None:
            sink(ev)


class FeedHandler:
    """Publishes one venue's streams and synced books on NATS (see the module docstring).

    Parameters
    ----------
    streams : iterable of str
        Stream names, as for :class:`~fastws.market_stream.MarketStream`.
    venue : Venue
        Where the data comes from (``ex.venue`` for the simulator).
    nats : str
        NATS server URL(s), comma-separated (``nats://127.0.0.1:4222``).
    prefix : str
        Subject prefix (default ``fastws``); consumers must use the same.
    book_interval : float
        Seconds between book-state puts in the KV (a book is put only when it changed).
    name : str, optional
        Name of this feed handler (NATS connection name, ``source`` of its book states);
        default ``<host>-<pid>``.
    max_pending : int
        Bound of the publish buffer (events).
    serve_snapshots : bool
        Answer snapshot requests (default True).
    connect_timeout : float
        Seconds to wait for NATS and for the venue at :meth:`start`.
    publish : bool
        False: run the market stream and the books but publish no event (book states and
        snapshot answers still go out). For tests and for warming a standby.
    **stream_options
        Passed to :class:`~fastws.market_stream.MarketStream` (``snapshot_source``,
        ``ca_file``, ``min_silence``...).
    """

    def __init__(self, streams: Iterable[str], *, venue: Venue = BINANCE_SPOT,
                 nats: str = DEFAULT_NATS_URL, prefix: str = DEFAULT_PREFIX,
                 book_interval: float = 1.0, name: str | None = None,
                 max_pending: int = 100_000, serve_snapshots: bool = True,
                 connect_timeout: float = 10.0, publish: bool = True,
                 **stream_options: Any) -> None:
        if not book_interval > 0:
            raise InvalidUsage(f"book_interval must be > 0, got {book_interval!r}")
        if max_pending < 1:
            raise InvalidUsage(f"max_pending must be >= 1, got {max_pending!r}")
        if "keep_raw" in stream_options or "listener_factory" in stream_options:
            raise InvalidUsage("FeedHandler sets keep_raw and listener_factory itself")
        try:
            self.prefix = check_prefix(prefix)
        except ValueError as exc:
            raise InvalidUsage(str(exc)) from None
        self.venue = venue
        self._nats = nats
        #: The NATS URL as logs and reprs show it (credentials in it replaced by ``***``).
        self.nats_url = shown_url(nats)
        self.book_interval = book_interval
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.max_pending = max_pending
        self.serve_snapshots = serve_snapshots
        self.connect_timeout = connect_timeout
        self.publishing = publish
        self._venue_token = token(venue.name)
        stream_options.setdefault("connect_timeout", connect_timeout)
        self.ms = MarketStream(streams, venue=venue, keep_raw=True,
                               listener_factory=self._listener, **stream_options)
        self._subjects: dict[str, str] = {}
        self._out: deque[tuple[str, bytes, str]] = deque()
        self._wake = asyncio.Event()
        self._nc: Any = None
        self._kv: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._put_ids: dict[str, int] = {}
        self._published = 0
        self._dropped = 0
        self._publish_errors = 0
        self._book_puts = 0
        self._snap_requests = 0
        self._snap_answers = 0
        self._snap_unsynced = 0
        self._disconnects = 0
        self._reconnects = 0
        self._drop_logged = -1e9
        self._put_errors = 0
        self._put_error_logged: tuple[str, float] = ("", -1e9)
        self._ready = True
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return (f"<FeedHandler {self.name} {self.venue.name} -> {self.nats_url} "
                f"streams={len(self.ms.streams)}>")

    # the market side ------------------------------------------------------------------------------
    def _listener(self, parser: Any, router: Any, table: Any, owner: Any) -> StreamListener:
        lst = _PublishingListener(parser, router, table, owner)
        lst.sink = self._publish
        return lst

    @property
    def books(self) -> dict[str, Any]:
        """The handler's own synced books (symbol -> OrderBook)."""
        return self.ms.books

    @property
    def streams(self) -> list[str]:
        return self.ms.streams

    async def wait_synced(self, symbols: Iterable[str] | None = None, timeout: float = 10.0) -> None:
        """Wait until the handler's books are synced (see MarketStream.wait_synced)."""
        await self.ms.wait_synced(symbols, timeout)

    async def subscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Add streams at runtime (see MarketStream.subscribe); their events and books are
        published from then on."""
        return await self.ms.subscribe(streams)

    async def unsubscribe(self, streams: str | Iterable[str]) -> list[str]:
        """Remove streams at runtime; their books are no longer put in the KV."""
        removed = await self.ms.unsubscribe(streams)
        for sym in [s for s in self._put_ids if s not in self.ms.books]:
            del self._put_ids[sym]
        return removed

    def _subject(self, stream: str) -> str:
        subj = self._subjects.get(stream)
        if subj is None:
            subj = self._subjects[stream] = event_subject(
                self.venue.name, stream, market=self.venue.market, prefix=self.prefix)
        return subj

    def _publish(self, ev: Any) -> None:
        """Called by the listener for every delivered event: queue it for NATS (never blocks)."""
        if not self.publishing or self._closed:
            return
        first = ev[0] if type(ev) is list else ev
        raw = getattr(first, "raw", None)
        stream = getattr(first, "stream", None)
        if raw is None or stream is None:
            return           # not a stream event (nothing to fan out)
        if type(raw) is str:
            raw = raw.encode()
        if len(self._out) >= self.max_pending:
            self._dropped += 1
            now = time.monotonic()
            if now - self._drop_logged > 10.0:
                self._drop_logged = now
                _log.warning("~ %s: publish buffer full (%d events, NATS %s): dropping events "
                             "(%d so far)", self.name, self.max_pending,
                             "connected" if self.connected else "unreachable", self._dropped)
            return
        self._out.append((self._subject(stream), raw, msg_id(self._venue_token, ev, raw)))
        if not self._wake.is_set():
            self._wake.set()

    # the NATS side --------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _connect(self) -> None:
        nats = _nats()

        async def disconnected() -> None:
            self._disconnects += 1
            if self._closed:
                return
            _log.warning("~ %s: NATS connection lost; buffering up to %d events", self.name,
                         self.max_pending)

        async def reconnected() -> None:
            self._reconnects += 1
            self._ready = False      # hold the buffer until the stream is ensured again
            _log.info("= %s: NATS reconnected (%s)", self.name,
                      shown_url(self._nc.connected_url.geturl()) if self._nc.connected_url else "?")
            self._tasks.append(asyncio.create_task(self._after_reconnect()))
            self._wake.set()

        async def error(exc: Exception) -> None:
            _log.debug("~ %s: NATS: %s: %s", self.name, type(exc).__name__, exc)

        self._nc = await connect_nats(
            nats, self._nats, self.connect_timeout, name=f"fastws-feed-{self.name}",
            disconnected_cb=disconnected, reconnected_cb=reconnected, error_cb=error,
            pending_size=64 << 20)
        js = self._nc.jetstream()
        self._kv = await ensure_bus(js, self.prefix)
        if self.serve_snapshots:
            await self._nc.subscribe(f"{self.prefix}.snap.{self._venue_token}.*",
                                     cb=self._on_snap_request)

    async def _after_reconnect(self) -> None:
        """After a NATS restart a memory stream may be gone: ensure it (and the bucket) again,
        then put every book state at once for the consumers resyncing."""
        try:
            try:
                self._kv = await ensure_bus(self._nc.jetstream(), self.prefix)
            finally:
                self._ready = True
                self._wake.set()
            self._put_ids.clear()
            await self._put_books()
        except Exception as exc:
            _log.warning("~ %s: could not ensure the bus after a reconnect: %s: %s", self.name,
                         type(exc).__name__, exc)

    async def _pump(self) -> None:
        """Drain the publish buffer into NATS while connected."""
        out = self._out
        while True:
            await self._wake.wait()
            self._wake.clear()
            nc = self._nc
            while out and nc.is_connected and self._ready:
                subj, raw, mid = out[0]
                try:
                    await nc.publish(subj, raw, headers={MSG_ID_HEADER: mid})
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not nc.is_connected:
                        break            # kept; sent after the reconnect
                    out.popleft()
                    self._publish_errors += 1
                    _log.warning("~ %s: publish on %s failed: %s: %s", self.name, subj,
                                 type(exc).__name__, exc)
                    continue
                out.popleft()
                self._published += 1

    def _state(self, symbol: str) -> bytes | None:
        """The book's state as bytes, or None when it is not synced (never published then)."""
        book = self.ms.books.get(symbol)
        if book is None or not book.is_synced:
            return None
        bids, asks = book.top(None)
        return encode_book(book.update_id, bids, asks, symbol=symbol, venue=self.venue.name,
                           time_ms=int(time.time() * 1000), source=self.name)

    async def _put_books(self) -> None:
        kv = self._kv
        if kv is None or not self.connected:
            return
        for sym, book in list(self.ms.books.items()):
            if not book.is_synced or self._put_ids.get(sym) == book.update_id:
                continue
            uid = book.update_id
            data = self._state(sym)
            if data is None:
                continue
            await kv.put(book_key(self.venue.name, sym), data)
            self._put_ids[sym] = uid
            self._book_puts += 1

    async def _book_loop(self) -> None:
        while True:
            try:
                await self._put_books()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._put_errors += 1
                what = f"{type(exc).__name__}: {exc}"
                now = time.monotonic()
                if what != self._put_error_logged[0] or now - self._put_error_logged[1] > 60.0:
                    self._put_error_logged = (what, now)
                    _log.warning("~ %s: book state put failed (%d so far): %s", self.name,
                                 self._put_errors, what)
            await asyncio.sleep(self.book_interval)

    async def _on_snap_request(self, msg: Any) -> None:
        self._snap_requests += 1
        symbol = msg.subject.rsplit(".", 1)[-1]
        data = self._state(symbol)
        if data is None:
            self._snap_unsynced += 1
            return
        if msg.reply:
            await msg.respond(data)
            self._snap_answers += 1

    # lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> "FeedHandler":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect to NATS (ensuring the stream and bucket), then start the market stream."""
        if self._started:
            return
        self._started = True
        try:
            await self._connect()
            self._tasks.append(asyncio.create_task(self._pump(), name="fastws-bus-pump"))
            await self.ms.start()
            self._tasks.append(asyncio.create_task(self._book_loop(), name="fastws-bus-books"))
        except BaseException:
            await self.close()
            raise
        _log.info("= feed handler %s: %d streams of %s -> %s", self.name, len(self.ms.streams),
                  self.venue.name, self.nats_url)

    async def close(self, *, flush_timeout: float = 2.0) -> None:
        """Stop the market stream, send what is buffered (up to ``flush_timeout``), close."""
        if self._closed:
            return
        self._closed = True
        await self.ms.close()
        deadline = time.monotonic() + flush_timeout
        while self._out and self.connected and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.01)
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)
        if self._nc is not None:
            try:
                if self._nc.is_connected:
                    await asyncio.wait_for(self._nc.drain(), 5.0)
            except (asyncio.TimeoutError, Exception):
                pass
            try:
                await asyncio.wait_for(self._nc.close(), 5.0)
            except (asyncio.TimeoutError, Exception):
                pass

    async def kill(self) -> None:
        """Stop at once, as a crash would: nothing buffered is sent, no clean NATS close."""
        self._closed = True
        self._out.clear()
        for t in self._tasks:
            t.cancel()
        await self.ms.close()
        if self._nc is not None:
            try:
                await asyncio.wait_for(self._nc.close(), 5.0)
            except (asyncio.TimeoutError, Exception):
                pass

    # statistics -----------------------------------------------------------------------------------
    def stats(self) -> FeedHandlerStats:
        return FeedHandlerStats(
            published=self._published, dropped=self._dropped, pending=len(self._out),
            publish_errors=self._publish_errors, book_puts=self._book_puts,
            book_put_errors=self._put_errors,
            snap_requests=self._snap_requests, snap_answers=self._snap_answers,
            snap_unsynced=self._snap_unsynced, nats_disconnects=self._disconnects,
            nats_reconnects=self._reconnects, connected=self.connected, market=self.ms.stats())
