"""What the third-party client adapters share: the loop runner, import checks, a plain book.

Kept small on purpose: each adapter stays what its library's docs show a user to write; only
the plumbing (run until ``ctx.stop``, report a crash through ``ctx.error``) lives here.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import traceback
from typing import Any, Awaitable, Callable, Optional


def missing(*modules: str) -> Optional[str]:
    """None if every module imports, else why not (for ``available()``)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or a library failing at import time
            return f"cannot import {name}: {type(exc).__name__}: {exc}"
    return None


def version(dist: str) -> str:
    """Installed version of a distribution, or "not installed"."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version
    try:
        return _version(dist)
    except PackageNotFoundError:
        return "not installed"


def describe(exc: BaseException) -> str:
    """One line for ``ctx.error``: the exception and where it was raised."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


async def until_stopped(stop: threading.Event, poll: float = 0.05) -> None:
    """Return once ``stop`` is set (polled: the event belongs to another thread)."""
    while not stop.is_set():
        await asyncio.sleep(poll)


def run_async(ctx: Any, main: Callable[[], Awaitable[None]], *, use_uvloop: bool = True,
              what: str = "client") -> None:
    """Run ``main()`` on a fresh event loop (uvloop if asked and installed) until ``ctx.stop``.

    ``main`` may return early (then we wait for the stop) or raise (then ``ctx.error`` says
    what broke and we wait for the stop too: the harness decides when a round ends). On the
    stop, ``main`` is cancelled and given a second to clean up.
    """
    async def runner() -> None:
        task = asyncio.ensure_future(main())
        stopper = asyncio.ensure_future(until_stopped(ctx.stop))
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                ctx.error(f"{what} died: {describe(exc)}")
            await stopper
            return
        task.cancel()
        # not wait_for: it would wait for a library that sits on its own timeout while
        # being cancelled (python-binance's read loop: 10 s); the contract gives 2 s
        await asyncio.wait({task}, timeout=1.2)
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            assert exc is not None
            ctx.error(f"{what} failed to stop cleanly: {describe(exc)}")

    if use_uvloop:
        try:
            import uvloop
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(runner())
        # let transports close, then drop leftovers quietly (libraries leave tasks behind)
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=0.3))
    finally:
        asyncio.set_event_loop(None)
        if not any(not t.done() for t in asyncio.all_tasks(loop)):
            loop.close()      # else left to the process exit: closing would log each task


def top(levels: dict[float, float], highest: bool) -> Optional[float]:
    """Best price of a {price: qty} side (max for bids, min for asks), None if empty."""
    if not levels:
        return None
    return max(levels) if highest else min(levels)


class DiffBook:
    """A local book kept the way Binance's docs tell users to, for a library without one.

    "How to manage a local order book correctly" (spot): buffer the diff events, take a REST
    snapshot, drop events with ``u <= lastUpdateId``, the first applied event must straddle
    ``lastUpdateId + 1``, then each event's ``U`` must be the previous ``u + 1``; a quantity of
    0 removes the level. Prices and quantities as floats, as such user code does.
    """

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.last_update_id: Optional[int] = None
        self.buffer: list[tuple[int, int, list[Any], list[Any]]] = []

    @property
    def synced(self) -> bool:
        return self.last_update_id is not None

    def snapshot(self, last_update_id: int, bids: list[Any], asks: list[Any]) -> None:
        self.bids = {float(p): float(q) for p, q in bids}
        self.asks = {float(p): float(q) for p, q in asks}
        self.last_update_id = last_update_id
        buffered, self.buffer = self.buffer, []
        for U, u, b, a in buffered:
            if not self.apply(U, u, b, a):
                return

    def apply(self, U: int, u: int, b: list[Any], a: list[Any]) -> bool:
        """Apply one diff event; False when it shows a gap (the book must be resynced)."""
        last = self.last_update_id
        if last is None:
            self.buffer.append((U, u, b, a))
            return True
        if u <= last:
            return True
        if U > last + 1:
            self.last_update_id = None
            self.buffer = [(U, u, b, a)]
            return False
        for side, rows in ((self.bids, b), (self.asks, a)):
            for p, q in rows:
                price, qty = float(p), float(q)
                if qty == 0.0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_update_id = u
        return True

    def best(self) -> tuple[Optional[float], Optional[float]]:
        return top(self.bids, True), top(self.asks, False)


class ErrorLog(logging.Handler):
    """Forward a library's log records of ``level`` and above (WARNING by default) to
    ``ctx.error`` (the first ``limit`` of them; :meth:`close` adds how many more there were),
    for libraries that report what broke (a reset book, a dropped connection) only in their
    log."""

    def __init__(self, ctx: Any, prefix: str, limit: int = 20,
                 level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.ctx = ctx
        self.prefix = prefix
        self.limit = limit
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.ctx.stop.is_set():
            return                        # shutting down: not what the benchmark measures
        self.count += 1
        if self.count <= self.limit:
            try:
                msg = record.getMessage()
            except Exception:
                msg = str(record.msg)
            self.ctx.error(f"{self.prefix} log {record.levelname}: {msg[:300]}")

    def close(self) -> None:
        if self.count > self.limit:
            self.ctx.error(f"{self.prefix} log: {self.count - self.limit} more records")
        self.count = 0
        super().close()
