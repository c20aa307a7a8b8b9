"""Bad input never breaks the simulator: control messages and WS API requests of any shape get
an answer (hypothesis drives them), and the server keeps serving."""
from __future__ import annotations

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fastws.sim import Exchange, ManualClock
from fastws.sim.control import ControlState, handle_control
from fastws.sim.wsapi import WsApi
from tests.utils import UNIT

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                        children, max_size=4),
    max_leaves=12)

requests = st.fixed_dictionaries({}, optional={
    "method": st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY",
                               "GET_PROPERTY", "depth", "exchangeInfo", "ping", "time",
                               "v3/depth"]) | json_values,
    "params": json_values | st.dictionaries(
        st.sampled_from(["symbol", "symbols", "limit", "symbolStatus", "returnRateLimits"]),
        json_values, max_size=4) | st.lists(st.text(max_size=20), max_size=4),
    "id": json_values})


def _encode(v) -> bytes:
    try:
        return orjson.dumps(v)
    except TypeError:                                 # integers beyond 64 bits
        return str(v).encode()


@settings(deadline=None, max_examples=300)
@given(st.one_of(requests.map(_encode), st.binary(max_size=60)))
def test_control_always_answers(data):
    for market in ("spot", "usdm"):
        res = handle_control(data, ControlState(market=market))
        msg = orjson.loads(res.response)
        assert ("result" in msg and "id" in msg) or ({"code", "msg"} <= set(msg))


async def test_ws_api_always_answers():
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rest=False, rate=10) as ex:
        api = WsApi(ex)
        ex.weights.limit = 10**12

        @settings(deadline=None, max_examples=300)
        @given(st.one_of(requests.map(_encode), st.binary(max_size=60)))
        @example(b'{"id":1,"method":"exchangeInfo","params":{"symbols":[[1]]}}')
        @example(b'{"id":1,"method":"exchangeInfo","params":{"symbol":[1]}}')
        @example(b'{"id":{"a":1},"method":"ping"}')
        @example(b'{"id":1,"method":"depth","params":{"symbol":"BTCUSDT","limit":-3}}')
        def check(data):
            msg = orjson.loads(api.handle(data, True))
            assert msg["status"] in (200, 400, 429)       # never 500: no internal error
            assert ("result" in msg) != ("error" in msg)

        check()


async def test_odd_paths_get_an_http_answer_and_the_server_survives():
    import websockets
    from tests.sim_support import RawWS
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rest=False) as ex:
        for path, status in [("/nope", 404), ("/ws-fapi/v1", 404), ("/api/v3/depth", 404),
                             ("/firehose/btcusdt@ticker", 400)]:
            try:
                ws = await RawWS.connect(ex.venue.stream_url + path)
                ws.close()
                got = 101
            except ConnectionRefusedError as e:
                got = e.args[0]
            assert got == status, path
        for path in ("/ws/%ff%fe", "/stream?streams=%%%", "/ws//", "/stream?streams=",
                     "/ws/BTCUSDT@trade", "/ws/btcusdt@kline_7x"):
            async with websockets.connect(ex.venue.stream_url + path) as ws:
                await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                assert orjson.loads(await ws.recv())["id"] == 1


def test_simulator_never_imports_the_code_it_checks():
    """The simulator is an independent oracle: no parser, book, sync or signing inside."""
    import subprocess
    import sys

    from tests.utils import REPO_ROOT
    code = (
        "import asyncio, sys\n"
        "import fastws.sim, fastws.sim.cli, fastws.sim.replay, fastws.sim.firehose\n"
        "from fastws.sim import Exchange\n"
        "async def main():\n"
        "    async with Exchange(['BTCUSDT'], tls=True) as ex:\n"
        "        await asyncio.sleep(0.05)\n"
        "asyncio.run(main())\n"
        "bad = [m for m in ('fastws.parser', 'fastws.book', 'fastws.sync', 'fastws.signing')\n"
        "       if m in sys.modules]\n"
        "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO_ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_kline_utc8_alignment():
    import websockets
    from fastws.testing import fast_limits
    from tests.sim_support import drain
    async with Exchange(["BTCUSDT"], clock=ManualClock(1_700_000_000_000), rate=100,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=100)) as ex:
        url = ex.venue.combined_stream_url(["btcusdt@kline_1d@+08:00", "btcusdt@kline_1d"])
        async with websockets.connect(url) as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ex.advance(2000)
            msgs = {m["stream"]: m["data"]["k"] for m in await drain(ws)}
    day, eight = 86_400_000, 8 * 3_600_000
    utc8, utc = msgs["btcusdt@kline_1d@+08:00"], msgs["btcusdt@kline_1d"]
    assert (utc8["t"] + eight) % day == 0 and utc["t"] % day == 0
    assert utc8["T"] == utc8["t"] + day - 1 and utc8["t"] != utc["t"]


async def test_literal_plus_in_a_stream_query_is_not_a_space():
    import websockets
    async with Exchange(["BTCUSDT"], clock=ManualClock(), rest=False) as ex:
        url = ex.venue.stream_url + "/stream?streams=btcusdt@kline_1d@+08:00"
        async with websockets.connect(url) as ws:
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            assert orjson.loads(await ws.recv()) == {"result": ["btcusdt@kline_1d@+08:00"],
                                                     "id": 1}


def test_venue_before_start_is_a_clear_error():
    import pytest

    from fastws.exceptions import InvalidUsage
    with pytest.raises(InvalidUsage, match="start it first"):
        Exchange(["BTCUSDT"]).venue
