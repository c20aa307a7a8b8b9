"""The Binance local-book sync procedure as a state machine with no I/O.

:class:`BookSync` follows SPEC §3.1 (spot) and §3.2 (USD-M) exactly. It is fed with diff-depth
events (:meth:`BookSync.on_event`) and REST/WS-API depth snapshots
(:meth:`BookSync.on_snapshot`) and answers each call with a :class:`SyncAction` telling the
caller what happened and what to do next. It never fetches anything itself, so the live
streams, the replay tool and the tests drive it the same way.

Typical use::

    sync = BookSync("BTCUSDT", "spot")
    for ev in depth_events:                      # DepthUpdate objects, in arrival order
        action = sync.on_event(ev)
        if action.needs_snapshot:                # NEED_SNAPSHOT, GAP, STALE_SNAPSHOT, CROSSED
            snap = fetch_depth("BTCUSDT")        # REST GET /api/v3/depth (caller's I/O)
            sync.on_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"])
    sync.book.best_bid()                         # valid while sync.book.is_synced

Procedure (what the machine enforces)
-------------------------------------
1. Until a snapshot is applied, every event is buffered (the first one answers
   ``NEED_SNAPSHOT``, later ones ``BUFFERED``).
2. On a snapshot with ``lastUpdateId = L``: drop the buffered events it covers (spot
   ``u <= L``, USD-M ``u < L``). The first remaining event must bridge the snapshot
   (spot ``U <= L + 1``, USD-M ``U <= L``; ``u`` is then past ``L`` by step 2). If it does not,
   the snapshot is too old: ``STALE_SNAPSHOT``, keep buffering and fetch another. SPEC §3.1
   step 4 phrases this as "``L < U`` of the first event"; ``U == L + 1`` is an exact bridge
   (the spot ETHUSDT capture starts that way), so the check used is ``U > L + 1``. On USD-M
   an event with ``pu == L`` (the one right after the snapshot's last update) bridges too:
   futures ids skip, so it can have ``U > L`` while continuing the snapshot exactly.
3. The book is set to the snapshot and the remaining buffered events are applied through
   :meth:`fastws.book.OrderBook.apply`, which checks every event: spot ``U <= prev u + 1``
   (``U == prev u + 1`` in a healthy stream), USD-M ``pu == prev u``. Events the book already
   holds (``u <= update_id``: duplicates, replays after a reconnect) are ``IGNORED``.
4. A gap marks the book stale (readable, ``is_synced`` False), answers ``GAP`` and restarts
   at step 1 with the offending event as the first buffered one. A crossed book answers
   ``CROSSED`` and restarts the same way. An event the book refuses (off-grid price or
   invalid quantity, ``ValueError``) answers ``REJECTED`` and restarts without it.

5. Trust checks (a book that says synced equals the venue's book). Each of these marks the
   book stale with a readable :attr:`BookSync.stale_reason` and restarts at step 1 (answering
   ``GAP``, so the caller fetches a snapshot):

   * **ids going backwards**: an event the book would "already hold" (``u <= update_id``)
     that is not a repeat of a recent event (its ``u`` is well below the ids of the last
     :data:`RECENT_EVENTS` events held): a venue whose ids restarted lower, e.g. after a
     testnet reset. A genuine repeat (or a late, swapped event) is still ``IGNORED``, cheaply;
   * **an implausible id**: an event spanning more than ``max_id_jump`` ids (``u - U``), or
     jumping that far past the book (``u - update_id``); the event is dropped, so one absurd
     ``u`` can never freeze the book;
   * **a run of events that do not advance the book**: ``max_stall`` events in a row ignored
     (a stream lagging behind a snapshot taken ahead of it is not one: while each event
     continues the one before, it is catching up and dropped, however long that takes);
   * **a new link that does not bridge**: after :meth:`BookSync.link_changed` the next event
     must continue the book (spot ``U <= update_id + 1 < u + 1``, USD-M ``pu == update_id``);
   * **the stream being down**: :meth:`BookSync.link_down` (the caller's connection is gone or
     reconnecting) marks the book stale at once; a snapshot arriving meanwhile is not applied.

The buffer is bounded by bytes (``max_buffer_bytes``, 64 MiB by default: a flood of
diff-depth events is kept whole until the snapshot is applied, so one snapshot per book
suffices) and optionally by a count (``max_buffer``); when full the oldest event is dropped,
which only means the next snapshot must be newer than the oldest kept event.
"""
from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from itertools import islice
from typing import Any, Deque, Literal

from fastws.book import OrderBook
from fastws.events import DepthUpdate
from fastws.exceptions import CrossedBook, InvalidUsage, SequenceGap

__all__ = [
    "BookSync", "SyncAction", "SyncState", "SyncStats", "DEFAULT_MAX_BUFFER",
    "DEFAULT_MAX_BUFFER_BYTES", "DEFAULT_MAX_ID_JUMP", "DEFAULT_MAX_STALL", "RECENT_EVENTS",
]

#: Default bound on events buffered while waiting for a snapshot: None, the buffer is bounded
#: by bytes (:data:`DEFAULT_MAX_BUFFER_BYTES`) only.
DEFAULT_MAX_BUFFER: int | None = None
#: Default bound on the bytes of events buffered while waiting for a snapshot (64 MiB: minutes
#: of the busiest real stream, many seconds of a flood far beyond Binance's rate).
DEFAULT_MAX_BUFFER_BYTES = 64 << 20
#: An event spanning more ids than this (``u - U``), or jumping this far past the book, is
#: implausible (the busiest USD-M books advance by about 10**5 ids per 100 ms event).
DEFAULT_MAX_ID_JUMP = 10**10
#: Events in a row that do not advance a synced book before it is declared stale.
DEFAULT_MAX_STALL = 50
#: How many recent events an "already held" event may repeat (older: the ids went backwards).
RECENT_EVENTS = 64
#: Ids below the recent events an "already held" event may be and still count as a repeat.
_REPEAT_MARGIN = 64
#: Bytes counted per buffered event on top of its level arrays.
_EVENT_OVERHEAD = 200

Market = Literal["spot", "usdm"]


class SyncAction(enum.Enum):
    """What a :class:`BookSync` call did, and what the caller should do next."""

    #: The first event was buffered; fetch a snapshot and pass it to ``on_snapshot``.
    NEED_SNAPSHOT = "need snapshot"
    #: The event was buffered while a snapshot is awaited.
    BUFFERED = "buffered"
    #: The snapshot was applied with the buffered events: the book is synced.
    SYNCED = "synced"
    #: The event was applied to the synced book.
    APPLIED = "applied"
    #: The event (or an unrequested snapshot) was ignored: the book already holds it.
    IGNORED = "ignored"
    #: The book can no longer be trusted (ids skipped, went backwards, jumped implausibly far,
    #: stopped advancing, or a new link did not bridge: see ``BookSync.stale_reason``). It is
    #: stale; fetch a new snapshot (events are buffered).
    GAP = "gap: resync"
    #: The snapshot is older than the buffered events: fetch another one.
    STALE_SNAPSHOT = "stale snapshot"
    #: An update crossed the book: it is stale; fetch a new snapshot (events are buffered).
    CROSSED = "crossed: resync"
    #: The book refused an event's levels (off-grid price, invalid quantity: see
    #: ``BookSync.last_error``). The book is stale; fetch a new snapshot.
    REJECTED = "rejected: resync"

    @property
    def needs_snapshot(self) -> bool:
        """True when the caller must now fetch a snapshot and call ``on_snapshot``."""
        return self in _NEEDS_SNAPSHOT


_NEEDS_SNAPSHOT = frozenset(
    {
        SyncAction.NEED_SNAPSHOT,
        SyncAction.GAP,
        SyncAction.STALE_SNAPSHOT,
        SyncAction.CROSSED,
        SyncAction.REJECTED,
    }
)


class SyncState(enum.Enum):
    """Where the machine is."""

    #: No snapshot yet, or the last one was rejected / invalidated: buffering events.
    WAITING = "waiting"
    #: The book is synced and every event is applied as it comes.
    SYNCED = "synced"


@dataclass
class SyncStats:
    """Counters of one :class:`BookSync` (all cumulative).

    ``backwards``, ``implausible``, ``stalls``, ``no_bridge`` and ``link_downs`` count the trust
    checks that marked the book stale (see the module docstring); ``buffer_dropped`` the
    buffered events dropped because the buffer was full.
    """

    events: int = 0
    applied: int = 0
    ignored: int = 0
    buffered: int = 0
    buffer_dropped: int = 0
    snapshots: int = 0
    stale_snapshots: int = 0
    syncs: int = 0
    gaps: int = 0
    crossed: int = 0
    rejected: int = 0
    backwards: int = 0
    implausible: int = 0
    stalls: int = 0
    no_bridge: int = 0
    link_downs: int = 0

    @property
    def resyncs(self) -> int:
        """Syncs after the first one (each follows a gap or a crossing)."""
        return max(0, self.syncs - 1)

    def as_dict(self) -> dict[str, int]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["resyncs"] = self.resyncs
        return d


def _event_bytes(ev: DepthUpdate) -> int:
    return _EVENT_OVERHEAD + ev.bids.nbytes + ev.asks.nbytes


_SYNCED = SyncState.SYNCED
_APPLIED = SyncAction.APPLIED


class BookSync:
    """Snapshot + diff-depth sync of one :class:`~fastws.book.OrderBook` (no I/O).

    Parameters
    ----------
    symbol : str
        The symbol (``"BTCUSDT"``). Events for another symbol raise ``InvalidUsage``.
    market : {"spot", "usdm"}
        Which procedure to follow (SPEC §3.1 or §3.2).
    book : OrderBook, optional
        The book to maintain; a new ``OrderBook(symbol)`` (tick size inferred from the
        first snapshot) if omitted.
    max_buffer : int, optional
        Bound on the number of events buffered while waiting for a snapshot (default: none).
    max_buffer_bytes : int
        Bound on the bytes of the buffered events (default 64 MiB).
    max_id_jump : int
        Ids an event may span or jump past the book before it is implausible (default 10**10).
    max_stall : int
        Events in a row that do not advance a synced book before it is stale (default 50).
    logger : logging.Logger | logging.LoggerAdapter, optional
        Defaults to ``logging.getLogger("fastws.sync")``. INFO on each sync, WARNING on gaps.

    Contract
    --------
    * Feed every depth event of the symbol, in arrival order, to :meth:`on_event`.
    * Whenever an action has ``needs_snapshot`` True, fetch one snapshot (REST ``depth``) and
      pass it to :meth:`on_snapshot`; keep feeding events meanwhile. The request is asked
      for once per action; if the fetch fails, call :meth:`on_snapshot` later with the next
      attempt (the machine keeps buffering) or call :meth:`reset`.
    * Call :meth:`link_down` when the connection carrying the stream is lost or reconnecting,
      and :meth:`link_changed` when a new connection carries it.
    * Read the book only while ``book.is_synced``; a stale book is readable but flagged, and
      :attr:`stale_reason` says why.
    """

    def __init__(
        self,
        symbol: str,
        market: Market,
        book: OrderBook | None = None,
        *,
        max_buffer: int | None = DEFAULT_MAX_BUFFER,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        max_id_jump: int = DEFAULT_MAX_ID_JUMP,
        max_stall: int = DEFAULT_MAX_STALL,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        if max_buffer is not None and max_buffer < 1:
            raise InvalidUsage(f"max_buffer must be >= 1 or None, got {max_buffer!r}")
        if max_buffer_bytes < 1:
            raise InvalidUsage(f"max_buffer_bytes must be >= 1, got {max_buffer_bytes!r}")
        if max_id_jump < 1:
            raise InvalidUsage(f"max_id_jump must be >= 1, got {max_id_jump!r}")
        if max_stall < 1:
            raise InvalidUsage(f"max_stall must be >= 1, got {max_stall!r}")
        self.symbol = symbol
        self.market: Market = market
        self.book = book if book is not None else OrderBook(symbol)
        self.state = SyncState.WAITING
        self.stats = SyncStats()
        #: The last gap seen (expected / got ids), or None.
        self.last_gap: SequenceGap | None = None
        #: Why the last REJECTED event was refused, or None.
        self.last_error: ValueError | None = None
        #: Why the book is not synced now (None while it is synced).
        self.stale_reason: str | None = "waiting for the first snapshot"
        self.max_id_jump = max_id_jump
        self.max_stall = max_stall
        self._buffer: Deque[DepthUpdate] = deque()
        self._buffer_bytes = 0
        self._last_u = -1           # u of the last event buffered
        self._max_buffer = max_buffer
        self._max_buffer_bytes = max_buffer_bytes
        self._requested = False
        self._recent: Deque[int] = deque(maxlen=RECENT_EVENTS)   # u of recent events held
        self._snap_id = -1          # lastUpdateId of the snapshot the book was set to
        self._stalled = 0           # events in a row that did not advance the book
        self._stall_uid = -1        # ... at this update id
        self._chain_u = -1          # u of the last event older than the snapshot, while catching up
        self._must_bridge = False   # a new link: the next event must continue the book
        self._down = False          # the link is down: not synced, no snapshot applied
        self._after_down = False    # link_down seen, link_changed not yet
        self._log = logger or logging.getLogger("fastws.sync")

    # ------------------------------------------------------------------ inputs

    def on_event(self, ev: DepthUpdate) -> SyncAction:
        """Feed one diff-depth event; returns what happened (see :class:`SyncAction`)."""
        if not isinstance(ev, DepthUpdate):
            raise InvalidUsage(f"BookSync.on_event expects a DepthUpdate, not {type(ev).__name__}")
        if ev.symbol is not None and ev.symbol != self.symbol:
            raise InvalidUsage(f"event for {ev.symbol!r} fed to the {self.symbol!r} book sync")
        if self.market == "usdm" and ev.prev_final_update_id < 0:
            raise InvalidUsage("a USD-M depth event must carry pu (prev_final_update_id)")
        self.stats.events += 1
        if self.state is _SYNCED:
            # the hot path, inlined: a plausible event on a healthy book
            book = self.book
            u = ev.final_update_id
            uid = book.update_id
            if u - uid > self.max_id_jump or self._must_bridge:
                return self._apply_checked(ev, u, uid)
            try:
                if book.apply(ev):
                    self.stats.applied += 1
                    self._recent.append(u)
                    return _APPLIED
            except (SequenceGap, CrossedBook, ValueError) as exc:
                return self._refused(ev, u, exc)
            return self._held(ev, u, uid)
        self._down = False
        u = ev.final_update_id
        if u - ev.first_update_id > self.max_id_jump:
            self.stats.implausible += 1
            self._log.warning("= %s event U=%d u=%d spans an implausible number of ids; dropped",
                              self.symbol, ev.first_update_id, u)
            return SyncAction.BUFFERED if self._requested else self._ask()
        if u < self._last_u and self._buffer:
            # ids went backwards while buffering (the venue restarted them): the older events
            # belong to another sequence, a snapshot can never bridge both
            self.stats.backwards += 1
            self._log.warning("= %s update ids went backwards while buffering (u=%d after %d); "
                              "buffer restarted", self.symbol, u, self._last_u)
            self._clear_buffer()
        self._last_u = u
        self._push(ev)
        if not self._requested:
            return self._ask()
        return SyncAction.BUFFERED

    def on_snapshot(self, last_update_id: int, bids: Any, asks: Any) -> SyncAction:
        """Feed a depth snapshot (``lastUpdateId``, ``bids``, ``asks`` of a REST response).

        Returns ``SYNCED`` (or ``GAP``/``CROSSED``/``REJECTED`` if one of the buffered
        events applied after it breaks the chain), ``STALE_SNAPSHOT`` when the snapshot is
        older than the buffered events, ``CROSSED`` for a crossed snapshot, or ``IGNORED``
        when the book is already synced (an unrequested snapshot is not applied over a healthy
        book) or its link is down (:meth:`link_down`: the next event asks for a fresh one).

        Raises ``ValueError`` for malformed rows (off-grid price, bad quantity, wrong shape);
        nothing changes then and the machine keeps waiting for a usable snapshot.
        """
        self.stats.snapshots += 1
        if self.state is SyncState.SYNCED:
            return SyncAction.IGNORED
        if self._down:
            self._requested = False
            return SyncAction.IGNORED
        L = int(last_update_id)
        spot = self.market == "spot"
        buf = self._buffer
        # skip what the snapshot covers (the buffer itself changes only once it is applied)
        covered = 0
        for ev in buf:
            if ev.final_update_id > L if spot else ev.final_update_id >= L:
                break
            covered += 1
        if covered < len(buf):
            first = buf[covered]
            if first.first_update_id > (L + 1 if spot else L) and (
                spot or first.prev_final_update_id != L
            ):
                self.stats.stale_snapshots += 1
                self._requested = True
                self.stale_reason = (f"snapshot {L} older than the buffered events "
                                     f"(U={first.first_update_id}); asking again")
                self._log.info(
                    "= %s snapshot %d too old for buffered U=%d; asking again",
                    self.symbol, L, first.first_update_id,
                )
                return SyncAction.STALE_SNAPSHOT
        try:
            self.book.apply_snapshot(L, bids, asks)
        except CrossedBook:
            self.stats.crossed += 1
            self._requested = True
            self.stale_reason = f"crossed snapshot {L}; asking again"
            self._log.warning("= %s crossed snapshot %d; asking again", self.symbol, L)
            return SyncAction.CROSSED
        self.state = SyncState.SYNCED
        self.stale_reason = None
        self._requested = False
        self._must_bridge = False
        self._stalled = 0
        self._stall_uid = -1
        self._snap_id = L
        # a stream lagging behind the snapshot goes on with events the snapshot already holds:
        # they are dropped (SPEC §3.1), and never count as a stall while they continue this chain
        self._chain_u = buf[-1].final_update_id if buf and covered == len(buf) else -1
        self._recent.clear()
        self._recent.extend(ev.final_update_id
                            for ev in islice(buf, max(0, covered - RECENT_EVENTS), covered))
        self.stats.syncs += 1
        pending = list(islice(buf, covered, None))
        self._clear_buffer()
        self._log.info("= %s synced at %d (%d buffered events to apply)", self.symbol, L, len(pending))
        for i, ev in enumerate(pending):
            action = self._apply(ev)
            if action.needs_snapshot:
                # _apply buffered ev itself (or dropped it); keep the later ones behind it
                for later in pending[i + 1:]:
                    self._push(later)
                return action
        return SyncAction.SYNCED

    def reset(self) -> None:
        """Forget everything buffered and wait for a fresh start (book marked stale)."""
        self._clear_buffer()
        self.state = SyncState.WAITING
        self._requested = False
        self.stale_reason = "reset"
        self.book.mark_stale()

    def mark_stale(self, reason: str, *, level: int = logging.WARNING) -> None:
        """Mark the book stale because of ``reason`` (kept in :attr:`stale_reason`) and start
        over: the buffer is dropped and the next event asks for a snapshot. Logged at
        ``level`` when the book was synced."""
        if self.state is SyncState.SYNCED:
            self._log.log(level, "= %s book stale: %s; resync", self.symbol, reason)
        self.stale_reason = reason
        self.state = SyncState.WAITING
        self._requested = False
        self._must_bridge = False
        self._clear_buffer()
        self.book.mark_stale()

    def link_down(self, reason: str, *, level: int = logging.WARNING) -> None:
        """The connection carrying the stream is gone or reconnecting: the book is not synced
        (stale with ``reason``) and no snapshot is applied until events flow again."""
        self.stats.link_downs += 1
        self.mark_stale(reason, level=level)
        self._down = True
        self._after_down = True

    def link_changed(self) -> None:
        """A new connection carries the stream: its first event must continue the book
        (else the book is stale and resynced); events buffered from the old one are dropped."""
        if self.state is SyncState.SYNCED:
            self._must_bridge = True
        elif not self._after_down:
            self._clear_buffer()
            self._requested = False
        # (after link_down, whatever was buffered since came from the new link: kept)
        self._after_down = False

    # ------------------------------------------------------------------ internals

    def _ask(self) -> SyncAction:
        self._requested = True
        return SyncAction.NEED_SNAPSHOT

    def _clear_buffer(self) -> None:
        self._buffer.clear()
        self._buffer_bytes = 0
        self._last_u = -1

    def _push(self, ev: DepthUpdate) -> None:
        buf = self._buffer
        buf.append(ev)
        self._buffer_bytes += _EVENT_OVERHEAD + ev.bids.nbytes + ev.asks.nbytes
        self.stats.buffered += 1
        if self._buffer_bytes > self._max_buffer_bytes or (
                self._max_buffer is not None and len(buf) > self._max_buffer):
            self._trim()

    def _trim(self) -> None:
        buf = self._buffer
        while len(buf) > 1 and (self._buffer_bytes > self._max_buffer_bytes or (
                self._max_buffer is not None and len(buf) > self._max_buffer)):
            self._buffer_bytes -= _event_bytes(buf.popleft())
            self.stats.buffer_dropped += 1

    def _stale(self, reason: str, ev: DepthUpdate | None,
               action: SyncAction = SyncAction.GAP) -> SyncAction:
        # the book's own exceptions start with the symbol; the log line and stats() name it
        # already ("BTCUSDT BTCUSDT: update id gap" was seen)
        reason = reason.removeprefix(f"{self.symbol}: ")
        self.stale_reason = reason
        self._log.warning("= %s %s; book stale, resync", self.symbol, reason)
        self._restart(ev)
        return action

    def _apply(self, ev: DepthUpdate) -> SyncAction:
        book = self.book
        u = ev.final_update_id
        uid = book.update_id
        if u - uid > self.max_id_jump or self._must_bridge:
            return self._apply_checked(ev, u, uid)
        try:
            if book.apply(ev):
                self.stats.applied += 1
                self._recent.append(u)
                return _APPLIED
        except (SequenceGap, CrossedBook, ValueError) as exc:
            return self._refused(ev, u, exc)
        return self._held(ev, u, uid)

    def _refused(self, ev: DepthUpdate, u: int, exc: Exception) -> SyncAction:
        if isinstance(exc, SequenceGap):
            self.stats.gaps += 1
            self.last_gap = exc
            return self._stale(str(exc), ev)
        if isinstance(exc, CrossedBook):
            self.stats.crossed += 1
            return self._stale(str(exc), ev, SyncAction.CROSSED)
        # the book's levels are untouched, but it now misses this event: resync past it
        assert isinstance(exc, ValueError)
        self.stats.rejected += 1
        self.last_error = exc
        self.stale_reason = f"event u={u} rejected: {exc}"
        self._log.warning("= %s event u=%d rejected (%s); book stale, resync",
                          self.symbol, u, exc)
        self._restart(None)
        return SyncAction.REJECTED

    def _apply_checked(self, ev: DepthUpdate, u: int, uid: int) -> SyncAction:
        """The rare path: an implausible id, or the first event of a new link."""
        if u - uid > self.max_id_jump or u - ev.first_update_id > self.max_id_jump:
            self.stats.implausible += 1
            self._must_bridge = False
            return self._stale(f"implausible update id: event U={ev.first_update_id} u={u} "
                               f"against book {uid}", None)
        self._must_bridge = False
        if u <= uid:
            self.stats.no_bridge += 1
            return self._stale(f"new link does not bridge: first event U={ev.first_update_id} "
                               f"u={u} is not past book {uid}", ev)
        return self._apply(ev)

    def _held(self, ev: DepthUpdate, u: int, uid: int) -> SyncAction:
        """The book already holds ``ev`` (u <= update_id): a repeat, or ids going backwards."""
        self.stats.ignored += 1
        if uid == self._snap_id and self._chain_u >= 0 and self._continues(ev, self._chain_u):
            # the stream catching up with a snapshot taken ahead of it: each event continues
            # the one before (no repeat, no restart), so the book is right and will advance
            self._chain_u = u
            return SyncAction.IGNORED
        recent = self._recent
        low = recent[0] if recent else self._snap_id
        if u < low - max(_REPEAT_MARGIN, uid - low):
            self.stats.backwards += 1
            return self._stale(f"update ids went backwards: event u={u} is older than the "
                               f"recent events of book {uid}", ev)
        # consecutive ignored events leave update_id unchanged (an applied one moves it)
        if uid != self._stall_uid:
            self._stall_uid = uid
            self._stalled = 0
        self._stalled += 1
        if self._stalled >= self.max_stall:
            self.stats.stalls += 1
            return self._stale(f"{self._stalled} events in a row did not advance book {uid}", ev)
        return SyncAction.IGNORED

    def _continues(self, ev: DepthUpdate, prev_u: int) -> bool:
        """``ev`` is the event right after the one whose ``u`` was ``prev_u``."""
        if self.market == "spot":
            return ev.first_update_id == prev_u + 1
        return ev.prev_final_update_id == prev_u

    def _restart(self, ev: DepthUpdate | None) -> None:
        self.book.mark_stale()
        self.state = SyncState.WAITING
        self._requested = True
        self._must_bridge = False
        self._stalled = 0
        self._stall_uid = -1
        self._clear_buffer()
        if ev is not None:
            self._last_u = ev.final_update_id
            self._push(ev)

    # ------------------------------------------------------------------ views

    @property
    def needs_snapshot(self) -> bool:
        """True while waiting for a snapshot (the book is not synced)."""
        return self.state is SyncState.WAITING

    @property
    def link_is_down(self) -> bool:
        """True after :meth:`link_down` until events flow again."""
        return self._down

    @property
    def buffered(self) -> int:
        """Events currently buffered."""
        return len(self._buffer)

    @property
    def buffered_bytes(self) -> int:
        """Approximate bytes of the events currently buffered."""
        return self._buffer_bytes

    @property
    def first_buffered_id(self) -> int | None:
        """``U`` of the oldest buffered event (a snapshot must reach it), or None."""
        return self._buffer[0].first_update_id if self._buffer else None

    def __repr__(self) -> str:
        return (
            f"BookSync({self.symbol!r}, {self.market!r}, state={self.state.value}, "
            f"update_id={self.book.update_id}, buffered={len(self._buffer)}"
            + (f", stale_reason={self.stale_reason!r})" if self.stale_reason else ")")
        )
