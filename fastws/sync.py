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

The buffer is bounded (``max_buffer`` events); when full the oldest event is dropped, which
only means the next snapshot must be newer than the oldest kept event.
"""
from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Literal

from fastws.book import OrderBook
from fastws.events import DepthUpdate
from fastws.exceptions import CrossedBook, InvalidUsage, SequenceGap

__all__ = ["BookSync", "SyncAction", "SyncState", "SyncStats", "DEFAULT_MAX_BUFFER"]

#: Default bound on events buffered while waiting for a snapshot (about 16 min of
#: ``@depth@100ms``, or 100 s of a busy ``@depth@0ms`` futures stream).
DEFAULT_MAX_BUFFER = 10_000

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
    #: Update ids were skipped: the book is stale; fetch a new snapshot (events are buffered).
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
    """Counters of one :class:`BookSync` (all cumulative)."""

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

    @property
    def resyncs(self) -> int:
        """Syncs after the first one (each follows a gap or a crossing)."""
        return max(0, self.syncs - 1)

    def as_dict(self) -> dict[str, int]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["resyncs"] = self.resyncs
        return d


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
    max_buffer : int
        Bound on buffered events while waiting for a snapshot.
    logger : logging.Logger | logging.LoggerAdapter, optional
        Defaults to ``logging.getLogger("fastws.sync")``. INFO on each sync, WARNING on gaps.

    Contract
    --------
    * Feed every depth event of the symbol, in arrival order, to :meth:`on_event`.
    * Whenever an action has ``needs_snapshot`` True, fetch one snapshot (REST ``depth``) and
      pass it to :meth:`on_snapshot`; keep feeding events meanwhile. The request is asked
      for once per action; if the fetch fails, call :meth:`on_snapshot` later with the next
      attempt (the machine keeps buffering) or call :meth:`reset`.
    * Read the book only while ``book.is_synced``; a stale book is readable but flagged.
    """

    def __init__(
        self,
        symbol: str,
        market: Market,
        book: OrderBook | None = None,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise InvalidUsage(f"market must be 'spot' or 'usdm', got {market!r}")
        if max_buffer < 1:
            raise InvalidUsage(f"max_buffer must be >= 1, got {max_buffer!r}")
        self.symbol = symbol
        self.market: Market = market
        self.book = book if book is not None else OrderBook(symbol)
        self.state = SyncState.WAITING
        self.stats = SyncStats()
        #: The last gap seen (expected / got ids), or None.
        self.last_gap: SequenceGap | None = None
        #: Why the last REJECTED event was refused, or None.
        self.last_error: ValueError | None = None
        self._buffer: Deque[DepthUpdate] = deque(maxlen=max_buffer)
        self._max_buffer = max_buffer
        self._requested = False
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
        if self.state is SyncState.SYNCED:
            return self._apply(ev)
        self._push(ev)
        if not self._requested:
            self._requested = True
            return SyncAction.NEED_SNAPSHOT
        return SyncAction.BUFFERED

    def on_snapshot(self, last_update_id: int, bids: Any, asks: Any) -> SyncAction:
        """Feed a depth snapshot (``lastUpdateId``, ``bids``, ``asks`` of a REST response).

        Returns ``SYNCED`` (or ``GAP``/``CROSSED``/``REJECTED`` if one of the buffered
        events applied after it breaks the chain), ``STALE_SNAPSHOT`` when the snapshot is
        older than the buffered events, ``CROSSED`` for a crossed snapshot, or ``IGNORED``
        when the book is already synced (an unrequested snapshot is not applied over a healthy
        book).

        Raises ``ValueError`` for malformed rows (off-grid price, bad quantity, wrong shape);
        nothing changes then and the machine keeps waiting for a usable snapshot.
        """
        self.stats.snapshots += 1
        if self.state is SyncState.SYNCED:
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
            self._log.warning("= %s crossed snapshot %d; asking again", self.symbol, L)
            return SyncAction.CROSSED
        self.state = SyncState.SYNCED
        self._requested = False
        self.stats.syncs += 1
        pending = list(buf)[covered:]
        buf.clear()
        self._log.info("= %s synced at %d (%d buffered events to apply)", self.symbol, L, len(pending))
        for i, ev in enumerate(pending):
            action = self._apply(ev)
            if action.needs_snapshot:
                # _apply buffered ev itself; keep the later ones behind it
                for later in pending[i + 1:]:
                    self._push(later)
                return action
        return SyncAction.SYNCED

    def reset(self) -> None:
        """Forget everything buffered and wait for a fresh start (book marked stale)."""
        self._buffer.clear()
        self.state = SyncState.WAITING
        self._requested = False
        self.book.mark_stale()

    # ------------------------------------------------------------------ internals

    def _push(self, ev: DepthUpdate) -> None:
        if len(self._buffer) == self._max_buffer:
            self.stats.buffer_dropped += 1
        self._buffer.append(ev)
        self.stats.buffered += 1

    def _apply(self, ev: DepthUpdate) -> SyncAction:
        try:
            if self.book.apply(ev):
                self.stats.applied += 1
                return SyncAction.APPLIED
            self.stats.ignored += 1
            return SyncAction.IGNORED
        except SequenceGap as gap:
            self.stats.gaps += 1
            self.last_gap = gap
            self._log.warning("= %s %s; book stale, resync", self.symbol, gap)
            self._restart(ev)
            return SyncAction.GAP
        except CrossedBook as exc:
            self.stats.crossed += 1
            self._log.warning("= %s %s; book stale, resync", self.symbol, exc)
            self._restart(ev)
            return SyncAction.CROSSED
        except ValueError as exc:
            # the book is untouched, but it now misses this event: resync past it
            self.stats.rejected += 1
            self.last_error = exc
            self._log.warning("= %s event u=%d rejected (%s); book stale, resync",
                              self.symbol, ev.final_update_id, exc)
            self._restart(None)
            return SyncAction.REJECTED

    def _restart(self, ev: DepthUpdate | None) -> None:
        self.book.mark_stale()
        self.state = SyncState.WAITING
        self._requested = True
        self._buffer.clear()
        if ev is not None:
            self._push(ev)

    # ------------------------------------------------------------------ views

    @property
    def needs_snapshot(self) -> bool:
        """True while waiting for a snapshot (the book is not synced)."""
        return self.state is SyncState.WAITING

    @property
    def buffered(self) -> int:
        """Events currently buffered."""
        return len(self._buffer)

    @property
    def first_buffered_id(self) -> int | None:
        """``U`` of the oldest buffered event (a snapshot must reach it), or None."""
        return self._buffer[0].first_update_id if self._buffer else None

    def __repr__(self) -> str:
        return (
            f"BookSync({self.symbol!r}, {self.market!r}, state={self.state.value}, "
            f"update_id={self.book.update_id}, buffered={len(self._buffer)})"
        )
