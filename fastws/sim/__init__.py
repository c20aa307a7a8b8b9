"""fastws.sim: a local Binance-compatible exchange simulator with fault injection.

It speaks the market-stream protocol (spot ``/ws``, ``/stream``, control messages; USDⓈ-M
``/public``, ``/market``, ``/private``), the WebSocket API (``ping``, ``time``,
``exchangeInfo``, ``depth``, sessions, trading, account queries, user data) and REST snapshots, from a seeded synthetic market or a recorded
capture, over ``ws://`` or ``wss://``. It never imports fastws's parser, book, sync or signing
code: payloads are built with orjson from plain data, so it is an independent oracle.

>>> async with Exchange(symbols=["BTCUSDT", "ETHUSDT"]) as ex:   # doctest: +SKIP
...     ex.venue                      # a Venue pointing at the simulator
...     ex.faults.drop_next_depth("BTCUSDT")

Trading (WS API, SPEC §5.5-§8): accounts with API keys of each type, a matching engine on the
simulated books, user data, order rate limits and trading faults.

>>> async with Exchange(["BTCUSDT"]) as ex:                        # doctest: +SKIP
...     acct = ex.add_account(balances={"USDT": "10000", "BTC": "1"},
...                           keys=["HMAC", "RSA", "ED25519"])   # generated keys
...     hmac_key, rsa_key, ed_key = acct.keys
...     hmac_key.api_key, hmac_key.secret    # sign with these (HMAC)
...     ed_key.private_pem                   # PKCS#8 PEM for the test to sign with
...     ex.deposit(acct, "USDT", "500")      # balanceUpdate + outboundAccountPosition
...     ex.external_lock(acct, "BTC", "0.1") # externalLockUpdate (negative: unlock)
...     ex.orders(acct)                      # its open orders
...     ex.faults.outcome_unknown()          # next trading answer: 503 / -1007, order done

* Keys: :class:`ApiKey` (``ApiKey.generate(kind)``; or ``ApiKey("HMAC", key, secret=...)``,
  ``ApiKey("ED25519"|"RSA", key, public_key=PEM)``; ``permissions`` from TRADE, USER_DATA,
  USER_STREAM). :meth:`Exchange.add_key`, :meth:`Exchange.revoke_key`.
* Accounts: :class:`Account` (``free``/``locked`` per asset, maker/taker commission);
  ``Exchange(accounts=[...])`` or :meth:`Exchange.add_account`.
* Signed requests are checked with the simulator's own code (:mod:`fastws.sim.accounts`):
  -1102 missing param, -2014 / -2015 key, -1022 signature, -1021 timestamp, -1131 recvWindow.
  ``session.logon`` takes Ed25519 keys only; after it, ``timestamp`` alone suffices.
* Orders (:mod:`fastws.sim.engine`): LIMIT, MARKET (``quantity`` or ``quoteOrderQty``),
  LIMIT_MAKER, STOP_LOSS[_LIMIT], TAKE_PROFIT[_LIMIT]; GTC/IOC/FOK; STP NONE, EXPIRE_TAKER,
  EXPIRE_MAKER (spot default), EXPIRE_BOTH; OCO lists. Account orders rest behind the synthetic
  liquidity of their level; fills appear on the ``trade``/``aggTrade``/depth/bookTicker
  streams with the same trade ids. Methods: see :class:`fastws.sim.trading.Trading`.
* User data: spot ``userDataStream.subscribe`` / ``.subscribe.signature`` / ``unsubscribe``,
  ``session.subscriptions``; USDⓈ-M listenKeys (WS API ``userDataStream.start/ping/stop``,
  REST ``/fapi/v1/listenKey``; ``listen_key_ttl``) with events on ``/private/ws/<listenKey>``.
* Limits: ``ORDERS`` per account (``order_limits=(per_10s, per_day_or_minute)``), 429 / -1015
  with ``retryAfter``; ignoring 429s leads to the 418 ban. Faults:
  :meth:`Faults.delay_responses`, :meth:`Faults.outcome_unknown`,
  :meth:`Faults.drop_after_accept`.

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
from fastws.sim.accounts import Account, ApiKey
from fastws.sim.clock import Clock, ManualClock, WallClock
from fastws.sim.exchange import Exchange
from fastws.sim.faults import Faults
from fastws.sim.market import SymbolMarket, SymbolSpec, default_spec
from fastws.sim.tls import TLSFiles, client_context, generate_tls

__all__ = [
    "Exchange",
    "Account",
    "ApiKey",
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
