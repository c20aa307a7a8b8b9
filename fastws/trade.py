"""``fastws trade [SYMBOL...]``: trade the signals, with risk limits, and show what happens.

Where: an embedded simulator with a funded paper account (the default), ``--url`` a running
``fastws sim``, ``--venue NAME`` a Binance venue (keys from the environment:
``FASTWS_API_KEY`` with ``FASTWS_API_SECRET`` or ``FASTWS_PRIVATE_KEY_FILE``); a real-money
venue only with ``--i-understand-real-money``.

How: the live view's signals (see ``fastws monitor``) drive orders through ``OrderStream``
(marketable IOC limit orders of about ``--order-notional`` quote units); fills come back
through ``UserStream`` and move the positions and PnL. Each order is first checked by
``fastws.risk`` against the limits given as options; an order that would break one is refused,
saying which. The drawdown kill switch stops trading and cancels open orders. On exit
(``--seconds N`` or Ctrl-C) open orders are cancelled, ``--flatten-on-exit`` also closes the
positions, and a summary is printed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

import fastws
from fastws.cliargs import ArgumentParser, non_negative, positive, positive_int
from fastws.live import LiveScreen, LiveView, liven, sleep_or_stop, stop_event, streams_for, venue_for_url
from fastws.risk import RiskLimits, RiskManager

__all__ = ["Trader", "run_trade", "main", "signer_from_env", "REAL_MONEY_FLAG"]

ENV_KEY, ENV_SECRET, ENV_PEM, ENV_PW = ("FASTWS_API_KEY", "FASTWS_API_SECRET", "FASTWS_PRIVATE_KEY_FILE",
                                       "FASTWS_PRIVATE_KEY_PASSWORD")
REAL_MONEY_FLAG = "--i-understand-real-money"
QUOTES = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
PAPER_BALANCES = {"USDT": "5000", "BTC": "0.05", "ETH": "1", "SOL": "20", "BNB": "5"}
#: how far through the touch a marketable IOC order is priced
SLIPPAGE = Decimal("0.002")


def signer_from_env(env: dict[str, str] | None = None) -> tuple[str | None, Any]:
    """(api_key, signer) from the environment; (None, None) when no key is set.

    ``FASTWS_API_SECRET`` makes an HMAC signer; ``FASTWS_PRIVATE_KEY_FILE`` (a PEM file, with
    ``FASTWS_PRIVATE_KEY_PASSWORD`` if it is encrypted) an Ed25519 or RSA one. Raises
    ``ValueError`` with a clear message when the key is set without a way to sign."""
    env = dict(os.environ) if env is None else env
    key = env.get(ENV_KEY)
    if not key:
        return None, None
    secret = env.get(ENV_SECRET)
    if secret:
        return key, fastws.HmacSigner(secret)
    path = env.get(ENV_PEM)
    if not path:
        raise ValueError(f"{ENV_KEY} is set but neither {ENV_SECRET} nor {ENV_PEM}")
    try:
        with open(path, "rb") as fh:
            pem = fh.read()
    except OSError as exc:
        raise ValueError(f"{ENV_PEM}: cannot read {path}: {exc.strerror or exc}") from None
    pw = env.get(ENV_PW)
    try:
        return key, fastws.Ed25519Signer(pem, pw)
    except Exception:
        return key, fastws.RsaSigner(pem, pw)


def quote_of(symbol: str) -> str:
    for q in QUOTES:
        if symbol.endswith(q) and len(symbol) > len(q):
            return q
    return "USDT"


def _money(x: Decimal) -> str:
    return f"{x:+.2f}"


def _q(x: Decimal, signed: bool = False) -> str:
    """A quantity without trailing zeros (``0.0334``, ``+0.0334``, ``0``)."""
    t = format(x, "f")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    if t in ("-0", ""):
        t = "0"
    return ("+" + t if signed and not t.startswith("-") and t != "0" else t)


@dataclass
class TradeStats:
    orders: int = 0
    filled: int = 0
    not_filled: int = 0
    rejected: int = 0
    fills: int = 0
    cancelled_at_exit: int = 0
    open_at_exit: int = -1
    flattened: int = 0
    events: list[str] = field(default_factory=list)


class Trader:
    """Signals in, orders out, fills booked; the limits checked by a :class:`RiskManager`.

    Parameters
    ----------
    api : fastws.BaseOperations
        A signed session.
    symbols : list of str
    limits : RiskLimits
    order_notional : Decimal
        Size of each order in quote units (rounded down to the lot size).
    order_every : float
        At most one order per symbol per this many seconds, unless the signal's side changes.
    min_score : float
        Signals below this score are not traded.
    say : callable
        Where event lines go (the live screen's ``note``).
    """

    def __init__(self, api: Any, symbols: list[str], limits: RiskLimits, *,
                 order_notional: Decimal = Decimal("100"), order_every: float = 5.0,
                 min_score: float = 0.0, say: Callable[[str], None] = print) -> None:
        self.api = api
        self.symbols = symbols
        self.orders = fastws.OrderStream(api, rounding="down")
        self.users = fastws.UserStream(api)
        self.limits = limits
        self.risk = RiskManager(limits)
        self.order_notional = Decimal(str(order_notional))
        self.order_every = order_every
        self.min_score = min_score
        self.say = say
        self.stats = TradeStats()
        self.filters: dict[str, Any] = {}
        self.balance_start = Decimal(0)
        self.balance_end: Decimal | None = None
        self.quote = quote_of(symbols[0])
        self._last_order: dict[str, tuple[float, str]] = {}
        self._fill_task: asyncio.Task[None] | None = None
        self._kill_announced = False
        self._fill_seen = asyncio.Event()
        self.prices: dict[str, tuple[Decimal, Decimal]] = {}

    # -- start / stop ------------------------------------------------------------------------
    async def balance(self) -> Decimal:
        acct = await self.api.account_status()
        for b in acct.get("balances", ()):
            if b.get("asset") == self.quote:
                return Decimal(b.get("free", "0")) + Decimal(b.get("locked", "0"))
        return Decimal(0)

    async def start(self) -> None:
        """Subscribe to the user data, read the balance and the filters."""
        await self.users.subscribe()
        self._fill_task = asyncio.create_task(self._read_fills(), name="fastws-trade-fills")
        for s in self.symbols:
            self.filters[s] = await self.api.symbol_filters(s)
        self.balance_start = await self.balance()
        self.risk.start_equity = self.risk.peak_equity = self.balance_start
        self.say(f"System initialized - Balance: {self._amount(self.balance_start)}")
        self.say(f"risk limits: {self.limits.describe()}; orders of about {self.order_notional} "
                 f"{self.quote}")

    async def stop(self, *, flatten: bool = False) -> None:
        """Cancel every open order (and close the positions with ``flatten``); check none is left."""
        for s in self.symbols:
            try:
                for o in await self.orders.open_orders(s):
                    await self.orders.cancel(s, order_id=o["orderId"])
                    self.stats.cancelled_at_exit += 1
                    self.say(f"CANCEL {s} order {o['orderId']} ({o.get('side')} {o.get('origQty')} "
                             f"@ {o.get('price')})")
            except fastws.ApiError as exc:
                self.say(f"CANCEL {s}: {exc}")
        if flatten:
            for s in self.symbols:
                pos = self.risk.position(s).qty
                if pos != 0:
                    side = "SELL" if pos > 0 else "BUY"
                    await self._send(s, side, abs(pos), reducing=True, why="flatten on exit")
                    self.stats.flattened += 1
            await self._settle()
        left = 0
        for s in self.symbols:
            try:
                left += len(await self.orders.open_orders(s))
            except fastws.ApiError:
                left = -1
                break
        self.stats.open_at_exit = left
        try:
            self.balance_end = await self.balance()
        except Exception:  # the session may be gone at exit: the summary says n/a
            self.balance_end = None
        if self._fill_task is not None:
            self._fill_task.cancel()
            try:
                await self._fill_task
            except (asyncio.CancelledError, Exception):
                pass
        await self.users.close()

    async def _settle(self, timeout: float = 2.0) -> None:
        """Give the user data stream a moment to deliver the fills of the last orders."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self._fill_seen.clear()
            try:
                await asyncio.wait_for(self._fill_seen.wait(), 0.3)
            except (TimeoutError, asyncio.TimeoutError):
                return

    def _amount(self, x: Decimal) -> str:
        """``$4988.99`` for a dollar quote asset, else ``0.12345678 BTC``."""
        if self.quote in ("USDT", "USDC", "FDUSD"):
            return f"${x:.2f}"
        return f"{x:.8f} {self.quote}"

    # -- market and signals ------------------------------------------------------------------
    def on_prices(self, symbol: str, bid: float, ask: float) -> None:
        """The touch of ``symbol`` now: marks the position (drawdown, kill switch)."""
        b, a = Decimal(repr(bid)), Decimal(repr(ask))
        self.prices[symbol] = (b, a)
        self.risk.mark(symbol, (b + a) / 2)

    async def check_kill_switch(self) -> bool:
        """Announce the kill switch once and cancel the open orders; True when it is on."""
        if self.risk.killed is None:
            return False
        if not self._kill_announced:
            self._kill_announced = True
            self.say(f"KILL SWITCH: {self.risk.killed}: trading stopped")
            for s in self.symbols:
                try:
                    await self.orders.cancel_all(s)
                except fastws.ApiError:
                    pass                                  # nothing open
        return True

    async def on_signal(self, sig: Any) -> str | None:
        """Trade one signal (or say why not); returns the line printed, None if ignored."""
        sym = sig.symbol
        if sym not in self.filters or sig.score < self.min_score:
            return None
        now = time.monotonic()
        last = self._last_order.get(sym)
        if last is not None and last[1] == sig.side and now - last[0] < self.order_every:
            return None
        if await self.check_kill_switch():
            return None
        self._last_order[sym] = (now, sig.side)
        price = self._price(sym, sig.side)
        if price is None:
            return None
        f = self.filters[sym]
        qty = f.round_qty(self.order_notional / price, "down")
        if qty < f.min_qty or qty * price < f.min_notional:
            line = (f"SKIP {sym} {sig.side}: {self.order_notional} {self.quote} is below the "
                    f"symbol's minimum order")
            self.say(line)
            return line
        return await self._send(sym, sig.side, qty, why=f"signal {sig.score:.3f}")

    def _price(self, sym: str, side: str) -> Decimal | None:
        touch = self.prices.get(sym)
        if touch is None:
            return None
        bid, ask = touch
        f = self.filters[sym]
        if side == "BUY":
            return f.round_price(ask * (1 + SLIPPAGE), "up")  # type: ignore[no-any-return]
        return f.round_price(bid * (1 - SLIPPAGE), "down")  # type: ignore[no-any-return]

    async def _send(self, sym: str, side: str, qty: Decimal, *, reducing: bool = False,
                    why: str = "") -> str:
        price = self._price(sym, side)
        if price is None:
            line = f"SKIP {sym} {side}: no price yet"
            self.say(line)
            return line
        now = time.monotonic()
        d = self.risk.check(sym, side, qty, price, now, allow_reducing=reducing)
        if not d.allowed:
            line = f"RISK refused {sym} {side} {_q(qty)}: {d.limit}: {d.reason}"
            self.say(line)
            return line
        self.risk.on_order_sent(sym, now)
        self.stats.orders += 1
        try:
            r = await self.orders.place(sym, side, "LIMIT", quantity=qty, price=price,
                                        time_in_force="IOC")
        except fastws.ApiError as exc:
            self.stats.rejected += 1
            line = f"ORDER {sym} {side} {_q(qty)} @ {_q(price)} (IOC) rejected: {exc}"
            self.say(line)
            return line
        executed = Decimal(r.get("executedQty", "0"))
        status = r.get("status", "?")
        if executed > 0:
            self.stats.filled += 1
            avg = Decimal(r.get("cummulativeQuoteQty", "0")) / executed
            result = f"{status} {_q(executed)} @ {_q(avg.quantize(price))}"
        else:
            self.stats.not_filled += 1
            result = status
        line = f"ORDER {sym} {side} {_q(qty)} @ {_q(price)} (IOC, {why}) -> {result}"
        self.say(line)
        return line

    # -- fills -------------------------------------------------------------------------------
    async def _read_fills(self) -> None:
        async for ev in self.users:
            if isinstance(ev, fastws.ExecutionReport) and ev.is_trade and ev.symbol in self.filters:
                self._on_fill(ev)

    def _on_fill(self, ev: Any) -> None:
        qty, price = ev.last_executed_qty, ev.last_executed_price
        fee = ev.commission or Decimal(0)
        if fee and ev.commission_asset and ev.commission_asset != self.quote:
            fee = fee * price                     # a fee in the base asset, valued at the fill
        realized = self.risk.on_fill(ev.symbol, ev.side, qty, price, time.monotonic(), fee)
        self.stats.fills += 1
        pos = self.risk.position(ev.symbol)
        self.say(f"FILL {ev.symbol} {ev.side} {_q(qty)} @ {_q(price)} | position {_q(pos.qty, True)} | "
                 f"PnL {_money(realized)} (realized total {_money(self.risk.realized)})")
        self._fill_seen.set()

    # -- what the view shows -----------------------------------------------------------------
    def lines(self) -> list[str]:
        r = self.risk
        out = []
        for s in self.symbols:
            p = r.position(s)
            out.append(f"POSITION {s}: {_q(p.qty, True)} @ {p.avg_price:.2f} | unrealized "
                       f"{_money(p.unrealized)} | realized {_money(p.realized)}")
        state = f"KILLED ({r.killed})" if r.killed else "trading"
        out.append(f"PnL {_money(r.realized + r.unrealized - r.fees)} (fees {r.fees:.4f}) | "
                   f"equity ${r.equity:.2f} | drawdown {r.drawdown:.2f} | "
                   f"{self.stats.orders} orders, {self.stats.fills} fills, "
                   f"{sum(r.refusals.values())} refused | {state}")
        return out

    def summary(self, elapsed: float) -> str:
        r, st = self.risk, self.stats
        refused = ", ".join(f"{k} {v}" for k, v in sorted(r.refusals.items())) or "none"
        pos = ", ".join(f"{s} {_q(r.position(s).qty, True)}" for s in self.symbols)
        end = self._amount(self.balance_end) if self.balance_end is not None else "n/a"
        return (f"summary: {elapsed:.1f} s, {st.orders} orders ({st.filled} filled, "
                f"{st.not_filled} not filled, {st.rejected} rejected), {st.fills} fills, "
                f"refused by limits: {refused}, realized PnL {_money(r.realized)}, unrealized "
                f"{_money(r.unrealized)}, fees {r.fees:.4f}, positions {pos}, "
                f"{st.cancelled_at_exit} orders cancelled at exit, open orders left "
                f"{st.open_at_exit if st.open_at_exit >= 0 else 'unknown'}"
                + (", kill switch on" if r.killed else "")
                + f", balance {self._amount(self.balance_start)} -> {end}")


# -- the session --------------------------------------------------------------------------------


async def run_trade(symbols: list[str], venue: Any, key: str, signer: Any, limits: RiskLimits, *,
                    seconds: float = 0.0, interval: float = 1.0, order_notional: Decimal = Decimal("100"),
                    order_every: float = 5.0, min_score: float = 0.0, flatten_on_exit: bool = False,
                    short_windows: bool = True, verbose: bool = False, out: Any = None,
                    tty: bool | None = None, auto: bool = True,
                    hook: Callable[[Trader, Any], Coroutine[Any, Any, None]] | None = None) -> int:
    """One trading session on ``venue``; the exit status (130 after Ctrl-C).

    ``hook(trader, market_stream)``, if given, runs as a task beside the loop (tests inject
    signals and faults through it); the session ends when it returns. ``auto=False``: the
    view's own signals are shown but not traded."""
    from fastws.market_stream import MarketStream
    out = out or sys.stdout
    stop, signals = stop_event()
    t0 = time.monotonic()
    streams = [n for s in symbols for n in streams_for(s, market=venue.market)]
    with LiveScreen(out, tty=tty) as screen:
        async with fastws.BaseOperations(venue, key=key, signer=signer) as api:
            trader = Trader(api, symbols, limits, order_notional=order_notional,
                            order_every=order_every, min_score=min_score, say=screen.note)
            await trader.start()
            async with MarketStream(streams, venue=venue) as ms:
                pending: list[Any] = []
                view = LiveView(ms, symbols, short_windows=short_windows, verbose=verbose,
                                extra=trader.lines, on_signal=pending.append)
                hook_task: asyncio.Task[None] | None = (
                    asyncio.create_task(hook(trader, ms)) if hook is not None else None)
                if hook_task is not None:
                    hook_task.add_done_callback(lambda _: stop.set())
                end = t0 + seconds if seconds else float("inf")
                try:
                    while time.monotonic() < end:
                        if await sleep_or_stop(stop, min(interval, max(0.0, end - time.monotonic()))):
                            break
                        for s in symbols:
                            book = ms.books.get(s)
                            if book is not None and book.is_synced and book.best_bid() and book.best_ask():
                                trader.on_prices(s, book.best_bid_price, book.best_ask_price)
                        await trader.check_kill_switch()
                        screen.show(view.lines())
                        while pending:
                            sig = pending.pop(0)
                            if auto:
                                await trader.on_signal(sig)
                finally:
                    if hook_task is not None:
                        if not hook_task.done():
                            hook_task.cancel()
                        try:
                            await hook_task
                        except asyncio.CancelledError:
                            pass
                    await trader.stop(flatten=flatten_on_exit)
                    screen.show(view.lines())
    print(trader.summary(time.monotonic() - t0) + (" (interrupted)" if signals else ""),
          file=out, flush=True)
    if signals:
        return 130
    return 0 if trader.stats.open_at_exit == 0 else 1


async def _paper(args: argparse.Namespace, limits: RiskLimits) -> int:
    from fastws.sim import Exchange
    async with Exchange(args.symbols, rate=80.0) as ex:
        liven(ex)
        balances = dict(PAPER_BALANCES)
        balances[quote_of(args.symbols[0])] = str(args.paper_balance)
        for s in args.symbols:
            base = s[: -len(quote_of(s))]
            balances.setdefault(base, "10")
        acct = ex.add_account(balances=balances, keys=["ED25519"])
        k = acct.keys[0]
        print(f"fastws trade: paper account on the embedded simulator ({ex.venue.stream_url})",
              flush=True)
        return await run_trade(args.symbols, ex.venue, k.api_key, fastws.Ed25519Signer(k.private_pem or ""),
                               limits, **_session_kw(args))


def _session_kw(args: argparse.Namespace) -> dict[str, Any]:
    return dict(seconds=args.seconds, interval=args.interval,
                order_notional=Decimal(str(args.order_notional)), order_every=args.order_every,
                min_score=args.min_score, flatten_on_exit=args.flatten_on_exit,
                short_windows=not args.long_windows, verbose=args.verbose)


async def _remote(args: argparse.Namespace, venue: Any, limits: RiskLimits) -> int:
    key, signer = signer_from_env()
    if key is None:
        print(f"fastws trade: {venue.name} needs a key: set {ENV_KEY} and {ENV_SECRET} (HMAC) or "
              f"{ENV_PEM} (Ed25519 / RSA PEM)", file=sys.stderr)
        return 2
    print(f"fastws trade: {venue.name} at {venue.ws_api_url} with key {fastws.mask_key(key)}",
          flush=True)
    return await run_trade(args.symbols, venue, key, signer, limits, **_session_kw(args))


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="fastws trade", description=__doc__.split("\n\n")[0].replace("``", ""),
                       epilog="\n\n".join(__doc__.replace("``", "").split("\n\n")[1:]),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("symbols", nargs="*", metavar="SYMBOL", default=["BTCUSDT"],
                   help="spot symbols to trade (default BTCUSDT)")
    from fastws.monitor import VENUES
    where = p.add_mutually_exclusive_group()
    where.add_argument("--venue", choices=sorted(VENUES), help="a Binance venue (keys from the environment)")
    where.add_argument("--url", help="a running fastws sim, e.g. ws://127.0.0.1:8765 (keys from the environment)")
    p.add_argument("--ca-file", help="with --url: the CA file of a --tls simulator (its banner's ca-file)")
    p.add_argument(REAL_MONEY_FLAG, dest="real_money", action="store_true",
                   help="required to trade on a real-money venue (binance-spot)")
    p.add_argument("--seconds", type=non_negative, default=0.0, help="stop after this long (0: at Ctrl-C)")
    p.add_argument("--interval", type=positive, default=1.0, help="seconds between refreshes")
    p.add_argument("--paper-balance", type=positive, default=5000.0,
                   help="quote balance of the simulator's paper account (default 5000)")
    g = p.add_argument_group("orders")
    g.add_argument("--order-notional", type=positive, default=100.0,
                   help="size of each order in quote units (default 100)")
    g.add_argument("--order-every", type=non_negative, default=5.0,
                   help="at most one order per symbol per this many seconds while the signal "
                        "keeps its side (default 5)")
    g.add_argument("--min-score", type=non_negative, default=0.0, help="trade only signals scoring this much")
    g.add_argument("--flatten-on-exit", action="store_true", help="close the positions at exit")
    g.add_argument("--long-windows", action="store_true",
                   help="the library's signal windows (60 s momentum) instead of the short ones")
    r = p.add_argument_group("risk limits (an order that would break one is refused)")
    r.add_argument("--max-position", type=positive, help="max absolute position per symbol, base units")
    r.add_argument("--max-notional", type=positive, help="max position value per symbol, quote units")
    r.add_argument("--max-orders-per-minute", type=positive_int, help="max orders in any 60 s")
    r.add_argument("--max-drawdown", type=positive,
                   help="kill switch: stop trading when equity falls this far below its peak (quote units)")
    r.add_argument("--cooldown", type=non_negative, default=0.0,
                   help="seconds without orders on a symbol after a losing fill")
    p.add_argument("-v", "--verbose", action="store_true", help="the detectors' figures under each symbol")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from fastws.sim.cli import parse_symbols
    try:
        args.symbols = parse_symbols(",".join(args.symbols))
    except ValueError as exc:
        p.error(str(exc))
    limits = RiskLimits(
        max_position=None if args.max_position is None else Decimal(repr(args.max_position)),
        max_notional=None if args.max_notional is None else Decimal(repr(args.max_notional)),
        max_orders_per_minute=args.max_orders_per_minute,
        max_drawdown=None if args.max_drawdown is None else Decimal(repr(args.max_drawdown)),
        cooldown_s=args.cooldown)
    from fastws.connection import run
    from fastws.monitor import VENUES
    try:
        if args.url:
            return run(_remote(args, venue_for_url(args.url, ca_file=args.ca_file), limits))
        if args.venue:
            venue = VENUES[args.venue]
            if venue.market != "spot":
                p.error(f"{args.venue}: trade mode trades spot venues only")
            if not venue.testnet and not args.real_money:
                p.error(f"{args.venue} trades real money: add {REAL_MONEY_FLAG} if you mean it "
                        f"(or use binance-spot-testnet)")
            return run(_remote(args, venue, limits))
        return run(_paper(args, limits))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"fastws trade: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line, not a traceback
        print(f"fastws trade: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
