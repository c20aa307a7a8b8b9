"""Firehose throughput: how many small frames per second the simulator can push from one core.

Method
------
The simulator (``fastws.sim.Exchange``, uvloop) runs in its own process; a client in this
process connects to ``/firehose/btcusdt@bookTicker`` and counts frames for ``--seconds``.
Two clients run one after the other, in the same run:

* ``raw``: a plain socket reading 4 MiB at a time and counting ``bytes // frame_size`` (every
  firehose frame has the same size; the first header of each read position is checked). It
  costs almost nothing per frame, so its figure is the *server's* ceiling.
* ``picows``: a picows client whose Python ``on_ws_frame`` only increments a counter: what a
  light Python consumer sees (there, the client is the bottleneck).

Frames are bookTicker payloads of about 110 bytes. The server's CPU time is reported too:
frames per server CPU-second is the one-core figure. Run: ``python bench/bench_firehose.py``
(``--json`` for machine-readable output).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _server(q: "mp.Queue[tuple[int, float]]", stop: "mp.Event") -> None:
    import uvloop

    from fastws.sim import Exchange

    async def main() -> None:
        async with Exchange(["BTCUSDT"], rest=False) as ex:
            q.put((ex.port, 0.0))
            while not stop.is_set():
                await asyncio.sleep(0.05)

    uvloop.run(main())


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_client(port: int, seconds: float, server_pid: int) -> dict:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /firehose/btcusdt@bookTicker HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    head, rest = head.split(b"\r\n\r\n", 1)
    size = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                if ln.lower().startswith(b"x-firehose-frame-size")][0])
    buf = bytearray(4 << 20)
    view = memoryview(buf)
    total = len(rest)
    assert rest[:1] == b"\x81" or not rest
    cpu0 = _cpu_of(server_pid)
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        n = s.recv_into(view)
        if n == 0:
            break
        off = (-total) % size         # where the next frame header starts in this read
        if off < n:
            assert buf[off] == 0x81, "frame boundary lost"
        total += n
    dt = time.perf_counter() - t0
    cpu = _cpu_of(server_pid) - cpu0
    s.close()
    frames = total // size
    return {"client": "raw", "frames": frames, "seconds": dt, "frames_per_s": frames / dt,
            "frame_bytes": size, "server_cpu_s": cpu,
            "frames_per_server_cpu_s": frames / cpu if cpu else None}


def picows_client(port: int, seconds: float, server_pid: int) -> dict:
    import uvloop
    from picows import WSListener, ws_connect

    class Counter(WSListener):  # type: ignore[misc]
        n = 0

        def on_ws_frame(self, transport, frame):  # noqa: ANN001
            self.n += 1

    async def main() -> dict:
        tr, lis = await ws_connect(Counter, f"ws://127.0.0.1:{port}/firehose/btcusdt@bookTicker")
        cpu0 = _cpu_of(server_pid)
        t0 = time.perf_counter()
        n0 = lis.n
        await asyncio.sleep(seconds)
        frames = lis.n - n0
        dt = time.perf_counter() - t0
        cpu = _cpu_of(server_pid) - cpu0
        tr.disconnect()
        return {"client": "picows-python-callback", "frames": frames, "seconds": dt,
                "frames_per_s": frames / dt, "server_cpu_s": cpu}

    return uvloop.run(main())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    q: "mp.Queue[tuple[int, float]]" = mp.Queue()
    stop = mp.Event()
    proc = mp.Process(target=_server, args=(q, stop), daemon=True)
    proc.start()
    port, _ = q.get(timeout=30)
    results = [raw_client(port, args.seconds, proc.pid),
               picows_client(port, args.seconds, proc.pid)]
    stop.set()
    proc.join(5)
    if proc.is_alive():
        proc.terminate()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            extra = ""
            if r.get("frames_per_server_cpu_s"):
                extra = f", {r['frames_per_server_cpu_s'] / 1e6:.2f} M frames per server CPU-s"
            print(f"{r['client']:>24}: {r['frames_per_s'] / 1e6:6.2f} M frames/s "
                  f"({r['frames']} frames in {r['seconds']:.2f} s, server CPU "
                  f"{r['server_cpu_s']:.2f} s{extra})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
