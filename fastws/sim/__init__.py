"""fastws.sim: a local Binance-compatible exchange simulator with fault injection.

It speaks the market-stream protocol (spot ``/ws``, ``/stream``, control messages; USDⓈ-M
``/public``, ``/market``, ``/private``), the WebSocket API (``ping``, ``time``,
``exchangeInfo``, ``depth``) and REST snapshots, from a seeded synthetic market or a recorded
capture, over ``ws://`` or ``wss://``. It never imports fastws's parser, book, sync or signing
code: payloads are built with orjson from plain data, so it is an independent oracle.

>>> async with Exchange(symbols=["BTCUSDT", "ETHUSDT"]) as ex:   # doctest: +SKIP
...     ex.venue                      # a Venue pointing at the simulator
...     ex.faults.drop_next_depth("BTCUSDT")

Time: a :class:`WallClock` by default; with ``clock=ManualClock(t0)`` nothing happens until
``await ex.advance(ms)``, which runs the market and delivers everything due (tests need no
sleeps). Connection rules default to the venue's; :func:`fastws.testing.fast_limits` shortens
them for tests.

Pointing other Binance clients at it (nothing patched, only URLs):

* python-binance: ``bm = BinanceSocketManager(client, max_queue_size=...)`` then
  ``bm.STREAM_URL = ex.venue.stream_url + "/"`` (USD-M: ``bm.FSTREAM_URL``, it appends
  ``public/`` itself), ``client.API_URL = ex.venue.rest_url + "/api"``
  (``client.FUTURES_URL = ex.venue.rest_url + "/fapi"``), ``DepthCacheManager(client, sym,
  bm=bm)``.
* binance-sdk-spot: ``ConfigurationWebSocketStreams(stream_url=ex.venue.stream_url)``,
  ``ConfigurationWebSocketAPI(stream_url=ex.venue.ws_api_url)``,
  ``ConfigurationRestAPI(base_path=ex.venue.rest_url)``.
* Anything else: the stream base URL, ``/ws-api/v3`` (``/ws-fapi/v1``) and the REST base; with
  ``tls=True`` trust ``ex.ca_file``.

The standalone server is ``fastws sim`` (see ``fastws sim --help``).
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
