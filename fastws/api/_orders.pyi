"""Type stubs for fastws.api._orders (compiled; hand-written, keep in sync with _orders.pyx)."""
from __future__ import annotations

from typing import Any

from fastws.api.base_operations import SymbolFilters
from fastws.api.order_stream import OrderStream

__all__: list[str]

class OrderSpec:
    def __init__(self, filters: SymbolFilters) -> None: ...
    @property
    def symbol(self) -> bytes | None: ...
    @property
    def types(self) -> int: ...

class OrderPath:
    validate: bool
    def __init__(self, filters: dict[str, SymbolFilters], session: Any, market: str, keyed: Any,
                 api_key: str | None, plain: bool) -> None: ...

UNKNOWN: int
CLOCK_REJECTED: int

def new_client_order_id() -> str: ...
def enable(on: bool = True) -> None: ...
def enabled() -> bool: ...

def order_frame(spec: OrderSpec, market: str, side: object, type: object, quantity: object,
                price: object, time_in_force: object, client_order_id: object,
                response_type: object, self_trade_prevention_mode: object, *, id: int,
                timestamp: int, recv_window: object = None, api_key: str | None = None,
                keyed: Any = None) -> bytes | None: ...

async def order_place(
    path: OrderPath, stream: OrderStream, symbol: object, side: object, type: object,
    quantity: object, price: object, time_in_force: object, client_order_id: object,
    response_type: object, self_trade_prevention_mode: object, timeout: float | None,
) -> dict[str, Any] | tuple[int, str, BaseException] | None: ...
