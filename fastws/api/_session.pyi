"""Type stubs for fastws.api._session (compiled; hand-written, keep in sync with _session.pyx)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastws.api.protocol import ApiResponse

from picows import WSFrame, WSListener, WSTransport

__all__: list[str]

from fastws.api._limits import ClockState, WindowSet

class ApiListener(WSListener):
    link: Any
    max_message: int
    def __init__(self, link: Any) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    # inherited from picows.WSListener
    def send_user_specific_ping(self, transport: WSTransport) -> None: ...
    def is_user_specific_pong(self, frame: WSFrame) -> bool: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...

async def client_response(s: Session, method: str, params: Mapping[str, object] | None = None, *,
                          signed: bool = False, timeout: float | None = None) -> ApiResponse: ...
async def client_request(s: Session, method: str, params: Mapping[str, object] | None = None, *,
                         signed: bool = False, timeout: float | None = None) -> Any: ...
async def client_check(s: Session, method: str, timeout: float | None = None) -> None: ...
async def _response(s: Session, method: str, params: Mapping[str, object] | None, signed: bool,
                    timeout: float | None, clock_resend: bool = True) -> ApiResponse: ...

class LinkState:
    client: Any
    serial: int
    transport: Any
    waiters: dict[int, Any]
    closed: bool
    connected_at: float
    loop: Any
    new_future: Any
    loop_time: Any
    close_reason: str | None

class Deadlines:
    entries: dict[int, tuple[float, Any, str, float]]
    handle: Any
    armed_at: float
    loop: Any
    def __init__(self) -> None: ...
    def add(self, loop: Any, key: int, fut: Any, method: str, timeout: float) -> None: ...
    def arm(self, loop: Any, deadline: float) -> None: ...
    def cancel(self) -> None: ...

class Session:
    client: Any
    proto: Any
    ids: Any
    limits: Any
    core: WindowSet
    pending: dict[int, Any]
    clock: Any
    clock_state: ClockState
    market: str
    is_ready: bool
    deadlines: Deadlines
    link: Any
    logged_on: bool
    recv_window: Any
    timeout: float
    requests: int
    sync_clock: bool
    plain_clock: bool
    current_link: Any
    pace: Any
    sign: Any
    clock_rejected: Any
    server_ms: Any
    timestamp: Any
    def __init__(self) -> None: ...
    def attach(self, client: Any, proto: Any, clock: Any, market: str, sync_clock: bool,
               plain_clock: bool, *, current_link: Any, pace: Any, sign: Any,
               clock_rejected: Any, server_ms: Any, timestamp: Any) -> None: ...
