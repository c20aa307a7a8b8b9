"""fastws side by side with the Binance clients users would pick, on one machine, in one run.

Method
------
The feed server (``fastws.sim.Exchange`` with its benchmark feed, :mod:`fastws.sim.feed`,
uvloop) runs in its own process pinned to core 0; every client runs in a fresh process of its
own (``multiprocessing`` spawn) pinned to core 1 where there are two. Clients are adapters in
``bench/peers/`` (fastws, the plain transports, and the third-party clients: python-binance,
binance-sdk-spot, unicorn-binance-websocket-api with and without picows, its local depth cache,
cryptofeed, ccxt.pro), each pointed at the local server the way its docs allow (the table
says how). Scenarios, each for every client that supports it, in interleaved rounds with the
client order rotating:

* ``tickers``: ``<sym>@bookTicker`` of 4 symbols as fast as flow control allows (pre-encoded
  frames in ~1 MiB writes, ``u`` increasing); a user callback per message. msg/s and client
  CPU per message (``os.times()`` of the client process: every thread of the library).
* ``latency-1k`` / ``latency-10k``: the same streams paced at 1k and 10k msg/s, each frame
  stamped with the server's ``time.monotonic_ns()`` in ``u`` (system-wide clock on Linux):
  send-to-callback p50 / p99 / p99.9 over the window.
* ``depth``: ``<sym>@depth@100ms`` (or ``@depth``) of 4 symbols as fast as the client reads,
  each library keeping its OWN local book (snapshot + diffs), the best bid/ask read after every
  update: updates/s, CPU per update, time until every book matched the simulator's book,
  depth snapshots served (counted at the server).
* ``depth-drop``: the same with one update of each symbol missing on every 64th pass of the
  feed, the symbols taking turns (one update in ~140,000; a gap somewhere every 16 passes):
  the share of book callbacks that are right, and the snapshots taken to recover. of the feed.
* ``depth-replay``: a real capture (``shared/binance/recorded``, spot BTCUSDT, 6.5k updates)
  replayed as fast as possible; skipped with the reason when the data is absent.

Book correctness is the share of book callbacks whose best bid/ask equal the simulator's book
at the update id the library reports, and whether the book equals it at the last update sent
(the feed is paused after the window and the client drains). RSS is read at the end. What
broke (adapter errors, a worker that died, no messages, a book that never synced) is stated; a
client that hangs is killed after a timeout. Then, when ``bench/bench_hook.py`` exists, its
section (the Cython-hook path and the depth + book path) is appended.

Run: ``python bench/bench_peers.py [--quick] [--out DIR] [--clients a,b] [--rounds N]
[--seconds S]``; writes DIR/results.md, results.json, throughput.png, cpu.png,
latency_cdf.png.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))      # the repository: bench.peers, fastws

from bench.peers import ADAPTERS  # noqa: E402
from bench.peers import harness as H  # noqa: E402
from bench.peers import report as R  # noqa: E402

SCENARIOS: list[tuple[str, str, Optional[dict[str, Any]]]] = [
    (R.TICKERS, "tickers", {"mode": "tickers"}),
    (R.LAT1K, "tickers", {"mode": "paced", "rate": 1000.0}),
    (R.LAT10K, "tickers", {"mode": "paced", "rate": 10000.0}),
    (R.DEPTH, "depth", {"mode": "depth"}),
    (R.DROP, "depth", {"mode": "depth", "drop_every": 64}),
    (R.REPLAY, "depth", None),
]
REPLAY_FILES = ["hftbacktest_spot_btcusdt_20240808_part1.gz",
                "hftbacktest_spot_btcusdt_20240809_part2.gz"]


def shared_dir() -> str:
    return os.environ.get("FASTWS_SHARED_DIR",
                          os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared"))


def load_clients(wanted: Optional[list[str]]) -> list[dict[str, Any]]:
    """Every adapter's name, package, version, POINTED and availability (never raises)."""
    out = []
    for mod_name in ADAPTERS:
        info: dict[str, Any] = {"module": mod_name, "name": mod_name}
        try:
            mod = importlib.import_module(f"bench.peers.{mod_name}")
            info.update(name=mod.NAME, package=mod.PACKAGE, pointed=mod.POINTED,
                        kinds=sorted(mod.KINDS), latency=getattr(mod, "LATENCY", True))
            why = mod.available()
            if why:
                info["unavailable"] = why
        except Exception as exc:        # noqa: BLE001 - listed with the reason
            info["unavailable"] = f"adapter failed to load: {exc!r}"[:300]
            info.setdefault("kinds", [])
        if wanted and info["name"] not in wanted and mod_name not in wanted:
            continue
        try:
            info["version"] = importlib.metadata.version(info.get("package", mod_name))
        except Exception:               # noqa: BLE001
            info["version"] = ""
        out.append(info)
    return out


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{len(os.sched_getaffinity(0))} cores, {cpu}, {platform.system()} {platform.release()}"


def finish(res: dict[str, Any], ref: Optional[H.Reference], last_ids: dict[str, int],
           symbols: list[str], end_check: bool = True) -> None:
    """Add the end-of-run book check and the time until every book synced.

    The lossy feed has no end check: a library that resyncs correctly may be waiting for its
    snapshot to be bridged when the feed pauses."""
    if ref is None:
        return
    synced = res.get("synced_s", {})
    if res.get("book_updates") is None and "synced_s" not in res:
        return
    missing = [s for s in symbols if s not in synced]
    if missing:
        if res.get("total_books"):
            res.setdefault("errors", []).append("book never synced: " + ", ".join(missing))
        res["sync_s"] = None
    else:
        res["sync_s"] = max(synced.values())
    if not end_check:
        return
    ok = True
    last_book = res.get("last_book", {})
    for s in symbols:
        want = last_ids.get(s)
        got = last_book.get(s)
        if want is None or got is None:
            ok = False
            continue
        r = ref.lookup(s, want)
        uid, bid, ask = got
        if r is None or (uid is not None and uid != want) or bid is None or ask is None \
                or not (H._close(bid, r[0]) and H._close(ask, r[1])):
            ok = False
    res["end_ok"] = ok


def write_outputs(out: str, runs: list[dict[str, Any]], clients: list[dict[str, Any]],
                  meta: dict[str, Any], hook: Any = None, hook_md: str = "") -> str:
    """results.md, results.json and the three PNGs from the raw runs; the markdown."""
    summary = R.summarize(runs)
    md = R.markdown(summary, clients, meta)
    if meta.get("skipped"):
        md += "\nSkipped: " + "; ".join(f"{k}: {v}" for k, v in meta["skipped"].items()) + "\n"
    if hook_md:
        md += "\n" + hook_md + "\n"
    names = [c["name"] for c in clients if not c.get("unavailable")]
    sub = f"{meta.get('machine')}; load {meta.get('load_before')} -> {meta.get('load_after')}"
    R.plots(summary, names, out, sub)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "clients": clients, "runs": runs, "summary": summary,
                   "hook": hook, "hook_markdown": hook_md}, f, indent=1, default=str)
    return md


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 round of 1.5 s, shorter give-up times (10 s to the first message, "
                         "6 s for the books to sync)")
    ap.add_argument("--out", default="bench_peers_out", help="output folder")
    ap.add_argument("--clients", default="", help="comma-separated client names (default all)")
    ap.add_argument("--scenarios", default="", help="comma-separated scenarios (default all)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--no-hook", action="store_true", help="skip bench_hook's section")
    ap.add_argument("--render", action="store_true",
                    help="only rebuild the tables and plots of --out from its results.json")
    args = ap.parse_args(argv)
    if args.render:
        with open(os.path.join(args.out, "results.json")) as f:
            saved = json.load(f)
        print(write_outputs(args.out, saved["runs"], saved["clients"], saved["meta"],
                            saved.get("hook"), saved.get("hook_markdown", "")))
        return 0
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.5 if args.quick else 3.0)
    os.makedirs(args.out, exist_ok=True)
    wanted = [c.strip() for c in args.clients.split(",") if c.strip()] or None
    scen_wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()] or None
    clients = load_clients(wanted)
    runnable = [c for c in clients if not c.get("unavailable")]
    for c in clients:
        if c.get("unavailable"):
            print(f"  {c['name']}: not run ({c['unavailable']})", flush=True)
    ncpu = len(os.sched_getaffinity(0))
    srv_cpu, cli_cpu = (0, 1) if ncpu >= 2 else (None, None)
    meta: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": _machine(),
        "python": platform.python_version(), "load_before": _loadavg(), "rounds": rounds,
        "seconds": seconds, "server_cpu": srv_cpu, "client_cpu": cli_cpu, "skipped": {}}
    runs: list[dict[str, Any]] = []
    server = H.Server(H.SYMBOLS, srv_cpu)
    try:
        for scen, kind, feed in SCENARIOS:
            if scen_wanted and scen not in scen_wanted:
                continue
            members = [c for c in runnable if kind in c["kinds"]
                       and (not scen.startswith("latency") or c.get("latency", True))]
            if not members:
                continue
            ref_data: Optional[dict[str, Any]] = None
            symbols = H.SYMBOLS
            replay_paths: list[str] = []
            if feed is None:
                replay_paths = [os.path.join(shared_dir(), "binance", "recorded", f)
                                for f in REPLAY_FILES]
                if not all(os.path.exists(p) for p in replay_paths):
                    meta["skipped"][scen] = f"capture not found under {shared_dir()}"
                    print(f"{scen}: skipped ({meta['skipped'][scen]})", flush=True)
                    continue
                ref_data = H.Reference.from_capture(replay_paths)
                symbols = list(ref_data["symbols"])
            else:
                info = server.call("feed", feed, timeout=120)
                ref_data = info.get("reference")
            ref = H.Reference(ref_data) if ref_data else None
            for rnd in range(rounds):
                k = rnd % len(members)
                for c in members[k:] + members[:k]:
                    if feed is None:
                        info = server.call("replay", {
                            "paths": replay_paths,
                            "aliases": {f"{s.lower()}@depth@100ms": [f"{s.lower()}@depth"]
                                        for s in symbols}})
                    job = H.Job(c["module"], kind, scen, info["ws_base"], info["rest_base"],
                                symbols, seconds, cpu=cli_cpu,
                                reference=ref_data if kind == "depth" else None,
                                latency=scen.startswith("latency"), wait_sync=scen == R.DEPTH,
                                **({"first_timeout": 10.0, "sync_timeout": 6.0,
                                    "drain_timeout": 3.0} if args.quick else {}))
                    res = H.run_client(job, server, timeout=seconds + 90)
                    res["client"] = c["name"]
                    res["round"] = rnd
                    last_ids = res.get("last_ids") or {}
                    if feed is None and ref is not None:
                        last_ids = ref.last
                    if kind == "depth":
                        finish(res, ref, last_ids, symbols, end_check=scen != R.DROP)
                    runs.append(res)
                    n = res.get("book_updates") if kind == "depth" else res.get("ticks")
                    w = res.get("window_s") or 0
                    line = f"{scen:13s} r{rnd} {c['name']:18s} "
                    line += f"{n / w:10.0f} msg/s {res['cpu_s'] / n * 1e9:9.0f} ns CPU/msg" \
                        if n and w else "        no window"
                    if res.get("latency", {}).get("count"):
                        la = res["latency"]
                        line += f"  p50 {la['p50_us']:.0f} p99 {la['p99_us']:.0f} us"
                    if kind == "depth":
                        chk = res.get("checked", 0)
                        line += f"  correct {res.get('matched', 0)}/{chk} end {res.get('end_ok')}"
                        line += f" snaps {res.get('snapshots')}"
                    if res.get("errors"):
                        line += "  BROKE: " + "; ".join(res["errors"])[:160]
                    print(line, flush=True)
    finally:
        server.close()
    meta["load_after"] = _loadavg()
    hook: Any = None
    hook_md = ""
    if not args.no_hook and os.path.exists(os.path.join(HERE, "bench_hook.py")):
        try:
            bench_hook = importlib.import_module("bench.bench_hook")
            hook = bench_hook.run(quick=args.quick, out_dir=args.out)
            if isinstance(hook, dict) and hook.get("markdown"):
                hook_md = hook["markdown"]
        except Exception as exc:        # noqa: BLE001 - its section says why
            hook_md = f"## Cython hook and depth + book paths\n\nnot run: {exc!r}"
    md = write_outputs(args.out, runs, clients, meta, hook, hook_md)
    print()
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
