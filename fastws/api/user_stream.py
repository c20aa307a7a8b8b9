"""The user data stream: typed account and order events that survive reconnects (SPEC §8).

>>> users = UserStream(api)                       # doctest: +SKIP
>>> await users.subscribe()
>>> async for ev in users:
...     if isinstance(ev, ExecutionReport) and ev.is_trade: ...

Spot (SPEC §8.1): on the WS API connection of a :class:`~fastws.api.base_operations.BaseOperations`
session. A logged-on session (Ed25519, ``session.logon``) uses ``userDataStream.subscribe``;
any other key uses ``userDataStream.subscribe.signature``. Events arrive as
``{"subscriptionId", "event"}`` frames and are decoded into :mod:`fastws.api.user_events` classes.

USD-M (SPEC §8.4): a listenKey from ``userDataStream.start`` on the WS API, kept alive with
``userDataStream.ping`` (every ``keepalive`` seconds, 30 min by default), events on a stream
connection to ``/private/ws?listenKey=<key>`` (the form of Binance's 2026 USD-M WebSocket
change notice; ``&events=...`` with ``events=``; ``/ws/<listenKey>`` where routes are not split);
``ORDER_TRADE_UPDATE`` and ``ACCOUNT_UPDATE`` are typed. ``listenKeyExpired`` gets a new key.
``userDataStream.stop`` on :meth:`UserStream.close`. That connection is a
:class:`~fastws.connection.StreamConnection` in private mode (:attr:`UserStream.connection`):
the market streams' one reconnect loop (shared budget; 429/418 waited out, never given up),
make-before-break at the 24-hour cut, on ``serverShutdown`` and onto a renewed key. During a
switch both links deliver for a moment; duplicates are dropped: a trade by ``(symbol, order
id, trade id)``, another ``ORDER_TRADE_UPDATE`` by ``(order id, event time, execution type,
order status, cumulative quantity)``, every other event (``ACCOUNT_UPDATE``,
``listenKeyExpired``, ``TRADE_LITE``...) by its type, event time and a digest of its whole
payload. Only a link lost without replacement (a gap) is reconciled (below).

Never missing a fill. While a connection is down, events are lost at the exchange's end: a
subscription does not replay. So after every reconnect the stream resubscribes, then
**reconciles**: each order it knew as open is queried (``order.status``); fills it did not see
are fetched (``myTrades`` on spot) and delivered as :class:`~fastws.api.user_events.ExecutionReport`
events with ``execution_type == "TRADE"`` (their ``raw`` holds ``"reconciled": True``), then
the order's current state; open orders it did not know are delivered as reports too; balances
are re-read (``account.status``) and changed ones delivered as an
:class:`~fastws.api.user_events.OutboundAccountPosition`. Reports are deduplicated by
``(order id, execution id)`` and trades by ``(order id, trade id)``, so a fill seen live and
again in the reconciliation is delivered once. Nothing is dropped: the queue is unbounded.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import hashlib

import orjson

from fastws.connection import PrivateStream, StreamConnection, ssl_context_for
from fastws.listener import Router
from fastws.api.protocol import ApiEvent
from fastws.api.base_operations import BaseOperations
from fastws.exceptions import ApiError, ConnectionClosedError, InvalidUsage, ParseError
from fastws.retry import ReconnectPolicy, backoff
from fastws.api.signing import mask_key
from fastws.api.user_events import (
    AccountUpdate,
    Balance,
    EventStreamTerminated,
    ExecutionReport,
    ListenKeyExpired,
    OrderTradeUpdate,
    OutboundAccountPosition,
    UserEvent,
    decode_user_event,
)

__all__ = ["UserStream", "LISTEN_KEY_KEEPALIVE"]

_log = logging.getLogger("fastws.api.user_stream")

#: Seconds between ``userDataStream.ping`` keepalives of a USD-M listenKey (SPEC §8.2/§8.4:
#: a key lives 60 min; a keepalive about every 30 min).
LISTEN_KEY_KEEPALIVE = 30 * 60.0
#: How many (order id, execution/trade id) pairs are remembered for deduplication.
DEDUP_MEMORY = 100_000
_OPEN = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})
_END = object()


class _Seen:
    """A bounded set (oldest forgotten first)."""

    __slots__ = ("_d", "_cap")

    def __init__(self, cap: int) -> None:
        self._d: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._cap = cap

    def add(self, key: tuple[Any, ...]) -> bool:
        """Add ``key``; False if it was already there."""
        if key in self._d:
            return False
        self._d[key] = None
        if len(self._d) > self._cap:
            self._d.popitem(last=False)
        return True


def _content_key(payload: Mapping[str, Any]) -> tuple[Any, ...]:
    """(event type, event time, digest of the whole payload): two deliveries of one event
    (the two links of a switch) share it; two distinct events never do."""
    body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    return (payload.get("e"), payload.get("E"), hashlib.blake2b(body, digest_size=16).digest())


class _Order:
    __slots__ = ("symbol", "order_id", "client_order_id", "status", "filled", "quote")

    def __init__(self, symbol: str, order_id: int, client_order_id: str, status: str,
                 filled: Decimal, quote: Decimal) -> None:
        self.symbol = symbol
        self.order_id = order_id
        self.client_order_id = client_order_id
        self.status = status
        self.filled = filled
        self.quote = quote


class UserStream:
    """Typed user-data events of one account, across reconnects.

    Parameters
    ----------
    api : BaseOperations
        A session with ``key=`` and ``signer=``.
    reconcile : bool
        Reconcile open orders and balances after each reconnect (default True).
    keepalive : float
        USD-M listenKey keepalive period in seconds.
    events : sequence of str, optional
        USD-M only: the event types to receive (``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``...,
        the ``events=`` of the stream URL); all of them by default. Left out, nothing is
        filtered, so ``listenKeyExpired`` and new event types are never missed.
    """

    def __init__(self, api: BaseOperations, *, reconcile: bool = True,
                 keepalive: float = LISTEN_KEY_KEEPALIVE, events: Sequence[str] | None = None) -> None:
        if not isinstance(api, BaseOperations):
            raise InvalidUsage("UserStream needs a BaseOperations session")
        if not api.client.can_sign:
            raise InvalidUsage("the user data stream needs a session with key= and signer=")
        self.api = api
        self.client = api.client
        self.market = api.market
        self.reconcile_on_reconnect = reconcile
        self.keepalive = keepalive
        if events is not None:
            if isinstance(events, str) or not all(isinstance(e, str) and e.isidentifier() for e in events):
                raise InvalidUsage("events must be a sequence of event type names, e.g. ['ORDER_TRADE_UPDATE']")
        self.events: tuple[str, ...] | None = tuple(events) if events else None
        self.subscription_id: int | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._callbacks: list[Callable[[Any], None]] = []
        self._seen_exec = _Seen(DEDUP_MEMORY)
        self._seen_trades = _Seen(DEDUP_MEMORY)
        self._orders: dict[tuple[str, int], _Order] = {}
        self.balances: dict[str, Balance] = {}
        self._remove_event: Callable[[], None] | None = None
        self._remove_hook: Callable[[], None] | None = None
        self._active = False
        self._closed = False
        self._held: list[tuple[int, ApiEvent]] | None = None
        self._subs: set[tuple[int, int]] = set()      # (connection serial, subscription id)
        self._tasks: set[asyncio.Task[Any]] = set()
        # USD-M
        self._listen_key: str | None = None
        #: the USD-M user data connection (the market streams' machinery, private mode)
        self.connection: StreamConnection | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._gap = False                 # the private link was lost (not switched) since
        self._seen_events = _Seen(DEDUP_MEMORY)
        self._reconcile_lock = asyncio.Lock()
        self.reconnects = 0
        #: fills delivered by reconciliation rather than live
        self.reconciled_fills = 0

    def __repr__(self) -> str:
        return (f"UserStream({self.api.venue.name}, key={self.client.api_key_masked}, "
                f"subscription={self.subscription_id}, active={self._active})")

    # -- public API --------------------------------------------------------------------------

    async def __aenter__(self) -> "UserStream":
        await self.subscribe()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def on(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for each event (in addition to ``async for``)."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def __aiter__(self) -> AsyncIterator[UserEvent | dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[UserEvent | dict[str, Any]]:
        while True:
            ev = await self._queue.get()
            if ev is _END:
                return
            yield ev

    async def get(self, timeout: float | None = None) -> UserEvent | dict[str, Any]:
        """The next event (``asyncio.TimeoutError`` after ``timeout`` seconds)."""
        ev = await asyncio.wait_for(self._queue.get(), timeout)
        if ev is _END:
            self._queue.put_nowait(_END)
            raise ConnectionClosedError(None, "the user stream is closed")
        return ev  # type: ignore[no-any-return]

    @property
    def pending(self) -> int:
        """Events waiting to be consumed."""
        return self._queue.qsize()

    @property
    def open_orders(self) -> list[dict[str, Any]]:
        """Orders this stream knows as open: ``{"symbol", "orderId", "clientOrderId", "status",
        "executedQty"}``."""
        return [{"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id,
                 "status": o.status, "executedQty": o.filled}
                for o in self._orders.values() if o.status in _OPEN]

    async def subscribe(self) -> None:
        """Start receiving events (idempotent); resubscribed by itself after reconnects."""
        if self._closed:
            raise InvalidUsage("this UserStream is closed")
        if self._active:
            return
        await self.client.connect()
        if self._remove_event is None:
            self._remove_event = self.client.on_event(self._on_api_event)
            self._remove_hook = self.client.on_reconnect(self._on_reconnect)
        if self.market == "spot":
            await self._subscribe_spot()
        else:
            await self._start_usdm()
        self._active = True
        if self.reconcile_on_reconnect:
            await self._load_balances(emit=False)

    async def close(self) -> None:
        """Unsubscribe (spot) or stop the listenKey (USD-M) and end ``async for``."""
        if self._closed:
            return
        self._closed = True
        self._active = False
        if self._remove_event:
            self._remove_event()
        if self._remove_hook:
            self._remove_hook()
        for t in list(self._tasks):
            t.cancel()
        if self.market == "spot":
            if self.subscription_id is not None and self.client.connected:
                try:
                    await self.client.request("userDataStream.unsubscribe",
                                              {"subscriptionId": self.subscription_id}, timeout=2.0)
                except (ApiError, asyncio.TimeoutError, ConnectionClosedError):
                    pass
        else:
            if self._keepalive_task is not None:
                self._keepalive_task.cancel()
                try:
                    await self._keepalive_task
                except (asyncio.CancelledError, Exception):
                    pass
            if self.connection is not None:
                await self.connection.close()
            if self._listen_key is not None and self.client.connected:
                try:
                    await self.client.request("userDataStream.stop", {"apiKey": self._api_key()}, timeout=2.0)
                except (ApiError, asyncio.TimeoutError, ConnectionClosedError):
                    pass
        self._queue.put_nowait(_END)

    # -- spot --------------------------------------------------------------------------------

    async def _subscribe_spot(self) -> None:
        # events can arrive in the same read as the answer, before this coroutine resumes:
        # hold events of unknown subscriptions until the id is known
        self._held = []
        try:
            if self.client.logged_on:
                res = await self.client.request("userDataStream.subscribe")
            else:
                res = await self.client.request("userDataStream.subscribe.signature", {}, signed=True)
            sub = res.get("subscriptionId") if isinstance(res, dict) else None
            if not isinstance(sub, int):
                raise ParseError("userDataStream.subscribe answered without a subscriptionId")
            link = self.client.link_serial
            self.subscription_id = sub
            # subscription ids are per connection: remember which one, and keep the previous
            # connection's (still delivering during a serverShutdown switch) until it closes
            self._subs.add((link, sub))
            held, self._held = self._held, None
            for serial, msg in held or ():
                if (serial, msg.subscription_id) in self._subs:
                    self._deliver_payload(msg.event)
        finally:
            self._held = None
        _log.info("= user data subscribed (subscription %d, key %s)", sub, self.client.api_key_masked)

    def _on_api_event(self, msg: ApiEvent) -> None:
        if self.market != "spot" or self._closed:
            return
        serial = self.client.event_link_serial
        if msg.subscription_id is None:
            if msg.kind != "eventStreamTerminated" or not any(s == serial for s, _ in self._subs):
                return  # serverShutdown and other connection events are the client's
        elif (serial, msg.subscription_id) not in self._subs:
            if self._held is not None:
                self._held.append((serial, msg))
            return  # another account's subscription on the same connection
        self._deliver_payload(msg.event)

    async def _on_reconnect(self) -> None:
        if self._closed or not self._active:
            return
        self.reconnects += 1
        if self.market == "spot":
            self.subscription_id = None
            live = self.client.link_serials
            self._subs = {(s, i) for s, i in self._subs if s in live}
            await self._subscribe_spot()
        if self.reconcile_on_reconnect:
            await self.reconcile()

    # -- USD-M -------------------------------------------------------------------------------

    def _api_key(self) -> str:
        return self.client._api_key or ""

    async def _start_usdm(self) -> None:
        res = await self.client.request("userDataStream.start", {"apiKey": self._api_key()})
        key = res.get("listenKey") if isinstance(res, dict) else None
        if not isinstance(key, str) or not key:
            raise ParseError("userDataStream.start answered without a listenKey")
        self._listen_key = key
        if self.connection is None:
            venue = self.api.venue
            # one reconnect loop for every stream: the market streams' connection (private
            # mode: no control plane, no market parser), under the client's shared budget
            self.connection = StreamConnection(
                venue, (), Router(), route="private",
                private=PrivateStream(self._stream_url, self._on_private, before_connect=self._check_key),
                ssl_context=ssl_context_for(venue),
                policy=ReconnectPolicy(self.client.policy.budget, lambda: backoff(initial=0.2, max_delay=10.0)),
                on_link_state=self._on_link_state, name=f"{venue.name}/user-data")
            try:
                await self.connection.start()
            except BaseException:
                await self.connection.close()
                self.connection = None
                raise
        if self._keepalive_task is None:
            self._keepalive_task = asyncio.ensure_future(self._keepalive())

    def _stream_url(self) -> str:
        """The user data URL. On split venues the form of Binance's 2026 change notice,
        ``/private/ws?listenKey=<key>`` (``&events=<e1>/<e2>`` with ``events=``); the path form
        ``/ws/<key>`` where streams are not split (testnets, the simulator's legacy mode)."""
        assert self._listen_key is not None
        venue = self.api.venue
        if not venue.split_routes:
            return f"{venue.stream_base(None)}/ws/{self._listen_key}"
        url = f"{venue.stream_base('private')}/ws?listenKey={self._listen_key}"
        if self.events:
            url += "&events=" + "/".join(self.events)
        return url

    async def _keepalive(self) -> None:
        """The listenKey's own loop: ``userDataStream.ping`` every ``keepalive`` seconds; a
        key the server no longer knows (-1125) is replaced by a new one."""
        while not self._closed:
            await asyncio.sleep(self.keepalive)
            try:
                await self.client.request("userDataStream.ping", {"apiKey": self._api_key()})
            except ApiError as exc:
                if exc.code == -1125:  # the key is gone: make a new one
                    try:
                        await self._renew_key()
                    except (ApiError, asyncio.TimeoutError, ConnectionClosedError) as exc2:
                        _log.warning("= listenKey renewal failed: %s", self._scrub(exc2))
                else:
                    _log.warning("= listenKey keepalive failed: %s", self._scrub(exc))
            except (asyncio.TimeoutError, ConnectionClosedError) as exc:
                _log.warning("= listenKey keepalive failed: %s", type(exc).__name__)

    async def _check_key(self) -> None:
        """Before a reconnect attempt: ``userDataStream.start`` returns the key if it is still
        valid, a new one if it expired meanwhile (the next link's URL uses it)."""
        res = await self.client.request("userDataStream.start", {"apiKey": self._api_key()})
        key = res.get("listenKey") if isinstance(res, dict) else None
        if isinstance(key, str) and key:
            self._listen_key = key

    def _on_link_state(self, streams: list[str], state: str, reason: str) -> None:
        if self._closed:
            return
        if state == "down":
            self._gap = True
            return
        if not self._gap:
            return  # a make-before-break switch: no gap, nothing to reconcile
        self._gap = False
        self.reconnects += 1
        if self.reconcile_on_reconnect:
            t = asyncio.ensure_future(self._reconcile_logged())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("reconciliation failed")

    def _scrub(self, exc: BaseException) -> str:
        """An error's text with the listenKey (it grants access to the stream) masked."""
        text = f"{type(exc).__name__}: {exc}"
        key = self._listen_key
        return text.replace(key, mask_key(key)) if key else text

    async def _renew_key(self) -> None:
        res = await self.client.request("userDataStream.start", {"apiKey": self._api_key()})
        key = res.get("listenKey") if isinstance(res, dict) else None
        if isinstance(key, str) and key != self._listen_key:
            self._listen_key = key
            if self.connection is not None:
                # make-before-break onto the new key (the old key's link delivers nothing more)
                self.connection.refresh("listenKey renewed")

    def _on_private(self, msg: Any, link: int) -> None:
        if isinstance(msg, dict) and "data" in msg and "stream" in msg:
            msg = msg["data"]  # combined form
        if not isinstance(msg, dict) or self._closed:
            return
        ev = self._deliver_payload(msg)
        if isinstance(ev, ListenKeyExpired) and not self._closed:
            t = asyncio.ensure_future(self._renew_key())
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    # -- delivery and state ------------------------------------------------------------------

    def _deliver_payload(self, payload: Mapping[str, Any]) -> Any:
        try:
            ev = decode_user_event(payload)
        except ParseError as exc:
            if self.market != "spot" and not self._seen_events.add(_content_key(payload)):
                return None
            _log.warning("~ user data: undecodable %s event: %s", payload.get("e"), exc.reason)
            self._emit(dict(payload))
            return None
        if isinstance(ev, ExecutionReport):
            if not self._seen_exec.add((ev.order_id, ev.execution_id)):
                return None
            if ev.is_trade and not self._seen_trades.add((ev.symbol, ev.order_id, ev.trade_id)):
                return None
            self._track(ev.symbol, ev.order_id, ev.client_order_id, ev.order_status,
                        ev.cumulative_filled_qty, ev.cumulative_quote_qty)
        elif isinstance(ev, OrderTradeUpdate):
            if ev.is_trade and not self._seen_trades.add((ev.symbol, ev.order_id, ev.trade_id)):
                return None
            if not self._seen_exec.add((ev.order_id, ev.event_time, ev.execution_type,
                                        ev.order_status, ev.cumulative_filled_qty)):
                return None
            self._track(ev.symbol, ev.order_id, ev.client_order_id, ev.order_status,
                        ev.cumulative_filled_qty, ev.cumulative_filled_qty * ev.average_price)
        elif isinstance(ev, OutboundAccountPosition):
            for b in ev.balances:
                self.balances[b.asset] = b
        elif isinstance(ev, EventStreamTerminated) and self.market == "spot":
            self._active = self._active and not self._closed
        elif self.market != "spot" and not self._seen_events.add(_content_key(payload)):
            # ACCOUNT_UPDATE, listenKeyExpired, TRADE_LITE, MARGIN_CALL...: carried by both
            # links during a switch; the same type, event time and content is one event
            return None
        self._emit(ev)
        return ev

    def _emit(self, ev: Any) -> None:
        self._queue.put_nowait(ev)
        for cb in self._callbacks:
            try:
                cb(ev)
            except Exception:
                _log.exception("user stream callback failed")

    def _track(self, symbol: str, order_id: int, cid: str, status: str, filled: Decimal, quote: Decimal) -> None:
        key = (symbol, order_id)
        o = self._orders.get(key)
        if o is None:
            o = self._orders[key] = _Order(symbol, order_id, cid, status, filled, quote)
        else:
            if filled >= o.filled:
                o.filled, o.quote = filled, quote
                o.status = status
            if cid:
                o.client_order_id = o.client_order_id or cid
        if status not in _OPEN:
            # closed orders are forgotten (their ids stay in the dedup memory)
            self._orders.pop(key, None)

    def track_order(self, result: dict[str, Any]) -> None:
        """Tell the stream about an order placed elsewhere (an ``order.place`` result), so a
        reconnect reconciles it even if its NEW report was missed."""
        try:
            self._track(str(result["symbol"]), int(result["orderId"]), str(result.get("clientOrderId", "")),
                        str(result.get("status", "NEW")), Decimal(str(result.get("executedQty", "0"))),
                        Decimal(str(result.get("cummulativeQuoteQty", "0"))))
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise InvalidUsage(f"track_order needs an order.place/order.status result ({exc})") from None

    # -- reconciliation ----------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Query every order known as open, deliver missed fills and state; re-read balances.

        Returns the number of missed fills delivered. Called by itself after a reconnect.
        Reconciliations run one at a time (the WS API and the user data link may both come
        back at once: the second one then finds nothing missing).
        """
        async with self._reconcile_lock:
            return await self._reconcile()

    async def _reconcile(self) -> int:
        missed = 0
        known = list(self._orders.values())
        seen_keys = set()
        for o in known:
            seen_keys.add((o.symbol, o.order_id))
            try:
                st = await self.client.request("order.status", {"symbol": o.symbol, "orderId": o.order_id},
                                               signed=True)
            except ApiError as exc:
                _log.warning("= reconcile: order %s on %s: %s", o.order_id, o.symbol, exc)
                continue
            missed += await self._reconcile_order(o, st)
        if True:  # every venue: orders opened by others (another process, the web UI)
            try:
                opens = await self.client.request("openOrders.status", {}, signed=True)
            except ApiError as exc:
                _log.warning("= reconcile: openOrders.status: %s", exc)
                opens = []
            for st in opens if isinstance(opens, list) else ():
                key = (st.get("symbol"), st.get("orderId"))
                if key in seen_keys:
                    continue
                o = _Order(str(key[0]), int(key[1]), str(st.get("clientOrderId", "")), "NEW",
                           Decimal(0), Decimal(0))
                self._orders[(o.symbol, o.order_id)] = o
                missed += await self._reconcile_order(o, st, new=True)
        await self._load_balances(emit=True)
        self.reconciled_fills += missed
        if missed:
            _log.warning("= reconcile: %d fill(s) happened while disconnected; delivered", missed)
        return missed

    async def _reconcile_order(self, o: _Order, st: dict[str, Any], new: bool = False) -> int:
        filled = Decimal(str(st.get("executedQty", "0")))
        status = str(st.get("status", o.status))
        missed = 0
        if filled > o.filled:
            trades: list[dict[str, Any]] = []
            if self.market == "spot":
                try:
                    trades = await self.client.request("myTrades", {"symbol": o.symbol, "orderId": o.order_id},
                                                       signed=True)
                except ApiError as exc:
                    _log.warning("= reconcile: myTrades for %s: %s", o.order_id, exc)
            cum = o.filled
            cum_quote = o.quote
            if trades:
                for t in sorted(trades, key=lambda t: t.get("id", 0)):
                    if not self._seen_trades.add((o.symbol, o.order_id, int(t.get("id", -1)))):
                        continue
                    qty = Decimal(str(t.get("qty", "0")))
                    cum += qty
                    cum_quote += Decimal(str(t.get("quoteQty", "0")))
                    self._emit_synthetic(o, st, "TRADE", "PARTIALLY_FILLED" if cum < filled else status,
                                         cum, cum_quote, t)
                    missed += 1
            else:
                # no per-trade detail (USD-M): one report carrying the whole missed quantity
                self._seen_trades.add((o.symbol, o.order_id, -2 - int(filled * 10**8)))
                self._emit_synthetic(o, st, "TRADE", status, filled,
                                     Decimal(str(st.get("cummulativeQuoteQty", st.get("cumQuote", "0")))), None,
                                     last_qty=filled - o.filled)
                missed += 1
        elif status != o.status or new:
            exec_type = "NEW" if status in _OPEN else ("CANCELED" if status == "CANCELED" else "EXPIRED")
            self._emit_synthetic(o, st, exec_type, status, filled,
                                 Decimal(str(st.get("cummulativeQuoteQty", st.get("cumQuote", "0")))), None)
        self._track(o.symbol, o.order_id, o.client_order_id, status, filled,
                    Decimal(str(st.get("cummulativeQuoteQty", st.get("cumQuote", "0")))))
        return missed

    def _emit_synthetic(self, o: _Order, st: dict[str, Any], exec_type: str, status: str, cum: Decimal,
                        cum_quote: Decimal, trade: dict[str, Any] | None, last_qty: Decimal | None = None) -> None:
        now = self.client.timestamp()
        if self.market == "spot":
            payload = {
                "e": "executionReport", "E": now, "s": o.symbol, "c": st.get("clientOrderId", o.client_order_id),
                "S": st.get("side", ""), "o": st.get("type", ""), "f": st.get("timeInForce", ""),
                "q": st.get("origQty", "0"), "p": st.get("price", "0"), "P": st.get("stopPrice", "0"),
                "F": st.get("icebergQty", "0"), "g": st.get("orderListId", -1), "C": "", "x": exec_type,
                "X": status, "r": "NONE", "i": o.order_id,
                "l": trade.get("qty", "0") if trade else str(last_qty or 0),
                "z": str(cum), "L": trade.get("price", "0") if trade else "0",
                "n": trade.get("commission", "0") if trade else "0",
                "N": trade.get("commissionAsset") if trade else None,
                "T": trade.get("time", now) if trade else st.get("updateTime", now),
                "t": trade.get("id", -1) if trade else -1, "I": -1,
                "w": st.get("isWorking", False), "m": trade.get("isMaker", False) if trade else False,
                "O": st.get("time", -1), "Z": str(cum_quote),
                "Y": trade.get("quoteQty", "0") if trade else "0",
                "Q": st.get("origQuoteOrderQty", "0"), "W": st.get("workingTime", -1),
                "V": st.get("selfTradePreventionMode", "NONE"), "reconciled": True,
            }
        else:
            payload = {
                "e": "ORDER_TRADE_UPDATE", "E": now, "T": st.get("updateTime", now), "reconciled": True,
                "o": {"s": o.symbol, "c": st.get("clientOrderId", o.client_order_id), "S": st.get("side", ""),
                      "o": st.get("type", ""), "f": st.get("timeInForce", ""), "q": st.get("origQty", "0"),
                      "p": st.get("price", "0"), "ap": st.get("avgPrice", "0"), "sp": st.get("stopPrice", "0"),
                      "x": exec_type, "X": status, "i": o.order_id, "l": str(last_qty or 0), "z": str(cum),
                      "L": st.get("avgPrice", "0"), "n": "0", "T": st.get("updateTime", now), "t": -1,
                      "ps": st.get("positionSide", ""), "R": st.get("reduceOnly", False)},
            }
        try:
            ev = decode_user_event(payload)
        except ParseError as exc:
            _log.warning("= reconcile: could not build a report for order %s: %s", o.order_id, exc.reason)
            return
        self._emit(ev)

    async def _load_balances(self, emit: bool) -> None:
        if self.market != "spot":
            return
        try:
            acct = await self.client.request("account.status", {"omitZeroBalances": True}, signed=True)
        except ApiError as exc:
            _log.warning("= account.status failed: %s", exc)
            return
        changed = []
        for b in acct.get("balances", ()) if isinstance(acct, dict) else ():
            try:
                bal = Balance(str(b["asset"]), Decimal(str(b["free"])), Decimal(str(b["locked"])))
            except (KeyError, ArithmeticError):
                continue
            if self.balances.get(bal.asset) != bal:
                changed.append(bal)
            self.balances[bal.asset] = bal
        if emit and changed:
            now = self.client.timestamp()
            raw = {"e": "outboundAccountPosition", "E": now, "u": acct.get("updateTime", now),
                   "B": [{"a": b.asset, "f": str(b.free), "l": str(b.locked)} for b in changed],
                   "reconciled": True}
            self._emit(OutboundAccountPosition(now, int(acct.get("updateTime", now) or now), tuple(changed), raw))
