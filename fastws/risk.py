"""Trading risk limits and the book-keeping they need: positions, PnL, drawdown (no I/O).

:class:`RiskManager` is told about each order before it is sent (:meth:`RiskManager.check`,
then :meth:`RiskManager.on_order_sent`), each fill (:meth:`RiskManager.on_fill`) and the
market's prices (:meth:`RiskManager.mark`), and answers whether an order may go out:

>>> from decimal import Decimal as D
>>> risk = RiskManager(RiskLimits(max_position=D("0.002")), start_equity=D("5000"))
>>> risk.check("BTCUSDT", "BUY", D("0.001"), D("60000"), now=0.0).allowed
True
>>> risk.on_fill("BTCUSDT", "BUY", D("0.003"), D("60000"), now=0.0)
Decimal('0')
>>> d = risk.check("BTCUSDT", "BUY", D("0.001"), D("60000"), now=1.0)
>>> d.allowed, d.limit
(False, 'max_position')

Limits (each optional):

* ``max_position``: the absolute net position of one symbol (base units) after the order;
* ``max_notional``: the absolute value of that position at the order's price (quote units);
* ``max_orders_per_minute``: orders sent in any 60 s window, all symbols together;
* ``max_drawdown``: the kill switch: when equity (start equity + realized PnL + unrealized PnL
  at the last marks - fees) falls this far (quote units) below its peak, every further order is
  refused (orders that reduce a position included: closing out is the caller's decision, see
  ``allow_reducing``) and :attr:`RiskManager.killed` says why;
* ``cooldown_s``: after a fill that realized a loss on a symbol, no order on that symbol for
  this many seconds.

Positions are net changes since the start (a sell from flat is a short of the base asset),
priced at the average cost of the open part (realized PnL on the closed part, FIFO-free).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = ["RiskLimits", "Decision", "Position", "RiskManager"]

Side = Literal["BUY", "SELL"]
_ZERO = Decimal(0)


def _num(d: Decimal) -> str:
    """``-0.0668`` rather than ``-0.06680000`` (no exponent either)."""
    t = format(d, "f")
    if "." in t:
        t = t.rstrip("0").rstrip(".")
    return "0" if t in ("", "-0") else t


def _dec(name: str, v: object, *, allow_none: bool = True) -> Decimal | None:
    if v is None and allow_none:
        return None
    try:
        d = Decimal(str(v))
    except Exception:
        raise ValueError(f"{name} must be a number, got {v!r}") from None
    if not d.is_finite() or d <= 0:
        raise ValueError(f"{name} must be a number > 0, got {v!r}")
    return d


@dataclass(frozen=True)
class RiskLimits:
    """The limits an order must keep (None: no such limit)."""

    max_position: Decimal | None = None
    max_notional: Decimal | None = None
    max_orders_per_minute: int | None = None
    max_drawdown: Decimal | None = None
    cooldown_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_position", "max_notional", "max_drawdown"):
            object.__setattr__(self, name, _dec(name, getattr(self, name)))
        n = self.max_orders_per_minute
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n <= 0):
            raise ValueError(f"max_orders_per_minute must be a whole number > 0, got {n!r}")
        c = self.cooldown_s
        if not isinstance(c, (int, float)) or not (0 <= c < float("inf")):
            raise ValueError(f"cooldown_s must be a number >= 0, got {c!r}")

    def describe(self) -> str:
        """The limits in one line (for the start of a session)."""
        parts = []
        if self.max_position is not None:
            parts.append(f"max position {self.max_position} per symbol")
        if self.max_notional is not None:
            parts.append(f"max notional {self.max_notional} per symbol")
        if self.max_orders_per_minute is not None:
            parts.append(f"max {self.max_orders_per_minute} orders/min")
        if self.max_drawdown is not None:
            parts.append(f"kill switch at drawdown {self.max_drawdown}")
        if self.cooldown_s:
            parts.append(f"{self.cooldown_s:g} s cool-down after a loss")
        return ", ".join(parts) or "no limits"


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`RiskManager.check`: ``allowed``, else which ``limit`` and why."""

    allowed: bool
    limit: str | None = None
    reason: str = ""


@dataclass
class Position:
    """Net position of one symbol since the start."""

    qty: Decimal = _ZERO             # signed, base units
    avg_price: Decimal = _ZERO       # average cost of the open part
    realized: Decimal = _ZERO        # quote units
    fees: Decimal = _ZERO            # quote units
    last_price: Decimal | None = None
    fills: int = 0

    @property
    def unrealized(self) -> Decimal:
        if self.last_price is None or self.qty == 0:
            return _ZERO
        return (self.last_price - self.avg_price) * self.qty


@dataclass
class RiskManager:
    """Positions, PnL and the limits of one trading session (see the module docstring)."""

    limits: RiskLimits
    start_equity: Decimal = _ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    killed: str | None = None
    refusals: dict[str, int] = field(default_factory=dict)
    orders_sent: int = 0

    def __post_init__(self) -> None:
        self.start_equity = Decimal(str(self.start_equity))
        self.peak_equity = self.start_equity
        self._sent: deque[float] = deque()
        self._cool_until: dict[str, float] = {}

    # -- state -------------------------------------------------------------------------------
    def position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position())

    @property
    def realized(self) -> Decimal:
        return sum((p.realized for p in self.positions.values()), _ZERO)

    @property
    def unrealized(self) -> Decimal:
        return sum((p.unrealized for p in self.positions.values()), _ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((p.fees for p in self.positions.values()), _ZERO)

    @property
    def equity(self) -> Decimal:
        return self.start_equity + self.realized + self.unrealized - self.fees

    @property
    def drawdown(self) -> Decimal:
        return max(_ZERO, self.peak_equity - self.equity)

    # -- the check ---------------------------------------------------------------------------
    def check(self, symbol: str, side: str, qty: Decimal, price: Decimal, now: float, *,
              allow_reducing: bool = False) -> Decision:
        """May an order of ``qty`` at ``price`` go out now? (Nothing is recorded.)"""
        side = side.upper()
        if side not in ("BUY", "SELL"):
            raise ValueError(f"side must be BUY or SELL, got {side!r}")
        qty, price = Decimal(str(qty)), Decimal(str(price))
        if qty <= 0 or price <= 0:
            raise ValueError("qty and price must be > 0")
        pos = self.position(symbol)
        after = pos.qty + (qty if side == "BUY" else -qty)
        reducing = abs(after) < abs(pos.qty)
        if self.killed is not None and not (allow_reducing and reducing):
            return self._refuse(symbol, "max_drawdown", f"kill switch: {self.killed}")
        lim = self.limits
        if lim.max_orders_per_minute is not None:
            self._expire(now)
            if len(self._sent) >= lim.max_orders_per_minute:
                wait = 60.0 - (now - self._sent[0])
                return self._refuse(symbol, "max_orders_per_minute",
                                    f"{len(self._sent)} orders in the last minute (max "
                                    f"{lim.max_orders_per_minute}); next in {wait:.0f} s")
        until = self._cool_until.get(symbol, 0.0)
        if now < until and not reducing:
            return self._refuse(symbol, "cooldown", f"cool-down after a loss on {symbol}: "
                                f"{until - now:.0f} s left")
        if not reducing:
            if lim.max_position is not None and abs(after) > lim.max_position:
                return self._refuse(symbol, "max_position",
                                    f"position would be {_num(after)} {symbol}, max "
                                    f"{_num(lim.max_position)}")
            if lim.max_notional is not None and abs(after) * price > lim.max_notional:
                return self._refuse(symbol, "max_notional",
                                    f"position would be worth {abs(after) * price:.2f}, max "
                                    f"{_num(lim.max_notional)}")
        return Decision(True)

    def _refuse(self, symbol: str, limit: str, reason: str) -> Decision:
        self.refusals[limit] = self.refusals.get(limit, 0) + 1
        return Decision(False, limit, reason)

    def _expire(self, now: float) -> None:
        while self._sent and now - self._sent[0] >= 60.0:
            self._sent.popleft()

    # -- events ------------------------------------------------------------------------------
    def on_order_sent(self, symbol: str, now: float) -> None:
        """Count an order that went out (for ``max_orders_per_minute``)."""
        self._expire(now)
        self._sent.append(now)
        self.orders_sent += 1

    def on_fill(self, symbol: str, side: str, qty: Decimal, price: Decimal, now: float,
                fee: Decimal = _ZERO) -> Decimal:
        """Book a fill; return the PnL it realized (quote units, before fees)."""
        qty, price, fee = Decimal(str(qty)), Decimal(str(price)), Decimal(str(fee))
        pos = self.position(symbol)
        signed = qty if side.upper() == "BUY" else -qty
        realized = _ZERO
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            total = pos.qty + signed
            pos.avg_price = (pos.avg_price * abs(pos.qty) + price * qty) / abs(total)
            pos.qty = total
        else:
            closing = min(abs(signed), abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = (price - pos.avg_price) * closing * direction
            pos.qty += signed
            if pos.qty == 0:
                pos.avg_price = _ZERO
            elif (pos.qty > 0) != (direction > 0):     # flipped: the rest opens at this price
                pos.avg_price = price
        pos.realized += realized
        pos.fees += fee
        pos.fills += 1
        pos.last_price = price
        if realized - fee < 0 and self.limits.cooldown_s:
            self._cool_until[symbol] = now + self.limits.cooldown_s
        self._update_equity()
        return realized

    def mark(self, symbol: str, price: Decimal | float) -> None:
        """The market's price of ``symbol`` now (unrealized PnL, drawdown, the kill switch)."""
        self.position(symbol).last_price = Decimal(str(price))
        self._update_equity()

    def _update_equity(self) -> None:
        eq = self.equity
        if eq > self.peak_equity:
            self.peak_equity = eq
        lim = self.limits.max_drawdown
        if lim is not None and self.killed is None and self.peak_equity - eq > lim:
            self.killed = (f"drawdown {self.peak_equity - eq:.2f} from the peak "
                           f"{self.peak_equity:.2f} is over the max {_num(lim)}")
