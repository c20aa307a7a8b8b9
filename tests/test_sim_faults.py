"""Each fault of ``Exchange.faults``, observed with a non-fastws client."""
from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

from fastws.exceptions import SequenceGap
from fastws.sim import Exchange, ManualClock
from fastws.testing import ReferenceBook, fast_limits
from tests.sim_support import RawWS, drain, get_json, recv
from tests.utils import UNIT

T0 = 1_700_000_000_000
DEPTH = "btcusdt@depth@100ms"


def sim(market="spot", **kw):
    kw.setdefault("rate", 300)
    return Exchange(["BTCUSDT", "ETHUSDT"], market=market, clock=ManualClock(T0),
                    limits=fast_limits(market, ping_interval=30, max_incoming_per_second=1000),
                    **kw)


def breaks(evs, market="spot"):
    if market == "spot":
        return [i for i, (a, b) in enumerate(zip(evs, evs[1:])) if b["U"] != a["u"] + 1]
    return [i for i, (a, b) in enumerate(zip(evs, evs[1:])) if b["pu"] != a["u"]]


async def depth_events(ex, ws, ms=500):
    await ex.advance(ms)
    return await drain(ws)


async def test_drop_next_depth_for_everyone_or_one_connection():
    async with sim() as ex:
        url = ex.venue.raw_stream_url([DEPTH])
        async with websockets.connect(url) as a, websockets.connect(url) as b:
            await ex.wait_connections(2, 5 * UNIT)
            ea, eb = await depth_events(ex, a), await drain(b)
            ex.faults.drop_next_depth("BTCUSDT")
            ea += await depth_events(ex, a)
            eb += await drain(b)
            assert len(breaks(ea)) == 1 and len(breaks(eb)) == 1
            ex.faults.drop_next_depth("BTCUSDT", count=2, conn=ex.connections[0])
            more_a = await depth_events(ex, a)
            more_b = await drain(b)
            assert len(more_a) == len(more_b) - 2
            assert breaks(more_b) == []
            assert ex.faults.pending() == []


async def test_drop_makes_a_reference_book_detect_the_gap():
    async with sim() as ex:
        async with websockets.connect(ex.venue.raw_stream_url([DEPTH])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(100)
            _, _, snap = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT", limit=1000)
            book = ReferenceBook("BTCUSDT")
            book.apply_snapshot(snap)
            ex.faults.drop_next_depth("BTCUSDT", count=1)
            evs = await depth_events(ex, ws)
            with pytest.raises(SequenceGap):
                for ev in evs:
                    book.apply(ev)


async def test_duplicate_and_reorder():
    async with sim() as ex:
        async with websockets.connect(ex.venue.raw_stream_url([DEPTH])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await depth_events(ex, ws)
            ex.faults.duplicate_next_depth("BTCUSDT")
            evs = await depth_events(ex, ws)
            dups = [i for i, (x, y) in enumerate(zip(evs, evs[1:])) if x == y]
            assert len(dups) == 1
            ex.faults.reorder_next_depth("BTCUSDT")
            evs = await depth_events(ex, ws)
            swapped = [i for i, (x, y) in enumerate(zip(evs, evs[1:])) if y["u"] < x["u"]]
            assert len(swapped) == 1
            i = swapped[0]
            assert evs[i + 1]["u"] + 1 == evs[i]["U"]          # the held one came just after
            ex.faults.reorder_next_depth("BTCUSDT", conn=ex.connections[0])
            evs = await depth_events(ex, ws)
            assert sum(y["u"] < x["u"] for x, y in zip(evs, evs[1:])) == 1


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_gap_in_update_ids(market):
    async with sim(market) as ex:
        url = ex.venue.raw_stream_url([DEPTH])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            evs = await depth_events(ex, ws)
            ex.faults.gap("BTCUSDT", size=1000)
            evs += await depth_events(ex, ws, 1000)
        br = breaks(evs, market)
        assert len(br) == 1
        if market == "spot":
            a, b = evs[br[0]], evs[br[0] + 1]
            assert b["U"] == a["u"] + 1 + 1000


async def test_stale_snapshot_is_older_than_the_stream():
    async with sim() as ex:
        async with websockets.connect(ex.venue.raw_stream_url([DEPTH])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(6000)
            evs = await drain(ws)
            ex.faults.stale_snapshot("BTCUSDT")
            _, _, stale = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT", limit=100)
            _, _, fresh = await get_json(ex.venue.rest_depth_url, symbol="BTCUSDT", limit=100)
        assert stale["lastUpdateId"] < evs[0]["U"] <= fresh["lastUpdateId"]


async def test_stall_silences_data_but_not_pings():
    lim = fast_limits(ping_interval=0.1, pong_timeout=5, max_incoming_per_second=1000)
    async with Exchange(["BTCUSDT"], clock=ManualClock(T0), rate=300, limits=lim) as ex:
        ws = await RawWS.connect(ex.venue.raw_stream_url(["btcusdt@trade"]))
        await ex.wait_connections(1, 5 * UNIT)
        ex.faults.stall(0.5, hold=True)
        await ex.advance(1000)
        ops = []
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.3 * UNIT
        while loop.time() < end:
            op, payload = await ws.read_frame()
            ops.append(op)
            if op == 0x9:
                ws.send_frame(0xA, payload)
        assert 0x9 in ops and 0x1 not in ops
        await asyncio.sleep(0.3 * UNIT)
        await ex.advance(100)                 # the stall is over: the held events come
        op = 0x9
        for _ in range(100):                  # pings may come first (bounded)
            op, payload = await ws.read_frame()
            if op != 0x9:
                break
        assert op == 0x1 and orjson.loads(payload)["e"] == "trade"
        ws.close()


async def test_close_clean_reset_midframe():
    async with sim() as ex:
        url = ex.venue.raw_stream_url(["btcusdt@trade"])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.close(how="clean", code=1001, reason="bye")
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), 3 * UNIT)
            assert ws.close_code == 1001
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.close(how="reset")
            with pytest.raises(websockets.ConnectionClosedError):
                await asyncio.wait_for(ws.recv(), 3 * UNIT)
            assert ws.close_code is None or ws.close_code == 1006
        raw = await RawWS.connect(url)
        await ex.wait_connections(1, 5 * UNIT)
        ex.faults.close(how="midframe")
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await raw.read_frame()
        raw.close()


@pytest.mark.parametrize("kind", ["malformed", "truncated", "binary"])
async def test_bad_frames(kind):
    async with sim() as ex:
        ws = await RawWS.connect(ex.venue.raw_stream_url(["btcusdt@trade"]))
        await ex.wait_connections(1, 5 * UNIT)
        ex.faults.send_bad_frame(kind)
        op, payload = await ws.read_frame()
        if kind == "binary":
            assert op == 0x2
        else:
            assert op == 0x1
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(payload)
        # the connection is still usable
        ws.send_frame(0x1, b'{"method":"LIST_SUBSCRIPTIONS","id":1}')
        assert orjson.loads((await ws.read_frame())[1]) == {"result": ["btcusdt@trade"], "id": 1}
        ws.close()


async def test_refuse_connections_for_a_while():
    async with sim() as ex:
        ex.faults.refuse_connections(0.3, status=503)
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(ex.venue.stream_url + "/ws"):
                pass
        assert err.value.response.status_code == 503
        await asyncio.sleep(0.35)
        async with websockets.connect(ex.venue.stream_url + "/ws") as ws:
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            assert await recv(ws) == {"result": [], "id": 1}


async def test_slow_connection():
    async with sim() as ex:
        url = ex.venue.raw_stream_url(["btcusdt@trade"])
        async with websockets.connect(url) as fast, websockets.connect(url) as slow:
            await ex.wait_connections(2, 5 * UNIT)
            ex.faults.slow(0.4, conn=ex.connections[1])
            await ex.advance(300)
            await recv(fast, 1)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(slow.recv(), 0.2)
            assert (await recv(slow, 2))["e"] == "trade"
            # read everything: a websockets client with a full queue cannot see the close
            await drain(fast)
            await drain(slow)


async def test_server_shutdown_fault_then_close():
    async with sim() as ex:
        async with websockets.connect(ex.venue.combined_stream_url(["btcusdt@trade"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.server_shutdown(close_after=0.05)
            msg = await recv(ws)
            assert msg["stream"] == "!serverShutdown" and msg["data"]["e"] == "serverShutdown"
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3 * UNIT)


async def test_faults_scripted_in_simulated_time():
    async with sim() as ex:
        async with websockets.connect(ex.venue.raw_stream_url([DEPTH])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.at(T0 + 1250, ex.faults.gap, "BTCUSDT", size=77)
            ex.faults.after(2450, ex.faults.drop_next_depth, "BTCUSDT")
            evs = await depth_events(ex, ws, 3000)
        br = breaks(evs)
        assert len(br) == 2
        first, second = evs[br[0] + 1], evs[br[1] + 1]
        # the gap opens on the next whole second: the first event after it is E=2100
        assert first["U"] == evs[br[0]]["u"] + 78 and first["E"] == T0 + 2100
        assert second["E"] == T0 + 2600          # the event of 2500 was dropped


# -- link faults (issue 10) ------------------------------------------------------------------


async def test_slow_lifted_never_reorders():
    """Writes made after ``slow`` is lifted wait for the delayed ones (TCP never reorders)."""
    async with sim() as ex:
        async with websockets.connect(ex.venue.raw_stream_url(["btcusdt@trade"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.slow(0.3)
            await ex.advance(300)
            ex.faults.slow(0.0)
            await ex.advance(300)
            await asyncio.sleep(0.6)                # the delayed writes are out too
            trades = [m for m in await drain(ws) if m.get("e") == "trade"]
        ids = [t["t"] for t in trades]
        assert ids and ids == sorted(ids)


async def test_refuse_upgrades_with_retry_after_and_ban_end():
    async with sim() as ex:
        ex.faults.refuse_upgrades(429, count=1, retry_after=7)
        ex.faults.refuse_upgrades(418, count=1, ban_seconds=30)
        for status in (429, 418):
            r, w = await asyncio.open_connection("127.0.0.1", ex.port)
            w.write(b"GET /stream?streams=btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
            data = await asyncio.wait_for(r.read(4096), 5 * UNIT)
            w.close()
            assert data.startswith(b"HTTP/1.1 %d" % status)
            if status == 429:
                assert b"retry-after: 7" in data.lower()
            else:
                assert b"banned until %d" % (ex.now_ms() + 30_000) in data
        async with websockets.connect(ex.venue.raw_stream_url(["btcusdt@trade"])):
            pass                                    # the third upgrade is accepted


async def test_control_faults_stray_refused_silent_garbled():
    async with sim() as ex:
        async with websockets.connect(ex.venue.stream_url + "/ws") as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.control_errors_without_id(count=1)
            await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}')
            assert "id" not in await recv(ws)
            assert await recv(ws) == {"result": None, "id": 1}
            ex.faults.control_errors_without_id(count=1, refuse=True)
            await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@trade"],"id":2}')
            assert (await recv(ws))["code"] == 2
            ex.faults.list_subscriptions_fault("silent")
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":3}')
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.3)
            ex.faults.list_subscriptions_fault("garbled")
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":4}')
            assert not isinstance((await recv(ws))["result"], list)
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":5}')
            assert await recv(ws) == {"result": ["btcusdt@trade"], "id": 5}   # eth refused


async def _frames_raw(url: str, n: int) -> list[tuple[int, bool, int]]:
    ws = await RawWS.connect(url)
    out = []
    try:
        for _ in range(n):
            h = await asyncio.wait_for(ws.reader.readexactly(2), 5 * UNIT)
            size = h[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await ws.reader.readexactly(2), "big")
            elif size == 127:
                size = int.from_bytes(await ws.reader.readexactly(8), "big")
            await ws.reader.readexactly(size)
            out.append((h[0] & 0x0F, bool(h[0] & 0x80), size))
    finally:
        ws.close()
    return out


async def test_fragments_and_endless_continuation():
    async with sim() as ex:
        url = ex.venue.raw_stream_url(["btcusdt@trade"])
        task = asyncio.create_task(_frames_raw(url, 6))
        await ex.wait_connections(1, 5 * UNIT)
        ex.faults.fragment_frames(size=20, count=1)
        await ex.advance(300)
        frames = [f for f in await task if f[0] != 0x9]
        assert frames[0][:2] == (0x1, False) and frames[1][0] == 0x0
        first = ex.connection_attempts
        task = asyncio.create_task(_frames_raw(url, 8))
        while ex.connection_attempts == first or not ex.connections or ex.connections[-1].closed:
            await asyncio.sleep(0.01)
        ex.faults.endless_continuation(chunk=1000, conn=ex.connections[-1])
        frames = [f for f in await task if f[0] != 0x9]
        assert frames[0][:2] == (0x1, False)
        assert all(f[:2] == (0x0, False) for f in frames[1:] if f[2] == 1000)


async def test_new_link_faults_shutdown_drop_and_foreign_frames():
    async with sim() as ex:
        ex.faults.shutdown_new_link(after=0.05, close_after=0.1)
        async with websockets.connect(ex.venue.combined_stream_url(["btcusdt@trade"])) as ws:
            msg = await recv(ws)
            assert msg["data"]["e"] == "serverShutdown"
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3 * UNIT)
        ex.faults.drop_new_links(after=0.1, count=1)
        async with websockets.connect(ex.venue.combined_stream_url(["btcusdt@trade"])) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 3 * UNIT)
        async with websockets.connect(ex.venue.combined_stream_url(["btcusdt@trade"])) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            ex.faults.mute_stream("btcusdt@trade", 60)
            ex.faults.send_unsubscribed("xrpusdt@trade", count=2)
            await ex.advance(500)
            got = await drain(ws)
            assert [m["stream"] for m in got] == ["xrpusdt@trade", "xrpusdt@trade"]


async def test_fragments_on_the_ws_api():
    async with sim() as ex:
        ws = await RawWS.connect(ex.venue.ws_api_url)
        try:
            while not ex.api_connections:
                await asyncio.sleep(0.01)
            ex.faults.fragment_frames(size=8, count=1, api=True)
            ws.send_frame(0x1, b'{"id":1,"method":"ping"}')
            h = await asyncio.wait_for(ws.reader.readexactly(2), 5 * UNIT)
            assert (h[0] & 0x0F, bool(h[0] & 0x80)) == (0x1, False)   # TEXT without FIN
        finally:
            ws.close()
