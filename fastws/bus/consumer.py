"""``BusStream``: :class:`~fastws.market_stream.MarketStream`'s API, fed from NATS instead of Binance.

Switching a bot from direct to bus is one line::

    ms = fastws.MarketStream(streams, venue=v)
    ms = fastws.bus.BusStream(streams, nats="nats://127.0.0.1:4222", venue=v)

Everything a bot uses stays: ``async with``, ``start()`` / ``close()``, ``on(type or stream,
cb)`` / ``off``, ``async for`` (bounded queue, per-stream ``"conflate"`` / ``"keep"`` policies,
:class:`~fastws.market_stream.Overflow` markers), ``books[SYMBOL]``, ``syncs``,
``wait_synced()``, ``subscribe`` / ``unsubscribe``, ``stats()``. It *is* a MarketStream whose
connection layer is NATS: the router, the book-sync machines, the queue and the statistics
are MarketStream's own.

Where the data comes from
-------------------------
* Events: a core NATS subscription per stream on ``<prefix>.live.<venue>.<SYMBOL>.<kind>``,
  where the events stream republishes what feed handlers publish, once per venue id (JetStream
  dropped the second feed handler's copies by message id before storing). Core subscriptions
  rather than JetStream consumers: no acks, no flow-control round trips, no per-message
  metadata, so the added latency is one server hop; the dedup already happened on the stream.
  Each payload is the venue's frame, parsed by :class:`fastws.parser.Parser`.
* Order: each stream's events arrive in the order the events stream stored them (the venue's
  order). Across streams nats-py runs one task per subscription, so two streams' events that
  arrived in one read may be delivered stream by stream; a direct MarketStream keeps the
  arrival order of one connection. Compare ``event_time`` where the order across streams
  matters.
* Books: the same :class:`~fastws.sync.BookSync` procedure and id rules as a direct stream.
  A snapshot (at start, after a gap, after a NATS reconnect) comes from the bus, never from the
  venue: first a request to the feed handlers (``<prefix>.snap.<venue>.<SYMBOL>``, answered only
  by one whose book is synced, covering every event it published), else the last state in the
  KV bucket (a late joiner with no feed handler running syncs from it). A state older than the
  buffered events is asked again with MarketStream's backoff.
* A slow consumer: the NATS callbacks only parse and route (books, callbacks, the bounded
  ``async for`` queue); a slow loop loses queue entries (``Overflow`` markers), never book
  events, and slows nobody else. If the process itself cannot keep up, nats-py drops messages
  past ``pending_msgs_limit`` (counted in ``stats().bad_frames["slow_consumer"]``); books
  detect the missing depth events by their ids and resync from the bus.
* NATS lost: every book is marked stale (``link_down``); after the reconnect each resyncs from
  the bus. Events published meanwhile are not replayed to this consumer.

``faults`` (:class:`BusFaults`) drops chosen events on arrival, for tests of the gap handling.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

from fastws.bus.subjects import (
    DEFAULT_PREFIX, book_key, books_bucket, check_prefix, decode_book, live_subject, snap_subject,
)
from fastws.bus.connect import connect_nats, shown_url
from fastws.events import DepthUpdate
from fastws.exceptions import InvalidUsage
from fastws.market_stream import MarketStream, MarketStreamStats
from fastws.parser import Parser
from fastws.venues import BINANCE_SPOT, Venue

__all__ = ["BusStream", "BusFaults", "DEFAULT_NATS_URL"]

_log = logging.getLogger("fastws.bus.consumer")

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


class BusFaults:
    """Fault injection on the consumer side (tests): drop events as they arrive from NATS."""

    def __init__(self) -> None:
        self._drop_depth: dict[str, int] = {}
        self.dropped = 0

    def drop_next_depth(self, symbol: str, count: int = 1) -> None:
        """Drop the next ``count`` depth events of ``symbol`` before the book sees them."""
        sym = symbol.upper()
        self._drop_depth[sym] = self._drop_depth.get(sym, 0) + count

    def _take(self, ev: Any) -> bool:
        if type(ev) is DepthUpdate and self._drop_depth:
            n = self._drop_depth.get(ev.symbol)  # type: ignore[arg-type]
            if n:
                if n == 1:
                    del self._drop_depth[ev.symbol]  # type: ignore[arg-type]
                else:
                    self._drop_depth[ev.symbol] = n - 1  # type: ignore[index]
                self.dropped += 1
                return True
        return False

    @property
    def active(self) -> bool:
        return bool(self._drop_depth)


_SPACE = re.compile(rb"[\s\x1c-\x1f]")   # what str.isspace() finds in ASCII


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """NATS header lines (``Name: Value\\r\\n``) -> dict, with nats-py's rules (a name with
    white space inside, or not ASCII, is skipped; values decoded as UTF-8 with replacement).

    The same result as nats-py's ``Client._parse_header_lines``, a third cheaper: every
    republished event carries six headers (``Nats-Stream``, ``Nats-Sequence``...) and nats-py's
    version, which tests each character of each name in a generator, was most of a consumer's
    CPU per message. Installed on the consumer's own connection only (:func:`_fast_headers`).
    """
    out: dict[str, str] = {}
    for line in raw.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip()
        if _SPACE.search(name) or not name.isascii():
            continue
        out[name.decode("ascii")] = value.strip().decode("utf-8", "replace")
    return out


def _fast_headers(nc: Any) -> None:
    """Use :func:`parse_header_lines` on this nats-py connection (where nats-py has the
    hook; a nats-py without it keeps its own parser)."""
    if callable(getattr(type(nc), "_parse_header_lines", None)):
        nc._parse_header_lines = parse_header_lines


class _Stat:
    __slots__ = ("messages", "bytes", "last_time", "since")

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.last_time = 0.0
        self.since = time.monotonic()      # subscribed at


class BusStream(MarketStream):
    """Market streams and synced books from a NATS bus (see the module docstring).

    Parameters
    ----------
    streams : iterable of str
        Stream names, as for MarketStream (the feed handlers must publish them).
    nats : str
        NATS server URL(s), comma-separated.
    venue : Venue
        The venue the feed handlers publish (its ``name`` is in the subjects, its ``market``
        picks the parser and the sync rules).
    prefix : str
        Subject prefix of the feed handlers (default ``fastws``).
    queue_size : int
        Bound of the ``async for`` queue.
    connect_timeout : float
        Seconds :meth:`start` waits for NATS.
    snapshot_timeout : float
        Seconds a bus snapshot (request, then KV) may take before it counts as failed.
    request_timeout : float
        Seconds to wait for a feed handler's answer before reading the KV instead.
    pending_msgs_limit : int
        Messages nats-py buffers per subscription before dropping (a process too slow).
    name : str, optional
        NATS connection name.
    books : bool
        Keep a synced book per diff-depth stream (default True).
    silence_factor, min_silence : float
        A book whose depth stream brings nothing for ``max(silence_factor * period,
        min_silence)`` seconds (no feed handler publishing it any more) is marked stale
        (``"bus silent ..."``) and resynced from the bus when events come again, as
        MarketStream does with a dead link.
    """

    def __init__(self, streams: Iterable[str] = (), *, nats: str = DEFAULT_NATS_URL,
                 venue: Venue = BINANCE_SPOT, prefix: str = DEFAULT_PREFIX,
                 queue_size: int = 10_000, connect_timeout: float = 10.0,
                 snapshot_timeout: float = 5.0, request_timeout: float = 0.5,
                 pending_msgs_limit: int = 1 << 19, name: str | None = None,
                 books: bool = True, silence_factor: float = 10.0,
                 min_silence: float = 5.0) -> None:
        super().__init__(streams, venue=venue, queue_size=queue_size, books=books,
                         connect_timeout=connect_timeout, snapshot_timeout=snapshot_timeout,
                         silence_factor=silence_factor, min_silence=min_silence)
        if not min_silence > 0 or not silence_factor > 0:
            raise InvalidUsage("silence_factor and min_silence must be > 0")
        self.silence_factor = silence_factor
        self.min_silence = min_silence
        try:
            self.prefix = check_prefix(prefix)
        except ValueError as exc:
            raise InvalidUsage(str(exc)) from None
        if not request_timeout > 0:
            raise InvalidUsage(f"request_timeout must be > 0, got {request_timeout!r}")
        self._nats = nats
        #: The NATS URL as logs and reprs show it (credentials in it replaced by ``***``).
        self.nats_url = shown_url(nats)
        self.request_timeout = request_timeout
        self.pending_msgs_limit = pending_msgs_limit
        self.name = name
        self.faults = BusFaults()
        self._parser = Parser(venue.market)
        self._nc: Any = None
        self._kv: Any = None
        self._subs: dict[str, Any] = {}
        self._stats: dict[str, _Stat] = {}
        self._parse_errors = 0
        self._slow_drops = 0
        self._connects = 0
        self._reconnects = 0
        self._disconnects = 0
        self._from_request = 0
        self._from_kv = 0
        self._closing = False
        self._silences = 0

    def __repr__(self) -> str:
        return f"<BusStream {self.venue.name} via {self.nats_url} streams={len(self._wanted)}>"

    # lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> "BusStream":
        await self.start()
        return self

    async def start(self) -> None:
        """Connect to NATS, subscribe every stream, sync every book from the bus."""
        if self._started:
            return
        self._started = True
        try:
            import nats
        except ImportError as exc:  # pragma: no cover - the extra is missing
            raise RuntimeError("BusStream needs nats-py: pip install 'fastws[bus]'") from exc
        try:
            self._nc = await connect_nats(
                nats, self._nats, self.connect_timeout,
                name=self.name or f"fastws-bus-{id(self):x}",
                disconnected_cb=self._disconnected, reconnected_cb=self._reconnected,
                error_cb=self._error)
            _fast_headers(self._nc)
            self._connects += 1
            self._snap_task = asyncio.create_task(self._snapshot_worker(), name="fastws-bus-snapshots")
            self._rate_task = asyncio.create_task(self._rate_sampler(), name="fastws-bus-rate")
            await self._set_streams()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Unsubscribe, close the NATS connection; iterators stop."""
        if self._closed:
            return
        self._closing = True
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                await asyncio.wait_for(nc.close(), 5.0)
            except (asyncio.TimeoutError, Exception):
                pass
        self._subs.clear()
        await super().close()

    async def _disconnected(self) -> None:
        self._disconnects += 1
        if self._closing:
            return
        _log.warning("~ bus: NATS connection lost; books stale until resynced from the bus")
        for sync in self.syncs.values():
            sync.link_down("bus connection lost")

    async def _reconnected(self) -> None:
        self._reconnects += 1
        _log.info("= bus: NATS reconnected; resyncing books from the bus")
        for sym, sync in self.syncs.items():
            sync.link_changed()
            self._want_snapshot(sym)

    async def _error(self, exc: Exception) -> None:
        name = type(exc).__name__
        if name == "SlowConsumerError":
            self._slow_drops += 1
            return
        _log.debug("~ bus: NATS: %s: %s", name, exc)

    # subscriptions --------------------------------------------------------------------------------
    async def _set_streams(self) -> None:
        """Make the NATS subscriptions match :attr:`streams` (MarketStream.subscribe /
        unsubscribe call this); a new book syncs from the bus at once."""
        nc = self._nc
        if nc is None:
            return
        for name in [n for n in self._subs if n not in self._wanted]:
            sub = self._subs.pop(name)
            self._stats.pop(name, None)
            try:
                await sub.unsubscribe()
            except Exception:
                pass
        for name in [n for n in self._wanted if n not in self._subs]:
            subject = live_subject(self.venue.name, name, market=self.market, prefix=self.prefix)
            st = self._stats[name] = _Stat()
            self._subs[name] = await nc.subscribe(subject, cb=self._handler(st),
                                                  pending_msgs_limit=self.pending_msgs_limit)
        await nc.flush()
        for sym, sync in self.syncs.items():
            if sync.needs_snapshot:
                self._want_snapshot(sym)

    def _handler(self, st: _Stat) -> Any:
        parse = self._parser.parse
        dispatch = self.router.dispatch
        faults = self.faults
        monotonic = time.monotonic

        async def on_msg(msg: Any) -> None:
            data = msg.data
            try:
                ev = parse(data)
            except Exception as exc:
                self._parse_errors += 1
                if self._parse_errors == 1 or self._parse_errors % 1000 == 0:
                    _log.warning("~ bus: a message on %s did not parse (%s: %s); %d so far",
                                 msg.subject, type(exc).__name__, exc, self._parse_errors)
                return
            if faults.active and faults._take(ev):
                return
            st.messages += 1
            st.bytes += len(data)
            st.last_time = monotonic()
            dispatch(ev)

        return on_msg

    # books from the bus ---------------------------------------------------------------------------
    async def _pace_weight(self, weight: int) -> None:
        """Bus snapshots cost the venue nothing: no weight pacing."""
        return None

    async def _fetch_depth(self, symbol: str) -> dict[str, Any]:
        """A book state from the bus: a feed handler's answer, else the KV's last state."""
        import nats.errors
        nc = self._nc
        if nc is None:
            raise ConnectionError("bus not connected")
        try:
            msg = await nc.request(snap_subject(self.venue.name, symbol, prefix=self.prefix), b"",
                                   timeout=self.request_timeout)
            if msg.data:
                state = decode_book(msg.data)
                self._from_request += 1
                return state
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            pass
        if self._kv is None:
            self._kv = await nc.jetstream().key_value(books_bucket(self.prefix))
        entry = await self._kv.get(book_key(self.venue.name, symbol))
        state = decode_book(entry.value)
        self._from_kv += 1
        return state

    def _silence_limit(self, stream: str) -> float:
        info = self._wanted.get(stream)
        period = info.update_ms / 1000.0 if info is not None and info.update_ms else 0.0
        return max(self.silence_factor * period, self.min_silence)

    def _check_silence(self, now: float) -> None:
        """Books whose depth stream went silent are stale (like a dead link)."""
        for sym, stream in self._book_stream.items():
            st = self._stats.get(stream)
            sync = self.syncs.get(sym)
            if st is None or sync is None or not sync.book.is_synced:
                continue
            quiet = now - max(st.last_time, st.since)
            if quiet > self._silence_limit(stream):
                self._silences += 1
                sync.link_down(f"bus silent for {quiet:.1f} s on {stream} (no feed handler "
                               f"publishing it?)")

    async def _rate_sampler(self) -> None:
        while True:
            now = time.monotonic()
            self._rate.append((now, self._total_messages()))
            self._check_silence(now)
            await asyncio.sleep(min(0.5, self.min_silence / 4))

    # statistics -----------------------------------------------------------------------------------
    @property
    def snapshot_sources(self) -> dict[str, int]:
        """Bus snapshots received: ``{"request": answered by a feed handler, "kv": read from
        the KV bucket}``."""
        return {"request": self._from_request, "kv": self._from_kv}

    @property
    def nats_disconnects(self) -> int:
        """Times the NATS connection was lost."""
        return self._disconnects

    def _total_messages(self) -> int:
        return sum(st.messages for st in self._stats.values())

    @property
    def connections(self) -> int:
        """1 while connected to NATS, else 0."""
        return 1 if self._nc is not None and self._nc.is_connected else 0

    def stats(self) -> MarketStreamStats:
        """Statistics now (MarketStreamStats; ``connects``/``reconnects`` are NATS's;
        ``snapshots`` the bus snapshots applied or tried, see :attr:`snapshot_sources`)."""
        out = super().stats()
        now_mono = time.monotonic()
        now_wall = time.time()
        for name, st in self._stats.items():
            out.streams[name] = {"messages": st.messages, "bytes": st.bytes,
                                 "last_time": st.last_time, "duplicates": 0}
            out.messages += st.messages
            out.bytes += st.bytes
            info = self._wanted.get(name)
            if info is not None and info.symbol and st.last_time > 0:
                t = now_wall - (now_mono - st.last_time)
                if t > out.last_message.get(info.symbol, 0.0):
                    out.last_message[info.symbol] = t
        out.connections = self.connections
        out.connects = self._connects
        out.reconnects = self._reconnects
        out.parse_errors = self._parse_errors
        out.silences = self._silences
        if self._parse_errors:
            out.bad_frames["parse"] = self._parse_errors
        if self._slow_drops:
            out.bad_frames["slow_consumer"] = self._slow_drops
        if self._rate:
            t0, n0 = self._rate[0]
            dt = time.monotonic() - t0
            if dt > 0.2:
                out.msgs_per_s = (out.messages - n0) / dt
        return out
