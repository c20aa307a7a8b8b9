"""USDⓈ-M account answers in Binance's documented shapes: ``account.status`` (the account
object, single-asset mode), ``v2/account.status``, ``account.balance`` / ``v2/account.balance``,
``account.position`` / ``v2/account.position``; the same bodies serve REST ``/fapi/v2/account``,
``/fapi/v3/account``, ``/fapi/v2/balance``, ``/fapi/v3/balance``, ``/fapi/v2/positionRisk`` and
``/fapi/v3/positionRisk``.

The simulator's futures account is one-way, cross margin, no multi-assets mode; margins are
computed from positions and open orders at the account's leverage.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from fastws.sim.accounts import Account
    from fastws.sim.exchange import Exchange

__all__ = ["UsdmAccount"]

_Z = "0.00000000"


def _p8(d: Decimal) -> str:
    return f"{d:.8f}"


def _plain(d: Decimal) -> str:
    s = format(d.normalize(), "f") if d else "0"
    return s


class UsdmAccount:
    """Builds the USDⓈ-M account bodies of one exchange."""

    def __init__(self, ex: "Exchange") -> None:
        self.ex = ex

    def _lev(self, acct: "Account", sym: str) -> int:
        from fastws.sim.engine import DEFAULT_LEVERAGE
        return int(acct.leverage.get(sym, DEFAULT_LEVERAGE))

    def _positions(self, acct: "Account", sym: Optional[str] = None,
                   all_symbols: bool = True) -> list[dict]:
        """One row per symbol: amount, entry, mark, pnl, margins."""
        out = []
        for s, m in self.ex._markets.items():
            if sym is not None and s != sym:
                continue
            amt, entry = acct.positions.get(s, (Decimal(0), Decimal(0)))
            if not all_symbols and not amt:
                continue
            mark = m.price_decimal(int(m.mid_tick()))
            lev = self._lev(acct, s)
            notional = mark * amt
            im = abs(notional) / lev
            bid_n = ask_n = Decimal(0)
            for o in self.ex.engine.open_orders(acct, s):
                n = m.notional(o.price, o.remaining)
                if o.buy:
                    bid_n += n
                else:
                    ask_n += n
            oim = max(bid_n, ask_n) / lev
            out.append({"symbol": s, "amt": amt, "entry": entry, "mark": mark,
                        "pnl": (mark - entry) * amt if amt else Decimal(0), "lev": lev,
                        "notional": notional, "im": im, "mm": abs(notional) * Decimal("0.004"),
                        "oim": oim, "bid": bid_n, "ask": ask_n})
        return out

    def _totals(self, acct: "Account") -> dict:
        q = "USDT"
        wallet = acct.free.get(q, Decimal(0)) + acct.locked.get(q, Decimal(0))
        pos = self._positions(acct)
        pnl = sum((p["pnl"] for p in pos), Decimal(0))
        pim = sum((p["im"] for p in pos), Decimal(0))
        oim = sum((p["oim"] for p in pos), Decimal(0))
        mm = sum((p["mm"] for p in pos), Decimal(0))
        avail = self.ex.engine.available(acct, q)
        return {"wallet": wallet, "pnl": pnl, "pim": pim, "oim": oim, "mm": mm,
                "avail": avail, "pos": pos}

    def _asset_rows(self, acct: "Account", t: dict) -> list[dict]:
        rows = []
        for a in sorted(set(acct.free) | set(acct.locked)):
            wallet = acct.free.get(a, Decimal(0)) + acct.locked.get(a, Decimal(0))
            usdt = a == "USDT"
            avail = self.ex.engine.available(acct, a)
            rows.append({"asset": a, "walletBalance": _p8(wallet),
                         "unrealizedProfit": _p8(t["pnl"] if usdt else Decimal(0)),
                         "marginBalance": _p8(wallet + (t["pnl"] if usdt else 0)),
                         "maintMargin": _p8(t["mm"] if usdt else Decimal(0)),
                         "initialMargin": _p8(t["pim"] + t["oim"] if usdt else Decimal(0)),
                         "positionInitialMargin": _p8(t["pim"] if usdt else Decimal(0)),
                         "openOrderInitialMargin": _p8(t["oim"] if usdt else Decimal(0)),
                         "crossWalletBalance": _p8(wallet),
                         "crossUnPnl": _p8(t["pnl"] if usdt else Decimal(0)),
                         "availableBalance": _p8(avail), "maxWithdrawAmount": _p8(avail),
                         "marginAvailable": True, "updateTime": acct.update_time})
        return rows

    def _top(self, t: dict) -> dict:
        return {"totalInitialMargin": _p8(t["pim"] + t["oim"]),
                "totalMaintMargin": _p8(t["mm"]), "totalWalletBalance": _p8(t["wallet"]),
                "totalUnrealizedProfit": _p8(t["pnl"]),
                "totalMarginBalance": _p8(t["wallet"] + t["pnl"]),
                "totalPositionInitialMargin": _p8(t["pim"]),
                "totalOpenOrderInitialMargin": _p8(t["oim"]),
                "totalCrossWalletBalance": _p8(t["wallet"]),
                "totalCrossUnPnl": _p8(t["pnl"]), "availableBalance": _p8(t["avail"]),
                "maxWithdrawAmount": _p8(t["avail"])}

    def status(self, acct: "Account") -> dict:
        """``account.status`` (v1): the account object with every symbol's position."""
        t = self._totals(acct)
        body: dict[str, Any] = {"feeTier": 0, "canTrade": acct.can_trade, "canDeposit": True,
                                "canWithdraw": True, "updateTime": 0,
                                "multiAssetsMargin": False, "tradeGroupId": -1}
        body.update(self._top(t))
        body["assets"] = self._asset_rows(acct, t)
        body["positions"] = [{
            "symbol": p["symbol"], "initialMargin": _plain(p["im"] + p["oim"]),
            "maintMargin": _plain(p["mm"]), "unrealizedProfit": _p8(p["pnl"]),
            "positionInitialMargin": _plain(p["im"]),
            "openOrderInitialMargin": _plain(p["oim"]), "leverage": str(p["lev"]),
            "isolated": False, "entryPrice": _plain(p["entry"]),
            "breakEvenPrice": _plain(p["entry"]), "maxNotional": "1000000",
            "bidNotional": _plain(p["bid"]), "askNotional": _plain(p["ask"]),
            "positionSide": "BOTH", "positionAmt": _plain(p["amt"]),
            "updateTime": acct.update_time} for p in t["pos"]]
        return body

    def status_v2(self, acct: "Account") -> dict:
        """``v2/account.status``: totals, assets, and only the symbols with a position."""
        t = self._totals(acct)
        body = self._top(t)
        body_any: dict[str, Any] = dict(body)
        body_any["assets"] = self._asset_rows(acct, t)
        body_any["positions"] = [{
            "symbol": p["symbol"], "positionSide": "BOTH", "positionAmt": _plain(p["amt"]),
            "unrealizedProfit": _p8(p["pnl"]), "isolatedMargin": _Z,
            "notional": _plain(p["notional"]), "isolatedWallet": "0",
            "initialMargin": _plain(p["im"]), "maintMargin": _plain(p["mm"]),
            "updateTime": acct.update_time} for p in t["pos"] if p["amt"]]
        return body_any

    def balance(self, acct: "Account") -> list[dict]:
        """``account.balance`` (v1 and v2 share the shape)."""
        t = self._totals(acct)
        out = []
        for a in sorted(set(acct.free) | set(acct.locked)):
            wallet = acct.free.get(a, Decimal(0)) + acct.locked.get(a, Decimal(0))
            avail = self.ex.engine.available(acct, a)
            pnl = t["pnl"] if a == "USDT" else Decimal(0)
            out.append({"accountAlias": "SgsR", "asset": a, "balance": _p8(wallet),
                        "crossWalletBalance": _p8(wallet), "crossUnPnl": _p8(pnl),
                        "availableBalance": _p8(avail), "maxWithdrawAmount": _p8(avail),
                        "marginAvailable": True, "updateTime": acct.update_time})
        return out

    def position_v1(self, acct: "Account", sym: Optional[str]) -> list[dict]:
        """``account.position`` (``/fapi/v2/positionRisk``): every symbol asked for."""
        return [{"entryPrice": _plain(p["entry"]), "breakEvenPrice": _plain(p["entry"]),
                 "marginType": "cross", "isAutoAddMargin": "false", "isolatedMargin": _Z,
                 "leverage": str(p["lev"]), "liquidationPrice": "0",
                 "markPrice": _plain(p["mark"]), "maxNotionalValue": "1000000",
                 "positionAmt": _plain(p["amt"]), "notional": _plain(p["notional"]),
                 "isolatedWallet": "0", "symbol": p["symbol"],
                 "unRealizedProfit": _p8(p["pnl"]), "positionSide": "BOTH",
                 "updateTime": acct.update_time}
                for p in self._positions(acct, sym)]

    def position_v2(self, acct: "Account", sym: Optional[str]) -> list[dict]:
        """``v2/account.position`` (``/fapi/v3/positionRisk``): symbols with a position."""
        return [{"symbol": p["symbol"], "positionSide": "BOTH", "positionAmt": _plain(p["amt"]),
                 "entryPrice": _plain(p["entry"]), "breakEvenPrice": _plain(p["entry"]),
                 "markPrice": _plain(p["mark"]), "unRealizedProfit": _p8(p["pnl"]),
                 "liquidationPrice": "0", "isolatedMargin": "0",
                 "notional": _plain(p["notional"]), "marginAsset": "USDT",
                 "isolatedWallet": "0", "initialMargin": _plain(p["im"]),
                 "maintMargin": _plain(p["mm"]), "positionInitialMargin": _plain(p["im"]),
                 "openOrderInitialMargin": _plain(p["oim"]), "adl": 0,
                 "bidNotional": _plain(p["bid"]), "askNotional": _plain(p["ask"]),
                 "updateTime": acct.update_time}
                for p in self._positions(acct, sym, all_symbols=False)]


def user_trades(tr: Any, p: dict, conn: Any, acct: "Account", ctx: Any) -> list:
    """``GET /fapi/v1/userTrades``: the account's fills of ``symbol`` (``orderId``,
    ``fromId``, ``startTime`` / ``endTime``, ``limit`` default 500, max 1000)."""
    from fastws.sim import params as pm
    m = tr._market(p)
    oid = pm.integer(p, "orderId")
    first = pm.integer(p, "fromId")
    start, end = pm.integer(p, "startTime"), pm.integer(p, "endTime")
    limit = min(pm.integer(p, "limit", 500) or 500, 1000)
    ts = [t for t in tr.ex.engine.account_trades(acct, m.symbol)
          if (oid is None or t.order.order_id == oid) and (first is None or t.trade_id >= first)
          and (start is None or t.time >= start) and (end is None or t.time <= end)]
    ts = ts[:limit] if first is not None or start is not None else ts[-limit:]
    qd = m.pdec + m.qdec
    return [{"buyer": t.order.buy, "commission": f"{t.commission:.8f}",
             "commissionAsset": t.commission_asset, "id": t.trade_id, "maker": t.is_maker,
             "orderId": t.order.order_id, "price": m.px(t.tick), "qty": m.qty(t.lots),
             "quoteQty": f"{t.quote:.{qd}f}", "realizedPnl": f"{t.pnl:.8f}",
             "side": t.order.side, "positionSide": "BOTH", "symbol": m.symbol, "time": t.time}
            for t in ts]


def change_leverage(tr: Any, p: dict, conn: Any, acct: "Account", ctx: Any) -> dict:
    """``POST /fapi/v1/leverage``: 1..125; an ``ACCOUNT_CONFIG_UPDATE`` follows on the
    account's user data."""
    from fastws.sim import params as pm
    from fastws.sim.wsapi import ApiError
    m = tr._market(p)
    lev = pm.integer(p, "leverage")
    if lev is None:
        raise ApiError(400, -1102, "Mandatory parameter 'leverage' was not sent, was "
                                   "empty/null, or malformed.")
    if not 1 <= lev <= 125:
        raise ApiError(400, -4028, "Leverage is not valid")
    acct.leverage[m.symbol] = lev
    now = tr.ex.now_ms()
    tr.ex.engine.events.append((acct, {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now,
                                       "ac": {"s": m.symbol, "l": lev}}))
    tr.ex._deliver_user_events()
    return {"leverage": lev, "maxNotionalValue": str(1_000_000 * 20 // lev),
            "symbol": m.symbol}


def commission_rate(tr: Any, p: dict, conn: Any, acct: "Account", ctx: Any) -> dict:
    """``GET /fapi/v1/commissionRate``."""
    m = tr._market(p)
    return {"symbol": m.symbol, "makerCommissionRate": _plain(acct.maker) if acct.maker
            else "0", "takerCommissionRate": _plain(acct.taker) if acct.taker else "0",
            "rpiCommissionRate": "0"}
