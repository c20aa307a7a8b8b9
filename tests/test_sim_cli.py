"""``fastws sim`` as a standalone server: starts, serves, stops cleanly on Ctrl-C."""
from __future__ import annotations

import asyncio
import os
import signal
import sys

import orjson
import websockets

from fastws.sim.cli import build_parser
from tests.sim_support import get_json, recv
from tests.utils import REPO_ROOT, UNIT


async def _start(*args: str):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastws", "sim", "--port", "0", "--rest-port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    lines = {}
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20 * UNIT)).decode()
        assert line, (await proc.stderr.read()).decode()
        if line.startswith("  "):
            key, url = line.split()[:2]
            lines[key] = url
        if line.startswith("Ctrl-C"):
            return proc, lines


async def test_cli_serves_and_stops_on_ctrl_c():
    proc, urls = await _start("--symbols", "BTCUSDT,SOLUSDT", "--ping-interval", "30")
    try:
        base = urls["streams"].split("/ws/")[0]
        async with websockets.connect(base + "/stream?streams=solusdt@trade") as ws:
            msg = await recv(ws, 5)
            assert msg["stream"] == "solusdt@trade" and msg["data"]["s"] == "SOLUSDT"
            st, _, body = await get_json(urls["rest"], symbol="BTCUSDT")
            assert st == 200 and body["lastUpdateId"] > 0
            async with websockets.connect(urls["ws-api"]) as api:
                await api.send(orjson.dumps({"id": 1, "method": "time"}).decode())
                assert (await recv(api))["status"] == 200
            proc.send_signal(signal.SIGINT)
            # serverShutdown first, then the close
            async def shutdown_notice():
                while (await recv(ws, 5))["stream"] != "!serverShutdown":
                    pass
            await asyncio.wait_for(shutdown_notice(), 10 * UNIT)
        rc = await asyncio.wait_for(proc.wait(), 10 * UNIT)
        assert rc == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_usdm_tls_and_replay_flags(recorded_dir):
    proc, urls = await _start("--market", "usdm", "--tls", "--replay",
                              str(recorded_dir / "cryptofeed_usdm_4symbols_20210722_ws.txt.gz"),
                              "--replay-speed", "0")
    try:
        assert urls["streams"].startswith("wss://")
        from fastws.sim import client_context
        ctx = client_context(urls["ca-file"])
        base = urls["streams"].split("/public")[0]
        async with websockets.connect(base + "/public/ws/sushiusdt@depth@100ms", ssl=ctx,
                                      max_queue=None) as ws:
            msg = await recv(ws, 5)
            assert msg["e"] == "depthUpdate" and msg["s"] == "SUSHIUSDT" and "pu" in msg
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10 * UNIT) == 0


def test_parser_knows_every_fault_flag():
    args = build_parser().parse_args([
        "--drop-depth-every", "1", "--duplicate-depth-every", "2", "--reorder-depth-every", "3",
        "--gap-every", "4", "--stall-every", "5", "--stall-for", "1", "--disconnect-every", "6",
        "--disconnect-how", "reset", "--shutdown-every", "7", "--bad-frame-every", "8",
        "--stale-snapshots", "2", "--refuse-for", "1", "--slow", "0.1"])
    assert args.disconnect_how == "reset" and args.stale_snapshots == 2


async def test_cli_periodic_faults_fire():
    proc, urls = await _start("--symbols", "BTCUSDT", "--rate", "300",
                              "--drop-depth-every", "0.3", "--ping-interval", "30")
    try:
        base = urls["streams"].split("/ws/")[0]
        async with websockets.connect(base + "/ws/btcusdt@depth@100ms") as ws:
            evs = [await recv(ws, 5) for _ in range(15)]
        breaks = [b for a, b in zip(evs, evs[1:]) if b["U"] != a["u"] + 1]
        assert breaks, "a depth event is dropped every 0.3 s"
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10 * UNIT) == 0


async def test_paper_account_banner_is_ready_to_use_and_keeps_the_secret_out():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastws", "sim", "--paper", "--port", "0", "--rest-port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out = ""
    try:
        while not out.endswith("Ctrl-C to stop.\n"):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20 * UNIT)).decode()
            assert line, (await proc.stderr.read()).decode()
            out += line
        key_file = next(l.split()[2] for l in out.splitlines() if l.startswith("  key file"))
        assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
        env_lines = dict(l.split(" ", 1)[1].split("=", 1) for l in open(key_file).read().splitlines())
        assert set(env_lines) == {"FASTWS_API_KEY", "FASTWS_API_SECRET"}
        assert env_lines["FASTWS_API_SECRET"] not in out and env_lines["FASTWS_API_KEY"] not in out
        url = next(l.split()[1] for l in out.splitlines() if l.startswith("  streams")).split("/ws/")[0]
        assert f"  . {key_file}" in out
        assert f"fastws trade BTCUSDT --url {url}" in out and f"fastws monitor BTCUSDT --url {url}" in out
        assert f"venue_for_url({url!r})" in out
        assert "USDT=5000" in out
    finally:
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10 * UNIT) == 0
    assert not os.path.exists(key_file), "the paper key file is removed with the simulator"
