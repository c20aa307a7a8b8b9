"""The peers benchmark's machinery: feed server process, client worker processes, measures.

* :func:`serve` runs ``fastws.sim.Exchange`` (uvloop) in its own process, pinned, driven by
  commands over a pipe (:class:`Server`): set the feed (:class:`fastws.sim.feed.FeedSpec`),
  start a replay, pause the feed, report counters.
* :func:`run_client` starts one adapter (``bench/peers/<module>.py``, see
  ``bench/peers/__init__.py``) in a fresh ``spawn`` process pinned to the client core, with a
  :class:`Ctx`. The worker waits for the first message, lets ``warmup`` seconds pass, measures
  ``seconds`` (messages, the process's CPU time from ``os.times()`` (every thread of the
  library included), wall time), then the harness pauses the feed, the worker waits until the
  callbacks stop (the books have caught up with the last update sent), checks the books at the
  end, sets ``ctx.stop`` and returns its results. A worker that does not answer in time is
  killed and reported.
* :class:`Reference` answers "what were the best bid and ask right after update id u" for the
  depth feed (its cycle) or a replayed capture (a plain dict book built here).
"""
from __future__ import annotations

import importlib
import json
import math
import multiprocessing as mp
import os
import sys
import threading
import time
import traceback
from array import array
from dataclasses import dataclass, field
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
LATENCY_POINTS = 400          # quantiles kept per latency run, for the CDF plot


# -- latency statistics ---------------------------------------------------------------------------

def percentile(sorted_vals: "list[float] | array[Any]", q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank (NaN if empty)."""
    n = len(sorted_vals)
    if not n:
        return math.nan
    k = min(n - 1, max(0, math.ceil(q * n) - 1))
    return float(sorted_vals[k])


def latency_summary(ns: "list[int] | array[Any]") -> dict[str, Any]:
    """p50 / p99 / p99.9 / max in microseconds and a quantile sketch for a CDF."""
    vals = sorted(ns)
    n = len(vals)
    out: dict[str, Any] = {"count": n}
    for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)):
        out[name + "_us"] = percentile(vals, q) / 1e3
    pts = min(n, LATENCY_POINTS)
    out["cdf_us"] = [percentile(vals, (i + 1) / pts) / 1e3 for i in range(pts)]
    return out


# -- book reference -------------------------------------------------------------------------------

class Reference:
    """Best bid/ask of the true book right after each update id, per symbol.

    ``kind="cycle"``: the depth feed; ids ``BASE + k * L + rel`` map to ``rel`` (lists
    ``bid[rel]``, ``ask[rel]``, NaN where no update ends). ``kind="map"``: a replayed capture,
    ``{update id: (bid, ask)}``.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self.kind = data["kind"]
        self.base = int(data.get("base", 0))
        self.symbols: dict[str, Any] = {}
        for sym, d in data["symbols"].items():
            if self.kind == "cycle":
                self.symbols[sym] = (int(d["length"]), d["bid"], d["ask"])
            else:
                self.symbols[sym] = {int(k): tuple(v) for k, v in d.items()}
        self.last: dict[str, int] = {k: int(v) for k, v in data.get("last", {}).items()}

    def lookup(self, symbol: str, update_id: int) -> Optional[tuple[float, float]]:
        d = self.symbols.get(symbol)
        if d is None:
            return None
        if self.kind == "cycle":
            L, bid, ask = d
            if update_id <= self.base:
                return None
            rel = (update_id - self.base - 1) % L + 1
            b = bid[rel]
            if b is None or b != b:
                return None
            return b, ask[rel]
        r = d.get(update_id)
        return (r[0], r[1]) if r is not None else None

    @staticmethod
    def from_cycles(cycles: dict[str, Any], base: int) -> dict[str, Any]:
        """JSON-able data of the depth feed's cycles (``fastws.sim.feed.DepthCycle``)."""
        out = {}
        for sym, c in cycles.items():
            out[sym] = {"length": c.length,
                        "bid": [None if x != x else float(x) for x in c.ref_bid],
                        "ask": [None if x != x else float(x) for x in c.ref_ask]}
        return {"kind": "cycle", "base": base, "symbols": out}

    @staticmethod
    def from_capture(paths: list[str]) -> dict[str, Any]:
        """Rebuild the capture's book (snapshot, then every later diff) with a dict per side."""
        from fastws.captures import RecordKind, read_capture
        import orjson
        snaps: dict[str, dict] = {}
        events: list[dict] = []
        pending: Optional[dict] = None
        for rec in read_capture(paths):
            if rec.kind is RecordKind.SNAPSHOT:
                pending = orjson.loads(rec.payload)
                continue
            if rec.kind is not RecordKind.MESSAGE:
                continue
            msg = orjson.loads(rec.payload)
            data = msg.get("data", msg) if isinstance(msg, dict) else None
            if not isinstance(data, dict) or data.get("e") != "depthUpdate":
                continue
            if pending is not None and data["s"] not in snaps:
                snaps[data["s"]] = pending       # the capture's snapshot (the first one)
            events.append(data)
        books: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
        last_id: dict[str, int] = {}
        refs: dict[str, dict[int, tuple[float, float]]] = {}
        for sym, snap in snaps.items():
            books[sym] = ({float(p): float(q) for p, q in snap["bids"]},
                          {float(p): float(q) for p, q in snap["asks"]})
            last_id[sym] = int(snap["lastUpdateId"])
            refs[sym] = {}
        # every update after the snapshot's id, wherever the snapshot sits in the file
        for data in events:
            sym = data["s"]
            if sym not in books or data["u"] <= last_id[sym]:
                continue
            bids, asks = books[sym]
            for side, levels in ((bids, data["b"]), (asks, data["a"])):
                for p, q in levels:
                    fp, fq = float(p), float(q)
                    if fq == 0.0:
                        side.pop(fp, None)
                    else:
                        side[fp] = fq
            last_id[sym] = data["u"]
            refs[sym][data["u"]] = (max(bids) if bids else math.nan,
                                    min(asks) if asks else math.nan)
        return {"kind": "map", "symbols": {s: {str(k): list(v) for k, v in r.items()}
                                          for s, r in refs.items()},
                "last": last_id}


# -- the context an adapter gets ------------------------------------------------------------------

class Ctx:
    """What an adapter's ``run(ctx, kind)`` gets (see bench/peers/__init__.py)."""

    def __init__(self, ws_base: str, rest_base: str, symbols: list[str],
                 reference: Optional[Reference] = None, latency: bool = False) -> None:
        self.ws_base = ws_base
        self.rest_base = rest_base
        self.symbols = list(symbols)
        self.stop = threading.Event()
        self.ticks = 0
        self.books = 0
        self.errors: list[str] = []
        self.first_at = 0.0                 # perf_counter of the first tick/book
        self.last_at = 0.0
        self._latency = latency
        self._lat_on = False
        self.lat: "array[int]" = array("q")
        self._ref = reference
        self.checked = 0                    # book callbacks compared with the reference
        self.matched = 0
        self.no_id = 0                      # book callbacks without an update id
        self.synced_at: dict[str, float] = {}
        self.last_book: dict[str, tuple[Optional[int], Optional[float], Optional[float]]] = {}

    def tick(self, update_id: int) -> None:
        self.ticks += 1
        t = time.perf_counter()
        if not self.first_at:
            self.first_at = t
        self.last_at = t
        if self._lat_on:
            self.lat.append(time.monotonic_ns() - update_id)

    def book(self, symbol: str, update_id: Optional[int], best_bid: Optional[float],
             best_ask: Optional[float]) -> None:
        self.books += 1
        t = time.perf_counter()
        if not self.first_at:
            self.first_at = t
        self.last_at = t
        self.last_book[symbol] = (update_id, best_bid, best_ask)
        ref = self._ref
        if ref is None:
            return
        if update_id is None:
            self.no_id += 1
            if symbol not in self.synced_at and best_bid is not None:
                self.synced_at[symbol] = t
            return
        r = ref.lookup(symbol, int(update_id))
        if r is None:
            return
        self.checked += 1
        if best_bid is not None and best_ask is not None and _close(best_bid, r[0]) \
                and _close(best_ask, r[1]):
            self.matched += 1
            if symbol not in self.synced_at:
                self.synced_at[symbol] = t

    def error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(str(text)[:500])


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))


# -- the worker process ---------------------------------------------------------------------------

@dataclass
class Job:
    """One client run: which adapter, which scenario, where the feed is."""

    module: str
    kind: str                       # "tickers" or "depth"
    scenario: str
    ws_base: str
    rest_base: str
    symbols: list[str]
    seconds: float
    warmup: float = 0.3
    first_timeout: float = 20.0     # seconds to the first message before "no messages"
    drain_timeout: float = 5.0
    sync_timeout: float = 15.0      # depth: seconds after the first callback for every book
    wait_sync: bool = False         # measure only once every book has synced
    cpu: Optional[int] = None
    reference: Optional[dict[str, Any]] = None
    latency: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(job: Job, q: Any, window_done: Any, paused: Any) -> None:
    if job.cpu is not None:
        try:
            os.sched_setaffinity(0, {job.cpu})
        except OSError:
            pass
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    res: dict[str, Any] = {"module": job.module, "scenario": job.scenario, "errors": []}
    try:
        mod = importlib.import_module(f"bench.peers.{job.module}")
    except Exception as exc:             # noqa: BLE001 - reported, not raised
        res["errors"].append(f"import failed: {exc!r}")
        q.put(res)
        return
    ref = Reference(job.reference) if job.reference else None
    ctx = Ctx(job.ws_base, job.rest_base, job.symbols, ref, job.latency)
    t_start = time.perf_counter()
    res["rss_start_mb"] = _rss_mb()

    def control() -> None:
        try:
            deadline = t_start + job.first_timeout
            while not ctx.first_at and time.perf_counter() < deadline and not ctx.stop.is_set():
                time.sleep(0.01)
            if not ctx.first_at:
                if not ctx.stop.is_set():
                    ctx.error(f"no messages within {job.first_timeout:.0f} s")
                window_done.set()
                return
            res["first_message_s"] = ctx.first_at - t_start
            if ref is not None and job.wait_sync:
                # depth: measure once every book is synced (or say that one never was)
                deadline = time.perf_counter() + job.sync_timeout
                while len(ctx.synced_at) < len(job.symbols) and time.perf_counter() < deadline:
                    time.sleep(0.01)
            time.sleep(job.warmup)
            n0, b0, c0, w0 = ctx.ticks, ctx.books, _cpu(), time.perf_counter()
            ctx._lat_on = job.latency
            time.sleep(job.seconds)
            ctx._lat_on = False
            n1, b1, c1, w1 = ctx.ticks, ctx.books, _cpu(), time.perf_counter()
            res.update(window_s=w1 - w0, cpu_s=c1 - c0, ticks=n1 - n0, book_updates=b1 - b0)
            if n1 == n0 and b1 == b0:
                ctx.error(f"nothing in the measured window ({n0 + b0} callbacks before it: "
                          "the client stopped delivering)")
            window_done.set()
            # the harness pauses the feed; wait until the callbacks stop (caught up)
            paused.wait(10)
            t_end = time.perf_counter() + job.drain_timeout
            while time.perf_counter() < t_end:
                seen = ctx.ticks + ctx.books
                time.sleep(0.25)
                if ctx.ticks + ctx.books == seen:
                    break
            else:
                res["drain_timeout"] = True
        except Exception:                # noqa: BLE001
            ctx.error("harness control thread: " + traceback.format_exc(limit=3))
            window_done.set()
        finally:
            ctx.stop.set()

    th = threading.Thread(target=control, name="bench-control", daemon=True)
    th.start()
    try:
        mod.run(ctx, job.kind)
        if not ctx.stop.is_set():
            ctx.error("run() returned before ctx.stop was set (read loop died?)")
            ctx.stop.set()
    except BaseException as exc:          # noqa: BLE001 - what broke is a result
        ctx.error(f"run() raised {type(exc).__name__}: {exc}"[:500])
        ctx.stop.set()
    th.join(job.drain_timeout + job.seconds + job.first_timeout + job.sync_timeout + 15)
    res["errors"] = ctx.errors
    res["rss_end_mb"] = _rss_mb()
    res["total_ticks"] = ctx.ticks
    res["total_books"] = ctx.books
    if job.latency:
        res["latency"] = latency_summary(ctx.lat)
    if ref is not None:
        res["checked"], res["matched"], res["no_id"] = ctx.checked, ctx.matched, ctx.no_id
        res["synced_s"] = {s: t - t_start for s, t in ctx.synced_at.items()}
        res["last_book"] = {s: list(v) for s, v in ctx.last_book.items()}
    q.put(res)


def run_client(job: Job, server: "Server", timeout: float) -> dict[str, Any]:
    """Run ``job`` in a fresh process; pause the feed after its window, resume it after.

    Never raises for a broken client: the result's ``errors`` says what broke.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    window_done, paused = ctx.Event(), ctx.Event()
    before = server.call("stats")
    p = ctx.Process(target=_worker, args=(job, q, window_done, paused), daemon=True)
    t0 = time.monotonic()
    p.start()
    res: Optional[dict[str, Any]] = None
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if window_done.wait(0.05):
            break
        if not p.is_alive():
            break
    server.call("pause")
    stats = server.call("stats")
    paused.set()
    while time.monotonic() < deadline:
        try:
            res = q.get(timeout=0.1)
            break
        except Exception:                       # noqa: BLE001 - queue.Empty
            if not p.is_alive() and q.empty():
                break
    if res is None:
        code = p.exitcode
        if p.is_alive():
            p.kill()
            res = {"module": job.module, "scenario": job.scenario,
                   "errors": [f"hung: killed after {timeout:.0f} s"]}
        else:
            res = {"module": job.module, "scenario": job.scenario,
                   "errors": [f"worker died (exit code {code})"]}
    p.join(5)
    if p.is_alive():
        p.kill()
    after = server.call("stats")
    server.call("resume")
    res["snapshots"] = after["snapshots"] - before["snapshots"]
    res["last_ids"] = stats.get("last_ids", {})
    return res


# -- the feed server ------------------------------------------------------------------------------

def serve(conn: Any, symbols: list[str], cpu: Optional[int]) -> None:
    """Server process: an Exchange answering commands on ``conn`` until ``quit``."""
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass
    sys.path.insert(0, ROOT)
    import asyncio

    import uvloop

    from fastws.sim import Exchange
    from fastws.sim.feed import BASE_ID, FeedSpec

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        state: dict[str, Any] = {"ex": None}

        async def open_ex(**kw: Any) -> Any:
            old = state["ex"]
            if old is not None:
                await old.close(shutdown_notice=False)
            ex = Exchange(**kw)
            await ex.start()
            state["ex"] = ex
            return ex

        def ports(ex: Any) -> dict[str, Any]:
            return {"ws_base": f"ws://127.0.0.1:{ex.port}",
                    "rest_base": f"http://127.0.0.1:{ex.rest_port}", "symbols": ex.symbols}

        async def handle(cmd: str, arg: Any) -> Any:
            ex = state["ex"]
            if cmd == "feed":
                if ex is None or ex.replay is not None:
                    ex = await open_ex(symbols=symbols, seed=3)
                feed = ex.set_feed(FeedSpec(**arg))
                out = ports(ex)
                if feed.cycles:
                    out["reference"] = Reference.from_cycles(feed.cycles, BASE_ID)
                return out
            if cmd == "replay":
                ex = await open_ex(replay=arg["paths"], replay_speed=0.0)
                ex.replay.aliases = arg.get("aliases", {})
                return ports(ex)
            if cmd == "pause":
                if ex is not None and ex.feed is not None:
                    ex.feed.pause()
                return None
            if cmd == "resume":
                if ex is not None and ex.feed is not None:
                    ex.feed.resume()
                return None
            if cmd == "stats":
                if ex is None:
                    return {"snapshots": 0}
                out = {"snapshots": ex.snapshots_served}
                if ex.feed is not None:
                    out.update(ex.feed.stats())
                    out["snapshots"] = ex.snapshots_served
                elif ex.replay is not None:
                    out["replayed"] = ex.replay.sent
                return out
            if cmd == "quit":
                done.set()
                return None
            raise ValueError(f"unknown command {cmd!r}")

        def readable() -> None:
            try:
                cmd, arg = conn.recv()
            except EOFError:
                done.set()
                return

            async def answer() -> None:
                try:
                    conn.send(("ok", await handle(cmd, arg)))
                except Exception as exc:         # noqa: BLE001 - sent back to the harness
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
            loop.create_task(answer())

        loop.add_reader(conn.fileno(), readable)
        conn.send(("ok", "ready"))
        await done.wait()
        if state["ex"] is not None:
            await state["ex"].close(shutdown_notice=False)

    uvloop.run(main())


class Server:
    """The feed server process and its command pipe."""

    def __init__(self, symbols: list[str], cpu: Optional[int]) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, symbols, cpu), daemon=True)
        self.proc.start()
        if not self._conn.poll(60):
            raise RuntimeError("the feed server did not start within 60 s")
        self._conn.recv()
        self._lock = threading.Lock()

    def call(self, cmd: str, arg: Any = None, timeout: float = 60.0) -> Any:
        with self._lock:
            self._conn.send((cmd, arg))
            if not self._conn.poll(timeout):
                raise RuntimeError(f"the feed server did not answer {cmd!r} in {timeout:.0f} s")
            status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"feed server: {cmd}: {value}")
        return value

    def close(self) -> None:
        try:
            self.call("quit", timeout=10)
        except Exception:                       # noqa: BLE001
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)
