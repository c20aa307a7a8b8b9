"""Control messages on stream connections (SPEC §2.3): exact answers and error frames.

The pure handler is checked directly; the wire behaviour with a ``websockets`` client.
"""
from __future__ import annotations

import json

import orjson
import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from fastws.sim.control import ControlState, handle_control
from fastws.testing import fast_limits
from tests.sim_support import drain, recv
from tests.utils import UNIT


def ctl(msg, state=None):
    state = state or ControlState()
    raw = msg if isinstance(msg, str) else json.dumps(msg)
    return orjson.loads(handle_control(raw, state).response), state


def test_documented_requests_give_documented_responses(samples_dir):
    state = ControlState()
    for name in ("subscribe", "list_subscriptions", "set_property", "get_property",
                 "unsubscribe"):
        req = json.loads((samples_dir / f"spot_control_{name}_request.json").read_text())
        resp = orjson.loads(handle_control(json.dumps(req), state).response)
        expected = json.loads((samples_dir / f"spot_control_{name}_response.json").read_text())
        if name == "list_subscriptions":
            # the sample lists one stream; after the sample SUBSCRIBE we hold both
            assert resp == {"result": ["btcusdt@aggTrade", "btcusdt@depth"], "id": 3}
        else:
            assert resp == expected, name
    assert state.subscriptions == ["btcusdt@aggTrade"]
    assert state.combined is True


def _table(samples_dir):
    rows = json.loads((samples_dir / "spot_control_errors_table.json").read_text())
    return [r["message"] for r in rows]


def test_error_frames_match_the_documented_table(samples_dir):
    table = _table(samples_dir)
    got = [
        ctl({"method": "SET_PROPERTY", "params": ["colour", True], "id": 9})[0],
        ctl({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 9})[0],
        ctl({"method": "SET_PROPERTY", "params": [5, True], "id": 9})[0],
        ctl({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": [1]})[0],
        ctl({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 9})[0],
        ctl({"method": "GET_PROPERTY", "params": [], "id": 9})[0],
    ]
    assert got[0] == {"code": 0, "msg": "Unknown property", "id": 9}
    assert orjson.loads(table[0].replace("%s", "9")) == got[0]
    expected = [orjson.loads(t) for t in table[1:4]] + [orjson.loads(table[5]),
                                                        orjson.loads(table[6])]
    assert got[1:] == expected


def test_unknown_method_missing_method_and_bad_json(samples_dir):
    table = _table(samples_dir)
    r, _ = ctl('{"method": "SUBSCRIBEX", "params": [], "id": 1}')
    assert r["code"] == 2
    prefix, _, rest = table[4].partition("%s")
    want_msg = orjson.loads(prefix.replace("%s", "") + "x" + rest)["msg"]
    assert r["msg"].startswith("Invalid request: unknown variant `SUBSCRIBEX`, expected one of ")
    assert r["msg"].split(", expected")[1].rsplit(" at line", 1)[0] == \
        want_msg.split(", expected")[1].rsplit(" at line", 1)[0]
    r, _ = ctl('{"params": ["btcusdt@trade"], "id": 1, "pad": "xxxxxxxxxxxxxxxxxxxxxxx"}')
    assert r["code"] == 2 and r["msg"].startswith("Invalid request: missing field `method` at line 1")
    r, _ = ctl('{"method": "SUBSCRIBE", "params": [,], "id": 1}')
    assert r["code"] == 3 and r["msg"].startswith("Invalid JSON: expected value at line 1 column")


@pytest.mark.parametrize("id_,ok_spot,ok_usdm", [
    (1, True, True), (-5, True, False), ((1 << 63) - 1, True, True), (1 << 63, False, True),
    ("abcDEF123", True, True), ("x" * 37, False, False), ("bad char!", False, False),
    ("922bcc6e-9de8-440d-9e84-7c80933a8d0d", True, True),
    (None, True, False), (1.5, False, False), (True, False, False)])
def test_request_id_rules(id_, ok_spot, ok_usdm):
    for market, ok in (("spot", ok_spot), ("usdm", ok_usdm)):
        r, _ = ctl({"method": "LIST_SUBSCRIPTIONS", "id": id_}, ControlState(market=market))
        if ok:
            assert r == {"result": [], "id": id_}
        else:
            assert r == {"code": 2,
                         "msg": "Invalid request: request ID must be an unsigned integer"}


def test_subscribe_is_idempotent_and_stream_cap():
    st = ControlState(max_streams=3)
    ctl({"method": "SUBSCRIBE", "params": ["a@trade", "b@trade", "a@trade"], "id": 1}, st)
    assert st.subscriptions == ["a@trade", "b@trade"]
    r, _ = ctl({"method": "SUBSCRIBE", "params": ["c@trade", "d@trade"], "id": 2}, st)
    assert r["code"] == 2 and "too many streams" in r["msg"]
    assert st.subscriptions == ["a@trade", "b@trade"]
    r, _ = ctl({"method": "UNSUBSCRIBE", "params": ["zzz@trade", "a@trade"], "id": 3}, st)
    assert r == {"result": None, "id": 3} and st.subscriptions == ["b@trade"]


async def test_control_on_the_wire_changes_delivery():
    async with Exchange(["BTCUSDT"], clock=ManualClock(1_700_000_000_000), rate=200,
                        limits=fast_limits(ping_interval=30, max_incoming_per_second=1000)) as ex:
        async with websockets.connect(ex.venue.stream_url + "/ws") as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@depth@100ms"],"id":1}')
            assert await recv(ws) == {"result": None, "id": 1}
            await ws.send('{"method":"GET_PROPERTY","params":["combined"],"id":2}')
            assert await recv(ws) == {"result": False, "id": 2}
            await ex.advance(500)
            raw = await drain(ws)
            assert raw and all("e" in m and "stream" not in m for m in raw)
            await ws.send('{"method":"SET_PROPERTY","params":["combined",true],"id":5}')
            assert await recv(ws) == {"result": None, "id": 5}
            await ex.advance(500)
            wrapped = await drain(ws)
            assert wrapped and all(set(m) == {"stream", "data"} for m in wrapped)
            assert {m["stream"] for m in wrapped} == {"btcusdt@trade", "btcusdt@depth@100ms"}
            await ws.send('{"method":"UNSUBSCRIBE","params":["btcusdt@trade"],"id":312}')
            assert await recv(ws) == {"result": None, "id": 312}
            await ex.advance(500)
            assert {m["stream"] for m in await drain(ws)} == {"btcusdt@depth@100ms"}
        async with websockets.connect(ex.venue.stream_url + "/stream") as ws:
            await ex.wait_connections(1, 5 * UNIT)
            await ws.send('{"method":"GET_PROPERTY","params":["combined"],"id":2}')
            assert await recv(ws) == {"result": True, "id": 2}
