"""Binance's connection rules in the simulator (SPEC §2.2, §4.2), with shortened timers."""
from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from fastws.testing import fast_limits
from tests.sim_support import RawWS, recv
from tests.utils import UNIT

PING, PONG, CLOSE, TEXT = 0x9, 0xA, 0x8, 0x1


async def _next_ping(ws: RawWS) -> bytes:
    while True:
        op, payload = await ws.read_frame(3)
        if op == PING:
            return payload


@pytest.mark.parametrize("market", ["spot", "usdm"])
async def test_ping_pong_keeps_alive_and_silence_disconnects(market):
    lim = fast_limits(market, ping_interval=0.1, pong_timeout=0.3)
    async with Exchange(["BTCUSDT"], market=market, clock=ManualClock(), limits=lim,
                        rest=False) as ex:
        base = ex.venue.stream_base("public" if market == "usdm" else None)
        good = await RawWS.connect(base + "/ws")
        bad = await RawWS.connect(base + "/ws")
        # answer 6 pings (0.6 s, twice the pong deadline): still connected
        for _ in range(6):
            payload = await _next_ping(good)
            assert payload, "Binance pings carry a payload to copy"
            good.send_frame(PONG, payload)
        assert len(ex.connections) == 1          # `bad` never answered and is gone
        frames = await bad.until_closed()
        assert frames[-1][0] == CLOSE
        assert int.from_bytes(frames[-1][1][:2], "big") == 1008
        good.close()
        bad.close()


@pytest.mark.parametrize("market,kept", [("spot", False), ("usdm", True)])
async def test_unsolicited_pong(market, kept):
    # SPEC §2.2: on spot an unsolicited pong does not keep the connection alive; §4.2: on
    # USD-M it does.
    lim = fast_limits(market, ping_interval=0.1, pong_timeout=0.35)
    async with Exchange(["BTCUSDT"], market=market, clock=ManualClock(), limits=lim,
                        rest=False) as ex:
        base = ex.venue.stream_base("market" if market == "usdm" else None)
        ws = await RawWS.connect(base + "/ws")
        deadline = asyncio.get_running_loop().time() + 0.8 * UNIT
        alive = True
        while asyncio.get_running_loop().time() < deadline:
            try:
                op, _ = await ws.read_frame(1)
            except asyncio.IncompleteReadError:
                alive = False
                break
            if op == PING:
                ws.send_frame(PONG, b"")
            elif op == CLOSE:
                alive = False
                break
        assert alive is kept
        ws.close()


async def test_pings_are_answered_with_the_same_payload():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rest=False,
                        limits=fast_limits(ping_interval=30)) as ex:
        ws = await RawWS.connect(ex.venue.stream_url + "/ws")
        ws.send_frame(PING, b"hello")
        assert await ws.read_frame() == (PONG, b"hello")
        ws.close()


@pytest.mark.parametrize("market,limit", [("spot", 5), ("usdm", 10)])
async def test_too_many_incoming_messages_drop_the_connection(market, limit):
    async with Exchange(["BTCUSDT"], market=market, clock=ManualClock(), rest=False,
                        limits=fast_limits(market, ping_interval=30)) as ex:
        base = ex.venue.stream_base("public" if market == "usdm" else None)
        ws = await RawWS.connect(base + "/ws")
        for i in range(limit):
            ws.send_frame(TEXT, orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        for i in range(limit):
            op, payload = await ws.read_frame()
            assert orjson.loads(payload) == {"result": [], "id": i}
        assert len(ex.connections) == 1
        ws.send_frame(PING, b"x")            # one more within the same second: over the limit
        frames = await ws.until_closed()
        assert frames and frames[-1][0] == CLOSE
        ws.close()


async def test_stream_cap_per_connection():
    lim = fast_limits(ping_interval=30, max_streams_per_connection=3,
                      max_incoming_per_second=100)
    async with Exchange(["BTCUSDT"], clock=ManualClock(), limits=lim, rest=False) as ex:
        names = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@bookTicker", "btcusdt@depth"]
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(ex.venue.combined_stream_url(names)):
                pass
        assert err.value.response.status_code == 400
        async with websockets.connect(ex.venue.combined_stream_url(names[:3])) as ws:
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": names[3:],
                                        "id": 1}).decode())
            r = await recv(ws)
            assert r["code"] == 2 and "too many streams" in r["msg"]


async def test_connection_attempts_budget():
    lim = fast_limits(ping_interval=30, max_connection_attempts=3,
                      connection_attempts_window=60)
    async with Exchange(["BTCUSDT"], clock=ManualClock(), limits=lim, rest=False) as ex:
        for _ in range(3):
            async with websockets.connect(ex.venue.stream_url + "/ws"):
                pass
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(ex.venue.stream_url + "/ws"):
                pass
        assert err.value.response.status_code == 429
        assert ex.refused == 1 and ex.connection_attempts == 4


async def test_connection_lifetime():
    lim = fast_limits(ping_interval=30, connection_lifetime=0.3)
    async with Exchange(["BTCUSDT"], clock=ManualClock(), limits=lim, rest=False) as ex:
        async with websockets.connect(ex.venue.stream_url + "/ws") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3 * UNIT)
            assert ws.close_code == 1000


@pytest.mark.parametrize("path,combined", [("/ws/btcusdt@trade", False),
                                           ("/stream?streams=btcusdt@trade", True)])
async def test_server_shutdown_precedes_planned_close(path, combined, samples_dir):
    ex = Exchange(["BTCUSDT"], clock=ManualClock(), rest=False,
                  limits=fast_limits(ping_interval=30))
    await ex.start()
    async with websockets.connect(ex.venue.stream_url + path) as ws:
        await ex.wait_connections(1, 5 * UNIT)
        await ex.close()
        msg = await recv(ws)
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 3 * UNIT)
    if combined:
        assert msg["stream"] == "!serverShutdown"
        msg = msg["data"]
    assert set(msg) == {"e", "E"} and msg["e"] == "serverShutdown"
    assert isinstance(msg["E"], int)


async def test_ws_api_server_shutdown_event():
    ex = Exchange(["BTCUSDT"], clock=ManualClock(), rest=False,
                  limits=fast_limits(ping_interval=30))
    await ex.start()
    async with websockets.connect(ex.venue.ws_api_url) as ws:
        async def opened():
            while not ex.api_connections:
                await asyncio.sleep(0.01)
        await asyncio.wait_for(opened(), 5 * UNIT)
        await ex.close()
        msg = await recv(ws)
    assert msg == {"event": {"e": "serverShutdown", "E": msg["event"]["E"]}}


async def test_exchange_starts_fast_and_on_free_ports():
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with Exchange(["BTCUSDT", "ETHUSDT"]) as a, Exchange(["BTCUSDT"]) as b:
        started = loop.time() - t0
        assert a.port != b.port and a.rest_port != b.rest_port
        assert a.venue.stream_url.startswith("ws://127.0.0.1:")
    # not a speed benchmark, only a guard against something blocking at start-up
    assert started < 5 * UNIT


async def test_usdm_ws_api_caps_ping_frames_but_not_requests():
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(), rest=False,
                        limits=fast_limits("usdm", ping_interval=30)) as ex:
        ws = await RawWS.connect(ex.venue.ws_api_url)
        for i in range(20):                          # requests: limited by weight only
            ws.send_frame(TEXT, orjson.dumps({"id": i, "method": "ping"}))
        for i in range(20):
            assert orjson.loads((await ws.read_frame())[1])["status"] == 200
        for i in range(5):
            ws.send_frame(PING, b"%d" % i)
            assert await ws.read_frame() == (PONG, b"%d" % i)
        ws.send_frame(PING, b"6")
        frames = await ws.until_closed()
        assert frames[-1][0] == CLOSE
        ws.close()


async def test_a_client_that_never_reads_is_dropped():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rest=False, rate=2000,
                        limits=fast_limits(ping_interval=30), max_write_buffer=200_000) as ex:
        ws = await RawWS.connect(ex.venue.combined_stream_url(
            ["btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker", "btcusdt@aggTrade"]))
        await ex.wait_connections(1, 5 * UNIT)
        for _ in range(100):
            await ex.advance(1000)
            if not ex.connections:
                break
        assert not ex.connections
        ws.close()
