"""python-binance with the one setting its users raise when the default queue overflows:
``BinanceSocketManager(client, max_queue_size=100_000)``; otherwise exactly
bench/peers/python_binance.py. Shows what the library does once it survives a burst."""
from __future__ import annotations

from typing import Any, Optional

from . import python_binance as _pb

NAME = "python-binance (queue 100k)"
PACKAGE = _pb.PACKAGE
QUEUE = 100_000
POINTED = _pb.POINTED.replace("defaults otherwise (max_queue_size=100)",
                              f"defaults otherwise but max_queue_size={QUEUE}")
KINDS = _pb.KINDS


def available() -> Optional[str]:
    return _pb.available()


def run(ctx: Any, kind: str) -> None:
    _pb.run(ctx, kind, max_queue_size=QUEUE)
