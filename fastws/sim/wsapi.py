"""WebSocket API (``/ws-api/v3``, ``/ws-fapi/v1``) and the request-weight accounting shared with
REST (SPEC §3.3, §5.2, §5.3, §5.6). Pure request -> response logic; the connection layer only
moves bytes.

Methods served here: ``ping``, ``time``, ``exchangeInfo``, ``depth`` (a ``v3/`` or ``v1/``
prefix is accepted); sessions, trading, account and user-data methods are in
:mod:`fastws.sim.trading`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional

import orjson

from fastws.sim import params as params_mod
from fastws.sim import payloads as P
from fastws.sim.accounts import RawNumber, parse_request

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

log = logging.getLogger("fastws.sim.wsapi")

__all__ = ["WeightLimiter", "WsApi", "depth_weight", "ApiError"]

SPOT_DEPTH_LIMIT_MAX = 5000
USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


class ApiError(Exception):
    """A Binance error answer: HTTP-like ``status``, negative ``code``, ``msg``."""

    def __init__(self, status: int, code: int, msg: str, data: Optional[dict] = None) -> None:
        super().__init__(code, msg)
        self.status, self.code, self.msg, self.data = status, code, msg, data

    def body(self) -> dict:
        d: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data:
            d["data"] = self.data
        return d


def depth_weight(market: str, limit: int) -> int:
    """Request weight of a depth snapshot (SPEC §3.3)."""
    if market == "spot":
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        if limit <= 1000:
            return 50
        return 250
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


BAN_AFTER_REJECTIONS = 5
"""Requests refused with 429 in one window before the IP is banned. Binance says only that
"repeatedly violating rate limits" leads to a ban (SPEC §5.3); the number is the simulator's."""
BAN_FIRST_SECONDS = 120.0
"""First ban: 2 minutes; each further ban doubles, up to 3 days (SPEC §5.3)."""
BAN_MAX_SECONDS = 3 * 86_400.0


class WeightLimiter:
    """``REQUEST_WEIGHT`` per calendar minute, shared by REST and WS API (one IP: loopback).

    Over the limit a request is refused with 429 (and costs nothing); after
    :data:`BAN_AFTER_REJECTIONS` such refusals the IP is banned (418) for 2 minutes, doubling
    with each ban up to 3 days.
    """

    def __init__(self, limit: int, now_ms: Callable[[], int],
                 ban_after: int = BAN_AFTER_REJECTIONS,
                 ban_seconds: float = BAN_FIRST_SECONDS) -> None:
        self.limit = limit
        self._now = now_ms
        self._minute = -1
        self.used = 0
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.banned_until = 0          # epoch ms
        self.bans = 0
        self._strikes = 0

    def ban(self, seconds: Optional[float] = None) -> int:
        """Ban the IP now (for ``seconds``, default the next ban length); returns the end (ms)."""
        if seconds is None:
            seconds = min(self.ban_seconds * (2 ** self.bans), BAN_MAX_SECONDS)
        self.bans += 1
        self._strikes = 0
        self.banned_until = self._now() + int(seconds * 1000)
        return self.banned_until

    def _banned_error(self) -> ApiError:
        until = self.banned_until
        return ApiError(418, -1003, f"Way too much request weight used; IP banned until "
                                    f"{until}. Please use WebSocket Streams for live updates to "
                                    "avoid bans.", {"serverTime": self._now(), "retryAfter": until})

    def check_ban(self) -> None:
        """Raise the 418 error while the IP is banned."""
        if self._now() < self.banned_until:
            raise self._banned_error()

    def _roll(self) -> None:
        minute = self._now() // 60_000
        if minute != self._minute:
            self._minute = minute
            self.used = 0
            self._strikes = 0

    def charge(self, weight: int) -> int:
        """Add ``weight``; raise :class:`ApiError` 429 when the minute's budget is spent."""
        self.check_ban()
        self._roll()
        if self.used + weight > self.limit:
            self._strikes += 1
            if self._strikes > self.ban_after:
                self.ban()
                raise self._banned_error()
            retry = (self._minute + 1) * 60_000
            raise ApiError(429, -1003,
                           f"Too much request weight used; current limit is {self.limit} "
                           "request weight per 1 MINUTE. Please use WebSocket Streams for live "
                           "updates to avoid polling the API.",
                           {"retryAfter": retry})
        self.used += weight
        return self.used

    def strike(self) -> None:
        """Count a refused request (an order limit hit) toward the ban, like a 429 on weight."""
        self._roll()
        self._strikes += 1
        if self._strikes > self.ban_after:
            self.ban()

    def count(self) -> int:
        self._roll()
        return self.used

    def rate_limits(self) -> list[dict]:
        return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.limit, "count": self.count()}]


def _int_param(params: dict, name: str, default: Optional[int]) -> Optional[int]:
    if name not in params or params[name] is None:
        return default
    v = params[name]
    if isinstance(v, bool):
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; "
                                   "legal range is '^[0-9]{1,20}$'.")
    if isinstance(v, str) and v.isdigit():
        return int(v)
    if isinstance(v, int):
        return v
    raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range "
                               "is '^[0-9]{1,20}$'.")


class WsApi:
    """Answers WS API and REST market-data requests from an :class:`~fastws.sim.Exchange`."""

    def __init__(self, exchange: "Exchange") -> None:
        self.ex = exchange
        from fastws.sim.market_data import MarketData
        from fastws.sim.tape import Tape
        hub = exchange._hub
        self.tape = Tape(exchange._markets).chain(hub.on_step)
        hub.on_step = self.tape.record
        self.market_data = MarketData(exchange, self.tape)

    # -- shared by REST and WS API ------------------------------------------------------------
    def _symbol(self, params: dict) -> Any:
        sym = params.get("symbol")
        if sym is None or sym == "":
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/"
                                       "null, or malformed.")
        if not isinstance(sym, str):
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/"
                                       "null, or malformed.")
        m = self.ex._markets.get(sym)
        if m is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return m

    def depth(self, params: dict) -> tuple[int, dict]:
        """(weight, result) of a depth snapshot request."""
        market = self.ex.market
        m = self._symbol(params)
        status = params.get("symbolStatus")
        if status is not None and status != "TRADING":
            raise ApiError(400, -1220, "The symbol's status does not match the requested "
                                       "symbolStatus.")
        if market == "spot":
            limit = _int_param(params, "limit", 100)
            assert limit is not None
            if limit < 1:
                raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
            limit = min(limit, SPOT_DEPTH_LIMIT_MAX)
        else:
            limit = _int_param(params, "limit", 500)
            if limit not in USDM_DEPTH_LIMITS:
                raise ApiError(400, -1130, "Data sent for parameter 'limit' is not valid.")
            assert limit is not None
        weight = depth_weight(market, limit)
        snap = self.ex._snapshot(m, limit)
        if self.ex.faults.take_crossed(m.symbol) and snap["asks"]:
            snap = dict(snap, bids=[[snap["asks"][0][0], snap["asks"][0][1]]] + snap["bids"])
        return weight, snap

    def exchange_info(self, params: dict) -> tuple[int, dict]:
        syms = None
        if params.get("symbol"):
            if not isinstance(params["symbol"], str):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'symbol'.")
            syms = [params["symbol"]]
        elif params.get("symbols"):
            s = params["symbols"]
            if isinstance(s, str):
                try:
                    s = orjson.loads(s)
                except orjson.JSONDecodeError:
                    s = None
            if not isinstance(s, list) or not all(isinstance(x, str) for x in s):
                raise ApiError(400, -1100, "Illegal characters found in parameter 'symbols'.")
            syms = s
        if syms is not None:
            for s in syms:
                if s not in self.ex._markets:
                    raise ApiError(400, -1121, "Invalid symbol.")
        info = self.ex.exchange_info(syms)
        extra = self.ex.faults.order_window_limits(None, self.ex.now_ms())
        if extra:                               # faults.order_window: listed with the others
            info = dict(info, rateLimits=list(info["rateLimits"]) + extra)
        return (20 if self.ex.market == "spot" else 1), info

    # -- WS API -------------------------------------------------------------------------------
    def _rate_limits(self, ctx: Any) -> list:
        out: list = []
        faults = self.ex.faults
        if ctx.account is not None and not faults.order_limits_hidden:
            now = self.ex.now_ms()
            out = faults.order_window_limits(ctx.account.uid, now) + \
                self.ex.trading.limiter(ctx.account).rate_limits(now)
        return out + self.ex.weights.rate_limits()

    def _account_of(self, params: dict, conn: Any) -> Any:
        """The account a trading request speaks for (its ``apiKey``, else the session's
        logon), or None when it names none the exchange knows."""
        key = params.get("apiKey")
        if isinstance(key, str):
            found = self.ex.find_key(key)
            return found[0] if found is not None else None
        sess = getattr(conn, "session", None)
        return getattr(sess, "account", None)

    def handle(self, data: bytes, return_rate_limits: bool, micro: bool = False,
               conn: Any = None) -> bytes:
        """Answer one WS API text frame; always returns one response frame."""
        try:
            req = parse_request(data)
        except ValueError:
            return orjson.dumps({"id": None, "status": 400, "error": {
                "code": -1135, "msg": "Invalid JSON"}})
        if not isinstance(req, dict):
            return orjson.dumps({"id": None, "status": 400, "error": {
                "code": -1135, "msg": "Invalid JSON"}})
        id_ = req.get("id")
        if isinstance(id_, RawNumber):
            id_ = int(id_) if id_.lstrip("-").isdigit() else float(id_)
        if isinstance(id_, (bool, float, dict, list)):
            return orjson.dumps({"id": None, "status": 400, "error": {
                "code": -1102, "msg": "Mandatory parameter 'id' was not sent, was empty/null, "
                                      "or malformed."}})
        method = req.get("method")
        params = req.get("params") or {}
        rl = return_rate_limits
        try:
            if not isinstance(params, dict):
                raise ApiError(400, -1102, "Mandatory parameter 'params' was not sent, was "
                                           "empty/null, or malformed.")
            if "returnRateLimits" in params:
                rl = params_mod.boolean(params, "returnRateLimits", rl)
            if not isinstance(method, str) or not method:
                raise ApiError(400, -1102, "Mandatory parameter 'method' was not sent, was "
                                           "empty/null, or malformed.")
            trading = self.ex.trading
            name = method if method in trading.methods else (
                method.split("/", 1)[1] if "/" in method else method)
            if name in trading.methods:
                from fastws.sim.trading import ORDER_COUNTING, Ctx
                ctx = Ctx()
                window = None
                try:
                    if self.ex.faults.order_window_spec is not None and name in ORDER_COUNTING:
                        acct = self._account_of(params, conn)
                        if acct is not None:            # faults.order_window: room left?
                            now = self.ex.now_ms()
                            self.ex.faults.order_window_check(acct.uid, now)
                            window = (acct, _orders_counted(trading, acct, now))
                    result = trading.call(name, params, conn, ctx)
                    if window is not None:          # as many as Binance's windows counted
                        now = self.ex.now_ms()
                        self.ex.faults.order_window_add(
                            window[0].uid, now,
                            _orders_counted(trading, window[0], now) - window[1])
                    if ctx.refund:
                        self.ex.weights.used = max(0, self.ex.weights.used - ctx.weight)
                    if micro:
                        result = _micro_result(result)
                    out: dict[str, Any] = {"id": id_, "status": 200, "result": result}
                except ApiError as e:
                    out = {"id": id_, "status": e.status, "error": e.body()}
                    if e.status == 429 and e.code == -1015:
                        self.ex.weights.strike()
                if rl:
                    out["rateLimits"] = self._rate_limits(ctx)
                return orjson.dumps(out)
            if name == "ping":
                weight, result = 1, {}
            elif name == "time":
                weight, result = 1, {"serverTime": self.ex.now_ms()}
            elif name == "exchangeInfo":
                weight, result = self.exchange_info(params)
            elif name == "depth":
                weight, result = self.depth(params)
            elif self.market_data.ws_handler(name) is not None:
                weight, result = self.market_data.ws_handler(name)(params)  # type: ignore
            else:
                # Binance's text for an unknown method is undocumented; -1000 UNKNOWN fits.
                raise ApiError(400, -1000, f"Unknown method '{method}'.")
            self.ex.weights.charge(weight)
            if micro:
                result = _micro_result(result)
            out = {"id": id_, "status": 200, "result": result}
        except ApiError as e:
            out = {"id": id_, "status": e.status, "error": e.body()}
        except Exception:                       # a simulator bug must not kill the connection
            log.exception("WS API request failed: %r", data[:200])
            out = {"id": id_, "status": 500, "error": {"code": -1000, "msg": "An unknown "
                   "error occurred while processing the request."}}
        if rl:
            out["rateLimits"] = self.ex.weights.rate_limits()
        return orjson.dumps(out)

    @staticmethod
    def shutdown_event(E: int) -> bytes:
        """WS API ``serverShutdown`` connection event (SPEC §5.1)."""
        return orjson.dumps({"event": P.server_shutdown(E)})


def _orders_counted(trading: Any, acct: Any, now: int) -> int:
    """Orders of ``acct`` in its longest ``ORDERS`` window now."""
    return int(trading.limiter(acct).rate_limits(now)[-1]["count"])


_MICRO_KEYS = frozenset({"serverTime", "E", "T", "time", "closeTime", "openTime",
                         "transactTime", "transactionTime", "updateTime", "workingTime",
                         "authorizedSince", "connectedSince", "goodTillDate"})


def _micro_result(result: Any) -> Any:
    """Timestamps of a WS API result in microseconds (``timeUnit=MICROSECOND``, SPEC §5.1):
    every time field of market data, order and account answers, at any depth; kline rows'
    open and close times."""
    if isinstance(result, list):
        if len(result) == 12 and isinstance(result[0], int) and isinstance(result[6], int) \
                and isinstance(result[1], str):
            row = list(result)
            row[0] *= 1000
            row[6] *= 1000
            return row
        return [_micro_result(x) for x in result]
    if not isinstance(result, dict):
        return result
    out = {}
    for k, v in result.items():
        if k in _MICRO_KEYS and isinstance(v, int) and not isinstance(v, bool) and v > 0:
            out[k] = v * 1000
        elif isinstance(v, (dict, list)):
            out[k] = _micro_result(v)
        else:
            out[k] = v
    return out
