"""Firehose mode: exact frame counts, valid payloads, equal frame sizes, clean end."""
from __future__ import annotations

import orjson
import pytest
import websockets

from fastws.sim import Exchange
from tests.sim_support import RawWS


@pytest.mark.parametrize("stream,combined", [("btcusdt@bookTicker", False),
                                             ("btcusdt@trade", True),
                                             ("btcusdt@depth@100ms", False)])
async def test_firehose_sends_count_frames_then_closes(stream, combined):
    async with Exchange(["BTCUSDT"], rest=False) as ex:
        url = f"{ex.venue.stream_url}/firehose/{stream}?count=20000&frames=512" + (
            "&combined=1" if combined else "")
        n = 0
        kinds = set()
        async with websockets.connect(url, max_queue=None) as ws:
            size = int(ws.response.headers["X-Firehose-Frame-Size"])
            async for msg in ws:
                n += 1
                if n % 997 == 1:
                    d = orjson.loads(msg)
                    if combined:
                        assert d["stream"] == stream
                        d = d["data"]
                    kinds.add(d.get("e", "bookTicker"))
                    assert d["s"] == "BTCUSDT"
            assert ws.close_code == 1000
        assert n == 20000
        assert size > 20
        assert kinds == {{"btcusdt@bookTicker": "bookTicker", "btcusdt@trade": "trade",
                          "btcusdt@depth@100ms": "depthUpdate"}[stream]}


async def test_firehose_frames_have_equal_size_and_unknown_stream_is_refused():
    async with Exchange(["BTCUSDT"], rest=False) as ex:
        ws = await RawWS.connect(f"{ex.venue.stream_url}/firehose/btcusdt@bookTicker?count=300")
        sizes = {len((await ws.read_frame())[1]) for _ in range(300)}
        assert len(sizes) == 1
        assert (await ws.read_frame())[0] == 0x8
        ws.close()
        with pytest.raises(ConnectionRefusedError):
            await RawWS.connect(f"{ex.venue.stream_url}/firehose/btcusdt@ticker")
