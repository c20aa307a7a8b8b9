"""Signed WS API methods of the simulator: sessions, trading, account queries, user data.

Pure request -> result logic on top of :class:`~fastws.sim.engine.Engine`; the WS API layer
(:mod:`fastws.sim.wsapi`) decodes frames, charges weight and wraps answers.

Auth (SPEC §7): ``apiKey`` + ``signature`` + ``timestamp`` per request, or a ``session.logon``
(Ed25519 keys only) after which ``timestamp`` alone suffices. Errors: -1102 missing param,
-2014 malformed key, -2015 unknown key or missing permission, -1022 bad signature, -1021
timestamp outside ``recvWindow`` or 1 s ahead, -1131 ``recvWindow`` over 60000.
"""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Callable, Optional

import orjson

from fastws.sim import params as params_mod
from fastws.sim import spot_methods as sm
from fastws.sim.accounts import _KEY_RE, Account, ApiKey, random_key, signing_payload
from fastws.sim.engine import STOP_TYPES, STP_MODES, Order, OrderList, Reject
from fastws.sim.market import StepResult, SymbolMarket
from fastws.sim.wsapi import ApiError

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["Trading", "Session", "OrderLimiter"]

log = logging.getLogger("fastws.sim.trading")

MAX_RECV_WINDOW = 60000
ORDER_TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", *STOP_TYPES)
USDM_ORDER_TYPES = ("LIMIT", "MARKET")
ORDER_COUNTING = ("order.place", "order.cancelReplace", "orderList.place.oco", "order.modify",
                  "orderList.place.oto", "orderList.place.otoco", "orderList.place.opo",
                  "orderList.place.opoco")
"""Methods that count toward ``ORDERS`` (their answers carry the ORDERS rate limits)."""


def _missing(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                "or malformed.")


class Session:
    """Per-connection WS API state: logged-on key, user data subscriptions."""

    def __init__(self, connected_ms: int) -> None:
        self.key: Optional[ApiKey] = None
        self.account: Optional[Account] = None
        self.authorized_since: Optional[int] = None
        self.connected_since = connected_ms
        self.subs: dict[int, Account] = {}
        self.logon_sub: Optional[int] = None
        self.next_sub = 0


class OrderLimiter:
    """``ORDERS`` counts of one account: calendar-aligned 10 s window plus 1 day (spot) or
    1 minute (USDⓈ-M) (SPEC §5.3, §5.6)."""

    def __init__(self, market: str, per_10s: int, per_long: int) -> None:
        self.per_10s = per_10s
        self.per_long = per_long
        self.long_ms = 86_400_000 if market == "spot" else 60_000
        self.long_name = ("DAY", 1) if market == "spot" else ("MINUTE", 1)
        self._w10 = -1
        self._wl = -1
        self.c10 = 0
        self.cl = 0

    def _roll(self, now: int) -> None:
        if now // 10_000 != self._w10:
            self._w10 = now // 10_000
            self.c10 = 0
        if now // self.long_ms != self._wl:
            self._wl = now // self.long_ms
            self.cl = 0

    def check(self, now: int, n: int = 1) -> None:
        """Raise 429 / -1015 when ``n`` more orders do not fit."""
        self._roll(now)
        if self.c10 + n > self.per_10s:
            raise ApiError(429, -1015, f"Too many new orders; current limit is {self.per_10s} "
                                       "orders per 10 SECOND.",
                           {"retryAfter": (self._w10 + 1) * 10_000})
        if self.cl + n > self.per_long:
            raise ApiError(429, -1015, f"Too many new orders; current limit is "
                                       f"{self.per_long} orders per {self.long_name[1]} "
                                       f"{self.long_name[0]}.",
                           {"retryAfter": (self._wl + 1) * self.long_ms})

    def add(self, now: int, n: int = 1) -> None:
        self._roll(now)
        self.c10 += n
        self.cl += n

    def rate_limits(self, now: int) -> list[dict]:
        self._roll(now)
        return [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": self.per_10s, "count": self.c10},
                {"rateLimitType": "ORDERS", "interval": self.long_name[0],
                 "intervalNum": self.long_name[1], "limit": self.per_long, "count": self.cl}]


class _RestConn:
    """Stands for the connection of a REST request: no session, no events."""

    closed = True

    def __init__(self) -> None:
        self.session: Optional[Session] = None
        self.return_rate_limits = False

    def send_event(self, sid: int, event: dict) -> None:
        pass


class Ctx:
    """What one request touched (for its ``rateLimits``) and how it ended."""

    __slots__ = ("account", "status", "weight", "refund")

    def __init__(self) -> None:
        self.account: Optional[Account] = None
        self.status = 200
        self.weight = 0
        self.refund = False


class Trading:
    """Signed methods of one :class:`~fastws.sim.Exchange`."""

    def __init__(self, ex: "Exchange") -> None:
        self.ex = ex
        self.spot = ex.market == "spot"
        S = self.spot
        # name -> (handler, weight, security, weight refunded on success)
        self.methods: dict[str, tuple[Callable[..., Any], Any, str, bool]] = {
            "session.logon": (self.session_logon, 2, "NONE", False),
            "session.status": (self.session_status, 2, "NONE", False),
            "session.logout": (self.session_logout, 2, "NONE", False),
            "order.place": (self.order_place, 1, "TRADE", True),
            "order.test": (self.order_test, 1, "TRADE", False),
            "order.cancel": (self.order_cancel, 1, "TRADE", True),
            "order.status": (self.order_status, 4 if S else 1, "USER_DATA", False),
            "openOrders.status": (self.open_orders, 6 if S else 1, "USER_DATA", False),
            "account.status": (self.account_status, 20 if S else 5, "USER_DATA", False),
        }
        if S:
            self.methods.update({
                "order.cancelReplace": (self.order_cancel_replace, 1, "TRADE", True),
                "openOrders.cancelAll": (self.cancel_all, 1, "TRADE", True),
                "allOrders": (self.all_orders, 20, "USER_DATA", False),
                "myTrades": (self.my_trades, 20, "USER_DATA", False),
                "account.rateLimits.orders": (self.rate_limits_orders, 40, "USER_DATA", False),
                "orderList.place.oco": (self.oco_place, 1, "TRADE", True),
                "orderList.cancel": (self.list_cancel, 1, "TRADE", True),
                "orderList.status": (self.list_status, 4, "USER_DATA", False),
                "openOrderLists.status": (self.open_lists, 6, "USER_DATA", False),
                "userDataStream.subscribe": (self.uds_subscribe, 2, "LOGON", False),
                "userDataStream.subscribe.signature": (self.uds_subscribe_sig, 2, "USER_STREAM",
                                                       False),
                "userDataStream.unsubscribe": (self.uds_unsubscribe, 2, "NONE", False),
                "session.subscriptions": (self.session_subscriptions, 2, "NONE", False),
                "account.commission": (self._bind(sm.account_commission), 20, "USER_DATA",
                                       False),
                "myPreventedMatches": (self._bind(sm.my_prevented_matches), 2, "USER_DATA",
                                       False),
                "order.amend.keepPriority": (self._bind(sm.amend_keep_priority), 4, "TRADE",
                                             False),
                "allOrderLists": (self._bind(sm.all_order_lists), 20, "USER_DATA", False),
                "order.amendments": (self._bind(sm.order_amendments), 4, "USER_DATA", False),
                "myFilters": (self._bind(sm.my_filters), 40, "USER_DATA", False),
                "orderList.place.oto": (self._bind(sm.oto_place), 1, "TRADE", True),
                "orderList.place.otoco": (self._bind(sm.otoco_place), 1, "TRADE", True),
                "orderList.place.opo": (self._bind(sm.opo_place), 1, "TRADE", True),
                "orderList.place.opoco": (self._bind(sm.opoco_place), 1, "TRADE", True),
            })
        else:
            self.methods.update({
                "order.modify": (self.order_modify, 1, "TRADE", False),
                "account.balance": (self.account_balance, 5, "USER_DATA", False),
                "account.position": (self.account_position, 5, "USER_DATA", False),
                "v2/account.status": (self.account_status_v2, 5, "USER_DATA", False),
                "v2/account.balance": (self.account_balance, 5, "USER_DATA", False),
                "v2/account.position": (self.account_position_v2, 5, "USER_DATA", False),
                "userDataStream.start": (self.listen_start, 2, "STREAM_KEY", False),
                "userDataStream.ping": (self.listen_ping, 2, "STREAM_KEY", False),
                "userDataStream.stop": (self.listen_stop, 2, "STREAM_KEY", False),
            })
        self.rest_only: dict[str, tuple[Callable[..., Any], Any, str, bool]] = {}
        if not S:
            from fastws.sim import usdm_account as ua
            self.rest_only.update({
                "allOrders": (self.all_orders, 5, "USER_DATA", False),
                "userTrades": (self._bind(ua.user_trades), 5, "USER_DATA", False),
                "leverage": (self._bind(ua.change_leverage), 1, "TRADE", False),
                "commissionRate": (self._bind(ua.commission_rate), 20, "USER_DATA", False)})
        self.limiters: dict[int, OrderLimiter] = {}
        from fastws.sim.usdm_account import UsdmAccount
        self.usdm = UsdmAccount(ex)

    # -- plumbing ----------------------------------------------------------------------------
    def _bind(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """A handler of another module as a method of this Trading."""
        return lambda p, conn, acct, ctx: fn(self, p, conn, acct, ctx)

    def limiter(self, acct: Account) -> OrderLimiter:
        lim = self.limiters.get(acct.uid)
        if lim is None:
            p10, plong = self.ex.order_limits
            lim = self.limiters[acct.uid] = OrderLimiter(self.ex.market, p10, plong)
        return lim

    def call(self, name: str, params: dict, conn: Any, ctx: Ctx) -> Any:
        fn, weight, security, refund = self.methods[name]
        ctx.weight = weight(params) if callable(weight) else weight
        ctx.refund = refund
        self.ex.weights.charge(ctx.weight)
        acct = None
        if security in ("TRADE", "USER_DATA", "USER_STREAM"):
            acct = self.authenticate(params, conn, security)
        elif security == "LOGON":
            sess = self._session(conn)
            self._check_session_key(sess, conn)
            if sess.account is None:
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            acct = sess.account
        elif security == "STREAM_KEY":
            acct = self._key_only(params, conn)
        ctx.account = acct if name in ORDER_COUNTING else None
        self.ex._hub.advance_to(self.ex.now_ms())
        return fn(params, conn, acct, ctx)

    def call_rest(self, name: str, params: dict, api_key: str, payload: bytes,
                  signature: Optional[str], ctx: Ctx) -> Any:
        """A signed REST request (SPEC §7.3): key from ``X-MBX-APIKEY``, ``signature`` over
        ``payload`` (the query string then the body, as sent, without the signature)."""
        fn, weight, security, refund = self.methods.get(name) or self.rest_only[name]
        ctx.weight = weight(params) if callable(weight) else weight
        ctx.refund = refund
        self.ex.weights.charge(ctx.weight)
        if not api_key:
            raise ApiError(401, -2014, "API-key format invalid.")
        found = self.ex.find_key(api_key)
        if found is None:
            if not _KEY_RE.match(api_key):
                raise ApiError(401, -2014, "API-key format invalid.")
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        acct, key = found
        if security == "STREAM_KEY":
            ctx.account = None
            return fn(params, _RestConn(), acct, ctx)
        if not signature:
            raise _missing("signature")
        if not key.verify(payload, signature):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        self.check_time(params)
        if security not in ("NONE",) and security in ("TRADE", "USER_DATA", "USER_STREAM") \
                and security not in key.permissions:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        ctx.account = acct if name in ORDER_COUNTING else None
        self.ex._hub.advance_to(self.ex.now_ms())
        return fn(params, _RestConn(), acct, ctx)

    def _session(self, conn: Any) -> Session:
        s = getattr(conn, "session", None)
        if s is None:
            s = conn.session = Session(self.ex.now_ms())
        return s

    def _check_session_key(self, sess: Session, conn: Any) -> None:
        """A logged-on key deleted since: the session ends, this request gets 401 -2015, and
        the unsolicited ``{"id": null, "status": 401}`` frame follows its answer (SPEC §5.2)."""
        if sess.key is None or self.ex.find_key(sess.key.api_key) is not None:
            return
        if sess.logon_sub is not None:
            self._end_sub(conn, sess.logon_sub)
        sess.key = sess.account = None
        sess.authorized_since = None
        err = ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        frame = orjson.dumps({"id": None, "status": 401, "error": err.body()})
        send = getattr(conn, "send_now", None)
        if send is not None:
            try:
                asyncio.get_running_loop().call_soon(
                    lambda: None if getattr(conn, "closed", False) else send(frame))
            except RuntimeError:                     # no loop: a pure (socket-less) call
                pass
        raise err

    def _key_only(self, params: dict, conn: Any) -> Account:
        k = params.get("apiKey")
        sess = self._session(conn)
        if not k and sess.account is not None:
            return sess.account
        if not isinstance(k, str) or not k:
            raise _missing("apiKey")
        found = self.ex.find_key(k)
        if found is None:
            raise ApiError(401, -2015 if _KEY_RE.match(k) else -2014,
                           "Invalid API-key, IP, or permissions for action." if _KEY_RE.match(k)
                           else "API-key format invalid.")
        return found[0]

    def authenticate(self, params: dict, conn: Any, permission: str) -> Account:
        """Check key, signature and timing of a signed request; return its account."""
        sess = self._session(conn)
        api_key = params.get("apiKey")
        sig = params.get("signature")
        if api_key is None and sig is None and sess.key is not None:
            self._check_session_key(sess, conn)
            key, acct = sess.key, sess.account
            assert acct is not None
        else:
            if api_key is None or api_key == "" or not isinstance(api_key, str):
                raise _missing("apiKey")
            found = self.ex.find_key(api_key)
            if found is None:
                if not _KEY_RE.match(api_key):
                    raise ApiError(401, -2014, "API-key format invalid.")
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            acct, key = found
            if sig is None or sig == "":
                raise _missing("signature")
            if not isinstance(sig, str) or not key.verify(signing_payload(params), sig):
                raise ApiError(400, -1022, "Signature for this request is not valid.")
        self.check_time(params)
        if permission not in key.permissions:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return acct

    def check_time(self, params: dict) -> None:
        ts = params.get("timestamp")
        if ts is None or ts == "":
            raise _missing("timestamp")
        try:
            t = Decimal(str(ts))
        except InvalidOperation:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'timestamp'; "
                                       "legal range is '^[0-9]{1,20}$'.") from None
        if t > 10 ** 14:                                  # microseconds
            t = t / 1000
        rw_raw = params.get("recvWindow")
        try:
            rw = Decimal(str(rw_raw)) if rw_raw is not None else Decimal(5000)
        except InvalidOperation:
            raise ApiError(400, -1100, "Illegal characters found in parameter "
                                       "'recvWindow'.") from None
        if rw > MAX_RECV_WINDOW or rw <= 0:
            raise ApiError(400, -1131, "recvWindow must be less than 60000")
        now = self.ex.now_ms()
        if t >= now + 1000:
            raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the "
                                       "server's time.")
        if now - t > rw:
            raise ApiError(400, -1021, "Timestamp for this request is outside of the "
                                       "recvWindow.")

    # -- params ------------------------------------------------------------------------------
    def _market(self, params: dict) -> SymbolMarket:
        sym = params.get("symbol")
        if not isinstance(sym, str) or not sym:
            raise _missing("symbol")
        m = self.ex._markets.get(sym)
        if m is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return m

    @staticmethod
    def _dec(params: dict, name: str, required: bool = False) -> Optional[Decimal]:
        return params_mod.decimal(params, name, required)

    @staticmethod
    def _int(params: dict, name: str) -> Optional[int]:
        return params_mod.integer(params, name, signed=True)

    def _ticks(self, m: SymbolMarket, d: Decimal, what: str = "PRICE_FILTER") -> int:
        units = d / m._tick_dec
        if d <= 0 or units != units.to_integral_value():
            raise Reject(-1013, f"Filter failure: {what}")
        return int(units)

    def _lots(self, m: SymbolMarket, d: Decimal) -> int:
        units = d / m._lot_dec
        if d <= 0 or units != units.to_integral_value() or d > Decimal(9000):
            raise Reject(-1013, "Filter failure: LOT_SIZE")
        return int(units)

    def build_order(self, m: SymbolMarket, acct: Account, p: dict,
                    prefix: str = "", side: Optional[str] = None,
                    qty: Optional[Decimal] = None) -> Order:
        """Validate ``order.place`` params (or one OCO leg: ``prefix`` above/below)."""
        def g(name: str) -> Any:
            key = prefix + name[0].upper() + name[1:] if prefix else name
            return p.get(key), key
        side = side or p.get("side")
        if side is None:
            raise _missing("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        typ, tkey = g("type")
        if typ is None:
            raise _missing(tkey)
        allowed = ORDER_TYPES if self.spot else USDM_ORDER_TYPES
        if typ not in allowed:
            raise ApiError(400, -1116, "Invalid orderType.")
        tif, tif_key = g("timeInForce")
        price_raw, price_key = g("price")
        stop_raw, stop_key = g("stopPrice")
        need_tif = typ in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if need_tif and tif is None:
            raise _missing(tif_key)
        valid_tif = ("GTC", "IOC", "FOK") if self.spot else ("GTC", "IOC", "FOK", "GTX")
        if tif is not None and tif not in valid_tif:
            raise ApiError(400, -1115, "Invalid timeInForce.")
        if typ in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") and price_raw is not None:
            raise ApiError(400, -1106, f"Parameter '{price_key}' sent when not required.")
        if typ == "MARKET" and tif is not None and self.spot:
            raise ApiError(400, -1106, f"Parameter '{tif_key}' sent when not required.")
        price = 0
        if typ in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            d = self._dec({price_key: price_raw}, price_key, True)
            assert d is not None
            price = self._ticks(m, d)
        stop = 0
        if typ in STOP_TYPES:
            d = self._dec({stop_key: stop_raw}, stop_key, True)
            assert d is not None
            stop = self._ticks(m, d)
        q = qty if qty is not None else self._dec(p, "quantity")
        qq = self._dec(p, "quoteOrderQty") if not prefix else None
        if q is None and qq is None:
            raise _missing("quantity")
        if qq is not None and (typ != "MARKET" or q is not None):
            raise ApiError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        lots = self._lots(m, q) if q is not None else 0
        if qq is not None and qq <= 0:
            raise Reject(-1013, "Filter failure: NOTIONAL")
        iceberg = self._dec(p, g("icebergQty")[1])
        trailing = params_mod.integer(p, g("trailingDelta")[1])
        from fastws.sim.filters import check_order
        check_order(self.ex, m, acct, side, typ, price, stop, lots, iceberg, trailing)
        if trailing is not None:
            # trailing stops are not simulated (exchangeInfo says allowTrailingStop false)
            raise ApiError(400, -1130, f"Data sent for parameter '{g('trailingDelta')[1]}' "
                                       "is not valid.")
        if iceberg is not None and iceberg > 0:
            # icebergs are not simulated (exchangeInfo says icebergAllowed false)
            raise ApiError(400, -1130, f"Data sent for parameter '{g('icebergQty')[1]}' is "
                                       "not valid.")
        stp = p.get("selfTradePreventionMode", "EXPIRE_MAKER" if self.spot else "NONE")
        if stp not in STP_MODES:
            raise ApiError(400, -1130, "Data sent for parameter 'selfTradePreventionMode' is "
                                       "not valid.")
        if typ == "MARKET":
            ref = m.last_price
            if lots:
                self.ex.engine.check_notional(m, ref, lots)
            elif qq is not None and qq < Decimal(m.spec.min_notional) and self.spot:
                raise Reject(-1013, "Filter failure: NOTIONAL")
        elif typ in STOP_TYPES and not price:
            self.ex.engine.check_notional(m, stop, lots)
        else:
            self.ex.engine.check_notional(m, price, lots)
        cid, ckey = g("clientOrderId") if prefix else (p.get("newClientOrderId"), "")
        if cid is not None and (not isinstance(cid, str) or not 0 < len(cid) <= 36):
            raise ApiError(400, -1100, "Illegal characters found in parameter "
                                       "'newClientOrderId'; legal range is "
                                       "'^[a-zA-Z0-9-_.]{1,36}$'.")
        if cid is not None and any(o.open and o.client_id == cid
                                   for o in self.ex.engine.open_orders(acct, m.symbol)):
            raise Reject(-2010, "Duplicate order sent.")
        o = Order(acct, m, 0, cid or random_key(22), side, typ,
                  tif or ("GTC" if self.spot or typ != "MARKET" else "GTC"), price, lots,
                  quote_qty=qq or Decimal(0), stop=stop, stp=stp)
        sid = self._int(p, "strategyId")
        if sid is not None:
            o.strategy_id = sid
        st = self._int(p, "strategyType")
        if st is not None:
            if st < 1000000:
                raise ApiError(400, -1100, "Illegal characters found in parameter "
                                           "'strategyType'.")
            o.strategy_type = st
        if not self.spot:
            o.reduce_only = params_mod.boolean(p, "reduceOnly")
            ps = p.get("positionSide", "BOTH")
            if ps != "BOTH":
                raise ApiError(400, -4061, "Order's position side does not match user's "
                                           "setting.")
        return o

    # -- responses ---------------------------------------------------------------------------
    def _order_fields(self, o: Order, with_stp: bool = True) -> dict:
        m, e = o.m, self.ex.engine
        d: dict[str, Any] = {"price": m.px(o.price), "origQty": m.qty(o.qty),
                             "executedQty": m.qty(o.executed),
                             "origQuoteOrderQty": e.q8(o.quote_qty),
                             "cummulativeQuoteQty": e.q8(o.cum_quote), "status": o.status,
                             "timeInForce": o.tif, "type": o.type, "side": o.side}
        if o.stop:
            d["stopPrice"] = m.px(o.stop)
        if o.strategy_id is not None:
            d["strategyId"] = o.strategy_id
        if o.strategy_type is not None:
            d["strategyType"] = o.strategy_type
        return d

    def order_result(self, o: Order, resp_type: str, now: int) -> dict:
        if not self.spot:
            return self.usdm_order(o)
        r: dict[str, Any] = {"symbol": o.m.symbol, "orderId": o.order_id,
                             "orderListId": o.list_id, "clientOrderId": o.client_id,
                             "transactTime": now}
        if resp_type == "ACK":
            return r
        r.update(self._order_fields(o))
        r["workingTime"] = o.working_time
        if resp_type == "FULL":
            r["fills"] = [{"price": o.m.px(t), "qty": o.m.qty(n),
                           "commission": self.ex.engine.q8(c), "commissionAsset": a,
                           "tradeId": tid} for t, n, c, a, tid in o.fills]
        r["selfTradePreventionMode"] = o.stp
        if o.prevented_match_id >= 0:
            r["preventedMatchId"] = o.prevented_match_id
            r["preventedQuantity"] = o.m.qty(o.prevented_lots)
        return r

    def cancel_result(self, o: Order, cancel_cid: str, now: int) -> dict:
        r: dict[str, Any] = {"symbol": o.m.symbol, "origClientOrderId": o.client_id,
                             "orderId": o.order_id, "orderListId": o.list_id,
                             "clientOrderId": cancel_cid, "transactTime": now}
        r.update(self._order_fields(o))
        r["selfTradePreventionMode"] = o.stp
        return r

    def status_result(self, o: Order) -> dict:
        if not self.spot:
            d = self.usdm_order(o)
            d["time"] = o.time
            return d
        m = o.m
        r: dict[str, Any] = {"symbol": m.symbol, "orderId": o.order_id,
                             "orderListId": o.list_id, "clientOrderId": o.client_id,
                             "price": m.px(o.price), "origQty": m.qty(o.qty),
                             "executedQty": m.qty(o.executed),
                             "cummulativeQuoteQty": self.ex.engine.q8(o.cum_quote),
                             "status": o.status, "timeInForce": o.tif, "type": o.type,
                             "side": o.side, "stopPrice": m.px(o.stop),
                             "icebergQty": m.qty(0), "time": o.time,
                             "updateTime": o.update_time, "isWorking": o.working_time >= 0,
                             "workingTime": o.working_time,
                             "origQuoteOrderQty": self.ex.engine.q8(o.quote_qty)}
        if o.strategy_id is not None:
            r["strategyId"] = o.strategy_id
        if o.strategy_type is not None:
            r["strategyType"] = o.strategy_type
        r["selfTradePreventionMode"] = o.stp
        if o.prevented_match_id >= 0:
            r["preventedMatchId"] = o.prevented_match_id
            r["preventedQuantity"] = m.qty(o.prevented_lots)
        return r

    def usdm_order(self, o: Order) -> dict:
        m = o.m
        avg = o.cum_quote / m.qty_decimal(o.executed) if o.executed else Decimal(0)
        qd = m.pdec + m.qdec
        return {"orderId": o.order_id, "symbol": m.symbol, "status": o.status,
                "clientOrderId": o.client_id, "price": m.px(o.price),
                "avgPrice": f"{avg:.{m.pdec}f}" if avg else f"{0:.{m.pdec}f}",
                "origQty": m.qty(o.qty), "executedQty": m.qty(o.executed),
                "cumQty": m.qty(o.executed), "cumQuote": f"{o.cum_quote:.{qd}f}",
                "timeInForce": o.tif, "type": o.type, "reduceOnly": o.reduce_only,
                "closePosition": False, "side": o.side, "positionSide": o.position_side,
                "stopPrice": m.px(o.stop), "workingType": "CONTRACT_PRICE",
                "priceProtect": False, "origType": o.type, "priceMatch": "NONE",
                "selfTradePreventionMode": o.stp, "goodTillDate": 0,
                "updateTime": o.update_time}

    # -- execution helper --------------------------------------------------------------------
    def _apply(self, m: SymbolMarket, res: StepResult) -> None:
        """Publish what an account operation did: market events, then user data."""
        self.ex._hub.apply(m, res)
        self.ex.engine.flush_accounts(res.time)
        self.ex._deliver_user_events()

    def _place(self, acct: Account, o: Order, ctx: Ctx) -> None:
        now = self.ex.now_ms()
        lim = self.limiter(acct)
        lim.check(now)
        o.order_id = self.ex.engine.next_order_id()
        res = StepResult(time=max(now, o.m.time))
        try:
            self.ex.engine.place(o, res.time, res)
        except Reject:
            self.ex.engine._touched.clear()
            raise
        finally:
            if res.changes or res.fills:
                self._apply(o.m, res)
        lim.add(now)
        self.ex.engine.flush_accounts(res.time)
        self.ex._deliver_user_events()

    # -- sessions ----------------------------------------------------------------------------
    def _session_result(self, conn: Any) -> dict:
        s = self._session(conn)
        r: dict[str, Any] = {"apiKey": s.key.api_key if s.key else None,
                             "authorizedSince": s.authorized_since,
                             "connectedSince": s.connected_since,
                             "returnRateLimits": bool(getattr(conn, "return_rate_limits", True)),
                             "serverTime": self.ex.now_ms()}
        if self.spot:
            r["userDataStream"] = bool(s.subs)
        return r

    def session_logon(self, p: dict, conn: Any, _a: Any, ctx: Ctx) -> dict:
        k = p.get("apiKey")
        if not isinstance(k, str) or not k:
            raise _missing("apiKey")
        found = self.ex.find_key(k)
        if found is None:
            if not _KEY_RE.match(k):
                raise ApiError(401, -2014, "API-key format invalid.")
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        acct, key = found
        if key.key_type != "ED25519":
            # Binance's exact answer is undocumented (SPEC §5.5: Ed25519 only)
            name = "HMAC_SHA256" if key.key_type == "HMAC" else "RSA"
            raise ApiError(400, -4056 if key.key_type == "HMAC" else -4057,
                           f"{name} API key is not supported.")
        sig = p.get("signature")
        if not sig:
            raise _missing("signature")
        if not isinstance(sig, str) or not key.verify(signing_payload(p), sig):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        self.check_time(p)
        s = self._session(conn)
        if s.logon_sub is not None and s.account is not acct:
            self._end_sub(conn, s.logon_sub)
        s.key, s.account = key, acct
        s.authorized_since = self.ex.now_ms()
        return self._session_result(conn)

    def session_status(self, p: dict, conn: Any, _a: Any, ctx: Ctx) -> dict:
        return self._session_result(conn)

    def session_logout(self, p: dict, conn: Any, _a: Any, ctx: Ctx) -> dict:
        s = self._session(conn)
        if s.logon_sub is not None:
            self._end_sub(conn, s.logon_sub)
        s.key = s.account = None
        s.authorized_since = None
        return self._session_result(conn)

    # -- user data (spot) --------------------------------------------------------------------
    def _new_sub(self, conn: Any, acct: Account) -> int:
        s = self._session(conn)
        if any(a is acct for a in s.subs.values()):
            raise ApiError(400, -2035, "User Data Stream subscription already active.")
        if len(s.subs) >= 1000 or s.next_sub > 65535:
            raise ApiError(400, -2042, "Maximum subscription ID reached for this connection.")
        sid = s.next_sub
        s.next_sub += 1
        s.subs[sid] = acct
        self.ex.userdata.add_spot(acct, conn, sid)
        return sid

    def _end_sub(self, conn: Any, sid: int) -> None:
        s = self._session(conn)
        acct = s.subs.pop(sid, None)
        if s.logon_sub == sid:
            s.logon_sub = None
        if acct is not None:
            self.ex.userdata.remove_spot(acct, conn, sid)
            conn.send_event(sid, {"e": "eventStreamTerminated", "E": self.ex.now_ms()})

    def uds_subscribe(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        s = self._session(conn)
        sid = self._new_sub(conn, acct)
        s.logon_sub = sid
        return {"subscriptionId": sid}

    def uds_subscribe_sig(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        return {"subscriptionId": self._new_sub(conn, acct)}

    def uds_unsubscribe(self, p: dict, conn: Any, _a: Any, ctx: Ctx) -> dict:
        s = self._session(conn)
        sid = self._int(p, "subscriptionId")
        if sid is None:
            for x in list(s.subs):
                self._end_sub(conn, x)
        else:
            if sid not in s.subs:
                raise ApiError(400, -2036, "User Data Stream subscription not active.")
            self._end_sub(conn, sid)
        return {}

    def session_subscriptions(self, p: dict, conn: Any, _a: Any, ctx: Ctx) -> list:
        return [{"subscriptionId": sid} for sid in sorted(self._session(conn).subs)]

    # -- user data (USDⓈ-M listenKey) --------------------------------------------------------
    def listen_start(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        return {"listenKey": self.ex.userdata.start_listen_key(acct)}

    def listen_ping(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        return {"listenKey": self.ex.userdata.ping_listen_key(acct)}

    def listen_stop(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        self.ex.userdata.stop_listen_key(acct)
        return {}

    # -- trading -----------------------------------------------------------------------------
    def order_place(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        resp = p.get("newOrderRespType")
        try:
            o = self.build_order(m, acct, p)
            if resp is None:
                resp = ("FULL" if o.type in ("LIMIT", "MARKET") else "ACK") if self.spot \
                    else "ACK"
            if resp not in ("ACK", "RESULT", "FULL"):
                raise ApiError(400, -1130, "Data sent for parameter 'newOrderRespType' is not "
                                           "valid.")
            self._place(acct, o, ctx)
        except Reject as r:
            raise ApiError(r.status, r.code, r.msg) from None
        return self.order_result(o, resp, o.update_time if self.spot else o.time)

    def order_test(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        ccr = params_mod.boolean(p, "computeCommissionRates")
        if ccr:
            self.ex.weights.charge(19)
        try:
            self.build_order(m, acct, p)
        except Reject as r:
            raise ApiError(r.status, r.code, r.msg) from None
        if not ccr:
            return {}
        e = self.ex.engine
        return {"standardCommissionForOrder": {"maker": e.q8(acct.maker),
                                               "taker": e.q8(acct.taker)},
                "specialCommissionForOrder": {"maker": e.q8(Decimal(0)),
                                              "taker": e.q8(Decimal(0))},
                "taxCommissionForOrder": {"maker": e.q8(Decimal(0)),
                                          "taker": e.q8(Decimal(0))},
                "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                             "discountAsset": "BNB", "discount": e.q8(Decimal(0))}}

    def _lookup(self, p: dict, acct: Account, m: SymbolMarket, id_key: str = "orderId",
                cid_key: str = "origClientOrderId") -> Order:
        oid = self._int(p, id_key)
        cid = p.get(cid_key)
        if oid is None and not cid:
            raise ApiError(400, -1102, f"Param '{cid_key}' or '{id_key}' must be sent, but "
                                       "both were empty/null!")
        o = self.ex.engine.find(acct, m.symbol, oid, cid if oid is None else None)
        if o is None:
            raise ApiError(400, -2013 if id_key == "orderId" and "cancel" not in id_key
                           else -2011, "Order does not exist." if id_key == "orderId"
                           else "Unknown order sent.")
        return o

    def _do_cancel(self, p: dict, acct: Account, m: SymbolMarket, id_key: str,
                   cid_key: str, restr_key: str = "cancelRestrictions",
                   new_cid_key: str = "newClientOrderId") -> dict:
        oid = self._int(p, id_key)
        cid = p.get(cid_key)
        if oid is None and not cid:
            raise ApiError(400, -1102, f"Param '{cid_key}' or '{id_key}' must be sent, but "
                                       "both were empty/null!")
        restr = p.get(restr_key)
        if restr is not None and restr not in ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"):
            raise ApiError(400, -1145, "Invalid cancelRestrictions")
        o = self.ex.engine.find(acct, m.symbol, oid, cid if oid is None else None)
        if o is None or not (o.open or o.status == "PENDING_NEW"):
            raise ApiError(400, -2011, "Unknown order sent.")
        if (restr == "ONLY_NEW" and o.status != "NEW") or (
                restr == "ONLY_PARTIALLY_FILLED" and o.status != "PARTIALLY_FILLED"):
            raise ApiError(400, -2011, "Order was not canceled due to cancel restrictions.")
        new_cid = p.get(new_cid_key) or random_key(22)
        now = self.ex.now_ms()
        res = StepResult(time=max(now, m.time))
        self.ex.engine.cancel(o, res.time, res, new_cid)
        self._apply(m, res)
        if o.list_id >= 0 and self.spot:
            return self.list_result(self.ex.engine.lists[o.list_id], True, now, new_cid)
        if not self.spot:
            return self.usdm_order(o)
        return self.cancel_result(o, new_cid, res.time)

    def order_cancel(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        return self._do_cancel(p, acct, m, "orderId", "origClientOrderId")

    def order_cancel_replace(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        mode = p.get("cancelReplaceMode")
        if mode is None:
            raise _missing("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise ApiError(400, -1130, "Data sent for parameter 'cancelReplaceMode' is not "
                                       "valid.")
        rl_mode = p.get("orderRateLimitExceededMode", "DO_NOTHING")
        lim = self.limiter(acct)
        try:
            lim.check(self.ex.now_ms())
        except ApiError as e:
            if rl_mode != "CANCEL_ONLY":
                raise
            rate_err: Optional[ApiError] = e
        else:
            rate_err = None
        cancel_resp: Any
        try:
            cancel_resp = self._do_cancel(p, acct, m, "cancelOrderId", "cancelOrigClientOrderId",
                                          new_cid_key="cancelNewClientOrderId")
            cancel_ok = True
        except ApiError as e:
            cancel_resp = {"code": e.code, "msg": e.msg}
            cancel_ok = False
        new_resp: Any = None
        new_ok = False
        attempted = cancel_ok or mode == "ALLOW_FAILURE"
        if attempted:
            if rate_err is not None:
                new_resp = {"code": rate_err.code, "msg": rate_err.msg}
            else:
                try:
                    new_resp = self.order_place(p, conn, acct, ctx)
                    new_ok = True
                except ApiError as e:
                    new_resp = {"code": e.code, "msg": e.msg}
        data = {"cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
                "newOrderResult": ("SUCCESS" if new_ok else "FAILURE") if attempted
                else "NOT_ATTEMPTED",
                "cancelResponse": cancel_resp, "newOrderResponse": new_resp}
        if cancel_ok and new_ok:
            return data
        if cancel_ok != new_ok and attempted:
            ctx.refund = False
            raise ApiError(409, -2021, "Order cancel-replace partially failed.", data)
        ctx.refund = False
        raise ApiError(400, -2022, "Order cancel-replace failed.", data)

    def cancel_all(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        m = self._market(p)
        orders = self.ex.engine.open_orders(acct, m.symbol)
        if not orders:
            raise ApiError(400, -2011, "Unknown order sent.")
        now = self.ex.now_ms()
        res = StepResult(time=max(now, m.time))
        out: list = []
        seen_lists: set = set()
        for o in orders:
            if not o.open:
                continue
            cid = random_key(22)
            if o.list_id >= 0:
                if o.list_id in seen_lists:
                    continue
                seen_lists.add(o.list_id)
                self.ex.engine.cancel(o, res.time, res, cid)
                out.append(self.list_result(self.ex.engine.lists[o.list_id], True, res.time,
                                            cid))
            else:
                self.ex.engine.cancel(o, res.time, res, cid)
                out.append(self.cancel_result(o, cid, res.time))
        self._apply(m, res)
        return out

    def order_status(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        oid = self._int(p, "orderId")
        cid = p.get("origClientOrderId")
        if oid is None and not cid:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                       "but both were empty/null!")
        o = self.ex.engine.find(acct, m.symbol, oid, cid if oid is None else None)
        if o is None:
            raise ApiError(400, -2013, "Order does not exist.")
        return self.status_result(o)

    def open_orders(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        sym = p.get("symbol")
        if sym is not None:
            self._market(p)
        elif self.spot:
            self.ex.weights.charge(74)
        return [self.status_result(o) for o in self.ex.engine.open_orders(acct, sym)]

    def all_orders(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        m = self._market(p)
        limit = min(self._int(p, "limit") or 500, 1000)
        oid = self._int(p, "orderId")
        orders = [o for o in self.ex.engine.account_orders(acct, m.symbol)
                  if oid is None or o.order_id >= oid]
        start, end = self._int(p, "startTime"), self._int(p, "endTime")
        orders = [o for o in orders if (start is None or o.time >= start)
                  and (end is None or o.time <= end)]
        orders = orders[:limit] if oid is not None or start is not None else orders[-limit:]
        return [self.status_result(o) for o in orders]

    def my_trades(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        m = self._market(p)
        oid = self._int(p, "orderId")
        if oid is not None:
            self.ex.weights.used -= 15                       # 5 with orderId
        limit = min(self._int(p, "limit") or 500, 1000)
        from_id = self._int(p, "fromId")
        ts = [t for t in self.ex.engine.account_trades(acct, m.symbol)
              if (oid is None or t.order.order_id == oid)
              and (from_id is None or t.trade_id >= from_id)]
        ts = ts[:limit] if from_id is not None else ts[-limit:]
        e = self.ex.engine
        return [{"symbol": m.symbol, "id": t.trade_id, "orderId": t.order.order_id,
                 "orderListId": t.order.list_id, "price": m.px(t.tick), "qty": m.qty(t.lots),
                 "quoteQty": e.q8(t.quote), "commission": e.q8(t.commission),
                 "commissionAsset": t.commission_asset, "time": t.time,
                 "isBuyer": t.order.buy, "isMaker": t.is_maker, "isBestMatch": True}
                for t in ts]

    def account_status(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> Any:
        if not self.spot:
            return self.usdm.status(acct)
        e = self.ex.engine
        omit = params_mod.boolean(p, "omitZeroBalances")
        bal = [{"asset": a, "free": e.q8(acct.free.get(a, Decimal(0))),
                "locked": e.q8(acct.locked.get(a, Decimal(0)))}
               for a in sorted(set(acct.free) | set(acct.locked))]
        if omit:
            bal = [b for b in bal if Decimal(b["free"]) or Decimal(b["locked"])]
        bp = int(acct.maker * 10000)
        tp = int(acct.taker * 10000)
        return {"makerCommission": bp, "takerCommission": tp, "buyerCommission": 0,
                "sellerCommission": 0, "canTrade": acct.can_trade, "canWithdraw": True,
                "canDeposit": True,
                "commissionRates": {"maker": e.q8(acct.maker), "taker": e.q8(acct.taker),
                                    "buyer": e.q8(Decimal(0)), "seller": e.q8(Decimal(0))},
                "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": acct.update_time, "accountType": "SPOT", "balances": bal,
                "permissions": ["SPOT"], "uid": acct.uid}

    def rate_limits_orders(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        return self.limiter(acct).rate_limits(self.ex.now_ms())

    # -- order lists -------------------------------------------------------------------------
    def list_result(self, lst: OrderList, canceled: bool, now: int,
                    cancel_cid: str = "") -> dict:
        r = {"orderListId": lst.list_id, "contingencyType": lst.contingency,
             "listStatusType": lst.status_type, "listOrderStatus": lst.order_status,
             "listClientOrderId": lst.client_id, "transactionTime": lst.time,
             "symbol": lst.symbol,
             "orders": [{"symbol": o.m.symbol, "orderId": o.order_id,
                         "clientOrderId": o.client_id} for o in lst.orders]}
        if canceled:
            r["orderReports"] = [self.cancel_result(o, cancel_cid or o.client_id, now)
                                 for o in lst.orders]
        return r

    def oco_place(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        side = p.get("side")
        qty = self._dec(p, "quantity", True)
        try:
            above = self.build_order(m, acct, p, "above", side, qty)
            below = self.build_order(m, acct, p, "below", side, qty)
            for leg in (above, below):
                if leg.type in ("LIMIT", "MARKET"):
                    raise ApiError(400, -1116, "Invalid orderType.")
            a_px = above.price if above.type == "LIMIT_MAKER" else above.stop
            b_px = below.price if below.type == "LIMIT_MAKER" else below.stop
            if not b_px < m.last_price < a_px:
                raise Reject(-2010, "The relationship of the prices for the orders is not "
                                    "correct.")
            if (side == "SELL" and (above.type.startswith("STOP") or
                                    below.type.startswith("TAKE"))) or \
               (side == "BUY" and (above.type.startswith("TAKE") or
                                   below.type.startswith("STOP"))):
                raise Reject(-2010, "The relationship of the prices for the orders is not "
                                    "correct.")
            lim = self.limiter(acct)
            now = self.ex.now_ms()
            lim.check(now, 2)
            e = self.ex.engine
            lid = e.next_list_id()
            for leg in (above, below):
                leg.order_id = e.next_order_id()
                leg.list_id = lid
            lst = OrderList(lid, m.symbol, p.get("listClientOrderId") or random_key(22),
                            [above, below])
            res = StepResult(time=max(now, m.time))
            try:
                e.place_list(lst, res.time, res)
            except Reject:
                e.lists.pop(lid, None)
                e._touched.clear()
                e.events.clear()
                raise
            lim.add(now, 2)
            self._apply(m, res)
        except Reject as r:
            raise ApiError(r.status, r.code, r.msg) from None
        out = self.list_result(lst, False, res.time)
        out["orderReports"] = [dict(self.order_result(o, "RESULT", res.time),
                                    orderListId=lid) for o in lst.orders]
        return out

    def _find_list(self, p: dict, acct: Account) -> OrderList:
        lid = self._int(p, "orderListId")
        lcid = p.get("listClientOrderId") or p.get("origClientOrderId")
        if lid is None and not lcid:
            raise ApiError(400, -1102, "Param 'listClientOrderId' or 'orderListId' must be "
                                       "sent, but both were empty/null!")
        for lst in self.ex.engine.lists.values():
            if lst.orders[0].account is acct and (lst.list_id == lid or
                                                  (lid is None and lst.client_id == lcid)):
                return lst
        raise ApiError(400, -2018 if lid is not None else -2018, "Order list does not exist.")

    def list_cancel(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        lst = self._find_list(p, acct)
        if lst.order_status == "ALL_DONE":
            raise ApiError(400, -2011, "Unknown order sent.")
        cid = p.get("newClientOrderId") or random_key(22)
        now = self.ex.now_ms()
        res = StepResult(time=max(now, m.time))
        o = next(x for x in lst.orders if x.open)
        self.ex.engine.cancel(o, res.time, res, cid)
        self._apply(m, res)
        return self.list_result(lst, True, res.time, cid)

    def list_status(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        return self.list_result(self._find_list(p, acct), False, 0)

    def open_lists(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        return [self.list_result(lst, False, 0) for lst in self.ex.engine.lists.values()
                if lst.orders[0].account is acct and lst.order_status != "ALL_DONE"]

    # -- USDⓈ-M ------------------------------------------------------------------------------
    def order_modify(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        m = self._market(p)
        o = self._lookup(p, acct, m)
        if not o.open or o.type != "LIMIT":
            raise ApiError(400, -2013, "Order does not exist.")
        side = p.get("side")
        if side is not None and side != o.side:
            raise ApiError(400, -1117, "Invalid side.")
        try:
            price = self._ticks(m, self._dec(p, "price", True))  # type: ignore[arg-type]
            lots = self._lots(m, self._dec(p, "quantity", True))  # type: ignore[arg-type]
            if lots <= o.executed:
                raise Reject(-2027, "Exceeded the maximum allowable position at current "
                                    "leverage.")
            self.ex.engine.check_notional(m, price, lots)
        except Reject as r:
            raise ApiError(r.status, r.code, r.msg) from None
        now = self.ex.now_ms()
        lim = self.limiter(acct)
        lim.check(now)
        lim.add(now)
        res = StepResult(time=max(now, m.time))
        e = self.ex.engine
        e._unrest(o, res)
        o.price, o.qty = price, lots
        o.update_time = res.time
        e._report(o, "AMENDMENT", res.time)
        e._run(o, res.time, res)
        self._apply(m, res)
        return self.usdm_order(o)

    def account_balance(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        return self.usdm.balance(acct)

    def account_position(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        sym = p.get("symbol")
        if sym is not None:
            self._market(p)
        return self.usdm.position_v1(acct, sym)

    def account_status_v2(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> dict:
        return self.usdm.status_v2(acct)

    def account_position_v2(self, p: dict, conn: Any, acct: Account, ctx: Ctx) -> list:
        sym = p.get("symbol")
        if sym is not None:
            self._market(p)
        return self.usdm.position_v2(acct, sym)
