"""WS API round trips: ``order.place`` (ACK) and ``ping`` through fastws vs a raw picows client.

Method
------
A minimal picows WS API server runs in its own process: for every text frame it decodes the
JSON with orjson and answers with a canned response carrying the request's id (``ping`` →
``{}``; ``order.place`` → an ACK result with ``rateLimits``; ``time`` and ``exchangeInfo`` for
fastws's setup). It checks nothing, so the figures are the *client's* cost plus one loopback
round trip; both clients talk to the same server in the same run.

Clients (each in a fresh process, uvloop, requests one at a time, ``--n`` timed after a warm-up):

* ``raw``: a picows client sending one **pre-built, pre-signed** frame (``order.place``) or a
  pre-encoded ``ping`` frame, and waiting for the next text frame. This is the floor: no
  id bookkeeping, no signing, no validation.
* ``fastws``: ``OrderStream.place(..., response_type="ACK")`` on a ``BaseOperations`` session:
  a fresh client order id, local validation against the cached symbol filters, prices and
  quantities formatted on the grid, a fresh ``timestamp`` and an **HMAC-SHA256 signature per
  request** (``--signer ed25519`` for Ed25519 per request; ``ed25519-logon`` for a logged-on
  session, where requests carry no signature), the rate-limit check, the request/response
  matching and accounting of :class:`fastws.api.protocol.ApiProtocol`, a timeout, the answer's
  ``result`` decoded into a dict (all of it in one C pass for such an order:
  :mod:`fastws.api._orders`); and ``BaseOperations.ping()``; and ``request``:
  ``ApiClient.request("order.place", params, signed=True)`` with the params already formatted
  (the general path: signing and bookkeeping step by step, no validation).

Client and server are pinned to the same core (``--cpu``, default 0): on separate cores this VM
adds ~60 us of wake-up latency to every round trip (DESIGN.md), which would hide the client's
cost. Figures: median and p99 in microseconds, and the ratio fastws / raw of the medians.

With ``--rounds R`` every client runs R times, interleaved (raw, fastws, raw, ...), and the
table gives the median over rounds of each figure, the ratios being taken within each round
(the shared machine's noise moves both clients of a round alike) with their range.

With ``--instructions`` the figures are the client's instructions per request instead of
times: each client runs under ``valgrind --tool=callgrind`` (the client process only, the
server natively), and only the timed requests are counted (the client calls ``os.getppid()``
just before the first and after the last; callgrind dumps a profile part there). These counts
do not depend on the machine's load, so they rank changes to the request path on a shared
machine. Under valgrind the CPU reports no SHA extensions: HMAC takes the OpenSSL fallback.

Run: ``python bench/bench_api.py`` (``--n 3000``, ``--rounds 3``, ``--json``);
``python bench/bench_api.py --instructions --n 300 --signer hmac`` (~2 min).
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

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
# the Ed25519 key published in Binance's fix-api.md (SPEC §7.5)
ED25519_PEM = ("-----BEGIN PRIVATE KEY-----\n"
               "MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n"
               "-----END PRIVATE KEY-----\n")

EXCHANGE_INFO = {
    "timezone": "UTC", "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10**9},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**9}],
    "symbols": [{"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
                 "orderTypes": ["LIMIT", "MARKET"], "filters": [
                     {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                     {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                     {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True}]}]}


def _server(q: Any, stop: Any, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import orjson
    import uvloop
    from picows import WSListener, WSMsgType, ws_create_server

    rl = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**9, "count": 1},
          {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 10**9, "count": 1}]

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.PING:
                transport.send_pong(frame.get_payload_as_bytes())
                return
            if frame.msg_type != WSMsgType.TEXT:
                return
            req = orjson.loads(frame.get_payload_as_bytes())
            m = req.get("method")
            p = req.get("params") or {}
            if m == "order.place":
                res: Any = {"symbol": p.get("symbol"), "orderId": 1, "orderListId": -1,
                            "clientOrderId": p.get("newClientOrderId", "x"), "transactTime": 1}
            elif m == "time":
                res = {"serverTime": int(time.time() * 1000)}
            elif m == "exchangeInfo":
                res = EXCHANGE_INFO
            else:
                res = {}
            transport.send(WSMsgType.TEXT, orjson.dumps(
                {"id": req.get("id"), "status": 200, "result": res, "rateLimits": rl}))

    async def main() -> None:
        server = await ws_create_server(lambda _r: L(), "127.0.0.1", 0)
        q.put(server.sockets[0].getsockname()[1])
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()

    uvloop.run(main())


def _client(name: str, what: str, signer_name: str, port: int, n: int, q: Any, cpu: int | None,
            warm: int | None = None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvloop

    from fastws.venues import SPOT_LIMITS, Venue
    venue = Venue("bench", "spot", f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws-api/v3",
                  f"http://127.0.0.1:{port}", SPOT_LIMITS)
    if warm is None:
        warm = max(100, n // 10)

    async def fastws_run() -> list[float]:
        from fastws.api.base_operations import BaseOperations
        from fastws.api.order_stream import OrderStream
        from fastws.api import signing
        from fastws.api.signing import Ed25519Signer, HmacSigner
        if signer_name == "hmac-openssl":
            signing.HMAC_ACCELERATED = False     # OpenSSL's HMAC (hashlib) instead of fwsha256.h
        signer: Any = (HmacSigner(SECRET) if signer_name.startswith("hmac")
                       else Ed25519Signer(ED25519_PEM))
        api = BaseOperations(venue, key=API_KEY, signer=signer, logon=signer_name == "ed25519-logon")
        await api.connect()
        orders = OrderStream(api)
        await api.symbol_filters("BTCUSDT")
        fixed = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.01000", "price": "60000.10", "newOrderRespType": "ACK",
                 "newClientOrderId": "fw0123456789abcdef012345"}
        out = []
        for i in range(warm + n):
            if i == warm:
                os.getppid()                     # marks the timed part for --instructions
                cpu0 = time.process_time()
            t0 = time.perf_counter()
            if what == "place":
                await orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.01", price="60000.1",
                                   response_type="ACK")
            elif what == "request":
                await api.client.request("order.place", fixed, signed=True)
            else:
                await api.ping()
            if i >= warm:
                out.append(time.perf_counter() - t0)
        out.append(time.process_time() - cpu0)
        os.getppid()
        await api.close()
        return out

    async def raw_run() -> list[float]:
        import orjson
        from picows import WSListener, WSMsgType, ws_connect

        from fastws.api.signing import HmacSigner, sign_params
        box: list[asyncio.Future[Any]] = []

        class L(WSListener):  # type: ignore[misc]
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == WSMsgType.TEXT and box:
                    fut = box.pop()
                    fut.set_result(frame.get_payload_as_bytes())

        tr, _ = await ws_connect(L, venue.ws_api_url)
        if what == "place":
            params = sign_params({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                  "quantity": "0.01000", "price": "60000.10", "newOrderRespType": "ACK",
                                  "newClientOrderId": "fw0123456789abcdef012345"},
                                 HmacSigner(SECRET), API_KEY, timestamp=int(time.time() * 1000))
            frame = orjson.dumps({"id": 1, "method": "order.place", "params": params})
        else:
            frame = orjson.dumps({"id": 1, "method": "ping"})
        loop = asyncio.get_running_loop()
        out = []
        for i in range(warm + n):
            if i == warm:
                os.getppid()                     # marks the timed part for --instructions
                cpu0 = time.process_time()
            fut = loop.create_future()
            box.append(fut)
            t0 = time.perf_counter()
            tr.send(WSMsgType.TEXT, frame)
            await fut
            if i >= warm:
                out.append(time.perf_counter() - t0)
        out.append(time.process_time() - cpu0)
        os.getppid()
        tr.disconnect()
        return out

    q.put(uvloop.run(fastws_run() if name == "fastws" else raw_run()))


def measure(ctx: Any, port: int, name: str, what: str, signer: str, n: int, cpu: int | None) -> dict[str, Any]:
    q = ctx.Queue()
    p = ctx.Process(target=_client, args=(name, what, signer, port, n, q, cpu))
    p.start()
    got = q.get(timeout=300)
    p.join()
    cpu_s = got.pop()
    res = sorted(got)
    return {"client": name, "request": what, "signer": signer if name == "fastws" and what != "ping" else "-",
            "n": len(res), "median_us": statistics.median(res) * 1e6,
            "p99_us": res[max(0, int(len(res) * 0.99) - 1)] * 1e6,
            "client_cpu_us": cpu_s / len(res) * 1e6}


class _Print:
    """The queue of a client run in this process (``--client``): its figures to stdout."""

    def put(self, got: list[float]) -> None:
        print(json.dumps({"n": len(got) - 1, "client_cpu_s": got[-1]}))


def _callgrind_total(path: str) -> int:
    """The instruction count (``Ir``) of a callgrind output file."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {path}")


def instructions(port: int, configs: list[tuple[str, str, str]], n: int, out_dir: str) -> list[dict[str, Any]]:
    """Client instructions per request under ``valgrind --tool=callgrind``: the client process
    only (the server runs natively in its own process), the timed requests only (the client
    calls ``os.getppid()`` just before the first and after the last one, and callgrind dumps a
    profile part there: ``--dump-before=getppid``; part 2 is the ``n`` requests, start-up,
    connect and warm-up left out). Instruction counts do not depend on the machine's load.
    The files stay in ``out_dir`` (``callgrind_annotate --inclusive=yes FILE.2``)."""
    import subprocess
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for c in configs:
        out = os.path.join(out_dir, f"callgrind.{c[0]}.{c[1]}.{c[2]}")
        for old in os.listdir(out_dir):
            if old.startswith(os.path.basename(out) + "."):
                os.remove(os.path.join(out_dir, old))
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-before=getppid",
             sys.executable, os.path.abspath(__file__), "--client", ":".join(c),
             "--port", str(port), "--n", str(n), "--warm", "100", "--cpu", "-1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"})
        rows.append({"client": c[0], "request": c[1],
                     "signer": c[2] if c[0] == "fastws" and c[1] != "ping" else "-",
                     "instructions": _callgrind_total(out + ".2") / n, "file": out + ".2"})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fastws WS API round-trip benchmark (see the docstring)")
    ap.add_argument("--n", type=int, default=3000, help="timed requests per client")
    ap.add_argument("--cpu", type=int, default=0, help="core for client and server (-1: no pinning)")
    ap.add_argument("--signer", choices=["hmac", "hmac-openssl", "ed25519", "ed25519-logon", "all"],
                    default="all")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every client this many times, interleaved; report medians over rounds")
    ap.add_argument("--only", choices=["ping", "place"], default=None,
                    help="run only the ping rows or only the order rows")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--instructions", action="store_true",
                    help="client instructions per request under callgrind instead of times "
                         "(slow: use --n 300)")
    ap.add_argument("--callgrind-dir", default="/tmp/fastws-callgrind",
                    help="where --instructions leaves the callgrind files")
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)  # name:what:signer, run here
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--warm", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cpu = None if args.cpu < 0 else args.cpu
    if args.client:
        name, what, signer = args.client.split(":")
        _client(name, what, signer, args.port, args.n, _Print(), cpu, args.warm)
        return 0
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    srv = ctx.Process(target=_server, args=(q, stop, cpu))
    srv.start()
    port = q.get(timeout=30)
    signers = (["hmac", "hmac-openssl", "ed25519", "ed25519-logon"] if args.signer == "all"
               else [args.signer])
    configs = [("raw", "ping", "-"), ("fastws", "ping", "-"), ("raw", "place", "-")]
    configs += [("fastws", "place", s) for s in signers] + [("fastws", "request", "hmac")]
    if args.only == "ping":
        configs = [c for c in configs if c[1] == "ping"]
    elif args.only == "place":
        configs = [c for c in configs if c[1] != "ping"]
    if args.instructions:
        try:
            irows = instructions(port, configs, args.n, args.callgrind_dir)
        finally:
            stop.set()
            srv.join(10)
        if args.json:
            print(json.dumps(irows, indent=2))
        else:
            raw_i = {r["request"]: r["instructions"] for r in irows if r["client"] == "raw"}
            print(f"{'client':8s} {'request':7s} {'signing':14s} {'instr/req':>10s} {'x raw':>6s}")
            for r in irows:
                base = raw_i.get("place" if r["request"] == "request" else r["request"])
                ratio = f"{r['instructions'] / base:6.2f}" if base else "     -"
                print(f"{r['client']:8s} {r['request']:7s} {r['signer']:14s} "
                      f"{r['instructions'] / 1000:9.1f}k {ratio}")
        return 0
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {c: [] for c in configs}
    try:
        for _ in range(args.rounds):  # rounds interleave the clients, so a noisy moment hits all
            for c in configs:
                runs[c].append(measure(ctx, port, c[0], c[1], c[2], args.n, cpu))
    finally:
        stop.set()
        srv.join(10)
    med = statistics.median
    rows = []
    for c in configs:
        rs = runs[c]
        raw_rs = runs[("raw", "place" if c[1] == "request" else c[1], "-")]
        rows.append({
            **rs[0], "rounds": len(rs),
            "median_us": med(r["median_us"] for r in rs), "p99_us": med(r["p99_us"] for r in rs),
            "client_cpu_us": med(r["client_cpu_us"] for r in rs),
            # ratios within each round (same moment on the machine), then their median
            "ratio_vs_raw": med(r["median_us"] / q["median_us"] for r, q in zip(rs, raw_rs)),
            "p99_ratio_vs_raw": med(r["p99_us"] / q["p99_us"] for r, q in zip(rs, raw_rs)),
            "ratio_range": (min(r["median_us"] / q["median_us"] for r, q in zip(rs, raw_rs)),
                            max(r["median_us"] / q["median_us"] for r, q in zip(rs, raw_rs))),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'client':8s} {'request':7s} {'signing':14s} {'median us':>10s} {'p99 us':>9s} {'x raw':>6s}"
              f" {'p99 x raw':>9s} {'client cpu us':>13s} {'x raw range':>12s}")
        for r in rows:
            lo, hi = r["ratio_range"]
            print(f"{r['client']:8s} {r['request']:7s} {r['signer']:14s} {r['median_us']:10.1f} "
                  f"{r['p99_us']:9.1f} {r['ratio_vs_raw']:6.2f} {r['p99_ratio_vs_raw']:9.2f} {r['client_cpu_us']:13.1f}"
                  f" {lo:5.2f}-{hi:<5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
