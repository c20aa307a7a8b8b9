"""unicorn-binance-websocket-api with its picows backend (``websocket_library="picows"``),
otherwise exactly bench/peers/unicorn.py."""
from __future__ import annotations

from typing import Any, Optional

from . import unicorn as _u
from ._common import missing

NAME = "unicorn+picows"
PACKAGE = "unicorn-binance-websocket-api"
BACKEND = "picows"
POINTED = _u.POINTED.replace("'websockets'", "'picows'")
KINDS = _u.KINDS


def available() -> Optional[str]:
    why = _u.available() or missing("picows.websockets")
    if why is None:
        from unicorn_binance_websocket_api import websocket_library as wl
        if getattr(wl, "WEBSOCKET_LIBRARY_PICOWS", None) is None:
            return "this unicorn-binance-websocket-api has no picows backend"
    return why


def run(ctx: Any, kind: str) -> None:
    _u.run(ctx, kind, backend=BACKEND)
