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


def _unframe(fr: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of a frame built by :func:`fastws.sim.payloads.frame`."""
    n = fr[1] & 0x7F
    if n == 126:
        return fr[0] & 0x0F, fr[4:]
    if n == 127:
        return fr[0] & 0x0F, fr[10:]
    return fr[0] & 0x0F, fr[2:]


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
        self._late: deque[tuple[float, bytes]] = deque()    # delayed writes, in order
        self._late_timer: Optional[asyncio.TimerHandle] = None
        self.fragment: Optional[list] = None                 # [size, count or None]
        self.muted_streams: dict[str, float] = {}            # stream -> muted until

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
        if self._late_timer is not None:
            self._late_timer.cancel()
            self._late_timer = None
        self._late.clear()
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
        if self.fragment is not None:
            self._fragment_out()
        data = b"".join(self.out)
        self.frames_sent += len(self.out)
        self.out.clear()
        if self.delay > 0 or self._late:
            # TCP never reorders: a write made after the delay was lifted still waits for
            # the delayed ones before it
            now = time.monotonic()
            due = max(now + self.delay, self._late[-1][0] if self._late else 0.0)
            self._late.append((due, data))
            self._arm_late()
        else:
            self._write(data)

    def _arm_late(self) -> None:
        if self._late_timer is not None or not self._late:
            return
        wait = max(0.0, self._late[0][0] - time.monotonic())
        self._late_timer = asyncio.get_running_loop().call_later(wait, self._drain_late)

    def _drain_late(self) -> None:
        self._late_timer = None
        now = time.monotonic()
        while self._late and self._late[0][0] <= now:
            self._write(self._late.popleft()[1])
        self._arm_late()

    def _fragment_out(self) -> None:
        """Re-send the queued data frames as fragments (fault ``fragment_frames``)."""
        assert self.fragment is not None
        size, count = self.fragment
        out: list[bytes] = []
        for fr in self.out:
            if count is not None and count <= 0:
                out.append(fr)
                continue
            op, payload = _unframe(fr)
            if op != 0x1 or len(payload) <= size:
                out.append(fr)
                continue
            out.extend(P.fragments(payload, size))
            if count is not None:
                count -= 1
        self.fragment = None if count is not None and count <= 0 else [size, count]
        self.out[:] = out

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

    def schedule_shutdown(self, after: float, close_after: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(after, self.server_shutdown, close_after))

    def schedule_drop(self, after: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(after, self.fault_close, "reset", 1006, ""))

    def start_endless(self, chunk: int, limit: int) -> None:
        """A fragmented message that never ends (fault ``endless_continuation``)."""
        if self.closed or self.transport is None:
            return
        self.flush()
        self._write(P.frame(b'{"stream":"x@trade","data":' + b" " * 64, 0x1, fin=False))
        body = P.frame(b" " * chunk, 0x0, fin=False)
        sent = [64]

        def more() -> None:
            if self.closed or self.transport is None or sent[0] >= limit:
                return
            self._write(body)
            sent[0] += chunk
            self._timers.append(asyncio.get_running_loop().call_later(0.002, more))
        more()

    def send_foreign(self, stream: str, count: int) -> None:
        for i in range(count):
            raw = (b'{"e":"trade","E":%d,"s":"FOREIGN","t":%d,"p":"1.00","q":"1.00","T":%d,'
                   b'"m":true,"M":true}' % (self.ex.now_ms(), i + 1, self.ex.now_ms()))
            self.out.append(P.frame(P.combined(stream, raw)))
        self.flush()

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
        self.ex.faults.on_new_stream_conn(self)

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
        if self.ex.faults._controls:
            try:
                req = orjson.loads(data)
                method = req.get("method") if isinstance(req, dict) else None
            except orjson.JSONDecodeError:
                method, req = None, None
            fault = self.ex.faults.take_control(method, self.id) if isinstance(method, str) else None
            if fault is not None:
                action, code, msg = fault
                if action == "silent":
                    return                           # never answered
                if action == "garbled":
                    self.send_now(orjson.dumps({"result": {"unexpected": True}, "id": req.get("id")}))
                    return
                if action == "partial":
                    self.send_now(orjson.dumps({"result": self.state.subscriptions[:-1],
                                                "id": req.get("id")}))
                    return
                self.send_now(orjson.dumps({"code": code, "msg": msg}))
                if action == "refuse":
                    return                           # not applied, no other answer
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
        if self.muted_streams:
            until = self.muted_streams.get(name)
            if until is not None:
                if time.monotonic() < until:
                    return
                del self.muted_streams[name]
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
        if action == "rewrite":
            resp = self._rewritten(resp, faults.rewrite)
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._late_answer, resp)
            return
        self._answer(resp)

    @staticmethod
    def _rewritten(resp: bytes, rewrite: Any) -> bytes:
        """The answer ``resp`` with the result or error (and rateLimits) of a
        ``rewrite_answers`` fault, the id kept."""
        result, rate_limits, error = rewrite
        out = orjson.loads(resp)
        new: dict[str, Any] = {"id": out.get("id"), "status": 200, "result": result}
        if error is not None:
            new = {"id": out.get("id"), "status": error[0],
                   "error": {"code": error[1], "msg": error[2]}}
        if rate_limits is not None:
            new["rateLimits"] = rate_limits
        elif "rateLimits" in out:
            new["rateLimits"] = out["rateLimits"]
        return orjson.dumps(new)

    def _answer_fragmented(self, resp: bytes, size: int) -> None:
        """One answer as a text frame without FIN and continuation frames (RFC 6455 §5.4)."""
        self.out.extend(P.fragments(resp, size))
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
        """Queue one user data event of subscription ``sid`` (SPEC §8.1), its time fields in
        microseconds on a ``timeUnit=MICROSECOND`` connection."""
        if not self.closed:
            if self.micro:
                raw = P.user_event_micro(raw)
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
