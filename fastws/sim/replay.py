"""Replay of recorded Binance captures through the simulator (formats: ``fastws.captures``).

Each recorded combined-stream message is delivered, byte for byte, to the connections
subscribed to its stream (raw subscribers get the ``data`` part, combined ones the envelope).
The capture's REST depth snapshot (the latest one reached so far, else the first one of the
capture) answers ``GET /api/v3/depth`` / ``/fapi/v1/depth`` and the WS API ``depth``.

Pace: ``speed=1`` recorded pace, ``speed=k`` k times faster, ``speed=0`` as fast as possible.
Playback starts when the first stream connection has subscribed to something (so a test or a
bot connecting after start-up misses nothing), at once with ``start="now"``, or when
:meth:`Replay.play` is called with ``start="manual"`` (several connections, none missing out).
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Optional, Sequence, Union

import orjson

from fastws.captures import RecordKind, market_from_url, read_capture

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["Replay"]

log = logging.getLogger("fastws.sim.replay")

PathArg = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]
_BATCH = 512          # records per burst at speed 0


def _stream_of(payload: bytes) -> Optional[str]:
    if not payload.startswith(b'{"stream":"'):
        return None
    end = payload.find(b'"', 11)
    return payload[11:end].decode() if end > 0 else None


def _data_of(payload: bytes) -> bytes:
    i = payload.find(b'"data":')
    return payload[i + 7: payload.rfind(b"}")]


class Replay:
    """A recorded session played back into an :class:`~fastws.sim.Exchange`.

    Parameters
    ----------
    paths : path or sequence of paths
        The files of one session (``part1`` + ``part2``; a ``_ws`` file and its ``_http``).
    speed : float
        Pace multiplier; 0 means as fast as possible.
    market : str, optional
        Force ``"spot"`` or ``"usdm"``; by default it is read from the capture.
    start : {"first-subscription", "now", "manual"}
        When playback begins.
    loop : bool or int
        Play the capture again when it ends: ``True`` forever, an int that many passes in all
        (``1`` or ``False``: once). Each pass replays the recorded payloads as they are, so
        update ids start over and a depth client resynchronises, as after a reconnect.
    """

    def __init__(self, paths: PathArg, speed: float = 1.0, market: Optional[str] = None,
                 start: str = "first-subscription", loop: "bool | int" = False) -> None:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self.speed = speed
        self.start = start
        if loop is True:
            self.passes_wanted: Optional[int] = None          # forever
        else:
            self.passes_wanted = max(1, int(loop or 1))
        self.passes = 0
        symbols: dict[str, None] = {}
        found_market = market
        self.snapshots: dict[Optional[str], list[tuple[int, bytes]]] = {}
        self.count = 0
        for rec in read_capture(self.paths):
            if rec.kind is RecordKind.CONNECT:
                found_market = found_market or market_from_url(rec.url)
                continue
            if rec.kind is RecordKind.SNAPSHOT:
                found_market = found_market or market_from_url(rec.url)
                self.snapshots.setdefault(rec.symbol, []).append((rec.timestamp_ns, rec.payload))
                continue
            self.count += 1
            name = _stream_of(rec.payload)
            if name is None or "@" not in name:
                continue
            symbols[name.split("@", 1)[0].upper()] = None
            if found_market is None and b'"pu":' in rec.payload:
                found_market = "usdm"
        if not symbols:
            raise ValueError(f"no combined-stream messages found in {self.paths}")
        if found_market is None:
            joined = " ".join(os.path.basename(p) for p in self.paths).lower()
            found_market = "usdm" if ("usdm" in joined or "futures" in joined) else "spot"
        self.market = found_market
        self.symbols = list(symbols)
        self.position_ns = 0
        self.sent = 0
        # stream name -> more names its messages also go out under (the benchmark serves a
        # capture's "btcusdt@depth@100ms" to clients that subscribe "btcusdt@depth" too)
        self.aliases: dict[str, list[str]] = {}
        if start not in ("first-subscription", "now", "manual"):
            raise ValueError("start must be 'first-subscription', 'now' or 'manual'")
        self.done = asyncio.Event()
        self._go = asyncio.Event()
        self._ex: Optional["Exchange"] = None

    def attach(self, ex: "Exchange") -> None:
        self._ex = ex

    # -- snapshots ----------------------------------------------------------------------------
    def snapshot(self, symbol: str, limit: int) -> Optional[dict]:
        """The capture's snapshot of ``symbol`` reached so far (else its first), cut to ``limit``."""
        snaps = self.snapshots.get(symbol)
        if snaps is None and len(self.symbols) == 1 and symbol == self.symbols[0]:
            snaps = self.snapshots.get(None)      # hftbacktest snapshots name no symbol
        if not snaps:
            return None
        chosen = snaps[0]
        for ts, payload in snaps:
            if ts <= self.position_ns:
                chosen = (ts, payload)
        body = orjson.loads(chosen[1])
        body["bids"] = body["bids"][:limit]
        body["asks"] = body["asks"][:limit]
        return body

    def play(self) -> None:
        """Start playback (``start="manual"``)."""
        self._go.set()

    # -- playback -----------------------------------------------------------------------------
    async def _wait_start(self) -> None:
        ex = self._ex
        assert ex is not None
        if self.start == "now":
            return
        if self.start == "manual":
            await self._go.wait()
            return
        while not ex._hub.subs:
            await asyncio.sleep(0.005)

    async def run(self) -> None:
        """Play the capture once, or as many times as ``loop`` says (started by the Exchange)."""
        await self._wait_start()
        while self.passes_wanted is None or self.passes < self.passes_wanted:
            await self._play_once()
            self.passes += 1
            if self.passes_wanted is None or self.passes < self.passes_wanted:
                log.info("= replay pass %d done, starting over", self.passes)
                self.position_ns = 0
                await asyncio.sleep(0)
        self.done.set()
        log.info("= replay finished: %d messages in %d pass(es)", self.sent, self.passes)

    async def _play_once(self) -> None:
        ex = self._ex
        assert ex is not None
        hub = ex._hub
        loop = asyncio.get_running_loop()
        t_wall0 = loop.time()
        t_rec0: Optional[int] = None
        n = 0
        for rec in read_capture(self.paths):
            if rec.kind is not RecordKind.MESSAGE:
                if rec.kind is RecordKind.SNAPSHOT:
                    self.position_ns = rec.timestamp_ns
                continue
            if t_rec0 is None:
                t_rec0 = rec.timestamp_ns
            if self.speed > 0:
                due = t_wall0 + (rec.timestamp_ns - t_rec0) / 1e9 / self.speed
                delay = due - loop.time()
                if delay > 0.001:
                    hub.flush()
                    await asyncio.sleep(delay)
            elif n % _BATCH == 0 and n:
                hub.flush()
                await asyncio.sleep(0)
            self.position_ns = rec.timestamp_ns
            name = _stream_of(rec.payload)
            if name is None:
                continue
            data = _data_of(rec.payload)
            sym = name.split("@", 1)[0].upper()
            kind = "depth" if "@depth" in name and "@depth5" not in name \
                and "@depth10" not in name and "@depth20" not in name else ""
            if kind:
                action = ex.faults.take_depth(sym, None)
                if action == "drop":
                    continue
                hub.emit(name, data, kind=kind, symbol=sym)
                for alias in self.aliases.get(name, ()):
                    hub.emit(alias, data, kind=kind, symbol=sym)
                if action == "duplicate":
                    hub.emit(name, data, kind=kind, symbol=sym)
            else:
                hub.emit(name, data)
            self.sent += 1
            n += 1
        hub.flush()
