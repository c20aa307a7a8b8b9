"""Bus parts in processes of their own, for the high-availability tests (tests/test_bus_ha.py).

A feed handler or a consumer that a test must be able to kill *for real* runs here: SIGKILL
leaves no close, no drain, no flush; the kernel cuts its venue and NATS connections. The
process prints ``ready`` once synced, then one JSON line of statistics every 0.2 s.

Run as ``python -m tests.bus_procs ROLE VENUE_HEX URL STREAMS_JSON OPTIONS_JSON`` (the venue
is a pickled :class:`fastws.venues.Venue`); :class:`BusProc` does it for a test.
"""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import sys
import tempfile
import time
from typing import Any

from tests.utils import REPO_ROOT, UNIT


async def _feed(venue: Any, url: str, streams: list[str], opts: dict[str, Any]) -> None:
    from fastws.bus import FeedHandler
    async with FeedHandler(streams, venue=venue, nats=url, **opts) as fh:
        await fh.wait_synced(timeout=20 * UNIT)
        print("ready", flush=True)
        while True:
            st = fh.stats()
            print(json.dumps({"published": st.published, "dropped": st.dropped,
                              "connected": st.connected, "snapshots": st.market.snapshots}),
                  flush=True)
            await asyncio.sleep(0.2)


async def _slow(venue: Any, url: str, streams: list[str], opts: dict[str, Any]) -> None:
    """A consumer whose callback blocks its process ``delay`` seconds on every event."""
    from fastws.bus import BusStream
    delay = float(opts.pop("delay"))
    got = [0]

    def crawl(ev: Any) -> None:
        got[0] += 1
        time.sleep(delay)

    async with BusStream(streams, venue=venue, nats=url, **opts) as bs:
        await bs.wait_synced(timeout=20 * UNIT)
        for s in streams:
            bs.on(s, crawl)
        print("ready", flush=True)
        while True:
            st = bs.stats()
            print(json.dumps({"got": got[0], "messages": st.messages,
                              "slow_consumer": st.bad_frames.get("slow_consumer", 0),
                              "gaps": st.gaps}), flush=True)
            await asyncio.sleep(0.2)


def main(argv: list[str]) -> None:
    role, venue_hex, url, streams_json, opts_json = argv
    venue = pickle.loads(bytes.fromhex(venue_hex))
    streams, opts = json.loads(streams_json), json.loads(opts_json)
    coro = {"feed": _feed, "slow": _slow}[role](venue, url, streams, opts)
    import uvloop
    uvloop.run(coro)


class BusProc:
    """A child process running one bus part (see the module docstring)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.last: dict[str, Any] = {}
        self._reader: asyncio.Task[None] | None = None
        self._err: Any = None

    @classmethod
    async def start(cls, role: str, venue: Any, url: str, streams: list[str],
                    timeout: float = 30.0, **opts: Any) -> "BusProc":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        err = tempfile.TemporaryFile()          # its logs, read if it dies before ready
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bus_procs", role, pickle.dumps(venue).hex(), url,
            json.dumps(streams), json.dumps(opts), cwd=str(REPO_ROOT), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=err)
        self = cls(proc)
        self._err = err
        assert proc.stdout is not None
        try:
            while True:
                line = await asyncio.wait_for(proc.stdout.readline(), timeout * UNIT)
                if not line:
                    err.seek(0)
                    raise AssertionError(f"{role} process exited before ready: "
                                         f"{err.read().decode(errors='replace')[-2000:]}")
                if line.strip() == b"ready":
                    break
        except BaseException:
            await self.kill()
            raise
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            try:
                self.last = json.loads(line)
            except ValueError:
                pass

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def kill(self) -> int:
        """SIGKILL (a crash: nothing flushed, no clean NATS close); the exit status."""
        if self.proc.returncode is None:
            self.proc.kill()
        rc = await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
        if self._err is not None:
            self._err.close()
            self._err = None
        return rc


if __name__ == "__main__":
    main(sys.argv[1:])
