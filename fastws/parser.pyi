"""Type stubs for fastws.parser (compiled)."""
from __future__ import annotations

from typing import Any, Literal

from fastws.events import ControlError, ControlResponse, Event

__all__: list[str]

MARKETS: tuple[str, str]

_Payload = bytes | bytearray | memoryview | str
_ParseResult = Event | list[Event] | ControlResponse | ControlError | Any

class Parser:
    """Reusable Binance stream frame decoder: the hot-path object."""

    @property
    def market(self) -> str: ...
    @property
    def keep_raw(self) -> bool: ...
    def __init__(self, market: Literal["spot", "usdm"] = "spot", keep_raw: bool = False) -> None: ...
    def parse(self, payload: _Payload) -> _ParseResult: ...

def parse(payload: _Payload, market: Literal["spot", "usdm"] = "spot") -> _ParseResult: ...
