"""Matching engine for accounts' orders on the simulated books (no I/O).

The synthetic market (:mod:`fastws.sim.market`) owns each book as ``tick -> lots``; account
orders resting on the book are *part of* those levels, behind the synthetic liquidity of their
level (they arrived later). The engine keeps the FIFO queue of account orders per level:

* a taker order walks the opposite side: the synthetic part of a level first, then resting
  account orders in time order (self-trade prevention applies to orders of the same account);
* a synthetic trade that eats into a level below its account lots fills those orders as
  makers (same trade id as the ``trade`` event), a synthetic cancel never removes them;
* every fill and level change goes into a :class:`~fastws.sim.market.StepResult`, which the hub
  turns into ``trade``/``aggTrade``/depth/bookTicker events, so the market streams and the
  user data agree.

Spot balances are locked when an order is accepted (quote for BUY, base for SELL) and settled
per fill; USDⓈ-M keeps a wallet in the margin asset, a one-way position per symbol and checks
initial margin (notional / leverage). Events for the user data stream are collected in
:attr:`Engine.events` as ``(account, payload)`` and handed out by the exchange after each
operation.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, Optional

from fastws.sim.accounts import Account
from fastws.sim.market import StepResult, SymbolMarket, TradeFill

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["Engine", "Order", "OrderList", "Reject", "STP_MODES"]

log = logging.getLogger("fastws.sim.engine")

ZERO = Decimal(0)
Q8 = Decimal("0.00000001")
STP_MODES = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
DEFAULT_LEVERAGE = 20


class Reject(Exception):
    """An order rejected by the engine: Binance ``code`` and ``msg`` (HTTP-like 400)."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(code, msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass(eq=False)
class Order:
    """One account order (all quantities in lots, prices in ticks of its symbol)."""

    account: Account
    m: SymbolMarket
    order_id: int
    client_id: str
    side: str                     # BUY | SELL
    type: str
    tif: str
    price: int                    # ticks; 0 for MARKET
    qty: int                      # lots; 0 for a MARKET by quoteOrderQty until it is done
    quote_qty: Decimal = ZERO     # origQuoteOrderQty
    stop: int = 0                 # ticks (stop orders)
    stp: str = "NONE"
    time: int = 0
    list_id: int = -1
    executed: int = 0
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    working_time: int = -1
    update_time: int = 0
    on_book: bool = False
    lock_asset: str = ""
    lock_left: Decimal = ZERO
    prevented_lots: int = 0
    prevented_match_id: int = -1
    strategy_id: Optional[int] = None
    strategy_type: Optional[int] = None
    reduce_only: bool = False     # USDⓈ-M
    position_side: str = "BOTH"
    fills: list = field(default_factory=list)    # FULL response: (tick, lots, commission, asset, trade id)

    @property
    def buy(self) -> bool:
        return self.side == "BUY"

    @property
    def remaining(self) -> int:
        return self.qty - self.executed

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass(eq=False)
class OrderList:
    """An OCO order list."""

    list_id: int
    symbol: str
    client_id: str
    orders: list
    contingency: str = "OCO"
    status_type: str = "EXEC_STARTED"      # listStatusType
    order_status: str = "EXECUTING"        # listOrderStatus
    time: int = 0
    opo: bool = False                      # OPO / OPOCO: pending quantity = working's fill


@dataclass
class Trade:
    """One fill of one account order (``myTrades``)."""

    trade_id: int
    order: Order
    tick: int
    lots: int
    quote: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool
    pnl: Decimal = ZERO           # USDⓈ-M: realized PnL of the fill


class Engine:
    """Account orders of one exchange, matched against its :class:`SymbolMarket` books."""

    def __init__(self, ex: "Exchange") -> None:
        self.ex = ex
        self.market = ex.market
        self.orders: dict[int, Order] = {}
        self.lists: dict[int, OrderList] = {}
        self.trades: dict[int, list[Trade]] = {}          # account uid -> trades
        # account orders on the book: symbol -> (bids, asks) of tick -> deque[Order]
        self.queues: dict[str, tuple[dict[int, deque], dict[int, deque]]] = {
            s: ({}, {}) for s in ex._markets}
        self.stops: dict[str, list[Order]] = {s: [] for s in ex._markets}
        self._order_id = 1000000
        self._list_id = 1000
        self._exec_id = 5000000
        self._prevented_id = 0
        self.prevented: list[dict] = []          # myPreventedMatches: every prevented match
        self.amendments: list[dict] = []         # order.amendments: every keepPriority amend
        self._trade_group = 1
        self.events: list[tuple[Account, dict]] = []
        self._touched: dict[int, tuple[Account, set]] = {}
        self._time = 0

    # -- ids ---------------------------------------------------------------------------------
    def next_order_id(self) -> int:
        self._order_id += 1
        return self._order_id

    def next_list_id(self) -> int:
        self._list_id += 1
        return self._list_id

    def _exec(self) -> int:
        self._exec_id += 1
        return self._exec_id

    # -- queries -----------------------------------------------------------------------------
    def find(self, account: Account, symbol: str, order_id: Any = None,
             client_id: Optional[str] = None) -> Optional[Order]:
        if order_id is not None:
            o = self.orders.get(int(order_id))
            if o is not None and o.account is account and o.m.symbol == symbol:
                return o
            return None
        for o in reversed(list(self.orders.values())):
            if o.account is account and o.m.symbol == symbol and o.client_id == client_id:
                return o
        return None

    def open_orders(self, account: Account, symbol: Optional[str] = None) -> list[Order]:
        return [o for o in self.orders.values() if o.account is account and o.open
                and (symbol is None or o.m.symbol == symbol)]

    def account_orders(self, account: Account, symbol: str) -> list[Order]:
        return [o for o in self.orders.values() if o.account is account
                and o.m.symbol == symbol]

    def account_trades(self, account: Account, symbol: str) -> list[Trade]:
        return [t for t in self.trades.get(account.uid, []) if t.order.m.symbol == symbol]

    def own_lots(self, symbol: str, is_bid: bool, tick: int) -> int:
        q = self.queues[symbol][0 if is_bid else 1].get(tick)
        return sum(o.remaining for o in q) if q else 0

    # -- formatting --------------------------------------------------------------------------
    def q8(self, v: Decimal) -> str:
        return format(v.quantize(Q8), "f") if self.market == "spot" else _plain(v)

    # -- accepting orders --------------------------------------------------------------------
    def check_notional(self, m: SymbolMarket, tick: int, lots: int) -> None:
        if m.notional(tick, lots) < Decimal(m.spec.min_notional):
            if self.market == "spot":
                raise Reject(-1013, "Filter failure: NOTIONAL")
            raise Reject(-4164, f"Order's notional must be no smaller than "
                                f"{m.spec.min_notional} (unless you choose reduce only).")

    def place(self, o: Order, now: int, res: StepResult) -> None:
        """Accept ``o`` (already validated) and run it: lock funds, match, rest or expire.

        Raises :class:`Reject` (nothing changed) on insufficient balance, a LIMIT_MAKER that
        would take, a stop that would trigger at once, or a FOK that cannot fill.
        """
        m = o.m
        self._time = now
        if not o.account.can_trade:
            raise Reject(-2010, "This action is disabled on this account.")
        if o.type == "LIMIT_MAKER" and self._crosses(o):
            raise Reject(-2010, "Order would immediately match and take.")
        if o.type in STOP_TYPES and self._triggered(o):
            raise Reject(-2010, "Stop price would trigger immediately.")
        plan = self._plan(o)
        if o.tif == "FOK" and plan[0] < o.qty:
            o.status = "EXPIRED"
            o.update_time = now
            self._new_order(o, now)
            self._report(o, "NEW", now)
            self._report(o, "EXPIRED", now, expiry="UNFILLED_FOK_ORDER_EXPIRED")
            return
        self._lock_for(o, plan)
        if o.type == "MARKET" and not o.qty:
            o.qty = plan[0]                  # quoteOrderQty: the lots the budget buys now
        o.working_time = -1 if o.type in STOP_TYPES else now
        self._new_order(o, now)
        self._report(o, "NEW", now)
        if o.type in STOP_TYPES:
            self.stops[m.symbol].append(o)
            return
        self._run(o, now, res)
        self.trigger_stops(m, now, res)

    def _new_order(self, o: Order, now: int) -> None:
        self.orders[o.order_id] = o
        o.time = o.time or now
        o.update_time = now

    def _crosses(self, o: Order) -> bool:
        m = o.m
        if o.buy:
            return bool(m.asks) and o.price >= m.best_ask
        return bool(m.bids) and o.price <= m.best_bid

    def _triggered(self, o: Order) -> bool:
        last = o.m.last_price
        up = (o.type.startswith("STOP") and o.buy) or (o.type.startswith("TAKE") and not o.buy)
        return last >= o.stop if up else last <= o.stop

    def _plan(self, o: Order) -> tuple[int, Decimal]:
        """(lots, quote) ``o`` could take from the book now (nothing is changed)."""
        if o.type in ("LIMIT_MAKER",) or o.type in STOP_TYPES:
            return 0, ZERO
        m = o.m
        ticks = sorted(m.asks) if o.buy else sorted(m.bids, reverse=True)
        lots_total, quote = 0, ZERO
        want = o.qty if o.qty else None
        budget = o.quote_qty if not o.qty else None
        queues = self.queues[m.symbol][1 if o.buy else 0]
        for tick in ticks:
            if o.type != "MARKET" and ((o.buy and tick > o.price) or (not o.buy and tick < o.price)):
                break
            avail = m.asks[tick] if o.buy else m.bids[tick]
            stop = False
            if o.stp != "NONE" and tick in queues:
                mine = 0
                synth = avail - sum(x.remaining for x in queues[tick])
                for x in queues[tick]:
                    if x.account is o.account:
                        stop = o.stp in ("EXPIRE_TAKER", "EXPIRE_BOTH")
                        if stop:
                            break
                    else:
                        mine += x.remaining
                avail = synth + mine
            take = avail if want is None else min(avail, want - lots_total)
            if budget is not None:
                per = m.notional(tick, 1)
                take = min(take, int((budget - quote) / per))
            lots_total += take
            quote += m.notional(tick, take)
            if stop or (want is not None and lots_total >= want) or (
                    budget is not None and take < avail):
                break
        return lots_total, quote

    def _lock_for(self, o: Order, plan: tuple[int, Decimal]) -> None:
        m, acct = o.m, o.account
        if self.market == "usdm":
            self._check_margin(o, plan)
            return
        base, quote = m.spec.base_asset, m.spec.quote_asset
        if o.buy:
            if o.type == "MARKET":
                need = o.quote_qty if not o.qty else plan[1]
            else:
                # a stop-market order locks its notional at the stop price
                need = m.notional(o.price or o.stop, o.qty)
            asset = quote
        else:
            if o.type == "MARKET" and not o.qty:
                need = m.qty_decimal(plan[0])
            else:
                need = m.qty_decimal(o.qty)
            asset = base
        if not acct.lock(asset, need):
            raise Reject(-2010, "Account has insufficient balance for requested action.")
        o.lock_asset, o.lock_left = asset, need
        self._touch(acct, asset)

    def _check_margin(self, o: Order, plan: tuple[int, Decimal]) -> None:
        m, acct = o.m, o.account
        asset = m.spec.quote_asset
        lev = Decimal(acct.leverage.get(m.symbol, DEFAULT_LEVERAGE))
        tick = o.price if o.type != "MARKET" else (m.best_ask if o.buy else m.best_bid)
        need = m.notional(tick, o.qty) / lev
        pos = acct.positions.get(m.symbol, [ZERO, ZERO])[0]
        signed = m.qty_decimal(o.qty) * (1 if o.buy else -1)
        if (pos > 0 > signed or pos < 0 < signed) and abs(signed) <= abs(pos):
            need = ZERO                                   # reducing: no new margin
        if o.reduce_only and not (pos > 0 > signed or pos < 0 < signed):
            raise Reject(-2022, "ReduceOnly Order is rejected.")
        if need > self.available(acct, asset):
            raise Reject(-2019, "Margin is insufficient.")
        o.lock_asset, o.lock_left = asset, need

    def available(self, acct: Account, asset: str) -> Decimal:
        """USDⓈ-M available balance: wallet minus position and open-order margin."""
        used = ZERO
        for sym, (amt, entry) in acct.positions.items():
            used += abs(amt) * entry / Decimal(acct.leverage.get(sym, DEFAULT_LEVERAGE))
        for o in self.open_orders(acct):
            used += o.lock_left
        return acct.free.get(asset, ZERO) - used

    # -- matching ----------------------------------------------------------------------------
    def _run(self, o: Order, now: int, res: StepResult) -> None:
        """Match ``o`` as taker, then rest the remainder (GTC limit) or expire it."""
        self._take(o, now, res)
        if not o.open:
            return
        if o.type in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and \
                o.tif == "GTC" and o.remaining > 0:
            self._rest(o, now, res)
        else:
            expiry = "UNFILLED_IOC_QUANTITY_EXPIRED" if o.tif == "IOC" else \
                "INSUFFICIENT_LIQUIDITY"
            self._finish(o, "EXPIRED", now, expiry=expiry)

    def _rest(self, o: Order, now: int, res: StepResult) -> None:
        m = o.m
        side_q = self.queues[m.symbol][0 if o.buy else 1]
        side_q.setdefault(o.price, deque()).append(o)
        book = m.bids if o.buy else m.asks
        m._set(res, o.buy, o.price, book.get(o.price, 0) + o.remaining)
        o.on_book = True

    def _unrest(self, o: Order, res: StepResult) -> None:
        if not o.on_book:
            return
        m = o.m
        side_q = self.queues[m.symbol][0 if o.buy else 1]
        q = side_q.get(o.price)
        if q is not None and o in q:
            q.remove(o)
            if not q:
                del side_q[o.price]
        book = m.bids if o.buy else m.asks
        m._set(res, o.buy, o.price, book.get(o.price, 0) - o.remaining)
        o.on_book = False

    def _take(self, o: Order, now: int, res: StepResult) -> None:
        m = o.m
        book = m.asks if o.buy else m.bids
        queues = self.queues[m.symbol][1 if o.buy else 0]
        budget = o.quote_qty if (o.type == "MARKET" and not o.qty) else None
        limit = None if o.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") else o.price
        while o.open and book:
            if budget is None and o.remaining <= 0:
                break
            tick = m.best_ask if o.buy else m.best_bid
            if limit is not None and ((o.buy and tick > limit) or (not o.buy and tick < limit)):
                break
            level = book[tick]
            q = queues.get(tick)
            own = sum(x.remaining for x in q) if q else 0
            synth = level - own
            progressed = False
            agg_first = m.trade_id + 1
            agg_lots = 0
            if synth > 0:
                n = self._lots_for(o, tick, synth, budget)
                if n > 0:
                    self._fill(o, None, tick, n, now, res)
                    agg_lots += n
                    progressed = True
            while q and o.open and (budget is not None or o.remaining > 0):
                maker = q[0]
                if maker.account is o.account and o.stp != "NONE":
                    self._prevent(o, maker, tick, now, res)
                    progressed = True
                    if not o.open:
                        break
                    continue
                n = self._lots_for(o, tick, maker.remaining, budget)
                if n <= 0:
                    break
                self._fill(o, maker, tick, n, now, res)
                agg_lots += n
                progressed = True
                if maker.remaining <= 0:
                    q.popleft()
                    maker.on_book = False
            if q is not None and not q:
                queues.pop(tick, None)
            if agg_lots:
                m.agg_id += 1
                res.agg.append((m.agg_id, tick, agg_lots, agg_first, m.trade_id, now, not o.buy))
            if not progressed:
                break
        if budget is not None and o.open:
            # quoteOrderQty: the order is done once the budget buys no further lot
            o.qty = o.executed
            if o.executed:
                o.status = "FILLED"
                self._release(o)

    def _lots_for(self, o: Order, tick: int, avail: int, budget: Optional[Decimal]) -> int:
        if budget is None:
            return min(avail, o.remaining)
        per = o.m.notional(tick, 1)
        return min(avail, int((budget - o.cum_quote) / per))

    def _prevent(self, taker: Order, maker: Order, tick: int, now: int,
                 res: StepResult) -> None:
        """Self-trade prevention between ``taker`` and ``maker`` of the same account."""
        self._prevented_id += 1
        pid = self._prevented_id
        mode = taker.stp
        lots = min(maker.remaining, taker.remaining if taker.qty else maker.remaining)
        info = {"pid": pid, "lots": lots, "tick": tick, "taker": taker, "maker": maker}
        self.prevented.append(dict(info, time=now, mode=mode))
        if mode in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
            maker.prevented_lots += lots
            maker.prevented_match_id = pid
            self._unrest(maker, res)
            self._finish(maker, "EXPIRED_IN_MATCH", now, x="TRADE_PREVENTION", stp=info)
        if mode in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
            taker.prevented_lots += lots
            taker.prevented_match_id = pid
            self._finish(taker, "EXPIRED_IN_MATCH", now, x="TRADE_PREVENTION", stp=info)

    def _fill(self, taker: Order, maker: Optional[Order], tick: int, lots: int, now: int,
              res: StepResult) -> None:
        m = taker.m
        m.trade_id += 1
        tid = m.trade_id
        f = TradeFill(tid, tick, lots, now, not taker.buy)
        res.fills.append(f)
        book_is_bid = not taker.buy
        book = m.bids if book_is_bid else m.asks
        m._set(res, book_is_bid, tick, book[tick] - lots)
        m._record_trade(f)
        self._settle(taker, tick, lots, now, tid, False, res)
        if maker is not None:
            self._settle(maker, tick, lots, now, tid, True, res)

    def fill_resting(self, maker: Order, tick: int, lots: int, now: int, trade_id: int,
                     res: StepResult) -> None:
        """A synthetic taker traded ``lots`` of ``maker`` (already taken off the level)."""
        self._settle(maker, tick, lots, now, trade_id, True, res)

    def _settle(self, o: Order, tick: int, lots: int, now: int, trade_id: int,
                is_maker: bool, res: StepResult) -> None:
        m, acct = o.m, o.account
        if o.list_id >= 0:
            self._take_list_lock(o)
        qty = m.qty_decimal(lots)
        quote = m.notional(tick, lots)
        rate = acct.maker if is_maker else acct.taker
        o.executed += lots
        o.cum_quote += quote
        o.update_time = now
        if self.market == "spot":
            base, qa = m.spec.base_asset, m.spec.quote_asset
            if o.buy:
                spent_lock = quote if not o.price else m.notional(o.price, lots)
                spent_lock = min(spent_lock, o.lock_left)
                acct.spend_locked(qa, spent_lock)
                o.lock_left -= spent_lock
                if spent_lock > quote:
                    acct.add(qa, spent_lock - quote)      # bought below the limit price
                comm_asset, got = base, qty
            else:
                spend = min(qty, o.lock_left)
                acct.spend_locked(base, spend)
                o.lock_left -= spend
                comm_asset, got = qa, quote
            comm = (got * rate).quantize(Q8, ROUND_DOWN)
            acct.add(comm_asset, got - comm)
            self._touch(acct, base)
            self._touch(acct, qa)
        else:
            comm_asset = m.spec.quote_asset
            comm = (quote * rate).quantize(Q8, ROUND_DOWN)
            pnl = self._position(acct, m, lots if o.buy else -lots, tick)
            acct.add(comm_asset, pnl - comm)
            if o.lock_left:
                lev = Decimal(acct.leverage.get(m.symbol, DEFAULT_LEVERAGE))
                o.lock_left = max(ZERO, o.lock_left - quote / lev)
            self._touch(acct, comm_asset)
            o._last_pnl = pnl   # type: ignore[attr-defined]
        if o.remaining <= 0 and o.qty:
            o.status = "FILLED"
        else:
            o.status = "PARTIALLY_FILLED"
        t = Trade(trade_id, o, tick, lots, quote, comm, comm_asset, now, is_maker,
                  getattr(o, "_last_pnl", ZERO) if self.market != "spot" else ZERO)
        self.trades.setdefault(acct.uid, []).append(t)
        o.fills.append((tick, lots, comm, comm_asset, trade_id))
        self._report(o, "TRADE", now, trade=t)
        if o.status == "FILLED":
            self._release(o)
        if o.list_id >= 0:
            self._list_leg_done(o, now, res)

    def _position(self, acct: Account, m: SymbolMarket, signed_lots: int, tick: int) -> Decimal:
        """Update the one-way position; return the realized PnL of the fill."""
        amt, entry = acct.positions.get(m.symbol, [ZERO, ZERO])
        d = m.qty_decimal(abs(signed_lots)) * (1 if signed_lots > 0 else -1)
        px = m.price_decimal(tick)
        pnl = ZERO
        if amt == 0 or (amt > 0) == (d > 0):
            new = amt + d
            entry = (abs(amt) * entry + abs(d) * px) / abs(new)
            amt = new
        else:
            closed = min(abs(d), abs(amt))
            pnl = closed * (px - entry) * (1 if amt > 0 else -1)
            amt += d
            if amt == 0:
                entry = ZERO
            elif (amt > 0) != (amt - d > 0):
                entry = px                                  # flipped side
        acct.positions[m.symbol] = [amt, entry]
        return pnl

    def _release(self, o: Order) -> None:
        """Give back what ``o`` still holds locked (it will not trade again)."""
        if o.lock_left and self.market == "spot":
            o.account.unlock(o.lock_asset, o.lock_left)
            self._touch(o.account, o.lock_asset)
        o.lock_left = ZERO

    def _finish(self, o: Order, status: str, now: int, x: Optional[str] = None,
                expiry: str = "", stp: Optional[dict] = None,
                cancel_client: str = "") -> None:
        o.status = status
        o.update_time = now
        self._release(o)
        if o in self.stops.get(o.m.symbol, ()):
            self.stops[o.m.symbol].remove(o)
        self._report(o, x or status, now, expiry=expiry, stp=stp, orig_client=cancel_client)
        if o.list_id >= 0:
            lst = self.lists.get(o.list_id)
            if lst is not None and lst.contingency == "OTO" and lst.order_status != "ALL_DONE":
                self._oto_end(lst, o, now)

    # -- synthetic steps ---------------------------------------------------------------------
    def after_step(self, m: SymbolMarket, res: StepResult) -> None:
        """Reconcile a synthetic engine step with the account orders on ``m``'s book."""
        bids, asks = self.queues[m.symbol]
        if not bids and not asks and not self.stops[m.symbol]:
            return
        fills = {(f.buyer_is_maker, f.price): f for f in res.fills}   # maker is_bid, tick
        for is_bid, tick, lots, _uid in list(res.changes):
            q = (bids if is_bid else asks).get(tick)
            if not q:
                continue
            own = sum(o.remaining for o in q)
            deficit = own - lots
            if deficit <= 0:
                continue
            f = fills.get((is_bid, tick))
            if f is None:
                # a synthetic cancel may not remove account orders: put them back
                m._set(res, is_bid, tick, own)
                continue
            while deficit > 0 and q:
                o = q[0]
                n = min(o.remaining, deficit)
                deficit -= n
                self.fill_resting(o, tick, n, res.time, f.trade_id, res)
                if o.remaining <= 0:
                    q.popleft()
                    o.on_book = False
            if not q:
                (bids if is_bid else asks).pop(tick, None)
        self.trigger_stops(m, res.time, res)
        self.flush_accounts(res.time)

    def trigger_stops(self, m: SymbolMarket, now: int, res: StepResult) -> None:
        for _ in range(100):
            fired = [o for o in self.stops[m.symbol] if self._triggered(o)]
            if not fired:
                return
            for o in fired:
                if o not in self.stops[m.symbol] or not o.open:
                    continue
                self.stops[m.symbol].remove(o)
                o.working_time = now
                self._take_list_lock(o)
                self._list_leg_done(o, now, res)     # OCO: the other leg expires
                self._run(o, now, res)

    # -- cancels -----------------------------------------------------------------------------
    def cancel(self, o: Order, now: int, res: StepResult, cancel_client: str = "",
               whole_list: bool = True) -> None:
        """Cancel an open order (its list too, when it belongs to one)."""
        if whole_list and o.list_id >= 0:
            lst = self.lists[o.list_id]
            for x in lst.orders:
                if x.open or x.status == "PENDING_NEW":
                    self.cancel(x, now, res, cancel_client if x is o else "", whole_list=False)
            self._list_done(lst, now)
            return
        self._unrest(o, res)
        self._finish(o, "CANCELED", now, cancel_client=cancel_client)

    # -- order lists -------------------------------------------------------------------------
    def place_list(self, lst: OrderList, now: int, res: StepResult) -> None:
        self.lists[lst.list_id] = lst
        lst.time = now
        self._place_pair(lst, lst.orders[0], lst.orders[1], now, res)

    def _place_pair(self, lst: OrderList, o1: Order, o2: Order, now: int,
                    res: StepResult) -> None:
        """Place the two legs of an OCO (a list's, or an OTOCO's pending pair)."""
        # both legs lock together (one quantity); check before accepting either
        for o in (o1, o2):
            if o.type == "LIMIT_MAKER" and self._crosses(o):
                raise Reject(-2010, "Order would immediately match and take.")
            if o.type in STOP_TYPES and self._triggered(o):
                raise Reject(-2010, "Stop price would trigger immediately.")
        self._lock_for(o1, (0, ZERO))
        o2.lock_asset, o2.lock_left = o1.lock_asset, ZERO
        if o1.buy and o1.type != "MARKET":
            # a BUY list locks the higher of the two legs' notional
            need2 = o2.m.notional(o2.price or o2.stop, o2.qty)
            if need2 > o1.lock_left:
                extra = need2 - o1.lock_left
                if not o1.account.lock(o1.lock_asset, extra):
                    o1.account.unlock(o1.lock_asset, o1.lock_left)
                    raise Reject(-2010, "Account has insufficient balance for requested "
                                        "action.")
                o1.lock_left = need2
        self._list_event(lst, now)
        for o in (o1, o2):
            o.working_time = -1 if o.type in STOP_TYPES else now
            self._new_order(o, now)
            self._report(o, "NEW", now)
        for o in (o1, o2):
            if o.type in STOP_TYPES:
                self.stops[o.m.symbol].append(o)
            else:
                self._rest(o, now, res)

    def _take_list_lock(self, o: Order) -> None:
        """The legs of a list share one lock: the leg that trades or triggers takes it."""
        lst = self.lists.get(o.list_id)
        if lst is None:
            return
        legs = lst.orders if lst.contingency != "OTO" else lst.orders[1:] \
            if len(lst.orders) == 3 and o in lst.orders[1:] else []
        for x in legs:
            if x is not o and x.lock_left:
                o.lock_left += x.lock_left
                x.lock_left = ZERO

    def _list_leg_done(self, o: Order, now: int, res: StepResult) -> None:
        """A leg of an OCO traded or triggered: the other leg expires, the list ends."""
        if o.list_id < 0:
            return
        lst = self.lists.get(o.list_id)
        if lst is None or lst.order_status == "ALL_DONE":
            return
        if lst.contingency == "OTO":
            self._oto_leg(lst, o, now, res)
            return
        self._take_list_lock(o)
        for x in lst.orders:
            if x is not o and x.open:
                self._unrest(x, res)
                self._finish(x, "EXPIRED", now)
        if o.type != "MARKET" and o.buy and self.market == "spot":
            # keep only what this leg still needs
            need = o.m.notional(o.price, o.remaining) if o.price else o.lock_left
            if o.lock_left > need:
                o.account.unlock(o.lock_asset, o.lock_left - need)
                o.lock_left = need
                self._touch(o.account, o.lock_asset)
        self._list_done(lst, now)

    # -- OTO lists ---------------------------------------------------------------------------
    def place_oto(self, lst: OrderList, now: int, res: StepResult) -> None:
        """OTO / OTOCO: the working order runs now; the pending order (or OCO pair) waits
        (PENDING_NEW, nothing locked) until the working order is fully filled."""
        self.lists[lst.list_id] = lst
        lst.time = now
        working, *pending = lst.orders
        for x in pending:
            x.status = "PENDING_NEW"
            x.working_time = -1
        self._list_event(lst, now)
        self.place(working, now, res)
        for x in pending:
            if x.status == "PENDING_NEW":
                self._new_order(x, now)

    def _oto_leg(self, lst: OrderList, o: Order, now: int, res: StepResult) -> None:
        working, *pending = lst.orders
        if o is working:
            if o.status == "FILLED" and all(x.status == "PENDING_NEW" for x in pending):
                self._activate(lst, now, res)
            return
        self._pending_leg(lst, o, now, res)

    def _activate(self, lst: OrderList, now: int, res: StepResult) -> None:
        """Place the pending order(s) of an OTO list (OPO: for what the working order
        executed)."""
        working, *pending = lst.orders
        for x in pending:
            x.status = "NEW"
            if lst.opo:
                x.qty = working.executed
        try:
            if len(pending) == 1:
                self.place(pending[0], now, res)
            else:
                for x in pending:
                    self._new_order(x, now)
                self._place_pair(lst, pending[0], pending[1], now, res)
        except Reject:
            for x in pending:
                x.status = "EXPIRED"
                x.update_time = now
                self._new_order(x, now)
                self._report(x, "EXPIRED", now)
        if not any(x.open for x in pending):
            self._list_done(lst, now)

    def _pending_leg(self, lst: OrderList, o: Order, now: int, res: StepResult) -> None:
        working, *pending = lst.orders
        if len(pending) == 2:
            # the pending OCO pair: the first leg to trade or trigger expires the other
            self._take_list_lock(o)
            for x in pending:
                if x is not o and x.open:
                    self._unrest(x, res)
                    self._finish(x, "EXPIRED", now)
            if o.type != "MARKET" and o.buy and self.market == "spot":
                need = o.m.notional(o.price, o.remaining) if o.price else o.lock_left
                if o.lock_left > need:
                    o.account.unlock(o.lock_asset, o.lock_left - need)
                    o.lock_left = need
                    self._touch(o.account, o.lock_asset)
            self._list_done(lst, now)
        elif not o.open:
            self._list_done(lst, now)

    def _oto_end(self, lst: OrderList, o: Order, now: int) -> None:
        """An OTO leg ended without filling: the list ends (pending orders left are canceled
        with it)."""
        working, *pending = lst.orders
        if o is working:
            waiting = [x for x in pending if x.status == "PENDING_NEW"]
            for x in waiting:
                x.status = "CANCELED"
                x.update_time = now
                self._report(x, "CANCELED", now)
            if waiting:
                self._list_done(lst, now)
        elif not any(x.open for x in pending):
            self._list_done(lst, now)

    def _list_done(self, lst: OrderList, now: int) -> None:
        if lst.order_status == "ALL_DONE":
            return
        lst.status_type = "ALL_DONE"
        lst.order_status = "ALL_DONE"
        lst.time = now
        self._list_event(lst, now)

    def _list_event(self, lst: OrderList, now: int) -> None:
        if self.market != "spot":
            return
        acct = lst.orders[0].account
        self.events.append((acct, {
            "e": "listStatus", "E": now, "s": lst.symbol, "g": lst.list_id,
            "c": lst.contingency, "l": lst.status_type, "L": lst.order_status, "r": "NONE",
            "C": lst.client_id, "T": now,
            "O": [{"s": o.m.symbol, "i": o.order_id, "c": o.client_id} for o in lst.orders]}))

    # -- events ------------------------------------------------------------------------------
    def _touch(self, acct: Account, asset: str) -> None:
        entry = self._touched.get(acct.uid)
        if entry is None:
            self._touched[acct.uid] = (acct, {asset})
        else:
            entry[1].add(asset)

    def flush_accounts(self, now: int) -> None:
        """Queue one balance event per account whose balances changed since the last call."""
        touched, self._touched = self._touched, {}
        for acct, assets in touched.values():
            acct.update_time = now
            if self.market == "spot":
                self.events.append((acct, {
                    "e": "outboundAccountPosition", "E": now, "u": now,
                    "B": [{"a": a, "f": self.q8(acct.free.get(a, ZERO)),
                           "l": self.q8(acct.locked.get(a, ZERO))} for a in sorted(assets)]}))
            else:
                self.events.append((acct, self.account_update(acct, now, sorted(assets))))

    def account_update(self, acct: Account, now: int, assets: list[str],
                       reason: str = "ORDER") -> dict:
        pos = []
        for sym, (amt, entry) in acct.positions.items():
            m = self.ex._markets[sym]
            mark = m.price_decimal(int(m.mid_tick()))
            pos.append({"s": sym, "pa": _plain(amt), "ep": _plain(entry), "bep": _plain(entry),
                        "cr": "0", "up": _plain((mark - entry) * amt if amt else ZERO),
                        "mt": "cross", "iw": "0", "ps": "BOTH"})
        return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": reason,
            "B": [{"a": a, "wb": _plain(acct.free.get(a, ZERO)),
                   "cw": _plain(acct.free.get(a, ZERO)), "bc": "0"} for a in assets],
            "P": pos}}

    def _report(self, o: Order, x: str, now: int, trade: Optional[Trade] = None,
                expiry: str = "", stp: Optional[dict] = None, orig_client: str = "") -> None:
        if self.market == "spot":
            self.events.append((o.account, self._execution_report(o, x, now, trade, expiry,
                                                                  stp, orig_client)))
        else:
            self.events.append((o.account, self._order_trade_update(o, x, now, trade)))

    def _execution_report(self, o: Order, x: str, now: int, t: Optional[Trade], expiry: str,
                          stp: Optional[dict], orig_client: str) -> dict:
        m = o.m
        status = o.status
        if x == "NEW":
            status = "NEW"
        zero_q = m.qty(0)
        ev: dict[str, Any] = {
            "e": "executionReport", "E": now, "s": m.symbol,
            "c": orig_client or o.client_id,
            "S": o.side, "o": o.type, "f": o.tif, "q": m.qty(o.qty), "p": m.px(o.price),
            "P": m.px(o.stop), "F": zero_q, "g": o.list_id, "C": o.client_id if orig_client else "",
            "x": x, "X": status, "r": "NONE", "i": o.order_id,
            "l": m.qty(t.lots) if t else zero_q, "z": m.qty(o.executed),
            "L": m.px(t.tick) if t else m.px(0),
            "n": self.q8(t.commission) if t else "0", "N": t.commission_asset if t else None,
            "T": now, "t": t.trade_id if t else -1, "I": self._exec(),
            "w": (o.type not in STOP_TYPES or o.working_time >= 0) if x == "NEW"
            else o.on_book and o.open, "m": bool(t and t.is_maker), "M": False,
            "O": o.time, "Z": self.q8(o.cum_quote), "Y": self.q8(t.quote) if t else self.q8(ZERO),
            "Q": self.q8(o.quote_qty)}
        if o.working_time >= 0:
            ev["W"] = o.working_time
        ev["V"] = o.stp
        if o.strategy_id is not None:
            ev["j"] = o.strategy_id
        if o.strategy_type is not None:
            ev["J"] = o.strategy_type
        if stp is not None:
            other = stp["maker"] if stp["taker"] is o else stp["taker"]
            ev["v"] = stp["pid"]
            ev["A"] = m.qty(o.prevented_lots)
            ev["B"] = m.qty(stp["lots"])
            ev["u"] = 1
            ev["U"] = other.order_id
            ev["Cs"] = m.symbol
            ev["pl"] = m.qty(stp["lots"])
            ev["pL"] = m.px(stp["tick"])
            ev["pY"] = self.q8(m.notional(stp["tick"], stp["lots"]))
        if expiry:
            ev["eR"] = expiry
        return ev

    def _order_trade_update(self, o: Order, x: str, now: int, t: Optional[Trade]) -> dict:
        m = o.m
        avg = (o.cum_quote / m.qty_decimal(o.executed)) if o.executed else ZERO
        status = "NEW" if x == "NEW" else o.status
        if x == "EXPIRED_IN_MATCH":
            x = "EXPIRED"
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": {
            "s": m.symbol, "c": o.client_id, "S": o.side, "o": o.type, "f": o.tif,
            "q": m.qty(o.qty), "p": m.px(o.price), "ap": _plain(avg), "sp": m.px(o.stop),
            "x": x, "X": status, "i": o.order_id, "l": m.qty(t.lots) if t else "0",
            "z": m.qty(o.executed), "L": m.px(t.tick) if t else "0",
            "N": t.commission_asset if t else m.spec.quote_asset,
            "n": _plain(t.commission) if t else "0", "T": now, "t": t.trade_id if t else 0,
            "b": "0", "a": "0", "m": bool(t and t.is_maker), "R": o.reduce_only,
            "wt": "CONTRACT_PRICE", "ot": o.type, "ps": o.position_side, "cp": False,
            "rp": _plain(getattr(o, "_last_pnl", ZERO)) if t else "0", "pP": False,
            "si": 0, "ss": 0, "V": o.stp, "pm": "NONE", "gtd": 0, "er": "0"}}

    def take_events(self) -> list[tuple[Account, dict]]:
        ev, self.events = self.events, []
        return ev


def _plain(v: Decimal) -> str:
    """A Decimal without exponent or trailing zeros (``"0"``, ``"12.5"``)."""
    if v == 0:
        return "0"
    s = format(v.normalize(), "f")
    return s
