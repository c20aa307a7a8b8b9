"""Spot account methods beyond the core set: ``account.commission``, ``myPreventedMatches``,
``allOrderLists``, ``order.amend.keepPriority`` and ``orderList.place.oto`` / ``.otoco`` / ``.opo`` / ``.opoco`` (SPEC §5.5; shapes of ``samples/wsapi_*``). Registered by
:class:`~fastws.sim.trading.Trading`; each takes ``(trading, params, conn, account, ctx)``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fastws.sim import params as pm
from fastws.sim.accounts import random_key
from fastws.sim.market import StepResult
from fastws.sim.wsapi import ApiError

if TYPE_CHECKING:
    from fastws.sim.accounts import Account
    from fastws.sim.trading import Ctx, Trading

__all__ = ["account_commission", "my_prevented_matches", "amend_keep_priority",
           "all_order_lists", "oto_place", "otoco_place", "opo_place", "opoco_place",
           "order_amendments", "my_filters"]


def account_commission(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """Commission rates of ``symbol``: the account's maker/taker, no special or tax rates."""
    m = tr._market(p)
    e = tr.ex.engine
    z = e.q8(Decimal(0))
    return {"symbol": m.symbol,
            "standardCommission": {"maker": e.q8(acct.maker), "taker": e.q8(acct.taker),
                                   "buyer": z, "seller": z},
            "specialCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
            "taxCommission": {"maker": z, "taker": z, "buyer": z, "seller": z},
            "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                         "discountAsset": "BNB", "discount": z}}


def my_prevented_matches(tr: "Trading", p: dict, conn: Any, acct: "Account",
                         ctx: "Ctx") -> list:
    """Orders expired by self-trade prevention, by ``preventedMatchId`` or ``orderId`` (the
    latter from ``fromPreventedMatchId`` on, up to ``limit``)."""
    m = tr._market(p)
    pid = pm.integer(p, "preventedMatchId")
    oid = pm.integer(p, "orderId")
    if (pid is None) == (oid is None):
        raise ApiError(400, -1102, "Param 'preventedMatchId' or 'orderId' must be sent, but "
                                   "both were empty/null!" if pid is None else
                       "Combination of optional parameters invalid.")
    if oid is not None:
        tr.ex.weights.charge(18)                        # 20 by orderId, 2 by match id
    start = pm.integer(p, "fromPreventedMatchId", 0) or 0
    limit = min(pm.integer(p, "limit", 500) or 500, 1000)
    out = []
    for x in tr.ex.engine.prevented:
        taker, maker = x["taker"], x["maker"]
        if taker.account is not acct or taker.m is not m:
            continue
        if pid is not None and x["pid"] != pid:
            continue
        if oid is not None and (oid not in (taker.order_id, maker.order_id)
                                or x["pid"] < start):
            continue
        out.append({"symbol": m.symbol, "preventedMatchId": x["pid"],
                    "takerOrderId": taker.order_id, "makerSymbol": maker.m.symbol,
                    "makerOrderId": maker.order_id, "tradeGroupId": 1,
                    "selfTradePreventionMode": x["mode"], "price": m.px(x["tick"]),
                    "makerPreventedQuantity": m.qty(x["lots"]), "transactTime": x["time"]})
    return out[:limit]


def amend_keep_priority(tr: "Trading", p: dict, conn: Any, acct: "Account",
                        ctx: "Ctx") -> dict:
    """Lower an open order's quantity keeping its place in the queue (``newQty`` below the
    current quantity, above what has been executed... or equal to it, which ends the order)."""
    m = tr._market(p)
    o = tr._lookup(p, acct, m)
    if not o.open:
        raise ApiError(400, -2013, "Order does not exist.")
    new = pm.decimal(p, "newQty", required=True)
    assert new is not None
    lots = tr._lots(m, new) if new > 0 else 0
    if lots >= o.qty:
        raise ApiError(400, -2038, "The requested quantity must be less than the order's "
                                   "current quantity.")
    cid = p.get("newClientOrderId") or random_key(22)
    now = tr.ex.now_ms()
    res = StepResult(time=max(now, m.time))
    e = tr.ex.engine
    orig = o.client_id
    if lots <= o.executed:
        ctx.refund = True                               # weight 0 when the amend ends it
        e.cancel(o, res.time, res, cid)
    else:
        delta = o.qty - lots
        if o.on_book:
            book = m.bids if o.buy else m.asks
            m._set(res, o.buy, o.price, book.get(o.price, 0) - delta)
        if o.buy and o.lock_left and o.price:
            give = min(o.lock_left, m.notional(o.price, delta))
            o.account.unlock(o.lock_asset, give)
            o.lock_left -= give
            e._touch(o.account, o.lock_asset)
        elif not o.buy and o.lock_left:
            give = min(o.lock_left, m.qty_decimal(delta))
            o.account.unlock(o.lock_asset, give)
            o.lock_left -= give
            e._touch(o.account, o.lock_asset)
        before = o.qty
        o.qty = lots
        o.client_id = cid
        o.update_time = res.time
        e._report(o, "REPLACED", res.time, orig_client=orig)
        e.amendments.append({"symbol": m.symbol, "orderId": o.order_id,
                             "executionId": e._exec_id, "origClientOrderId": orig,
                             "newClientOrderId": cid, "origQty": m.qty(before),
                             "newQty": m.qty(lots), "time": res.time})
    tr._apply(m, res)
    amended = {"symbol": m.symbol, "orderId": o.order_id, "orderListId": o.list_id,
               "origClientOrderId": orig, "clientOrderId": o.client_id,
               "price": m.px(o.price), "qty": m.qty(o.qty), "executedQty": m.qty(o.executed),
               "preventedQty": m.qty(o.prevented_lots),
               "quoteOrderQty": e.q8(o.quote_qty), "cumulativeQuoteQty": e.q8(o.cum_quote),
               "status": o.status, "timeInForce": o.tif, "type": o.type, "side": o.side,
               "workingTime": o.working_time, "selfTradePreventionMode": o.stp}
    return {"transactTime": res.time, "executionId": e._exec_id, "amendedOrder": amended}


def all_order_lists(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> list:
    """``allOrderLists``: the account's order lists, from ``fromId`` or in ``startTime`` ..
    ``endTime`` (at most 24 h apart), oldest first, up to ``limit`` (default 500, max 1000)."""
    first = pm.integer(p, "fromId")
    start, end = pm.integer(p, "startTime"), pm.integer(p, "endTime")
    if first is not None and (start is not None or end is not None):
        raise ApiError(400, -1128, "Combination of optional parameters invalid.")
    if start is not None and end is not None and end - start > 86_400_000:
        raise ApiError(400, -1127, "More than 24 hours between startTime and endTime.")
    limit = min(pm.integer(p, "limit", 500) or 500, 1000)
    lists = [lst for lst in sorted(tr.ex.engine.lists.values(), key=lambda x: x.list_id)
             if lst.orders[0].account is acct
             and (first is None or lst.list_id >= first)
             and (start is None or lst.time >= start) and (end is None or lst.time <= end)]
    lists = lists[:limit] if first is not None or start is not None else lists[-limit:]
    return [tr.list_result(lst, False, 0) for lst in lists]


def oto_place(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """``orderList.place.oto``: a working LIMIT / LIMIT_MAKER order and a pending order that
    the engine places once the working order is fully filled (2 orders toward the limits)."""
    return _place_oto(tr, p, acct, pair=False)


def otoco_place(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """``orderList.place.otoco``: a working order and a pending OCO pair (``pendingAbove*``,
    ``pendingBelow*``) placed once the working order is fully filled (3 orders)."""
    return _place_oto(tr, p, acct, pair=True)


def opo_place(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """``orderList.place.opo``: as OTO, but the pending order takes no quantity: it is placed
    for what the working order executed, once the working order is fully filled."""
    return _place_oto(tr, p, acct, pair=False, opo=True)


def opoco_place(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """``orderList.place.opoco``: OTOCO whose pending pair takes its quantity from the
    working order's fill."""
    return _place_oto(tr, p, acct, pair=True, opo=True)


def _place_oto(tr: "Trading", p: dict, acct: "Account", pair: bool,
               opo: bool = False) -> dict:
    from fastws.sim.engine import OrderList, Reject
    m = tr._market(p)
    try:
        wside, pside = p.get("workingSide"), p.get("pendingSide")
        wqty = pm.decimal(p, "workingQuantity", required=True)
        if opo and p.get("pendingQuantity") not in (None, ""):
            raise ApiError(400, -1106, "Parameter 'pendingQuantity' sent when not required.")
        pqty = wqty if opo else pm.decimal(p, "pendingQuantity", required=True)
        for name, v in (("workingSide", wside), ("pendingSide", pside)):
            if v is None:
                raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                                           "empty/null, or malformed.")
        working = tr.build_order(m, acct, p, "working", wside, wqty)
        if working.type not in ("LIMIT", "LIMIT_MAKER"):
            raise ApiError(400, -1116, "Invalid orderType.")
        if pair:
            above = tr.build_order(m, acct, p, "pendingAbove", pside, pqty)
            below = tr.build_order(m, acct, p, "pendingBelow", pside, pqty)
            for leg in (above, below):
                if leg.type in ("LIMIT", "MARKET"):
                    raise ApiError(400, -1116, "Invalid orderType.")
            a_px = above.price if above.type == "LIMIT_MAKER" else above.stop
            b_px = below.price if below.type == "LIMIT_MAKER" else below.stop
            if not b_px < a_px:
                raise Reject(-2010, "The relationship of the prices for the orders is not "
                                    "correct.")
            pending = [above, below]
        else:
            pending = [tr.build_order(m, acct, p, "pending", pside, pqty)]
        legs = [working, *pending]
        lim = tr.limiter(acct)
        now = tr.ex.now_ms()
        lim.check(now, len(legs))
        e = tr.ex.engine
        lid = e.next_list_id()
        for leg in legs:
            leg.order_id = e.next_order_id()
            leg.list_id = lid
        lst = OrderList(lid, m.symbol, p.get("listClientOrderId") or random_key(22), legs,
                        contingency="OTO", opo=opo)
        res = StepResult(time=max(now, m.time))
        try:
            e.place_oto(lst, res.time, res)
        except Reject:
            e.lists.pop(lid, None)
            e._touched.clear()
            e.events.clear()
            raise
        lim.add(now, len(legs))
        tr._apply(m, res)
    except Reject as r:
        raise ApiError(r.status, r.code, r.msg) from None
    out = tr.list_result(lst, False, res.time)
    out["orderReports"] = [dict(tr.order_result(o, "RESULT", res.time), orderListId=lid)
                           for o in lst.orders]
    if opo:
        for o, rep in zip(lst.orders, out["orderReports"]):
            if o.status == "PENDING_NEW":
                rep.pop("origQty", None)            # its quantity is not known yet
    return out


def order_amendments(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> list:
    """``order.amendments``: the keepPriority amendments of one order, oldest first
    (``fromExecutionId``, ``limit`` default 500, max 1000)."""
    m = tr._market(p)
    o = tr._lookup(p, acct, m)
    start = pm.integer(p, "fromExecutionId", 0) or 0
    limit = min(pm.integer(p, "limit", 500) or 500, 1000)
    return [a for a in tr.ex.engine.amendments
            if a["orderId"] == o.order_id and a["executionId"] >= start][:limit]


def my_filters(tr: "Trading", p: dict, conn: Any, acct: "Account", ctx: "Ctx") -> dict:
    """``myFilters``: the filters that count this account's orders (the simulator has no
    exchange or asset filters)."""
    from fastws.sim.filters import spot_filters
    m = tr._market(p)
    counted = ("MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS")
    return {"exchangeFilters": [], "assetFilters": [],
            "symbolFilters": [f for f in spot_filters(m.spec) if f["filterType"] in counted]}
