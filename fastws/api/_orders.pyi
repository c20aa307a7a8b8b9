"""Type stubs for fastws.api._orders (compiled; hand-written, keep in sync with order_fast.pyx)."""
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
    def __init__(self, stream: OrderStream, plain: bool) -> None: ...

def new_client_order_id() -> str: ...
def enable(on: bool = True) -> None: ...
def enabled() -> bool: ...

def order_frame(spec: OrderSpec, market: str, side: object, type: object, quantity: object,
                price: object, time_in_force: object, client_order_id: object,
                response_type: object, self_trade_prevention_mode: object, *, id: int,
                timestamp: int, recv_window: object = None, api_key: str | None = None,
                keyed: Any = None) -> bytes | None: ...

async def order_place(
    self: OrderStream, symbol: str, side: str, type: str = "LIMIT", *,
    quantity: object = None, price: object = None, quote_order_qty: object = None,
    time_in_force: str | None = None, stop_price: object = None, trailing_delta: int | None = None,
    iceberg_qty: object = None, client_order_id: str | None = None,
    response_type: str | None = None, self_trade_prevention_mode: str | None = None,
    strategy_id: int | None = None, strategy_type: int | None = None,
    rounding: str | None = None, timeout: float | None = None, **extra: object,
) -> dict[str, Any]: ...
