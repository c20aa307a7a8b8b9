"""The simulator on uvloop (the other tests run on asyncio's default loop)."""
from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
import websockets

from fastws.exceptions import SequenceGap
from fastws.sim import Exchange, ManualClock, client_context
from fastws.testing import ReferenceBook, fast_limits
from tests.sim_support import drain
from tests.utils import UNIT

uvloop = pytest.importorskip("uvloop")


async def _scenario() -> None:
    async with Exchange(["BTCUSDT"], clock=ManualClock(1_700_000_000_000), rate=300, tls=True,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=100)) as ex:
        ctx = client_context(ex.ca_file)
        url = ex.venue.raw_stream_url(["btcusdt@depth@100ms"])
        async with websockets.connect(url, ssl=ctx) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(500)
            evs = await drain(ws)
            async with aiohttp.ClientSession() as s:
                async with s.get(ex.venue.rest_depth_url, ssl=ctx,
                                 params={"symbol": "BTCUSDT", "limit": 1000}) as r:
                    snap = orjson.loads(await r.read())
            await ex.advance(500)
            evs += await drain(ws)
            book = ReferenceBook("BTCUSDT")
            book.apply_snapshot(snap)
            for ev in evs:
                book.apply(ev)
            assert book.update_id == ex.update_id("BTCUSDT")
            ex.faults.drop_next_depth("BTCUSDT")
            await ex.advance(500)
            with pytest.raises(SequenceGap):
                for ev in await drain(ws):
                    book.apply(ev)
            await ex.close()
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5 * UNIT))
            assert msg["e"] == "serverShutdown"
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5 * UNIT)


def test_tls_streams_snapshot_fault_and_shutdown_on_uvloop():
    uvloop.run(_scenario())
