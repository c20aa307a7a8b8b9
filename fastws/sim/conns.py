"""Server side of one WebSocket connection (picows listeners): streams and WS API.

Binance's connection rules live here: server pings and the pong deadline, the incoming
message budget, the connection lifetime, ``serverShutdown``. Data frames are built by the
simulator itself (header + payload) and written in one batch per tick straight to the
underlying transport; control frames go through picows.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Optional

import orjson
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from fastws.sim import payloads as P
from fastws.sim.control import ControlState, handle_control
from fastws.sim.streams import DEPTH_DIFF

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["BaseConn", "StreamConn", "ApiConn"]

log = logging.getLogger("fastws.sim.conn")

USDM_WS_API_PING_PONG_PER_SECOND = 5
"""Ping/pong frames per second allowed on a USDⓈ-M WS API connection (SPEC §5.6)."""


class BaseConn(WSListener):  # type: ignore[misc]
    """Shared machinery: batching writes, pings, rate limit, lifetime, faults."""

    kind = "base"

    def __init__(self, ex: "Exchange", path: str) -> None:
        super().__init__()
        self.ex = ex
        self.id = ex._next_conn_id()
        self.path = path
        self.transport: Optional[WSTransport] = None
        self.out: list[bytes] = []
        self.delay = 0.0
        self.closed = False
        self.combined = False
        self.micro = False                 # timeUnit=MICROSECOND (SPEC §2.1, §5.1)
        self.hub_names: set[str] = set()
        self._incoming: deque[float] = deque()
        self._pings: dict[bytes, float] = {}
        self._timers: list[asyncio.TimerHandle] = []       # pings and pong deadlines
        self._life: Optional[asyncio.TimerHandle] = None
        self.connected_at = 0.0
        self.frames_sent = 0
        self._stall_until = 0.0
        self._stall_symbol: Optional[str] = None
        self._stall_hold = False
        self._stall_buf: list[bytes] = []
        self._held: dict[str, bytes] = {}
        self.received: list[bytes] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} path={self.path!r}>"

    # -- picows callbacks ---------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected_at = time.monotonic()
        loop = asyncio.get_running_loop()
        limits = self.ex.limits
        self._timers.append(loop.call_later(limits.ping_interval, self._ping))
        self._life = loop.call_later(limits.connection_lifetime, self._expire)
        self.ex._register(self)
        log.info("= conn %d open %s", self.id, self.path)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        if self._life is not None:
            self._life.cancel()
        self.ex._unregister(self)
        log.info("= conn %d closed", self.id)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if not self._count_incoming(t):
            return
        if t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t == WSMsgType.PONG:
            self._pong(frame.get_payload_as_bytes())
        elif t == WSMsgType.TEXT:
            self.on_text(frame.get_payload_as_bytes())
        elif t == WSMsgType.BINARY:
            self.on_binary(frame.get_payload_as_bytes())

    # -- rules --------------------------------------------------------------------------------
    def _count_incoming(self, msg_type: WSMsgType, limit: int = 0) -> bool:
        limit = limit or self.ex.limits.max_incoming_per_second
        now = time.monotonic()
        q = self._incoming
        q.append(now)
        while q and q[0] <= now - 1.0:
            q.popleft()
        if len(q) > limit:
            log.warning("= conn %d over %d incoming messages/s: dropped", self.id, limit)
            self._close_now(WSCloseCode.POLICY_VIOLATION, "Too many messages")
            return False
        return True

    def _ping(self) -> None:
        if self.closed or self.transport is None:
            return
        payload = str(self.ex.now_ms()).encode()
        self._pings[payload] = time.monotonic()
        self.transport.send_ping(payload)
        loop = asyncio.get_running_loop()
        limits = self.ex.limits
        self._timers.append(loop.call_later(limits.pong_timeout, self._check_pong, payload))
        self._timers.append(loop.call_later(limits.ping_interval, self._ping))
        if len(self._timers) > 64:
            now = loop.time()                  # forget handles that have already fired
            self._timers = [t for t in self._timers if t.when() > now and not t.cancelled()]

    def _pong(self, payload: bytes) -> None:
        if payload in self._pings:
            sent = self._pings[payload]
            for p, s in list(self._pings.items()):
                if s <= sent:
                    del self._pings[p]
        elif self.ex.limits.unsolicited_pong_keeps_alive:
            self._pings.clear()
        # spot: an unsolicited pong does not keep the connection alive (SPEC §2.2)

    def _check_pong(self, payload: bytes) -> None:
        if not self.closed and payload in self._pings:
            log.warning("= conn %d: no pong within %.1f s, disconnecting", self.id,
                        self.ex.limits.pong_timeout)
            self._close_now(WSCloseCode.POLICY_VIOLATION, "Pong timeout")

    def _expire(self) -> None:
        log.info("= conn %d reached its lifetime, closing", self.id)
        self._close_now(WSCloseCode.OK, "Connection lifetime reached")

    def _close_now(self, code: WSCloseCode = WSCloseCode.OK, reason: str = "") -> None:
        if self.closed or self.transport is None:
            return
        self.flush()
        tr = self.transport
        if not tr.is_close_frame_sent:
            tr.send_close(code, reason.encode())
        tr.disconnect()
        self.closed = True

    # -- output -------------------------------------------------------------------------------
    def send_payload(self, payload: bytes) -> None:
        """Queue one text frame (written at the next flush)."""
        self.out.append(P.frame(payload))
        self.ex._hub.dirty.add(self)

    def send_now(self, payload: bytes) -> None:
        self.out.append(P.frame(payload))
        self.flush()

    def flush(self) -> None:
        if self._stall_buf and time.monotonic() >= self._stall_until:
            self.out[:0] = self._stall_buf
            self._stall_buf = []
        if not self.out or self.closed or self.transport is None:
            self.out.clear()
            return
        data = b"".join(self.out)
        self.frames_sent += len(self.out)
        self.out.clear()
        if self.delay > 0:
            asyncio.get_running_loop().call_later(self.delay, self._write, data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            ut = self.transport.underlying_transport
            ut.write(data)
            if ut.get_write_buffer_size() > self.ex.max_write_buffer:
                # A client that does not read: drop it instead of buffering without bound.
                log.warning("= conn %d: slow consumer (%d bytes unsent), disconnecting",
                            self.id, ut.get_write_buffer_size())
                self.out.clear()
                self.transport.disconnect(graceful=False)
                self.closed = True

    # -- faults -------------------------------------------------------------------------------
    def stall(self, until: float, symbol: Optional[str], hold: bool) -> None:
        self._stall_until = until
        self._stall_symbol = symbol
        self._stall_hold = hold

    def fault_close(self, how: str, code: int, reason: str) -> None:
        if self.closed or self.transport is None:
            return
        if how == "clean":
            self._close_now(WSCloseCode(code), reason)
        elif how == "reset":
            self.out.clear()
            self.transport.disconnect(graceful=False)
            self.closed = True
        else:
            self.flush()
            whole = P.frame(b'{"e":"trade","E":1,"s":"X","t":1,"p":"1.0","q":"1.0","T":1,'
                            b'"m":true,"M":true}')
            self._write(whole[: len(whole) // 2])
            self.transport.underlying_transport.abort()
            self.closed = True

    def send_bad(self, kind: str) -> None:
        if kind == "malformed":
            self.out.append(P.frame(b'{"e":"trade","E":16,"s":BTCUSDT,"t":]'))
        elif kind == "truncated":
            self.out.append(P.frame(b'{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":1,'
                                    b'"u":2,"b":[["1.00","2'))
        else:
            self.out.append(P.frame(b'{"e":"trade"}', opcode=0x2))
        self.flush()

    def server_shutdown(self, close_after: float) -> None:
        if self.closed:
            return
        self.send_now(self.shutdown_payload())
        asyncio.get_running_loop().call_later(close_after, self._close_now,
                                              WSCloseCode.GOING_AWAY, "Server shutdown")

    def shutdown_payload(self) -> bytes:
        now = self.ex.now_ms() * (1000 if self.micro else 1)
        body = P.dumps(P.server_shutdown(now))
        return P.combined("!serverShutdown", body) if self.combined else body

    # -- to override --------------------------------------------------------------------------
    def on_text(self, data: bytes) -> None:
        pass

    def on_binary(self, data: bytes) -> None:
        pass


class StreamConn(BaseConn):
    """A market-stream connection (``/ws...`` or ``/stream...``, USDⓈ-M on a route)."""

    kind = "stream"

    def __init__(self, ex: "Exchange", path: str, streams: list[str], combined: bool,
                 route: Optional[str]) -> None:
        super().__init__(ex, path)
        self.state = ControlState(subscriptions=[], combined=combined, market=ex.market,
                                  max_streams=ex.limits.max_streams_per_connection)
        self.combined = combined
        self.route = route
        self._initial = streams
        self.user_key: Optional[str] = None        # USDⓈ-M /private/ws/<listenKey>

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        self.state.subscriptions.extend(dict.fromkeys(self._initial))
        for name in self.state.subscriptions:
            self._hub_add(name)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        super().on_ws_disconnected(transport)
        self.ex._hub.drop_conn(self)
        if self.user_key is not None:
            self.ex.userdata.drop_conn(self)

    def send_user(self, key: str, raw: bytes) -> None:
        """Queue one USDⓈ-M user data event (raw, or wrapped when combined)."""
        if self.closed:
            return
        self.send_payload(P.combined(key, raw) if self.combined else raw)

    def deliverable(self, name: str) -> bool:
        """Whether this connection's route carries ``name`` (SPEC §4.1)."""
        if self.ex.market == "spot":
            return self.route is None
        if self.route is None or self.route == "legacy":
            return False                         # retired USD-M paths: data withheld
        from fastws.venues import usdm_route
        return usdm_route(name) == self.route

    def _hub_add(self, name: str) -> None:
        if self.deliverable(name):
            self.hub_names.add(name)
            self.ex._hub.subscribe(self, name)

    def on_text(self, data: bytes) -> None:
        self.received.append(data)
        res = handle_control(data, self.state)
        for name in res.added:
            self._hub_add(name)
        for name in res.removed:
            if name in self.hub_names:
                self.hub_names.discard(name)
                self.ex._hub.unsubscribe(self, name)
        self.combined = self.state.combined
        self.send_now(res.response)

    def deliver(self, name: str, data: bytes, kind: str, symbol: Optional[str]) -> None:
        """Queue one event of stream ``name`` (already wrapped if combined)."""
        if self._stall_until:
            if time.monotonic() < self._stall_until:
                if self._stall_symbol is None or self._stall_symbol == symbol or (
                        symbol is None and name.upper().startswith(self._stall_symbol)):
                    if self._stall_hold:
                        self._stall_buf.append(P.frame(data))
                    return
            else:
                self._stall_until = 0.0
        if kind == DEPTH_DIFF and symbol is not None and (self.ex.faults.conn_faults
                                                          or self._held):
            action = self.ex.faults.take_depth(symbol, self.id)
            if action == "drop":
                return
            if action == "reorder":
                self._held[name] = data
                return
            if action == "duplicate":
                self.out.append(P.frame(data))
            self.out.append(P.frame(data))
            held = self._held.pop(name, None)
            if held is not None:
                self.out.append(P.frame(held))
            return
        self.out.append(P.frame(data))


class ApiConn(BaseConn):
    """A WebSocket API connection (``/ws-api/v3`` or ``/ws-fapi/v1``)."""

    kind = "api"

    def __init__(self, ex: "Exchange", path: str, return_rate_limits: bool) -> None:
        super().__init__(ex, path)
        self.return_rate_limits = return_rate_limits

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)

    def on_text(self, data: bytes) -> None:
        self.received.append(data)
        faults = self.ex.faults
        action = None
        delay = 0.0
        if faults.api_faults:
            try:
                req = orjson.loads(data)
                method = req.get("method") if isinstance(req, dict) else None
            except orjson.JSONDecodeError:
                method, req = None, None
            if isinstance(method, str):
                action, delay = faults.take_api(method.split("/")[-1], self.id)
        if action == "lose":
            log.info("= fault: conn %d lost a request unexecuted", self.id)
            return
        if action == "unknown-lost":
            action = "unknown"            # the -1007 answer below, the request not run
            resp = b""
        else:
            resp = self.ex._api.handle(data, self.return_rate_limits, self.micro, self)
        if action == "drop":
            # the request was executed, the answer is lost with the connection
            log.info("= fault: conn %d dropped after accepting a request", self.id)
            self.ex._hub.flush()
            self.fault_close("reset", 1006, "")
            return
        if action == "unknown":
            resp = orjson.dumps({"id": req.get("id") if isinstance(req, dict) else None,
                                 "status": 503, "error": {
                                     "code": -1007, "msg": "Timeout waiting for response from "
                                     "backend server. Send status unknown; execution status "
                                     "unknown."}})
        if action == "fragment":
            self._answer_fragmented(resp, faults.fragment_size)
            return
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._late_answer, resp)
            return
        self._answer(resp)

    def _answer_fragmented(self, resp: bytes, size: int) -> None:
        """One answer as a text frame without FIN and continuation frames (RFC 6455 §5.4)."""
        parts = [resp[i:i + size] for i in range(0, len(resp), size)] or [b""]
        for i, part in enumerate(parts):
            raw = P.frame(part, opcode=0x1 if i == 0 else 0x0)
            if i < len(parts) - 1:
                raw = bytes((raw[0] & 0x7F,)) + raw[1:]      # FIN cleared
            self.out.append(raw)
        self.flush()
        self.ex._hub.flush()

    def _late_answer(self, resp: bytes) -> None:
        if not self.closed:
            self._answer(resp)

    def _answer(self, resp: bytes) -> None:
        self.send_now(resp)
        if b'"status":418' in resp:
            # an IP ban also drops the connection (SPEC §5.3)
            self._close_now(WSCloseCode.POLICY_VIOLATION, "IP banned")
        self.ex._hub.flush()                  # events of what the request did

    def send_event_raw(self, sid: int, raw: bytes) -> None:
        """Queue one user data event of subscription ``sid`` (SPEC §8.1)."""
        if not self.closed:
            self.send_payload(b'{"subscriptionId":' + str(sid).encode() + b',"event":' + raw +
                              b"}")

    def send_event(self, sid: int, event: dict) -> None:
        self.send_event_raw(sid, orjson.dumps(event))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        super().on_ws_disconnected(transport)
        self.ex.userdata.drop_conn(self)

    def on_binary(self, data: bytes) -> None:
        self.send_now(orjson.dumps({"id": None, "status": 400, "error": {
            "code": -1135, "msg": "Invalid JSON"}}))

    def _count_incoming(self, msg_type: WSMsgType, limit: int = 0) -> bool:
        # The WS API limits requests by weight, not by a per-second frame budget; USDⓈ-M
        # caps its ping/pong frames at 5 per second (SPEC §5.6).
        if self.ex.market == "usdm" and msg_type in (WSMsgType.PING, WSMsgType.PONG):
            return super()._count_incoming(msg_type, USDM_WS_API_PING_PONG_PER_SECOND)
        return True

    def deliver(self, name: str, data: bytes, kind: str, symbol: Optional[str]) -> None:
        pass

    def shutdown_payload(self) -> bytes:
        return self.ex._api.shutdown_event(self.ex.now_ms() * (1000 if self.micro else 1))
