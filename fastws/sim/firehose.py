"""Firehose mode: pre-encoded frames written in large batches, so the client is the bottleneck.

Connect to ``/firehose/<stream>`` on a running :class:`~fastws.sim.Exchange`, e.g.
``ws://127.0.0.1:PORT/firehose/btcusdt@bookTicker?count=1000000``. The server takes
``frames`` distinct payloads of that stream from a private copy of the synthetic market, frames
each once (header + payload), joins them into one block and then writes that block to the
socket again and again (straight to the transport, one ``write`` per block, respecting flow
control), until ``count`` frames have gone out (then it closes with 1000) or the client leaves.

Every frame of a block has the same size (payloads are padded with JSON whitespace), so a
client may count frames as ``bytes // frame_size`` (see :attr:`FirehoseConn.frame_size`,
also sent in the ``X-Firehose-Frame-Size`` response header).

Query parameters: ``count`` (frames, default unlimited), ``frames`` (distinct payloads per
block, default 4096), ``combined=1`` (wrap in the combined envelope).
Streams: ``<symbol>@bookTicker``, ``<symbol>@trade``, ``<symbol>@depth@100ms``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Optional

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, \
    WSUpgradeResponse, WSUpgradeResponseWithListener

from fastws.sim import payloads as P
from fastws.sim.market import SymbolMarket

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["FirehoseConn", "build_block"]

log = logging.getLogger("fastws.sim.firehose")

_BLOCK_TARGET = 1 << 20       # bytes per write: about 1 MiB


def build_block(market: SymbolMarket, stream: str, n: int, combined: bool) -> tuple[bytes, int]:
    """``n`` framed payloads of ``stream`` of equal size joined: (block, frame_size)."""
    kind = stream.split("@", 1)[1]
    payloads: list[bytes] = []
    E = market.time
    agg: Any = None
    while len(payloads) < n:
        res = market.step()
        E = res.time
        if kind == "bookTicker":
            if res.top_changed:
                payloads.append(P.dumps(P.book_ticker(market, E)))
        elif kind == "trade":
            for f in res.fills:
                payloads.append(P.dumps(P.trade(market, E, f)))
        elif kind.startswith("depth"):
            if agg is None:
                from fastws.sim.hub import DepthAggregator
                agg = DepthAggregator(market.update_id)
            agg.add(res.changes, res.time)
            if len(res.changes) and market.rng.random() < 0.3:
                U, u, pu, T, bids, asks = agg.take()
                payloads.append(P.dumps(P.depth_diff(market, E, U, u, bids, asks, pu, T)))
        else:
            raise ValueError(f"firehose serves bookTicker, trade or depth, not {stream!r}")
    payloads = payloads[:n]
    if combined:
        payloads = [P.combined(stream, p) for p in payloads]
    width = max(len(p) for p in payloads)
    frames = [P.frame(p + b" " * (width - len(p))) for p in payloads]
    size = len(frames[0])
    block = b"".join(frames)
    reps = max(1, _BLOCK_TARGET // len(block))
    return block * reps, size


class FirehoseConn(WSListener):  # type: ignore[misc]
    """Server side of one firehose connection."""

    kind = "firehose"

    def __init__(self, ex: "Exchange", stream: str, count: Optional[int], frames: int,
                 combined: bool) -> None:
        super().__init__()
        self.ex = ex
        self.id = ex._next_conn_id()
        sym = stream.split("@", 1)[0].upper()
        src = ex._markets.get(sym) or next(iter(ex._markets.values()))
        market = SymbolMarket(src.spec, ex.market, seed=self.id, start_ms=ex.now_ms())
        self.block, self.frame_size = build_block(market, stream, frames, combined)
        self.frames_per_block = len(self.block) // self.frame_size
        self.remaining = count
        self.sent = 0
        self._paused = False
        self._tr: Optional[WSTransport] = None
        self._scheduled = False

    @classmethod
    def from_request(cls, ex: "Exchange", raw_path: str, path: str,
                     query: dict[str, list[str]]) -> Any:
        stream = path[len("/firehose/"):] if path.startswith("/firehose/") else ""
        try:
            count = int(query["count"][0]) if "count" in query else None
            frames = int(query.get("frames", ["4096"])[0])
            combined = query.get("combined", ["0"])[0] in ("1", "true")
            conn = cls(ex, stream or "btcusdt@bookTicker", count, max(1, frames), combined)
        except (ValueError, KeyError, StopIteration) as exc:
            body = str(exc).encode()
            return WSUpgradeResponseWithListener(
                WSUpgradeResponse.create_error_response(400, body), None)
        resp = WSUpgradeResponse.create_101_response(
            {"X-Firehose-Frame-Size": str(conn.frame_size)})
        return WSUpgradeResponseWithListener(resp, conn)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._tr = transport
        self._loop = asyncio.get_running_loop()
        self._write_some()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            self._tr = None
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._tr = None
        log.info("= firehose conn %d: %d frames sent", self.id, self.sent)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._write_some()

    def _write_some(self) -> None:
        self._scheduled = False
        tr = self._tr
        if tr is None or self._paused:
            return
        ut = tr.underlying_transport
        write = ut.write
        block = self.block
        per = self.frames_per_block
        # A few blocks per loop iteration, then yield so that reads (close) are seen.
        for _ in range(8):
            if self._paused or self._tr is None:
                return
            if ut.is_closing():                     # the client went away
                self._tr = None
                return
            if self.remaining is not None and self.remaining < per:
                n = self.remaining
                if n:
                    write(block[: n * self.frame_size])
                self.sent += n
                self.remaining = 0
                tr.send_close(WSCloseCode.OK)
                tr.disconnect()
                self._tr = None
                return
            write(block)
            self.sent += per
            if self.remaining is not None:
                self.remaining -= per
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._write_some)
