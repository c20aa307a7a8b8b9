"""fastws.sim: a local Binance-compatible exchange simulator with fault injection.

It speaks the market-stream protocol (spot ``/ws``, ``/stream``, control messages; USDⓈ-M
``/public``, ``/market``, ``/private``), the WebSocket API (``ping``, ``time``,
``exchangeInfo``, ``depth``) and REST snapshots, from a seeded synthetic market or a recorded
capture, over ``ws://`` or ``wss://``. It never imports fastws's parser, book, sync or signing
code: payloads are built with orjson from plain data, so it is an independent oracle.

>>> async with Exchange(symbols=["BTCUSDT", "ETHUSDT"]) as ex:   # doctest: +SKIP
...     ex.venue                      # a Venue pointing at the simulator
...     ex.faults.drop_next_depth("BTCUSDT")
"""
from fastws.sim.clock import Clock, ManualClock, WallClock
from fastws.sim.exchange import Exchange
from fastws.sim.faults import Faults
from fastws.sim.market import SymbolMarket, SymbolSpec, default_spec
from fastws.sim.tls import TLSFiles, client_context, generate_tls

__all__ = [
    "Exchange",
    "Faults",
    "Clock",
    "WallClock",
    "ManualClock",
    "SymbolSpec",
    "SymbolMarket",
    "default_spec",
    "TLSFiles",
    "generate_tls",
    "client_context",
]
