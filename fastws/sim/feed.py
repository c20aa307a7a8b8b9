"""Feed mode: the firehose on the standard stream paths, so any client can be benchmarked.

``ex.set_feed(FeedSpec(...))`` (or ``Exchange(..., feed=FeedSpec(...))``) makes every new
stream connection on ``/ws``, ``/ws/<stream>``, ``/stream?streams=`` (and the streams it then
SUBSCRIBEs to) a :class:`FeedConn`: instead of the live synthetic market it gets pre-encoded
frames of the streams it asked for, written straight to the transport in large blocks,
respecting flow control, so that the *client* is the bottleneck (as ``/firehose`` does, but on
the paths every third-party client uses). Control messages (SUBSCRIBE, LIST_SUBSCRIPTIONS,
...) and pings behave as on any stream connection. Modes:

``tickers``
    ``<symbol>@bookTicker`` frames of the feed's symbols: ``tickers`` distinct payloads per
    symbol, repeated to about 1 MiB per write as fast as the client reads, ``"u"`` moving on
    (patched in place) so that no client sees an id twice.
``paced``
    The same streams at ``rate`` messages per second per connection (all its streams
    together), each frame stamped at write time with ``time.monotonic_ns()`` in ``"u"``
    (CLOCK_MONOTONIC is system-wide on Linux: a client on the same host computes the
    send-to-callback latency as its own ``monotonic_ns()`` minus ``u``).
``depth``
    Diff depth (any ``<symbol>@depth...`` diff stream name) as fast as the client reads, from
    a :class:`DepthCycle` per symbol: ``events`` consecutive updates of the synthetic market
    followed by one update that puts the book back to where the cycle started, played again
    and again with update ids moving on by the cycle's length on every pass (the id digits
    are patched in place in the pre-encoded block). Depth snapshots (REST ``/api/v3/depth``
    and the WS API ``depth``) of a feed symbol are the cycle's starting book at the end of
    the pass being written, so they are always consistent with the stream: a client that
    follows Binance's procedure syncs at the next pass. ``drop_every=n`` leaves one update
    of each symbol out of every n-th pass, the symbols of a connection taking turns (symbol
    ``i`` of ``m`` on passes ``k`` with ``(k + i * n // m) % n == n - 1``: what a lossy link
    does); the book that the cycle's
    :meth:`DepthCycle.reference` gives is the true one, dropped updates included.

:meth:`Feed.pause` stops every feed connection writing (the end of a measured window);
:attr:`Feed.last_ids` then says the last update id each symbol was written up to and
:attr:`Feed.snapshots` how many depth snapshots were served.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from fastws.sim import payloads as P
from fastws.sim.conns import StreamConn
from fastws.sim.market import SymbolMarket, SymbolSpec
from fastws.sim.streams import DEPTH_DIFF, parse_stream

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["FeedSpec", "Feed", "FeedConn", "DepthCycle", "BASE_ID"]

log = logging.getLogger("fastws.sim.feed")

BASE_ID = 100_000_000_000
"""Update ids of the depth feed start here: always 12 digits, patched in place."""
_ID_WIDTH = 12
_BLOCK_TARGET = 1 << 20            # bytes per write in tickers mode: about 1 MiB
_PACE_TICK = 0.001                 # seconds between two paced writes
_MODES = ("tickers", "paced", "depth")


@dataclass(frozen=True)
class FeedSpec:
    """What the feed serves.

    Parameters
    ----------
    mode : {"tickers", "paced", "depth"}
        See the module docstring.
    rate : float
        ``paced``: messages per second per connection.
    events : int
        ``depth``: market updates per symbol in one cycle (the cycle adds one).
    drop_every : int
        ``depth``: leave one update per symbol out of every n-th pass (0: never).
    tickers : int
        ``tickers``/``paced``: distinct bookTicker payloads per symbol.
    seed : int
        Seed of the market the frames are taken from.
    """

    mode: str = "tickers"
    rate: float = 1000.0
    events: int = 2048
    drop_every: int = 0
    tickers: int = 1024
    seed: int = 7

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"feed mode must be one of {_MODES}, not {self.mode!r}")
        if self.mode == "paced" and not self.rate > 0:
            raise ValueError("a paced feed needs rate > 0")
        if self.events < 1 or self.tickers < 1 or self.drop_every < 0:
            raise ValueError("events and tickers must be >= 1, drop_every >= 0")


class DepthCycle:
    """``events`` diff-depth updates of one symbol and the update that undoes them.

    Attributes
    ----------
    length : int
        Update ids one pass consumes (``L``): pass ``k`` carries ids
        ``BASE_ID + k * L + 1`` to ``BASE_ID + (k + 1) * L``.
    payloads : list of bytes
        Raw ``depthUpdate`` payloads of pass 0 (ids 12 digits wide).
    rel : list of (int, int)
        ``(U, u)`` of each payload relative to the pass (1-based).
    bids0, asks0 : list of (tick, lots)
        The book at every pass boundary, best first.
    drop_at : int
        Index of the payload left out on lossy passes.
    """

    def __init__(self, spec: SymbolSpec, events: int = 2048, seed: int = 7,
                 levels: int = 200) -> None:
        m = SymbolMarket(spec, "spot", seed=seed, start_ms=1_700_000_000_000, levels=levels)
        self.market = m
        self.symbol = spec.symbol
        b0, a0 = dict(m.bids), dict(m.asks)
        self.bids0, self.asks0 = m.top(len(b0) + len(a0))
        uid0 = m.update_id
        self.payloads: list[bytes] = []
        self.rel: list[tuple[int, int]] = []
        best_u: list[int] = []
        best_bid: list[float] = []
        best_ask: list[float] = []
        while len(self.payloads) < events:
            res = m.step()
            if not res.changes:
                continue
            bids: dict[int, int] = {}
            asks: dict[int, int] = {}
            for is_bid, tick, lots, _uid in res.changes:
                (bids if is_bid else asks)[tick] = lots
            U, u = res.changes[0][3] - uid0, res.changes[-1][3] - uid0
            self._add(m, res.time, U, u, bids, asks)
            best_u.append(u)
            best_bid.append(float(m.px(m.best_bid)) if m.bids else float("nan"))
            best_ask.append(float(m.px(m.best_ask)) if m.asks else float("nan"))
        # the update that puts the book back where the cycle started
        u = m.update_id - uid0 + 1
        rb = {t: b0.get(t, 0) for t in set(b0) | set(m.bids) if b0.get(t, 0) != m.bids.get(t, 0)}
        ra = {t: a0.get(t, 0) for t in set(a0) | set(m.asks) if a0.get(t, 0) != m.asks.get(t, 0)}
        self._add(m, m.time + 1, u, u, rb, ra)
        best_u.append(u)
        best_bid.append(float(m.px(max(b0))))
        best_ask.append(float(m.px(min(a0))))
        self.length = u
        self.ref_bid = np.full(u + 1, np.nan)
        self.ref_ask = np.full(u + 1, np.nan)
        self.ref_bid[best_u] = best_bid
        self.ref_ask[best_u] = best_ask
        self.drop_at = random.Random(seed ^ len(self.payloads)).randrange(
            len(self.payloads) // 4, 3 * len(self.payloads) // 4)

    def _add(self, m: SymbolMarket, E: int, U: int, u: int, bids: dict, asks: dict) -> None:
        d = P.depth_diff(m, E, BASE_ID + U, BASE_ID + u, sorted(bids.items(), reverse=True),
                         sorted(asks.items()))
        self.payloads.append(P.dumps(d))
        self.rel.append((U, u))

    def snapshot(self, limit: int, last_update_id: int) -> dict:
        """The cycle's starting book (a pass boundary) under ``last_update_id``."""
        m = self.market
        return {"lastUpdateId": last_update_id,
                "bids": [[m.px(t), m.qty(q)] for t, q in self.bids0[:limit]],
                "asks": [[m.px(t), m.qty(q)] for t, q in self.asks0[:limit]]}

    def reference(self, update_id: int) -> Optional[tuple[float, float]]:
        """(best bid, best ask) of the true book right after update ``update_id``, or None
        when no update of the feed ends at that id."""
        if update_id <= BASE_ID:
            return None
        rel = (update_id - BASE_ID - 1) % self.length + 1
        b = self.ref_bid[rel]
        if b != b:                                  # NaN: not the end of an update
            return None
        return float(b), float(self.ref_ask[rel])


class _Block:
    """The frames of one connection's streams for one pass, with the id digit positions."""

    def __init__(self, frames: list[bytes], id_at: list[tuple[int, int, int]]) -> None:
        self.data = bytearray(b"".join(frames))
        self.view = np.frombuffer(self.data, dtype=np.uint8)
        self.frames = len(frames)
        self.dropped: set[str] = set()           # symbols with an update left out
        # (offset of the id's 12 digits, id relative to the pass, ids per pass)
        arr = np.array(id_at, dtype=np.int64).reshape(-1, 3)
        self.offs, self.rel, self.length = arr[:, 0], arr[:, 1], arr[:, 2]

    def pass_bytes(self, k: int) -> bytes:
        """The block with the ids of pass ``k`` written in."""
        if len(self.offs):
            vals = BASE_ID + k * self.length + self.rel
            for d in range(_ID_WIDTH):
                self.view[self.offs + d] = 48 + (vals // 10 ** (_ID_WIDTH - 1 - d)) % 10
        return bytes(self.data)


class Feed:
    """The feed of one :class:`~fastws.sim.Exchange` (made by :meth:`Exchange.set_feed`)."""

    def __init__(self, ex: "Exchange", spec: FeedSpec) -> None:
        self.ex = ex
        self.spec = spec
        self.paused = False
        self.snapshots = 0
        self.cycles: dict[str, DepthCycle] = {}
        self.tickers: dict[str, list[dict]] = {}
        self.passes: dict[str, int] = {}           # symbol -> last pass started (-1: none)
        self.conns: list[FeedConn] = []
        for sym, src in ex._markets.items():
            self.passes[sym] = -1
            if spec.mode == "depth":
                self.cycles[sym] = DepthCycle(src.spec, spec.events, spec.seed)
            else:
                m = SymbolMarket(src.spec, "spot", seed=spec.seed, start_ms=ex.now_ms())
                out: list[dict] = []
                while len(out) < spec.tickers:
                    res = m.step()
                    if res.top_changed:
                        out.append(P.book_ticker(m, res.time))
                self.tickers[sym] = out

    def serves(self, name: str) -> Optional[str]:
        """The symbol of stream ``name`` if this feed serves it, else None."""
        spec = parse_stream(name, "spot")
        if spec is None or spec.symbol is None or spec.symbol not in self.passes:
            return None
        if self.spec.mode == "depth":
            return spec.symbol if spec.kind == DEPTH_DIFF else None
        return spec.symbol if spec.kind == "bookTicker" else None

    def snapshot(self, symbol: str, limit: int) -> Optional[dict]:
        """Depth snapshot of a feed symbol (None: not a depth feed symbol)."""
        cyc = self.cycles.get(symbol)
        if cyc is None:
            return None
        self.snapshots += 1
        return cyc.snapshot(limit, BASE_ID + (self.passes[symbol] + 1) * cyc.length)

    @property
    def last_ids(self) -> dict[str, int]:
        """Depth: the last update id written so far, per symbol (every pass is written whole)."""
        return {s: BASE_ID + (self.passes[s] + 1) * c.length for s, c in self.cycles.items()
                if self.passes[s] >= 0}

    def pause(self) -> None:
        """Stop writing on every feed connection (they stay open)."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        for c in list(self.conns):
            c.kick()

    def stats(self) -> dict[str, Any]:
        return {"mode": self.spec.mode, "snapshots": self.snapshots,
                "connections": len(self.conns), "last_ids": self.last_ids,
                "frames_sent": sum(c.feed_frames for c in self.conns)}


class FeedConn(StreamConn):
    """A stream connection served by the :class:`Feed` instead of the live market."""

    kind = "feed"

    def __init__(self, ex: "Exchange", path: str, streams: list[str], combined: bool,
                 feed: Feed) -> None:
        super().__init__(ex, path, streams, combined, None)
        self.feed = feed
        self.names: list[str] = []               # the feed streams, in subscription order
        self.feed_frames = 0
        self._block: Optional[_Block] = None
        self._lossy: dict[int, _Block] = {}          # pass phase -> block missing an update
        self._pass = 0
        self._paused = False
        self._scheduled = False
        self._paced: Optional[list[tuple[bytes, bytes]]] = None
        self._pace_t0 = 0.0
        self._pace_sent = 0
        self._pace_timer: Optional[asyncio.TimerHandle] = None

    # -- subscriptions ------------------------------------------------------------------------
    def _hub_add(self, name: str) -> None:
        if self.feed.serves(name) is not None:
            if name not in self.names:
                self.names.append(name)
                self._rebuild()
                if self.transport is not None:
                    self.kick()
        else:
            super()._hub_add(name)               # anything else comes from the live market

    def on_text(self, data: bytes) -> None:
        before = list(self.state.subscriptions)
        super().on_text(data)
        gone = [n for n in before if n not in self.state.subscriptions and n in self.names]
        if gone:
            self.names = [n for n in self.names if n not in gone]
            self._rebuild()

    def on_ws_connected(self, transport: Any) -> None:
        self.feed.conns.append(self)
        super().on_ws_connected(transport)
        self.kick()

    def on_ws_disconnected(self, transport: Any) -> None:
        if self in self.feed.conns:
            self.feed.conns.remove(self)
        if self._pace_timer is not None:
            self._pace_timer.cancel()
        super().on_ws_disconnected(transport)
        log.info("= feed conn %d: %d frames written", self.id, self.feed_frames)

    def _frame(self, name: str, raw: bytes) -> bytes:
        return P.frame(P.combined(name, raw) if self.combined else raw)

    def _rebuild(self) -> None:
        """(Re)build what this connection is sent for its current feed streams."""
        self._block = None
        self._lossy = {}
        self._paced = None
        if not self.names:
            return
        feed = self.feed
        syms = [feed.serves(n) or "" for n in self.names]      # every name here is served
        mode = feed.spec.mode
        if mode == "depth":
            self._block = self._depth_block(syms)
            every = feed.spec.drop_every
            if every:
                for i, sym in enumerate(syms):
                    phase = (every - 1 - i * every // len(syms)) % every
                    if phase not in self._lossy:
                        self._lossy[phase] = self._depth_block(syms, lossy={sym})
                    else:                        # more symbols than passes: share the pass
                        drop = {sym} | self._lossy[phase].dropped
                        self._lossy[phase] = self._depth_block(syms, lossy=drop)
            self._pass = max(feed.passes[s] for s in syms) + 1
        elif mode == "tickers":
            # distinct payloads repeated to about 1 MiB, "u" moving on (12 digits, patched)
            frames: list[bytes] = []
            id_at: list[tuple[int, int, int]] = []
            n = feed.spec.tickers
            size = sum(len(P.dumps(feed.tickers[s][0])) + 60 for s in syms)
            reps = max(1, _BLOCK_TARGET // (size * n))
            pos = 0
            for i in range(n * reps):
                for name, s in zip(self.names, syms):
                    d = dict(feed.tickers[s][i % n])
                    d["u"] = BASE_ID + i + 1
                    raw = P.dumps(d)
                    fr = self._frame(name, raw)
                    start = pos + len(fr) - len(raw) - (1 if self.combined else 0)
                    id_at.append((start + raw.index(b'"u":') + 4, i + 1, n * reps))
                    frames.append(fr)
                    pos += len(fr)
            self._block = _Block(frames, id_at)
            self._pass = 0
        else:
            tpl = []
            for name, s in zip(self.names, syms):
                d = dict(feed.tickers[s][0])             
                d.pop("u")
                rest = b"," + P.dumps(d)[1:]
                head = b'{"u":'
                if self.combined:
                    head = b'{"stream":' + P.orjson.dumps(name) + b',"data":' + head
                    rest += b"}"
                tpl.append((head, rest))
            self._paced = tpl
            self._pace_t0 = time.monotonic()
            self._pace_sent = 0

    def _depth_block(self, syms: list[str], lossy: "set[str] | frozenset[str]" = frozenset()
                     ) -> _Block:
        frames: list[bytes] = []
        id_at: list[tuple[int, int, int]] = []
        pos = 0
        cycles = [self.feed.cycles[s] for s in syms]
        names = self.names
        n = max(len(c.payloads) for c in cycles)
        for i in range(n):
            for name, c in zip(names, cycles):
                if i >= len(c.payloads) or (c.symbol in lossy and i == c.drop_at):
                    continue
                raw = c.payloads[i]
                fr = self._frame(name, raw)
                start = pos + len(fr) - len(raw) - (1 if self.combined else 0)
                oU = raw.index(b'"U":') + 4
                ou = raw.index(b'"u":') + 4
                U, u = c.rel[i]
                id_at.append((start + oU, U, c.length))
                id_at.append((start + ou, u, c.length))
                frames.append(fr)
                pos += len(fr)
        blk = _Block(frames, id_at)
        blk.dropped = set(lossy)
        return blk

    # -- writing ------------------------------------------------------------------------------
    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self.kick()

    def kick(self) -> None:
        if self._paced is not None:
            if self._pace_timer is None:
                self._pace_t0 = time.monotonic()
                self._pace_sent = 0
                self._pace()
            return
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_some)

    def _writable(self) -> bool:
        tr = self.transport
        if self.closed or tr is None or self._paused or self.feed.paused:
            return False
        if tr.underlying_transport.is_closing():
            self.closed = True
            return False
        return True

    def _write_some(self) -> None:
        self._scheduled = False
        if self.feed.spec.mode == "paced":
            return
        for _ in range(4):
            if not self._writable():
                return
            ut = self.transport.underlying_transport  # type: ignore[union-attr]
            if self._block is not None:
                k = self._pass
                if self.feed.spec.mode == "tickers":
                    ut.write(self._block.pass_bytes(k))
                    self.feed_frames += self._block.frames
                    self._pass = k + 1
                    continue
                every = self.feed.spec.drop_every
                blk = self._lossy.get(k % every, self._block) if every else self._block
                for s in self.names:
                    sym = self.feed.serves(s)
                    if sym is not None and self.feed.passes[sym] < k:
                        self.feed.passes[sym] = k
                ut.write(blk.pass_bytes(k))
                self.feed_frames += blk.frames
                self._pass = k + 1
            else:
                return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._write_some)

    def _pace(self) -> None:
        self._pace_timer = None
        if self.closed or self._paced is None:
            return
        loop = asyncio.get_running_loop()
        if self._writable():
            due = int(self.feed.spec.rate * (time.monotonic() - self._pace_t0)) - self._pace_sent
            if due > 0:
                tpl = self._paced
                n = len(tpl)
                out = []
                now_ns = time.monotonic_ns
                for j in range(self._pace_sent, self._pace_sent + min(due, 10_000)):
                    head, rest = tpl[j % n]
                    out.append(P.frame(head + str(now_ns()).encode() + rest))
                self._pace_sent += due
                self.transport.underlying_transport.write(b"".join(out))  # type: ignore[union-attr]
                self.feed_frames += len(out)
        elif self.feed.paused:
            self._pace_t0 = time.monotonic()
            self._pace_sent = 0
        self._pace_timer = loop.call_later(_PACE_TICK, self._pace)
