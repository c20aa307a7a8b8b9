"""The Cython-hook path end to end, against the no-op picows Cython listener; then depth + book.

Method
------
The simulator (``fastws.sim.Exchange``, uvloop) runs in its own process, pinned to core 0,
and serves ``/firehose/btcusdt@bookTicker?combined=1`` and
``/firehose/btcusdt@depth@100ms?combined=1``: 4096 distinct pre-encoded frames of the
synthetic market (padded with JSON whitespace to one size) written again and again in ~1 MiB
blocks, so the client is the bottleneck. Each client runs in a fresh process of its own,
pinned to core 1, on uvloop; it counts the events its listener saw and its own CPU time,
from the moment the first frame arrived (plus a short warm-up) for ``--seconds``.

The Cython code of the clients is compiled by this script at run time (Cython into a
temporary build directory, like a user's extension: ``cimport fastws.listener``,
``fastws.events``, ``fastws.book``), see :data:`HOOK_PYX`. Clients:

* ``floor``: a ``cdef class`` subclass of picows' ``WSListener`` whose ``on_ws_frame`` only
  counts TEXT frames: no parse, no Python call. What any picows consumer pays at least.
* ``hook`` (bookTicker): :class:`fastws.listener.StreamListener` as ``MarketStream`` builds it
  through ``listener_factory(parser, router, table, owner)``, with a Cython subclass whose
  ``cpdef on_event`` counts ``BookTicker`` events in C: picows frame -> zero-copy parse into
  a typed event -> per-stream stats and id dedup (on, as for users) -> the hook. No Python
  call per message.
* ``callback`` (bookTicker): the default path: the same listener, ``Router`` -> a Python
  callback that counts (``ms.on(BookTicker, cb)``).
* ``hook-book`` (depth): the Cython subclass applies every ``DepthUpdate`` to a
  :class:`fastws.book.OrderBook` through the C entry point ``apply_depth`` (update-id checks
  included) and reads the best bid and ask in C after each one (what a bot does). No
  Python call per message.
* ``python-book`` (depth): the default ``MarketStream`` path: ``Router.depth_hook`` a Python
  function doing what ``MarketStream._on_depth`` does (``BookSync.on_event``: id rules,
  gap/stall/backwards checks, ``OrderBook.apply``), then a Python callback reading
  ``book.best_bid()`` and ``book.best_ask()``.

The firehose repeats its 4096 frames, so the update ids go back once per 4096 depth frames:
the book is then reset from an empty snapshot (``hook-book``: one Python call per 4096
frames; ``python-book``: the gap goes through ``BookSync`` as a resync whose snapshot is
answered at once). Clients are run in interleaved rounds (the order rotates every round);
the figures are medians over rounds, ratios are the median of the per-round ratios (same
run, same load). ``MarketStream`` itself cannot be pointed at ``/firehose/`` paths, so the
listener is connected with ``picows.ws_connect`` and the factory signature ``MarketStream``
uses; subscription handling, reconnects and the snapshot worker are not on the per-message
path and are not measured.

Run: ``python bench/bench_hook.py [--quick] [--seconds 2] [--rounds 5] [--json]``;
``run(quick, out_dir)`` is the entry point for ``bench/bench_peers.py``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

KINDS = {"bookTicker": "btcusdt@bookTicker", "depth": "btcusdt@depth@100ms"}
CLIENTS = {"bookTicker": ["floor", "hook", "callback"],
           "depth": ["floor", "hook-book", "python-book"]}
#: The hook client of each kind (compared with the floor) and the goal in msg/s (issue 12).
HOOK = {"bookTicker": "hook", "depth": "hook-book"}
GOALS = {"bookTicker": 8e6, "depth": 1e6}
MODULE = "fastws_bench_hook"

#: The Cython source compiled at run time (a user's extension would look the same).
HOOK_PYX = r'''
# cython: language_level=3, boundscheck=False, wraparound=False
from libc.stdint cimport int64_t
from picows.picows cimport WSFrame, WSListener, WSMsgType, WSTransport, _make_test_ws_frame
from fastws.book cimport OrderBook
from fastws.events cimport BookTicker, DepthUpdate
from fastws.listener cimport StreamListener


cdef class NoopListener(WSListener):
    """The floor: counts TEXT frames, nothing else."""
    cdef public int64_t n
    cdef public object transport

    cpdef on_ws_connected(self, WSTransport transport):
        self.transport = transport

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.msg_type == WSMsgType.TEXT:
            self.n += 1


cdef class TickerHook(StreamListener):
    """Counts BookTicker events in C; anything else takes the default route."""
    cdef public int64_t n
    cdef public double last_mid

    cpdef on_event(self, object ev):
        if type(ev) is BookTicker:
            self.n += 1
            self.last_mid = ((<BookTicker>ev).best_bid_price + (<BookTicker>ev).best_ask_price) * 0.5
        else:
            StreamListener.on_event(self, ev)


cdef class BookHook(StreamListener):
    """Applies every DepthUpdate to a book in C and reads its best bid/ask in C."""
    cdef public int64_t n
    cdef public int64_t resets
    cdef public OrderBook book
    cdef public double acc

    cpdef on_event(self, object ev):
        cdef DepthUpdate d
        cdef OrderBook b = self.book
        cdef double bp = 0.0, bq = 0.0, ap = 0.0, aq = 0.0
        if type(ev) is not DepthUpdate:
            StreamListener.on_event(self, ev)
            return
        d = <DepthUpdate>ev
        if (d.final_update_id <= b.update_id or d.first_update_id > b.update_id + 1
                or b._stale or not b._has_snapshot):
            # the firehose repeats its frames: ids went back, start again from empty
            b.apply_snapshot(d.first_update_id - 1, [], [])
            self.resets += 1
        b.apply_depth(d)
        if b.c_best_bid(&bp, &bq) and b.c_best_ask(&ap, &aq):
            self.acc += ap - bp
        self.n += 1


def replay(WSListener listener, list payloads, Py_ssize_t reps):
    """Feed ``payloads`` ``reps`` times to ``listener.on_ws_frame`` as picows does (no socket)."""
    cdef WSFrame frame = _make_test_ws_frame(WSMsgType.TEXT, b"{}", True, False)
    cdef bytes p
    cdef Py_ssize_t i
    for i in range(reps):
        for p in payloads:
            frame.payload_ptr = <char*>p
            frame.payload_size = len(p)
            listener.on_ws_frame(None, frame)
'''

SETUP_PY = """
import numpy
from setuptools import Extension, setup
from Cython.Build import cythonize
setup(ext_modules=cythonize([Extension({mod!r}, [{mod!r} + '.pyx'],
                                       include_dirs=[numpy.get_include(), {repo!r}],
                                       extra_compile_args=['-O3'])],
                            include_path=[{repo!r}], quiet=True))
"""


def build_hooks(build_dir: str | os.PathLike[str] | None = None,
                repo: str | os.PathLike[str] = REPO) -> str:
    """Compile :data:`HOOK_PYX` against the fastws tree ``repo`` (once per source and
    fastws .pxd version); returns the directory holding the module."""
    repo = Path(repo).resolve()
    h = hashlib.sha256(HOOK_PYX.encode())
    h.update(str(repo).encode())
    for pxd in sorted((repo / "fastws").glob("*.pxd")):
        h.update(pxd.read_bytes())
    base = Path(build_dir) if build_dir else Path(tempfile.gettempdir()) / "fastws-bench-hook"
    d = base / h.hexdigest()[:16]
    if any(d.glob(MODULE + "*.so")) or any(d.glob(MODULE + "*.pyd")):
        return str(d)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=d.name + ".", dir=base))   # built apart, then moved
    (tmp / (MODULE + ".pyx")).write_text(HOOK_PYX)
    (tmp / "setup.py").write_text(SETUP_PY.format(mod=MODULE, repo=str(repo)))
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    res = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=tmp,
                         env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"building the hook listeners failed:\n{res.stdout}\n{res.stderr}")
    try:
        tmp.rename(d)
    except OSError:                   # another run built it meanwhile: use theirs
        return str(d) if any(d.glob(MODULE + "*")) else str(tmp)
    return str(d)


# -- processes -----------------------------------------------------------------------------------


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _server(q: Any, stop: Any, cpu: int | None) -> None:
    _pin(cpu)
    import asyncio

    import uvloop

    from fastws.sim import Exchange

    async def main() -> None:
        async with Exchange(["BTCUSDT"], rest=False) as ex:
            q.put(ex.port)
            while not stop.is_set():
                await asyncio.sleep(0.05)

    uvloop.run(main())


class _Owner:
    """The connection side of a StreamListener, reduced to counters (no reconnects here)."""

    def __init__(self) -> None:
        self.bad = 0

    def on_connected(self, transport: Any) -> None: ...
    def on_disconnected(self) -> None: ...
    def on_control(self, ev: Any) -> None: ...
    def on_server_shutdown(self, ev: Any) -> None: ...
    def on_ping(self) -> None: ...
    def on_close_frame(self, code: int, reason: str) -> None: ...
    def on_first_message(self) -> None: ...
    def on_unsubscribed(self, stream: str, count: int) -> None: ...

    def on_bad_frame(self, kind: str, excerpt: bytes, exc: Any) -> None:
        self.bad += 1

    def on_message_too_big(self, size: int) -> None:
        self.bad += 1


def _make(name: str, kind: str) -> tuple[Any, Any]:
    """(listener factory for ws_connect, counter() -> events counted so far)."""
    import fastws_bench_hook as hk  # type: ignore[import-not-found]

    from fastws.book import OrderBook
    from fastws.events import BookTicker, DepthUpdate
    from fastws.listener import Router, StreamTable
    from fastws.parser import Parser
    from fastws.sync import BookSync

    if name == "floor":
        box: list[Any] = []

        def floor() -> Any:
            box.append(hk.NoopListener())
            return box[0]
        return floor, lambda: box[0].n if box else 0

    router = Router()
    table = StreamTable()
    owner = _Owner()
    made: list[Any] = []
    count = [0]
    if name == "hook":
        cls: Any = hk.TickerHook
        counter = lambda: made[0].n if made else 0  # noqa: E731
    elif name == "hook-book":
        cls = hk.BookHook
        counter = lambda: made[0].n if made else 0  # noqa: E731
    elif name in ("callback", "python-book"):
        import logging

        from fastws.listener import StreamListener as cls
        from fastws.market_stream import MarketStream
        from fastws.venues import BINANCE_SPOT

        # the per-message path of a real MarketStream (never started: no connection, no
        # snapshot worker): its Router, its depth hook (_on_depth -> BookSync.on_event ->
        # OrderBook.apply) and callbacks registered with ms.on()
        ms = MarketStream([KINDS[kind]], venue=BINANCE_SPOT)
        router = ms.router
        if name == "callback":
            @ms.on(BookTicker)
            def on_ticker(ev: Any) -> None:
                count[0] += 1
        else:
            # the firehose's id wrap is a "backwards" resync every 4096 frames: not worth a line
            logging.getLogger("fastws.sync").setLevel(logging.ERROR)
            sync = ms.syncs["BTCUSDT"]
            book = ms.books["BTCUSDT"]
            far = ([["0.01", "1"]], [["10000000.00", "1"]])   # two far levels: the tick grid

            def snapshot_now(symbol: str) -> None:   # the snapshot "arrives" at once
                first = sync.first_buffered_id
                sync.on_snapshot(first - 1 if first is not None else 0, *far)
            ms._want_snapshot = snapshot_now        # type: ignore[method-assign]

            @ms.on(DepthUpdate)
            def on_update(ev: Any) -> None:       # the user's callback: read the top of the book
                book.best_bid()
                book.best_ask()
                count[0] += 1
        counter = lambda: count[0]  # noqa: E731
    else:
        raise ValueError(name)

    def factory() -> Any:
        lst = cls(Parser("spot"), router, table, owner)
        if name == "hook-book":
            lst.book = OrderBook("BTCUSDT", tick_size=0.01)
        made.append(lst)
        return lst
    return factory, counter


def _client(name: str, kind: str, url: str, seconds: float, build: str, q: Any,
            cpu: int | None, repo: str) -> None:
    _pin(cpu)
    sys.path[:0] = [build, repo]
    import asyncio

    import uvloop
    from picows import ws_connect

    async def main() -> dict[str, Any]:
        factory, counter = _make(name, kind)
        tr, lst = await ws_connect(factory, url, enable_auto_pong=False)
        while counter() == 0:
            await asyncio.sleep(0.01)
        await asyncio.sleep(min(0.2, seconds / 4))          # warm-up
        n0, t0, c0 = counter(), time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        n, t, c = counter(), time.perf_counter(), time.process_time()
        extra: dict[str, Any] = {}
        for attr in ("parse_errors", "duplicates", "resets"):
            if hasattr(lst, attr):
                extra[attr] = getattr(lst, attr)
        if name == "hook-book":
            extra["book_synced"] = lst.book.is_synced
        tr.disconnect()
        return {"client": name, "kind": kind, "messages": n - n0, "seconds": t - t0,
                "msgs_per_s": (n - n0) / (t - t0),
                "cpu_ns_per_msg": (c - c0) / max(n - n0, 1) * 1e9, **extra}

    q.put(uvloop.run(main()))


def _one(ctx: Any, port: int, name: str, kind: str, seconds: float, build: str,
         cpu: int | None, repo: str) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/firehose/{KINDS[kind]}?combined=1"
    q = ctx.Queue()
    p = ctx.Process(target=_client, args=(name, kind, url, seconds, build, q, cpu, repo))
    p.start()
    try:
        return q.get(timeout=seconds + 60)  # type: ignore[no-any-return]
    finally:
        p.join(10)


# -- in-process replay (profiling) ----------------------------------------------------------------


def firehose_payloads(kind: str, n: int = 4096) -> list[bytes]:
    """The payloads the firehose serves for ``kind`` (same market, padding and envelope)."""
    from fastws.sim.firehose import build_block
    from fastws.sim.market import SymbolMarket, default_spec

    market = SymbolMarket(default_spec("BTCUSDT"), "spot", seed=1, start_ms=1_700_000_000_000)
    block, size = build_block(market, KINDS[kind], n, True)
    out = []
    for i in range(n):
        f = block[i * size:(i + 1) * size]
        ln = f[1] & 0x7F
        out.append(f[4:] if ln == 126 else f[10:] if ln == 127 else f[2:])
    return out


def replay(name: str, kind: str, reps: int, build: str | None = None) -> dict[str, Any]:
    """Run ``reps`` passes of the firehose payloads through one client's listener in this
    process (no socket, picows' frame object refilled per payload); ns per message.
    ``FASTWS_BENCH_TREE`` names another fastws tree to load instead of this one."""
    tree = os.environ.get("FASTWS_BENCH_TREE")
    if tree:
        sys.path.insert(0, str(Path(tree).resolve()))
    sys.path.insert(0, build or build_hooks(None, tree or REPO))
    import fastws_bench_hook as hk

    import logging

    sync_log = logging.getLogger("fastws.sync")
    level = sync_log.level
    try:
        factory, counter = _make(name, kind)
        lst = factory()
        payloads = firehose_payloads(kind)
        hk.replay(lst, payloads, 1)                  # warm-up: book filled, caches hot
        n0 = counter()
        t0 = time.perf_counter()
        hk.replay(lst, payloads, reps)
        dt = time.perf_counter() - t0
        n = counter() - n0
    finally:
        sync_log.setLevel(level)                     # in process: leave logging as it was
    if name == "floor":
        n = len(payloads) * reps
    return {"client": name, "kind": kind, "messages": n, "ns_per_msg": dt / max(n, 1) * 1e9,
            "payload_bytes": len(payloads[0])}


# -- the run --------------------------------------------------------------------------------------


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def summarise(rows: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """Medians per (kind, client) and the median of per-round ratios to the floor."""
    out: dict[str, Any] = {}
    for kind in kinds:
        per: dict[str, Any] = {}
        mine = [r for r in rows if r["kind"] == kind]
        for client in CLIENTS[kind]:
            rs = [r for r in mine if r["client"] == client]
            if not rs:
                continue
            per[client] = {"msgs_per_s": _median([r["msgs_per_s"] for r in rs]),
                           "cpu_ns_per_msg": _median([r["cpu_ns_per_msg"] for r in rs]),
                           "rounds": len(rs)}
        rounds = sorted({r["round"] for r in mine})
        for client in CLIENTS[kind]:
            if client == "floor" or client not in per:
                continue
            rate, cpu = [], []
            for rd in rounds:
                a = [r for r in mine if r["round"] == rd and r["client"] == client]
                f = [r for r in mine if r["round"] == rd and r["client"] == "floor"]
                if a and f and a[0]["messages"] > 0 and f[0]["messages"] > 0:
                    rate.append(a[0]["msgs_per_s"] / f[0]["msgs_per_s"])
                    cpu.append(a[0]["cpu_ns_per_msg"] / f[0]["cpu_ns_per_msg"])
            per[client]["rate_vs_floor"] = _median(rate)
            per[client]["cpu_vs_floor"] = _median(cpu)
        hook = per.get(HOOK[kind])
        if hook is not None:
            per["goal"] = {"msgs_per_s": GOALS[kind],
                           "met": hook["msgs_per_s"] >= GOALS[kind],
                           # what one free core would do at the hook's CPU cost
                           "free_core_msgs_per_s": 1e9 / hook["cpu_ns_per_msg"]}
        out[kind] = per
    return out


def compare(rows: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """Current tree vs baseline per (kind, client): medians of per-round ratios."""
    out: dict[str, Any] = {}
    for kind in kinds:
        for client in CLIENTS[kind]:
            rate, cpu = [], []
            for rd in sorted({r["round"] for r in rows}):
                a = [r for r in rows if r["round"] == rd and r["kind"] == kind and r["client"] == client]
                b = [r for r in rows if r["round"] == rd and r["kind"] == kind
                     and r["client"] == client + "@baseline"]
                if a and b and a[0]["messages"] > 0 and b[0]["messages"] > 0:
                    rate.append(a[0]["msgs_per_s"] / b[0]["msgs_per_s"])
                    cpu.append(b[0]["cpu_ns_per_msg"] / a[0]["cpu_ns_per_msg"])
            if rate:
                out[f"{kind}/{client}"] = {"rate_x": _median(rate), "cpu_x": _median(cpu),
                                           "rounds": len(rate)}
    return out


def compare_markdown(cmp: dict[str, Any], baseline: str) -> str:
    lines = [f"Against the baseline tree `{baseline}` in the same rounds (medians of per-round "
             "ratios; > 1 is faster / cheaper now):", "",
             "| frames/client | msg/s now / before | CPU per msg before / now |", "|---|---:|---:|"]
    for key, r in cmp.items():
        lines.append(f"| {key} | {r['rate_x']:.2f}x | {r['cpu_x']:.2f}x |")
    return "\n".join(lines) + "\n"


def markdown(summary: dict[str, Any], seconds: float, rounds: int) -> str:
    lines = [f"### Cython hook path (`bench/bench_hook.py`, {rounds} interleaved rounds of "
             f"{seconds:g} s, medians)", "",
             "| frames | client | M msg/s | CPU ns/msg | msg/s vs floor | CPU vs floor |",
             "|---|---|---:|---:|---:|---:|"]
    for kind, per in summary.items():
        for client in CLIENTS[kind]:
            r = per.get(client)
            if r is None:
                continue
            vs = f"{r['rate_vs_floor']:.2f}x" if "rate_vs_floor" in r else "–"
            cv = f"{r['cpu_vs_floor']:.2f}x" if "cpu_vs_floor" in r else "–"
            name = f"**{client}**" if client == HOOK[kind] else client
            lines.append(f"| {kind} | {name} | {r['msgs_per_s'] / 1e6:.2f} | "
                         f"{r['cpu_ns_per_msg']:.0f} | {vs} | {cv} |")
    lines.append("")
    for kind, per in summary.items():
        g = per.get("goal")
        if g:
            lines.append(f"- {kind}: goal {g['msgs_per_s'] / 1e6:g} M msg/s "
                         f"{'met' if g['met'] else 'NOT met'} (hook path "
                         f"{per[HOOK[kind]]['msgs_per_s'] / 1e6:.2f} M msg/s measured; "
                         f"{g['free_core_msgs_per_s'] / 1e6:.2f} M msg/s at its CPU cost "
                         "on a free core)")
    return "\n".join(lines) + "\n"


def run(quick: bool = False, out_dir: str | None = None, *, seconds: float | None = None,
        rounds: int | None = None, kinds: list[str] | None = None,
        clients: list[str] | None = None, baseline: str | None = None,
        log: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns ``{"rows", "summary", "markdown", ...}``.

    ``quick``: 3 rounds of 0.5 s (about half a minute); else 5 rounds of 2 s. With
    ``out_dir`` the markdown and JSON are written there (``hook.md``, ``hook.json``) and the
    compiled listeners are kept in ``out_dir/build``. ``baseline``: another fastws source
    tree (built in place, e.g. an older commit): every client also runs against it in the
    same rounds, as ``<client>@baseline``, and ``summary["baseline"]`` gives the ratios.
    """
    seconds = seconds if seconds is not None else (0.5 if quick else 2.0)
    rounds = rounds if rounds is not None else (3 if quick else 5)
    kinds = kinds or list(KINDS)
    builds = {"": (build_hooks(Path(out_dir) / "build" if out_dir else None), str(REPO))}
    if baseline:
        builds["@baseline"] = (build_hooks(Path(out_dir) / "build" if out_dir else None, baseline),
                               str(Path(baseline).resolve()))
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)      # spawned processes import this module by its name
    ctx = mp.get_context("spawn")
    ncpu = len(os.sched_getaffinity(0))
    srv_cpu, cli_cpu = (0, 1) if ncpu >= 2 else (None, None)
    stop = ctx.Event()
    q = ctx.Queue()
    server = ctx.Process(target=_server, args=(q, stop, srv_cpu))
    server.start()
    rows: list[dict[str, Any]] = []
    try:
        port = q.get(timeout=60)
        for rd in range(rounds):
            for kind in kinds:
                names = [c for c in CLIENTS[kind] if clients is None or c in clients]
                k = rd % len(names)
                for name in names[k:] + names[:k]:
                    tags = list(builds) if rd % 2 == 0 else list(builds)[::-1]
                    for tag in tags:
                        build, repo = builds[tag]
                        r = _one(ctx, port, name, kind, seconds, build, cli_cpu, repo)
                        r["round"] = rd
                        r["tree"] = tag or "current"
                        if tag:
                            r["client"] = name + tag
                        rows.append(r)
                        if log:
                            print(f"round {rd} {kind:10s} {r['client']:21s} "
                                  f"{r['msgs_per_s'] / 1e6:6.2f} M msg/s "
                                  f"{r['cpu_ns_per_msg']:6.0f} ns CPU/msg", file=sys.stderr, flush=True)
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
    summary = summarise([r for r in rows if r["tree"] == "current"], kinds)
    md = markdown(summary, seconds, rounds)
    if baseline:
        summary["baseline"] = compare(rows, kinds)
        md += "\n" + compare_markdown(summary["baseline"], baseline)
    result = {"seconds": seconds, "rounds": rounds, "pinned": srv_cpu is not None,
              "load_average": os.getloadavg(), "rows": rows, "summary": summary, "markdown": md}
    if out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "hook.md").write_text(md)
        (Path(out_dir) / "hook.json").write_text(json.dumps(
            {k: v for k, v in result.items() if k != "markdown"}, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fastws Cython-hook path benchmark (see the docstring)")
    ap.add_argument("--quick", action="store_true", help="3 rounds of 0.5 s")
    ap.add_argument("--seconds", type=float, default=None, help="per client and round")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--out", default=None, help="write hook.md and hook.json here")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="another fastws tree (built in place): run every client against it too")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--replay", metavar="CLIENT", default=None,
                    help="in-process replay of one client's listener (for callgrind/perf)")
    ap.add_argument("--reps", type=int, default=20, help="passes over the 4096 frames (--replay)")
    args = ap.parse_args(argv)
    if args.replay:
        r = replay(args.replay, args.kinds[0], args.reps)
        print(json.dumps(r) if args.json else
              f"{r['kind']} {r['client']}: {r['ns_per_msg']:.0f} ns/msg over {r['messages']} messages")
        return 0
    res = run(args.quick, args.out, seconds=args.seconds, rounds=args.rounds, kinds=args.kinds,
              baseline=args.baseline, log=not args.json)
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "markdown"}, indent=2))
    else:
        print(res["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
