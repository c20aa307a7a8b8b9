"""``fastws serve`` as a user runs it: a feed handler of the simulator with an embedded
nats-server in its own process, read by a BusStream here; bad options answered in one line."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys

import pytest

from fastws.bus import BusStream
from fastws.venues import BINANCE_SPOT

from tests.bus_support import needs_bus
from tests.utils import REPO_ROOT, UNIT


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.parametrize("args,needle", [
    ([], "the following arguments are required: STREAM"),
    (["BTCUSDT", "--nats", "nats://127.0.0.1:4222", "--nats-port", "5000"], "embedded nats-server"),
    (["btcusdt@nonsense", "--sim"], "nonsense"),
    (["BTCUSDT", "--prefix", "a..b"], "prefix"),
    (["BTCUSDT", "--book-interval", "0"], "must be a number > 0"),
    (["BTCUSDT", "--market", "usdm"], "--market goes with --sim"),
])
def test_bad_options_are_one_line(args: list[str], needle: str) -> None:
    res = subprocess.run([sys.executable, "-m", "fastws", "serve", *args], env=_env(),
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60 * UNIT)
    assert res.returncode == 2, res
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@needs_bus
async def test_serve_sim_embedded_nats_feeds_a_bus_stream() -> None:
    """The command prints its NATS URL; a BusStream on it syncs both books from the bus and
    gets events; the command ends at --seconds with exit status 0 and its summary."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fastws", "serve", "BTCUSDT", "ethusdt@depth@100ms", "--sim",
        "--embedded-nats", "--seconds", str(8 * UNIT), "--interval", "1", "--book-interval", "0.2",
        env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    out: list[str] = []
    try:
        url = None
        while url is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20 * UNIT)).decode()
            assert line, f"serve ended early: {out}"
            out.append(line)
            m = re.search(r"embedded nats-server \(JetStream\) at (nats://\S+)", line)
            url = m.group(1) if m else None
        while not any("streams of sim-spot" in o for o in out):
            out.append((await asyncio.wait_for(proc.stdout.readline(), 20 * UNIT)).decode())
        venue = dataclasses.replace(BINANCE_SPOT, name="sim-spot")
        streams = ["btcusdt@depth@100ms", "btcusdt@trade", "ethusdt@depth@100ms"]
        async with BusStream(streams, nats=url, venue=venue) as bs:
            await bs.wait_synced(timeout=10 * UNIT)
            n = bs.stats().messages
            loop = asyncio.get_running_loop()
            end = loop.time() + 5 * UNIT
            while bs.stats().messages < n + 20 and loop.time() < end:
                await asyncio.sleep(0.05)
            assert bs.stats().messages >= n + 20 and bs.stats().gaps == 0
        rest, err = await asyncio.wait_for(proc.communicate(), 30 * UNIT)
        out.append(rest.decode())
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = "".join(out)
    assert proc.returncode == 0, (text, err)
    assert "8 streams of sim-spot" not in text and "5 streams of sim-spot" in text
    assert re.search(r"summary: .* events published .* 0 dropped", text), text
    assert "Traceback" not in err.decode()
