"""Run one peer adapter against a plain ``fastws.sim.Exchange`` and check what it saw.

    python bench/peers/try_adapter.py python_binance tickers --seconds 5
    python bench/peers/try_adapter.py unicorn_ldc depth --seconds 8 --json

The simulator runs in a thread of this process (its own uvloop), on a manual clock advanced
with the wall clock at ``--rate`` market steps per second per symbol, so it can be frozen: after
``--seconds`` the market stops, and the runner waits (``--settle`` seconds at most) until the
adapter's book of every symbol reports the simulator's last update id (or, for a library that
exposes none, shows the simulator's best bid/ask), then compares its best bid/ask with the
simulator's own book and sets ``ctx.stop``. The adapter runs in the main thread (some libraries
install signal handlers or want the main thread's loop).

Not the benchmark (``bench/bench_peers.py`` is): no pinning, no timing worth quoting; it tells
whether an adapter works and what broke. ``--json`` prints one JSON object on stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
# run as a script, this folder is sys.path[0]: the adapter binance_sdk_spot.py would then
# shadow the library of the same name
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]


@dataclass
class TryCtx:
    """The harness's ``Ctx`` (bench/peers contract), recording instead of timing."""
    ws_base: str
    rest_base: str
    symbols: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    ticks: int = 0
    first_tick: Optional[int] = None
    last_tick: Optional[int] = None
    books: dict[str, int] = field(default_factory=dict)            # updates seen per symbol
    last_book: dict[str, tuple[Optional[int], Optional[float], Optional[float]]] = \
        field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self, update_id: int) -> None:
        with self.lock:
            self.ticks += 1
            if self.first_tick is None:
                self.first_tick = update_id
            self.last_tick = update_id

    def book(self, symbol: str, update_id: Optional[int], best_bid: Optional[float],
             best_ask: Optional[float]) -> None:
        with self.lock:
            self.books[symbol] = self.books.get(symbol, 0) + 1
            self.last_book[symbol] = (update_id, best_bid, best_ask)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)
        print(f"[adapter error] {text}", file=sys.stderr)


class SimThread:
    """``fastws.sim.Exchange`` on its own loop in a thread, its manual clock following the
    wall clock until :meth:`freeze`."""

    def __init__(self, symbols: list[str], rate: float) -> None:
        self.symbols = symbols
        self.rate = rate
        self.ready = threading.Event()
        self.frozen = threading.Event()
        self.settled = threading.Event()
        self.done = threading.Event()
        self.ex: Any = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.thread = threading.Thread(target=self._main, name="sim", daemon=True)

    def start(self) -> "SimThread":
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("the simulator did not start")
        return self

    def _main(self) -> None:
        try:
            import uvloop
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self.loop = loop
        loop.run_until_complete(self._serve())
        loop.close()

    async def _serve(self) -> None:
        from fastws.sim import Exchange, ManualClock
        clock = ManualClock(int(time.time() * 1000))
        async with Exchange(self.symbols, clock=clock, rate=self.rate) as ex:
            for s in self.symbols:
                ex.market_of(s).liven()
            self.ex = ex
            self.ready.set()
            while not self.frozen.is_set():
                await ex.advance(max(0, int(time.time() * 1000) - ex.now_ms()))
                await asyncio.sleep(0.005)
            # run on to a whole second, so every diff stream (100 ms and 1 s) has flushed what
            # happened, then stop the market (time still passes: pings, timers)
            await ex.advance(-ex.now_ms() % 1000 or 1000)
            ex._hub.frozen = True
            self.settled.set()
            while not self.done.is_set():
                await ex.advance(max(0, int(time.time() * 1000) - ex.now_ms()))
                await asyncio.sleep(0.005)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the simulator's loop (its state is that thread's)."""
        assert self.loop is not None

        async def on_loop() -> Any:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(on_loop(), self.loop).result(60)

    def top(self, symbol: str) -> tuple[int, Optional[float], Optional[float]]:
        def read() -> tuple[int, Optional[float], Optional[float]]:
            bids, asks = self.ex.book(symbol, 1)
            return (self.ex.update_id(symbol), float(bids[0][0]) if bids else None,
                    float(asks[0][0]) if asks else None)
        return self.call(read)  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)


def check(ctx: TryCtx, sim: SimThread, kind: str, seconds: float, settle: float) -> dict:
    """Let the adapter run, freeze the market, wait for it to settle, compare, stop it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not ctx.stop.is_set():
        time.sleep(0.05)
    sim.frozen.set()
    sim.settled.wait(60)
    truth = {s: sim.top(s) for s in ctx.symbols}
    verdict: dict[str, Any] = {}
    if kind == "depth":
        end = time.monotonic() + settle
        while time.monotonic() < end:
            with ctx.lock:
                seen = dict(ctx.last_book)
            if all(_matches(seen.get(s), truth[s]) for s in ctx.symbols):
                break
            time.sleep(0.05)
        with ctx.lock:
            seen = dict(ctx.last_book)
        for s in ctx.symbols:
            got = seen.get(s)
            verdict[s] = {"sim": truth[s], "client": got, "equal": _matches(got, truth[s]),
                          # still catching up when the settle time ran out (not wrong)
                          "behind": bool(got and got[0] is not None and got[0] < truth[s][0])}
    verdict["_stop_at"] = time.monotonic()
    ctx.stop.set()
    return verdict


def _matches(got: Optional[tuple], truth: tuple) -> bool:
    if got is None:
        return False
    uid, bid, ask = got
    if uid is not None and uid != truth[0]:
        return False
    return bool(bid == truth[1] and ask == truth[2])


def try_adapter(module: str, kind: str, seconds: float = 5.0, settle: float = 10.0,
                rate: float = 200.0, symbols: Optional[list[str]] = None,
                flood: int = 0) -> dict:
    """Run adapter ``bench.peers.<module>`` for ``kind``; the findings as a dict.

    ``flood``: extra diff-depth events per second per symbol for the whole run
    (:meth:`fastws.sim.Faults.flood_depth`, genuine events: the book stays exact)."""
    mod = importlib.import_module(f"bench.peers.{module}")
    why = mod.available()
    if why is not None:
        return {"adapter": module, "kind": kind, "unavailable": why}
    if kind not in mod.KINDS:
        return {"adapter": module, "kind": kind, "unavailable": f"{kind!r} not supported"}
    sim = SimThread(symbols or SYMBOLS, rate).start()
    venue = sim.ex.venue
    if flood:
        for s in sim.symbols:
            sim.call(sim.ex.faults.flood_depth, s, flood, seconds + 1.0)
    ctx = TryCtx(venue.stream_url, venue.rest_url, list(sim.symbols))
    result: dict[str, Any] = {}
    def checking() -> None:
        try:
            result.update(check(ctx, sim, kind, seconds, settle))
        except Exception as exc:    # the runner's own failure (its simulator shares the GIL)
            result["_runner_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            result.setdefault("_stop_at", time.monotonic())
            ctx.stop.set()
    checker = threading.Thread(target=checking, daemon=True)
    checker.start()
    t0 = time.monotonic()
    try:
        mod.run(ctx, kind)
    except Exception as exc:
        ctx.error(f"run() raised {type(exc).__name__}: {exc}")
        ctx.stop.set()
    returned = time.monotonic()
    ran = returned - t0
    checker.join(seconds + settle + 30)
    stop_at = result.pop("_stop_at", None)
    runner_error = result.pop("_runner_error", None)
    stopped_in = None if stop_at is None else round(returned - stop_at, 2)
    sim.stop()
    out = {"adapter": module, "name": mod.NAME, "kind": kind, "seconds": round(ran, 2),
           "ticks": ctx.ticks, "books": ctx.books, "errors": ctx.errors, "check": result,
           "pointed": mod.POINTED}
    if runner_error:
        out["runner_error"] = runner_error
    out["returned_after_stop_s"] = stopped_in
    if stopped_in is None or stopped_in > 2.0:
        out["errors"].append(f"run() did not return within 2 s of ctx.stop ({stopped_in})")
    if kind == "depth":
        out["equal"] = bool(result) and all(v["equal"] for v in result.values())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="adapter module in bench/peers, e.g. python_binance")
    ap.add_argument("kind", choices=("tickers", "depth"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds to wait for the books to catch up once the market stops")
    ap.add_argument("--rate", type=float, default=200.0,
                    help="market steps per second per symbol")
    ap.add_argument("--symbols", default=",".join(SYMBOLS),
                    help="comma-separated, upper case (default: %(default)s)")
    ap.add_argument("--flood", type=int, default=0,
                    help="extra diff-depth events per second per symbol (depth flood)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = try_adapter(args.module, args.kind, args.seconds, args.settle, args.rate,
                      [s.strip().upper() for s in args.symbols.split(",") if s.strip()],
                      args.flood)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>12}: {v}")
    sys.stdout.flush()
    os._exit(0)         # some libraries leave non-daemon threads behind


if __name__ == "__main__":
    main()
