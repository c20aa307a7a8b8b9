"""wss:// and https:// with the simulator's generated certificate, verified by the client."""
from __future__ import annotations

import ssl

import aiohttp
import orjson
import pytest
import websockets

from fastws.sim import Exchange, ManualClock, client_context
from fastws.testing import fast_limits
from tests.sim_support import drain, recv
from tests.utils import UNIT


async def test_wss_streams_ws_api_and_https_rest():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), tls=True, rate=200,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=100)) as ex:
        v = ex.venue
        assert v.stream_url.startswith("wss://127.0.0.1:") and v.rest_url.startswith("https://")
        assert v.ca_file == ex.ca_file and v.is_secure
        ctx = client_context(ex.ca_file)
        async with websockets.connect(v.raw_stream_url(["btcusdt@trade"]), ssl=ctx) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(500)
            assert (await drain(ws))[0]["e"] == "trade"
        async with websockets.connect(v.ws_api_url, ssl=ctx) as ws:
            await ws.send(orjson.dumps({"id": 1, "method": "ping"}).decode())
            assert (await recv(ws))["status"] == 200
        async with aiohttp.ClientSession() as s:
            async with s.get(v.rest_depth_url, params={"symbol": "BTCUSDT"}, ssl=ctx,
                             timeout=aiohttp.ClientTimeout(total=5 * UNIT)) as r:
                assert r.status == 200 and "lastUpdateId" in orjson.loads(await r.read())


async def test_untrusted_certificate_is_rejected():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), tls=True, rest=False) as ex:
        with pytest.raises(ssl.SSLCertVerificationError):
            async with websockets.connect(ex.venue.stream_url + "/ws",
                                          ssl=ssl.create_default_context()):
                pass


async def test_given_certificate_is_reused(tmp_path):
    from fastws.sim import generate_tls
    files = generate_tls(str(tmp_path))
    async with Exchange(["BTCUSDT"], clock=ManualClock(), tls_files=files, rest=False) as ex:
        assert ex.ca_file == files.ca_file
        async with websockets.connect(ex.venue.stream_url + "/ws",
                                      ssl=client_context(files.ca_file)) as ws:
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            assert await recv(ws) == {"result": [], "id": 1}
