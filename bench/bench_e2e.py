"""End to end: simulator firehose -> client -> parse -> (book) -> callback, against other clients.

Method
------
The simulator (``fastws.sim.Exchange``, uvloop) runs in its own process and serves
``/firehose/btcusdt@bookTicker?combined=1`` (112-byte payload + envelope) and
``/firehose/btcusdt@depth@100ms?combined=1`` (diff-depth frames of the synthetic market): the
same pre-encoded frames written in ~1 MiB blocks, so the *client* is the bottleneck. Each
client runs in a fresh process of its own (one library per process, like msgspec's
benchmarks), on uvloop, for ``--seconds``; it counts the frames its callback received and
its own CPU time. Clients:

* ``picows-noop``: a picows client whose Python ``on_ws_frame`` only counts frames: the floor
  any Python consumer of picows pays (no parse, no callback).
* ``fastws``: the fastws per-frame path exactly as ``MarketStream`` runs it: the Cython
  :class:`fastws.listener.StreamListener` (zero-copy parse, per-stream stats, router) calling a
  Python callback that counts events; for depth frames the router's depth hook applies each
  event to a :class:`fastws.book.OrderBook` first (the firehose repeats its block of frames,
  so when the ids go back the book is reset from an empty snapshot; id deduplication is off
  for the same reason: ``StreamTable.dedupe = False``).
* ``picows+orjson``: picows, ``orjson.loads(frame.get_payload_as_bytes())``, callback(dict).
* ``aiohttp+orjson``: ``async for msg in ws``: ``orjson.loads(msg.data)``, callback(dict).
* ``websockets+orjson``: ``async for msg in ws``: ``orjson.loads(msg)``, callback(dict).

The other clients do not keep a book on depth frames (they would need a Python one), which
favours them. Figures are frames/s and client CPU per frame; ratios are computed in the same
run. Then the WS API ``ping`` round trip: fastws (:class:`fastws.api_client.ApiClient`,
request bookkeeping and weight accounting included) against a raw picows client that sends
the same JSON and resolves a future on the answer; both with client and server pinned to one
core (DESIGN.md: on separate cores this VM adds ~60 us of wake-up to each round trip).

Run: ``python bench/bench_e2e.py`` (``--seconds 2``, ``--json`` for machine-readable output).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

KINDS = {"bookTicker": "btcusdt@bookTicker", "depth": "btcusdt@depth@100ms"}
CLIENTS = ["picows-noop", "fastws", "picows+orjson", "aiohttp+orjson", "websockets+orjson"]


def _server(q: Any, stop: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvloop

    from fastws.sim import Exchange

    async def main() -> None:
        async with Exchange(["BTCUSDT"], rest=False) as ex:
            q.put(ex.port)
            while not stop.is_set():
                await asyncio.sleep(0.05)

    uvloop.run(main())


# -- throughput clients (each runs in its own process) -------------------------------------------


class _Window:
    """Measures frames, wall time and CPU time from the moment the connection is up."""

    def __init__(self, n0: int = 0) -> None:
        self.n0 = n0
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()

    def done(self, n: int, transport: Any) -> tuple[int, float, float]:
        out = (n - self.n0, time.perf_counter() - self.t0, time.process_time() - self.c0)
        if transport is not None:
            transport.disconnect()
        return out


async def _picows_noop(url: str, seconds: float) -> tuple[int, float, float]:
    from picows import WSListener, WSMsgType, ws_connect

    class Counter(WSListener):  # type: ignore[misc]
        n = 0

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                self.n += 1

    tr, lst = await ws_connect(Counter, url, enable_auto_pong=True)
    w = _Window()
    await asyncio.sleep(seconds)
    return w.done(lst.n, tr)


async def _fastws(url: str, seconds: float, kind: str) -> tuple[int, float, float]:
    from picows import ws_connect

    from fastws.book import OrderBook
    from fastws.events import BookTicker, DepthUpdate
    from fastws.exceptions import SequenceGap
    from fastws.listener import Router, StreamListener, StreamTable
    from fastws.parser import Parser

    count = [0]

    def callback(ev: Any) -> None:
        count[0] += 1

    router = Router()
    router.set_callbacks({BookTicker: [callback], DepthUpdate: [callback]}, {})
    table = StreamTable()
    table.dedupe = False
    book = OrderBook("BTCUSDT", tick_size=0.01)
    empty: list[list[str]] = []

    def depth_hook(ev: Any) -> None:
        if ev.first_update_id <= book.update_id or not book.is_synced:
            book.apply_snapshot(ev.first_update_id - 1, empty, empty)
        try:
            book.apply(ev)
        except SequenceGap:
            book.apply_snapshot(ev.first_update_id - 1, empty, empty)
            book.apply(ev)

    if kind == "depth":
        router.depth_hook = depth_hook

    class Owner:
        def __getattr__(self, name: str) -> Any:
            return lambda *a: None

    tr, lst = await ws_connect(lambda: StreamListener(Parser("spot"), router, table, Owner()), url,
                               enable_auto_pong=False)
    w = _Window(count[0])
    await asyncio.sleep(seconds)
    return w.done(count[0], tr)


async def _picows_orjson(url: str, seconds: float) -> tuple[int, float, float]:
    import orjson
    from picows import WSListener, WSMsgType, ws_connect

    count = [0]

    def callback(msg: Any) -> None:
        count[0] += 1

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                callback(orjson.loads(frame.get_payload_as_bytes()))

    tr, _ = await ws_connect(L, url)
    w = _Window(count[0])
    await asyncio.sleep(seconds)
    return w.done(count[0], tr)


async def _aiohttp_orjson(url: str, seconds: float) -> tuple[int, float, float]:
    import aiohttp
    import orjson

    count = [0]

    def callback(msg: Any) -> None:
        count[0] += 1

    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, max_msg_size=0) as ws:
            w = _Window()
            end = time.monotonic() + seconds
            async for msg in ws:
                callback(orjson.loads(msg.data))
                if count[0] & 1023 == 0 and time.monotonic() > end:
                    break
            return w.done(count[0], None)


async def _websockets_orjson(url: str, seconds: float) -> tuple[int, float, float]:
    import orjson
    import websockets

    count = [0]

    def callback(msg: Any) -> None:
        count[0] += 1

    async with websockets.connect(url, max_size=None, compression=None) as ws:
        w = _Window()
        end = time.monotonic() + seconds
        async for msg in ws:
            callback(orjson.loads(msg))
            if count[0] & 1023 == 0 and time.monotonic() > end:
                break
        return w.done(count[0], None)


def _client(name: str, url: str, seconds: float, kind: str, q: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvloop

    async def main() -> tuple[int, float, float]:
        if name == "picows-noop":
            return await _picows_noop(url, seconds)
        if name == "fastws":
            return await _fastws(url, seconds, kind)
        if name == "picows+orjson":
            return await _picows_orjson(url, seconds)
        if name == "aiohttp+orjson":
            return await _aiohttp_orjson(url, seconds)
        return await _websockets_orjson(url, seconds)

    q.put(uvloop.run(main()))


def throughput(ctx: Any, port: int, name: str, kind: str, seconds: float, cpu: int | None) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/firehose/{KINDS[kind]}?combined=1"
    q = ctx.Queue()
    p = ctx.Process(target=_client, args=(name, url, seconds, kind, q, cpu))
    p.start()
    n, wall, cpu_s = q.get(timeout=seconds + 60)
    p.join()
    return {"client": name, "kind": kind, "frames": n, "seconds": wall,
            "msgs_per_s": n / wall, "cpu_ns_per_msg": cpu_s / max(n, 1) * 1e9}


# -- WS API ping round trip -----------------------------------------------------------------------


def _ping_client(name: str, port: int, n: int, q: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvloop

    async def fastws_pings() -> list[float]:
        from fastws.api_client import ApiClient
        from fastws.venues import SPOT_LIMITS, Venue
        venue = Venue("sim", "spot", f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws-api/v3",
                      f"http://127.0.0.1:{port}", SPOT_LIMITS)
        api = ApiClient(venue, sync_clock=False)
        await api.request("ping")
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await api.request("ping")
            out.append(time.perf_counter() - t0)
        await api.close()
        return out

    async def picows_pings() -> list[float]:
        import orjson
        from picows import WSListener, WSMsgType, ws_connect
        waiters: dict[int, asyncio.Future[Any]] = {}

        class L(WSListener):  # type: ignore[misc]
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == WSMsgType.TEXT:
                    msg = orjson.loads(frame.get_payload_as_bytes())
                    fut = waiters.pop(msg.get("id"), None)
                    if fut is not None:
                        fut.set_result(msg)

        tr, _ = await ws_connect(L, f"ws://127.0.0.1:{port}/ws-api/v3")
        loop = asyncio.get_running_loop()
        out = []
        for i in range(n + 1):
            fut = loop.create_future()
            waiters[i] = fut
            t0 = time.perf_counter()
            tr.send(WSMsgType.TEXT, orjson.dumps({"id": i, "method": "ping"}))
            await fut
            if i:
                out.append(time.perf_counter() - t0)
        tr.disconnect()
        return out

    res = uvloop.run(fastws_pings() if name == "fastws" else picows_pings())
    q.put(res)


def ping_rtt(ctx: Any, port: int, name: str, n: int, cpu: int | None) -> dict[str, Any]:
    q = ctx.Queue()
    p = ctx.Process(target=_ping_client, args=(name, port, n, q, cpu))
    p.start()
    res = sorted(q.get(timeout=120))
    p.join()
    return {"client": name, "pings": len(res), "median_us": statistics.median(res) * 1e6,
            "p99_us": res[int(len(res) * 0.99) - 1] * 1e6}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fastws end-to-end benchmark (see the docstring)")
    ap.add_argument("--seconds", type=float, default=2.0, help="per client and frame kind")
    ap.add_argument("--pings", type=int, default=2000, help="WS API pings per client")
    ap.add_argument("--clients", nargs="+", default=CLIENTS, choices=CLIENTS)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    ncpu = len(os.sched_getaffinity(0))
    # throughput: server and client on separate cores when there are two
    srv_cpu, cli_cpu = (0, 1) if ncpu >= 2 else (None, None)
    results: dict[str, Any] = {"throughput": [], "ping": []}
    stop = ctx.Event()
    q = ctx.Queue()
    server = ctx.Process(target=_server, args=(q, stop, srv_cpu))
    server.start()
    try:
        port = q.get(timeout=30)
        for kind in args.kinds:
            for name in args.clients:
                r = throughput(ctx, port, name, kind, args.seconds, cli_cpu)
                results["throughput"].append(r)
                if not args.json:
                    print(f"{kind:10s} {name:18s} {r['msgs_per_s'] / 1e6:6.2f} M msg/s  "
                          f"{r['cpu_ns_per_msg']:6.0f} ns CPU/msg", flush=True)
    finally:
        stop.set()
        server.join(10)
    # latency: client and server on the same core
    stop = ctx.Event()
    server = ctx.Process(target=_server, args=(q, stop, 0 if ncpu >= 1 else None))
    server.start()
    try:
        port = q.get(timeout=30)
        for name in ("picows", "fastws"):
            r = ping_rtt(ctx, port, name, args.pings, 0)
            results["ping"].append(r)
            if not args.json:
                print(f"ping RTT   {name:18s} median {r['median_us']:6.1f} us  p99 {r['p99_us']:6.1f} us",
                      flush=True)
    finally:
        stop.set()
        server.join(10)
    ratios: dict[str, Any] = {}
    by = {(r["kind"], r["client"]): r["msgs_per_s"] for r in results["throughput"]}
    for kind in args.kinds:
        f = by.get((kind, "fastws"))
        if f is None:
            continue
        for other in args.clients:
            if other != "fastws" and (kind, other) in by:
                ratios[f"{kind}: fastws / {other}"] = f / by[(kind, other)]
    pings = {r["client"]: r["median_us"] for r in results["ping"]}
    if len(pings) == 2:
        ratios["ping RTT: fastws / picows (median)"] = pings["fastws"] / pings["picows"]
    results["ratios"] = ratios
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print()
        for k, v in ratios.items():
            print(f"{k:45s} {v:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
