"""Type stubs for fastws.api._hmac (compiled; hand-written, keep in sync with hmac_fast.pyx)."""
from __future__ import annotations

from typing_extensions import Buffer

__all__: list[str]

ACCELERATED: bool

class HmacSha256:
    def __init__(self, key: Buffer, *, portable: bool = False) -> None: ...
    @property
    def accelerated(self) -> bool: ...
    def digest(self, payload: Buffer) -> bytes: ...
    def hexdigest(self, payload: Buffer) -> str: ...
