"""The in-process exchange: WebSocket server (picows), REST server (aiohttp), market, faults.

>>> async with Exchange(symbols=["BTCUSDT"]) as ex:          # doctest: +SKIP
...     url = ex.venue.raw_stream_url(["btcusdt@depth@100ms"])
...     ex.faults.drop_next_depth("BTCUSDT")
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections import deque
from typing import Any, Iterable, Optional, Sequence, Union
from urllib.parse import unquote, urlsplit

from picows import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener, \
    ws_create_server

from fastws.exceptions import InvalidUsage
from fastws.sim import payloads as P
from fastws.sim.clock import Clock, ManualClock, WallClock
from fastws.sim.conns import ApiConn, BaseConn, StreamConn
from fastws.sim.faults import Faults
from fastws.sim.hub import Hub
from fastws.sim.market import SymbolMarket, SymbolSpec, default_spec
from fastws.sim.tls import TLSFiles, generate_tls, server_context
from fastws.sim.accounts import Account, ApiKey, mask
from fastws.sim.engine import Engine
from fastws.sim.trading import Trading
from fastws.sim.userdata import UserData
from fastws.sim.wsapi import WeightLimiter, WsApi
from fastws.venues import SPOT_LIMITS, USDM_LIMITS, Limits, Venue

__all__ = ["Exchange"]

log = logging.getLogger("fastws.sim")

_USDM_ROUTES = ("public", "market", "private")


class Exchange:
    """A local Binance-compatible exchange (spot or USDⓈ-M) with fault injection.

    Use it as an async context manager; it listens on loopback with free ports by default.

    Parameters
    ----------
    symbols : sequence of str or SymbolSpec
        Symbols to simulate (``"BTCUSDT"``, or a :class:`SymbolSpec` for exact tick/lot sizes).
    market : {"spot", "usdm"}, optional
        Default spot (or the capture's market when replaying). Protocol dialect: spot (``/ws``, ``/stream``, ``/ws-api/v3``, ``/api/v3``) or USDⓈ-M
        (``/public``, ``/market``, ``/private`` routes, ``/ws-fapi/v1``, ``/fapi/v1``).
    host : str
        Address to listen on (loopback by default).
    port, rest_port : int
        WebSocket and REST ports; 0 picks free ones.
    seed : int
        Seed of the synthetic market (same seed, same market).
    rate : float
        Mean engine steps per second per symbol (book changes and trades).
    clock : Clock, optional
        :class:`WallClock` (default) or :class:`ManualClock`; with a manual clock nothing
        moves until :meth:`advance`.
    tick : float
        Longest sleep of the wall-clock driver between two wake-ups (it otherwise wakes at
        the next engine step or periodic push).
    limits : Limits, optional
        Connection rules (ping interval, pong deadline, message rate, streams, attempts,
        lifetime); defaults to the venue's (SPEC §2.2, §4.2). Shorten them in tests.
    tls : bool
        Serve ``wss://`` and ``https://`` with a generated self-signed certificate.
    tls_files : TLSFiles, optional
        Use this certificate instead of generating one.
    rest : bool
        Start the REST server.
    replay : path or list of paths, optional
        Serve a recorded capture instead of the synthetic market (see :mod:`fastws.sim.replay`);
        symbols and market then come from the capture.
    replay_speed : float
        1.0 recorded pace, 2.0 twice as fast, 0 as fast as possible.
    replay_start : {"first-subscription", "now", "manual"}
        Start playback when a client first subscribes (default), at once, or on
        ``ex.replay.play()``.
    replay_loop : bool or int
        Play the capture again when it ends (True: forever; n: n passes in all).
    book_levels : int
        Initial price levels per side of each synthetic book.
    max_write_buffer : int
        Bytes a connection may leave unread before the simulator drops it (slow consumer).
    accounts : sequence of Account
        Trading accounts (more with :meth:`add_account`).
    order_limits : (int, int), optional
        ``ORDERS`` limits per account: per 10 s and per day (spot, default 50 / 160000) or
        per minute (USDⓈ-M, default 300 / 1200).
    listen_key_ttl : float
        Seconds a USDⓈ-M listenKey lives without a keepalive (default 3600).
    feed : FeedSpec, optional
        Serve the benchmark feed (:mod:`fastws.sim.feed`) on the standard stream paths
        instead of the live market (spot); also :meth:`set_feed` later.
    """

    def __init__(self, symbols: Sequence[Union[str, SymbolSpec]] = ("BTCUSDT",), *,
                 market: Optional[str] = None, host: str = "127.0.0.1", port: int = 0,
                 rest_port: int = 0, seed: int = 1, rate: float = 50.0,
                 clock: Optional[Clock] = None, tick: float = 0.05,
                 limits: Optional[Limits] = None, tls: bool = False,
                 tls_files: Optional[TLSFiles] = None, rest: bool = True,
                 replay: Any = None, replay_speed: float = 1.0,
                 replay_start: str = "first-subscription",
                 book_levels: int = 200, max_write_buffer: int = 64 << 20,
                 accounts: Sequence[Account] = (),
                 order_limits: Optional[tuple[int, int]] = None,
                 listen_key_ttl: float = 3600.0, replay_loop: "bool | int" = False,
                 feed: Any = None) -> None:
        if market is None:
            market = "spot"
            forced = None
        else:
            forced = market
        if market not in ("spot", "usdm"):
            raise ValueError("market must be 'spot' or 'usdm'")
        if isinstance(symbols, (str, SymbolSpec)):
            symbols = [symbols]                       # one symbol, not its letters
        self.market = market
        self.host = host
        self._port = port
        self._rest_port = rest_port
        self.clock: Clock = clock if clock is not None else WallClock()
        self.tick = tick
        self.limits: Limits = limits or (SPOT_LIMITS if market == "spot" else USDM_LIMITS)
        self._tls = tls or tls_files is not None
        self.tls_files = tls_files
        self._with_rest = rest
        self.faults = Faults(self)
        start = self.clock.now_ms()
        self._replay = None
        if replay is not None:
            from fastws.sim.replay import Replay
            self._replay = Replay(replay, speed=replay_speed, market=forced, start=replay_start,
                                  loop=replay_loop)
            symbols = self._replay.symbols
            self.market = market = self._replay.market
            self.limits = limits or (SPOT_LIMITS if market == "spot" else USDM_LIMITS)
        specs = [s if isinstance(s, SymbolSpec) else default_spec(s, market) for s in symbols]
        if not specs:
            raise ValueError("at least one symbol is needed")
        self._markets: dict[str, SymbolMarket] = {
            s.symbol: SymbolMarket(s, market, seed=seed, start_ms=start, rate=rate,
                                   levels=book_levels) for s in specs}
        self._hub = Hub(self._markets, market, self.faults, start)
        if self._replay is not None:
            self._hub.frozen = True
        self._api = WsApi(self)
        self.accounts: list[Account] = []
        self._keys: dict[str, tuple[Account, ApiKey]] = {}
        self.order_limits = order_limits or ((50, 160000) if market == "spot" else (300, 1200))
        self.engine = Engine(self)
        self.trading = Trading(self)
        self.userdata = UserData(self, int(listen_key_ttl * 1000))
        self._hub.engine = self.engine
        self._hub.after_engine = self._deliver_user_events
        for a in accounts:
            self.add_account(a)
        self.weights = WeightLimiter(self.limits.request_weight_per_minute, self.now_ms)
        self._conn_seq = 0
        self.connections: list[StreamConn] = []
        self.api_connections: list[ApiConn] = []
        self._attempts: deque[float] = deque()
        self._server: Optional[asyncio.base_events.Server] = None
        self._rest_runner: Any = None
        self._driver: Optional[asyncio.Task[None]] = None
        self._started = False
        self.port = 0
        self.rest_port = 0
        self.refused = 0
        self.connection_attempts = 0          # every handshake seen, refused ones included
        self.max_write_buffer = max_write_buffer
        self._own_tls_dir: Optional[str] = None
        self.snapshots_served = 0             # depth snapshots answered (REST and WS API)
        self.feed: Any = None                 # fastws.sim.feed.Feed
        if feed is not None:
            self.set_feed(feed)

    # -- lifecycle ----------------------------------------------------------------------------
    async def __aenter__(self) -> "Exchange":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening (WebSocket and REST) and, on a wall clock, the market driver."""
        if self._started:
            return
        ssl_ctx = None
        if self._tls:
            if self.tls_files is None:
                try:
                    self.tls_files = await asyncio.to_thread(generate_tls)
                    self._own_tls_dir = os.path.dirname(self.tls_files.ca_file)
                except ImportError as exc:
                    raise ImportError("generating a TLS certificate needs cryptography: pip "
                                      "install 'fastws[sim]' (or pass tls_files=)") from exc
            ssl_ctx = server_context(self.tls_files)
        self._server = await ws_create_server(
            self._route, self.host, self._port, ssl=ssl_ctx, enable_auto_ping=False,
            enable_auto_pong=False, websocket_handshake_timeout=5,
            max_frame_size=1 << 20, logger_name="fastws.sim.picows")
        self.port = self._server.sockets[0].getsockname()[1]
        if self._with_rest:
            try:
                from aiohttp import web
            except ImportError as exc:
                self._server.close()
                raise ImportError("the simulator's REST side needs aiohttp: pip install "
                                  "'fastws[sim]' (or pass rest=False)") from exc

            from fastws.sim.rest import make_app
            runner = web.AppRunner(make_app(self), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, self.host, self._rest_port, ssl_context=ssl_ctx)
            await site.start()
            self._rest_runner = runner
            self.rest_port = runner.addresses[0][1]
        self._started = True
        if self._replay is not None:
            self._replay.attach(self)
            self._driver = asyncio.create_task(self._replay.run(), name="fastws-sim-replay")
        elif not self.clock.manual:
            self._driver = asyncio.create_task(self._drive(), name="fastws-sim-driver")
        log.info("= simulator (%s) listening on %s", self.market, self.venue.stream_url)

    async def close(self, shutdown_notice: bool = True, grace: float = 0.05) -> None:
        """Stop: optionally send ``serverShutdown`` to every client, then close everything."""
        if not self._started:
            return
        self._started = False
        if self._driver is not None:
            self._driver.cancel()
            try:
                await self._driver
            except (asyncio.CancelledError, Exception):
                pass
        conns = list(self.all_connections)
        if shutdown_notice and conns:
            for c in conns:
                if not c.closed:
                    c.send_now(c.shutdown_payload())
            await asyncio.sleep(grace)
        for c in conns:
            c._close_now()
        if self._server is not None:
            self._server.close()
            # Do not wait for half-dead clients longer than a moment.
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except (asyncio.TimeoutError, Exception):
                pass
        if self._rest_runner is not None:
            await self._rest_runner.cleanup()
        if self._own_tls_dir is not None:
            shutil.rmtree(self._own_tls_dir, ignore_errors=True)   # the generated key too
            self._own_tls_dir = None
            self.tls_files = None
        log.info("= simulator stopped")

    async def _drive(self) -> None:
        """Wall-clock driver: wake at the next engine step or push (at most ``tick`` apart),
        so that real-time streams leave when their event happens, not on a coarse timer."""
        hub = self._hub
        speed = getattr(self.clock, "speed", 1.0)
        while True:
            now = self.clock.now_ms()
            hub.advance_to(now)
            hub.flush()
            due = min(hub.next_boundary, hub.next_step_time())
            delay = (due - self.clock.now_ms()) / 1000.0 / speed
            await asyncio.sleep(min(max(delay, 0.0), self.tick))

    async def advance(self, ms: int) -> None:
        """Move a :class:`ManualClock` forward by ``ms`` and deliver everything that happened.

        With a wall clock it only pushes out whatever is due.
        """
        if isinstance(self.clock, ManualClock):
            self.clock.advance(ms)
        self._hub.advance_to(self.clock.now_ms())
        self._hub.flush()
        await asyncio.sleep(0)

    # -- addresses ----------------------------------------------------------------------------
    @property
    def venue(self) -> Venue:
        """A :class:`~fastws.venues.Venue` pointing at this simulator (once started)."""
        if not self.port:
            raise InvalidUsage("the simulator has no address yet: start it first "
                               "(async with Exchange(...) as ex: ex.venue)")
        ws = "wss" if self._tls else "ws"
        http = "https" if self._tls else "http"
        host = self.host if ":" not in self.host else f"[{self.host}]"
        base = f"{ws}://{host}:{self.port}"
        return Venue(
            name=f"sim-{self.market}", market=self.market,  # type: ignore[arg-type]
            stream_url=base,
            ws_api_url=base + ("/ws-api/v3" if self.market == "spot" else "/ws-fapi/v1"),
            rest_url=f"{http}://{host}:{self.rest_port}", limits=self.limits,
            split_routes=self.market == "usdm", testnet=True,
            ca_file=self.tls_files.ca_file if self.tls_files else None)

    @property
    def ca_file(self) -> Optional[str]:
        """PEM file of the CA that signed the simulator's certificate (TLS only)."""
        return self.tls_files.ca_file if self.tls_files else None

    @property
    def replay(self) -> Any:
        """The :class:`~fastws.sim.replay.Replay` being played, or None."""
        return self._replay

    @property
    def symbols(self) -> list[str]:
        return list(self._markets)

    @property
    def all_connections(self) -> list[BaseConn]:
        return [*self.connections, *self.api_connections]

    def now_ms(self) -> int:
        return self.clock.now_ms()

    # -- accounts -----------------------------------------------------------------------------
    def add_account(self, account: Optional[Account] = None, *,
                    balances: Optional[dict] = None, keys: Iterable[Union[ApiKey, str]] = (),
                    **kwargs: Any) -> Account:
        """Add an account (or build one from ``balances``, ``keys`` and :class:`Account`
        keyword arguments). ``keys`` may hold :class:`ApiKey` objects or key types
        (``"HMAC"``, ``"RSA"``, ``"ED25519"``) to generate; generated keys keep their secret
        / private PEM on the :class:`ApiKey` for the test to sign with."""
        if account is None:
            ks = [ApiKey.generate(k) if isinstance(k, str) else k for k in keys]
            account = Account(balances=balances, keys=ks, **kwargs)
        elif balances or keys or kwargs:
            raise InvalidUsage("pass either an Account or its balances/keys, not both")
        for k in account.keys:
            if k.api_key in self._keys and self._keys[k.api_key][0] is not account:
                raise ValueError(f"API key {mask(k.api_key)} belongs to another account")
        self.accounts.append(account)
        for k in account.keys:
            self._keys[k.api_key] = (account, k)
        return account

    def add_key(self, account: Account, key: Union[ApiKey, str] = "ED25519") -> ApiKey:
        """Give ``account`` one more API key (an :class:`ApiKey` or a type to generate)."""
        k = ApiKey.generate(key) if isinstance(key, str) else key
        if k.api_key in self._keys:
            raise ValueError(f"API key {mask(k.api_key)} already exists")
        account.keys.append(k)
        self._keys[k.api_key] = (account, k)
        return k

    def revoke_key(self, api_key: str) -> None:
        """Delete a key: requests signed with it get -2015 from now on."""
        found = self._keys.pop(api_key, None)
        if found is not None:
            found[0].keys.remove(found[1])

    def find_key(self, api_key: str) -> Optional[tuple[Account, ApiKey]]:
        return self._keys.get(api_key)

    def deposit(self, account: Account, asset: str, amount: Any) -> None:
        """Credit (or, negative, debit) ``amount`` of ``asset``: a ``balanceUpdate`` and an
        ``outboundAccountPosition`` on spot, an ``ACCOUNT_UPDATE`` (reason DEPOSIT /
        WITHDRAW) on USDⓈ-M."""
        from decimal import Decimal
        a = asset.upper()
        d = Decimal(str(amount))
        free = account.free.get(a, Decimal(0))
        if free + d < 0:
            raise ValueError(f"{account.name} has only {free} {a}")
        account.add(a, d)
        now = self.now_ms()
        account.update_time = now
        if self.market == "spot":
            self.engine.events.append((account, {"e": "balanceUpdate", "E": now, "a": a,
                                                 "d": self.engine.q8(d), "T": now}))
            self.engine._touch(account, a)
            self.engine.flush_accounts(now)
        else:
            self.engine.events.append((account, self.engine.account_update(
                account, now, [a], "DEPOSIT" if d >= 0 else "WITHDRAW")))
        self._deliver_user_events()

    def external_lock(self, account: Account, asset: str, amount: Any) -> None:
        """Spot: lock (``amount`` > 0) or unlock part of ``asset`` as an outside system
        (e.g. margin collateral) would: an ``externalLockUpdate`` and an
        ``outboundAccountPosition`` follow (SPEC §8.3)."""
        from decimal import Decimal
        if self.market != "spot":
            raise InvalidUsage("externalLockUpdate exists on spot only")
        a = asset.upper()
        d = Decimal(str(amount))
        free, locked = account.balance(a)
        if (d > 0 and d > free) or (d < 0 and -d > locked):
            raise ValueError(f"{account.name} cannot lock {d} {a} (free {free}, locked {locked})")
        if d > 0:
            account.lock(a, d)
        else:
            account.unlock(a, -d)
        now = self.now_ms()
        self.engine.events.append((account, {"e": "externalLockUpdate", "E": now, "a": a,
                                             "d": self.engine.q8(d), "T": now}))
        self.engine._touch(account, a)
        self.engine.flush_accounts(now)
        self._deliver_user_events()

    def _deliver_user_events(self) -> None:
        for acct, ev in self.engine.take_events():
            self.userdata.publish(acct, ev)
        self._hub.flush()

    def orders(self, account: Account, symbol: Optional[str] = None) -> list:
        """Open orders of ``account`` (the engine's :class:`~fastws.sim.engine.Order` objects)."""
        return self.engine.open_orders(account, symbol.upper() if symbol else None)

    # -- market state (the oracle for tests) --------------------------------------------------
    def market_of(self, symbol: str) -> SymbolMarket:
        """The :class:`SymbolMarket` of ``symbol`` (its book is the truth)."""
        return self._markets[symbol.upper()]

    def book(self, symbol: str, depth: Optional[int] = None) -> tuple[list, list]:
        """Current book of ``symbol`` as decimal strings ``([[price, qty], ...] bids, asks)``,
        best first, as the diff stream has described it so far."""
        m = self.market_of(symbol)
        n = depth or (len(m.bids) + len(m.asks))
        bids, asks = m.top(n)
        return ([[m.px(t), m.qty(q)] for t, q in bids], [[m.px(t), m.qty(q)] for t, q in asks])

    def update_id(self, symbol: str) -> int:
        return self.market_of(symbol).update_id

    def set_feed(self, spec: Any) -> Any:
        """Serve :class:`~fastws.sim.feed.FeedSpec` ``spec`` to every new stream connection
        (None: back to the live market); returns the :class:`~fastws.sim.feed.Feed`."""
        from fastws.sim.feed import Feed
        if spec is None:
            self.feed = None
            return None
        if self.market != "spot" or self._replay is not None:
            raise InvalidUsage("the benchmark feed is spot only and not with a replay")
        self.feed = Feed(self, spec)
        return self.feed

    def _snapshot(self, m: SymbolMarket, limit: int) -> dict:
        self.snapshots_served += 1
        if self.feed is not None:
            snap = self.feed.snapshot(m.symbol, limit)
            if snap is not None:
                return snap
        if self._replay is None and self.faults.take_stale(m.symbol):
            snaps = self._hub.snapshots.get(m.symbol)
            if snaps:
                t, uid, bids, asks, tt = snaps[0]
                lv = lambda items: [[m.px(a), m.qty(b)] for a, b in items[:limit]]  # noqa: E731
                d = {"lastUpdateId": uid, "bids": lv(bids), "asks": lv(asks)}
                if self.market == "usdm":
                    d = {"lastUpdateId": uid, "E": t, "T": tt, "bids": d["bids"],
                         "asks": d["asks"]}
                return d
        if self._replay is not None:
            snap = self._replay.snapshot(m.symbol, limit)
            if snap is not None:
                return snap
        now = self.now_ms()
        return P.snapshot(m, limit, E=now, T=m.time)

    def exchange_info(self, symbols: Optional[Iterable[str]] = None) -> dict:
        """exchangeInfo body with the filters Binance serves (:mod:`fastws.sim.filters`)."""
        from fastws.sim.filters import spot_filters, usdm_filters
        lim = self.limits
        rate_limits = [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": lim.request_weight_per_minute},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": self.order_limits[0]},
            {"rateLimitType": "ORDERS", "interval": "DAY" if self.market == "spot" else "MINUTE",
             "intervalNum": 1, "limit": self.order_limits[1]},
            {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5,
             "limit": lim.max_connection_attempts},
        ]
        if self.market == "spot":
            rate_limits.append({"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE",
                                "intervalNum": 5, "limit": 300000})
        wanted = list(symbols) if symbols is not None else list(self._markets)
        out = []
        for sym in wanted:
            s = self._markets[sym].spec
            if self.market == "spot":
                out.append({
                    "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base_asset,
                    "baseAssetPrecision": 8, "quoteAsset": s.quote_asset, "quotePrecision": 8,
                    "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    # what the simulator implements: no icebergs, trailing stops, pegs
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS",
                                   "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
                    "icebergAllowed": False, "ocoAllowed": True, "otoAllowed": True,
                    "opoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": False, "cancelReplaceAllowed": True,
                    "amendAllowed": True, "pegInstructionsAllowed": False,
                    "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                    "filters": spot_filters(s),
                    "permissions": [], "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER",
                                                        "EXPIRE_BOTH"]})
            else:
                out.append({
                    "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                    "status": "TRADING", "baseAsset": s.base_asset, "quoteAsset": s.quote_asset,
                    "marginAsset": s.quote_asset, "pricePrecision": s.price_decimals,
                    "quantityPrecision": s.qty_decimals, "baseAssetPrecision": 8,
                    "quotePrecision": 8, "underlyingType": "COIN",
                    "filters": usdm_filters(s),
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                   "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"]})
        body: dict[str, Any] = {"timezone": "UTC", "serverTime": self.now_ms(),
                                "rateLimits": rate_limits, "exchangeFilters": [],
                                "symbols": out}
        if self.market == "usdm":
            body["futuresType"] = "U_MARGINED"
            body["assets"] = []
        return body

    # -- connections --------------------------------------------------------------------------
    def _next_conn_id(self) -> int:
        self._conn_seq += 1
        return self._conn_seq

    def _register(self, conn: BaseConn) -> None:
        if isinstance(conn, StreamConn):
            self.connections.append(conn)
        elif isinstance(conn, ApiConn):
            self.api_connections.append(conn)
            try:
                self.weights.charge(self.limits.ws_api_connect_weight)
            except Exception:
                pass

    def _unregister(self, conn: BaseConn) -> None:
        for lst in (self.connections, self.api_connections):
            if conn in lst:
                lst.remove(conn)  # type: ignore[arg-type]

    def connection(self, index: int = -1) -> StreamConn:
        """An open stream connection by position (default: the newest)."""
        return self.connections[index]

    async def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        """Wait until at least ``n`` stream connections are open."""
        deadline = time.monotonic() + timeout
        while len(self.connections) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.connections)} of {n} connections after {timeout}s")
            await asyncio.sleep(0.005)

    def _refuse(self, status: int, text: str, code: int = -1003,
                headers: Optional[dict] = None) -> WSUpgradeResponseWithListener:
        self.refused += 1
        body = P.dumps({"code": code, "msg": text})
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_error_response(status, body,
                                                    {"Content-Type": "application/json",
                                                     **(headers or {})}),
            None)

    def _route(self, request: WSUpgradeRequest) -> Any:
        """picows listener factory: pick the listener for the request path (None -> 404)."""
        try:
            return self._route_request(request)
        except Exception:                   # a bad request must never take the server down
            log.exception("handshake for %r failed", request.path[:200])
            return self._refuse(400, "Bad request.", code=-1000)

    def _route_request(self, request: WSUpgradeRequest) -> Any:
        self.connection_attempts += 1
        now = time.monotonic()
        att = self._attempts
        att.append(now)
        window = self.limits.connection_attempts_window
        while att and att[0] <= now - window:
            att.popleft()
        status = self.faults.refusing()
        if status is not None:
            return self._refuse(status, "Connection refused by fault injection.")
        refusal = self.faults.take_upgrade_refusal()        # Faults.refuse_upgrades
        if refusal is not None:
            return self._refuse(refusal[0], refusal[2], headers=refusal[1])
        if len(att) > self.limits.max_connection_attempts:
            return self._refuse(429, "Too many connection attempts.")
        raw_path = request.path.decode("latin-1")
        parts = urlsplit(raw_path)
        path = parts.path
        # unquote, not unquote_plus: a literal "+" (kline_1d@+08:00) stays a plus
        query: dict[str, list[str]] = {}
        for item in parts.query.split("&"):
            if item:
                k, _, v = item.partition("=")
                query.setdefault(unquote(k), []).append(unquote(v))
        unit = query.get("timeUnit", ["MILLISECOND"])[0]
        if unit.upper() not in ("MILLISECOND", "MICROSECOND"):
            # How Binance rejects a bad timeUnit on a stream connection is undocumented
            # (SPEC §2.1); the simulator answers the handshake with HTTP 400 and -1194.
            return self._refuse(400, "Invalid value for time unit; expected either "
                                     "MICROSECOND or MILLISECOND", code=-1194)
        micro = unit.upper() == "MICROSECOND"
        conn: Any
        if path in ("/ws-api/v3", "/ws-fapi/v1"):
            if (path == "/ws-api/v3") != (self.market == "spot"):
                return None
            if self.now_ms() < self.weights.banned_until:
                return self._refuse(418, self.weights._banned_error().msg)
            rl = query.get("returnRateLimits", ["true"])[0].lower() != "false"
            conn = ApiConn(self, raw_path, rl)
            conn.micro = micro
            return conn
        if path.startswith("/firehose"):
            from fastws.sim.firehose import FirehoseConn
            return FirehoseConn.from_request(self, raw_path, parts.path, query)
        route: Optional[str] = None
        if self.market == "usdm":
            seg = path.split("/", 2)
            if len(seg) > 1 and seg[1] in _USDM_ROUTES:
                route = seg[1]
                path = "/" + (seg[2] if len(seg) > 2 else "")
            else:
                route = "legacy"
        if route == "private":
            return self._private_route(raw_path, path, query, micro)
        streams: list[str]
        if path in ("/ws", "/ws/"):
            streams, combined = [], False
        elif path.startswith("/ws/"):
            streams = [unquote(s) for s in path[4:].split("/") if s]
            combined = False
        elif path in ("/stream", "/stream/"):
            combined = True
            q = query.get("streams", [""])[0]
            streams = [s for s in q.split("/") if s]
        else:
            return None
        if len(streams) > self.limits.max_streams_per_connection:
            return self._refuse(400, "Too many streams requested.")
        if self.feed is not None and route is None and not micro:
            from fastws.sim.feed import FeedConn
            conn = FeedConn(self, raw_path, streams, combined, self.feed)
            return conn
        conn = StreamConn(self, raw_path, streams, combined, route)
        conn.micro = micro
        return conn

    def _private_route(self, raw_path: str, path: str, query: dict[str, list[str]],
                       micro: bool) -> Any:
        """USDⓈ-M ``/private`` user data: every documented form (see fastws.sim.userdata)."""
        from fastws.sim.userdata import UserConn
        keys: list[str] = []
        for v in query.get("listenKey", []):
            keys += [k for k in v.split("/") if k]
        if path in ("/ws", "/ws/"):
            combined = False
        elif path.startswith("/ws/"):
            combined = False
            keys += [unquote(s) for s in path[4:].split("/") if s]
        elif path in ("/stream", "/stream/"):
            combined = True
            keys += [s for s in query.get("streams", [""])[0].split("/") if s]
        else:
            return None
        for k in keys:
            if not self.userdata.valid_key(k):
                return self._refuse(400, "This listenKey does not exist.", code=-1125)
        ev = query.get("events")
        events = {e for v in ev for e in v.split("/") if e} if ev else None
        conn = UserConn(self, raw_path, keys, combined, events)
        conn.micro = micro
        return conn

