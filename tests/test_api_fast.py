"""fastws.api._session: the C hot paths of the WS API client, against simple references."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from fastws.api._limits import Grid, Window, WindowSet, signing_parts
from fastws.exceptions import InvalidUsage
from fastws.api.signing import format_value


def _ref_scaled(text: object, places: int, step: int, lo: int, hi: int) -> int | None:
    """Reference: the exact Decimal value in units, None unless on the grid and in bounds."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return None
    if isinstance(text, str):
        if not text or not all(c in "0123456789." for c in text) or text.count(".") > 1:
            return None
        if text.startswith(".") or text.endswith("."):
            return None
    d = Decimal(text) * (Decimal(10) ** places)
    if d != d.to_integral_value():
        return None
    v = int(d)
    if v <= 0 or v < lo or (hi and v > hi) or v % step or (v - lo) % step:
        return None
    return v if v < 2**63 else None


@settings(deadline=None, max_examples=400)
@given(
    text=st.one_of(
        st.text(alphabet="0123456789.", max_size=12),
        st.integers(min_value=-5, max_value=10**20),
        st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False).map(lambda d: format(d, "f")),
    ),
    places=st.integers(min_value=0, max_value=8),
    step=st.sampled_from([1, 5, 10, 25, 1000]),
    lo=st.sampled_from([0, 5, 1000]),
    hi=st.sampled_from([0, 10**6, 10**12]),
)
def test_grid_scaled_matches_decimal_reference(text, places, step, lo, hi):
    g = Grid(places, step, lo, hi)
    assert g.scaled(text) == _ref_scaled(text, places, step, lo, hi)


def test_grid_text_and_refusals():
    g = Grid(2, 1, 1, 0)
    assert g.scaled("60000.1") == 6000010 and g.text(6000010) == "60000.10"
    assert g.text(5) == "0.05" and g.text(100) == "1.00" and Grid(0, 1, 0, 0).text(7) == "7"
    assert g.scaled("60000.100") == 6000010          # trailing zeros beyond the grid are fine
    for bad in ("60000.101", "1.", ".5", "", " 1", "1e3", "-1", "٣", "1.2.3", 1.5, Decimal("1"), True,
                "9" * 30, 10**30):
        assert g.scaled(bad) is None, bad
    with pytest.raises(ValueError):
        Grid(2, 0, 0, 0)


def test_window_set_counts_reserves_and_waits():
    ws = WindowSet(0)
    w = Window("REQUEST_WEIGHT", "MINUTE", 1, 10)
    ws.windows[("REQUEST_WEIGHT", "MINUTE", 1)] = w
    now = 1_700_000_000_000
    assert ws.delay(5, 0, now) == 0
    ws.reserve(8, 0)
    assert ws.pending_weight == 8 and ws.delay(5, 0, now) == 60_000 - now % 60_000
    ws.release(8, 0, now, ())                          # not reported: charged locally
    assert ws.pending_weight == 0 and w.count == 8 and w.reset_at == now - now % 60_000 + 60_000
    assert ws.update([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                       "limit": 10, "count": "3"}, {"bad": 1}, "x"], now) == ["REQUEST_WEIGHT"]
    assert w.count == 3
    ws.release(0, 0, w.reset_at, ["REQUEST_WEIGHT"])   # the window rolled over
    assert w.count == 0 and w.reset_at == 0
    with pytest.raises(InvalidUsage):
        ws.delay(11, 0, now)


def test_signing_parts_is_the_spec_payload():
    sent, payload = signing_parts({"symbol": "BTCUSDT", "b": None, "timestamp": 1, "price": Decimal("1.50"),
                                   "flag": True, "apiKey": "k"}, format_value)
    assert sent == {"symbol": "BTCUSDT", "timestamp": 1, "price": "1.50", "flag": True, "apiKey": "k"}
    assert payload == b"apiKey=k&flag=true&price=1.50&symbol=BTCUSDT&timestamp=1"
    with pytest.raises(InvalidUsage):
        signing_parts({"x": 1.5}, format_value)
    with pytest.raises(InvalidUsage):
        signing_parts({1: "x"}, format_value)


def test_resolve_accounts_with_the_server_clock_read_in_c():
    import time

    import orjson

    from fastws.api._answers import resolve
    from fastws.api.protocol import ApiProtocol
    from fastws.api.signing import ClockOffset

    clock = ClockOffset()
    local = time.time() * 1000
    clock.add_sample(local, local + 7_200_000, local)         # the server is two hours ahead
    proto = ApiProtocol("spot", clock=lambda: clock.server_time(time.time() * 1000))

    class Waiter:
        result = None

        def done(self):
            return False

        def set_result(self, r):
            self.result = r

    entry = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": 3}
    for use_c_clock in (False, True):
        req = proto.request("ping")
        waiters = {req.id: Waiter()}
        frame = orjson.dumps({"id": req.id, "status": 200, "result": {}, "rateLimits": [entry]})
        assert resolve(proto, waiters, frame, clock if use_c_clock else None)
        w = proto.limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)]
        server_now = clock.server_time(time.time() * 1000)
        assert server_now < w.reset_at <= server_now + 60_000 + 2 * proto.limits.edge_ms
        assert w.count == 3 and not waiters and proto.in_flight == ()
    assert not resolve(proto, {}, frame, clock)               # nobody waits for it: general path


async def test_ping_answers_are_accounted_alike_by_the_scanner_and_the_decoder():
    """``api.ping()`` answers (read by the byte scanner when every window is known) leave the
    same window state as the decoded path: counts, limits, nothing in flight; a window seen for
    the first time, a longer answer or an error still take the general path."""
    from fastws.api.base_operations import BaseOperations
    from fastws.exceptions import ApiError
    from fastws.sim import Exchange

    def entry(t: str, interval: str, num: int, limit: int, count: int) -> dict:
        return {"rateLimitType": t, "interval": interval, "intervalNum": num, "limit": limit, "count": count}

    async with Exchange(["BTCUSDT"]) as ex:
        async with BaseOperations(ex.venue) as api:
            limits = api.client.protocol.limits
            for count in (5, 6, 0, 7):
                rl = [entry("REQUEST_WEIGHT", "MINUTE", 1, 6000, count)]
                ex.faults.rewrite_answers({}, rl, methods="ping")
                assert await api.ping() is None
                w = limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)]
                assert (w.count, w.limit) == (count, 6000) and (w.reset_at > 0) == (count > 0)
                assert api.client.protocol.in_flight == ()
                assert limits.core.pending_raw == 0 and limits.core.pending_weight == 0
            # a window not known yet: added by the general path
            rl = [entry("REQUEST_WEIGHT", "MINUTE", 1, 6000, 9), entry("RAW_REQUESTS", "MINUTE", 5, 61000, 4)]
            ex.faults.rewrite_answers({}, rl, methods="ping")
            assert await api.ping() is None
            assert limits._windows[("RAW_REQUESTS", "MINUTE", 5)].count == 4
            rl2 = [entry("REQUEST_WEIGHT", "MINUTE", 1, 5000, 10), entry("RAW_REQUESTS", "MINUTE", 5, 61000, 3)]
            ex.faults.rewrite_answers({}, rl2, methods="ping")
            assert await api.ping() is None
            assert limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)].limit == 5000
            assert limits._windows[("RAW_REQUESTS", "MINUTE", 5)].count == 3
            # a result that is not {} and an error answer: decoded, the error raised
            ex.faults.rewrite_answers({"x": 1}, [entry("REQUEST_WEIGHT", "MINUTE", 1, 6000, 11)], methods="ping")
            assert await api.ping() is None
            assert limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)].count == 11
            ex.faults.rewrite_answers(error=(400, -1100, "bad"), methods="ping")
            with pytest.raises(ApiError):
                await api.ping()
            assert api.client.protocol.in_flight == ()


_FLAT_VALUES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1),
    st.booleans(), st.none(),
)


@settings(deadline=None, max_examples=400)
@given(obj=st.dictionaries(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=45),
                           _FLAT_VALUES, max_size=12))
def test_flat_decoder_is_orjson_for_the_objects_it_takes(obj):
    """An order's flat result is decoded in place: the same dict as orjson, or None (orjson then
    decodes it) for strings with escapes, big integers, floats, nesting, whitespace."""
    import orjson

    from fastws.api._answers import decode_flat
    data = orjson.dumps(obj)
    got = decode_flat(data)
    plain = all(('"' not in k and "\\" not in k) for k in obj) and all(
        not isinstance(v, str) or ('"' not in v and "\\" not in v) for v in obj.values())
    if plain:
        assert got == orjson.loads(data)
        assert [type(v) for v in got.values()] == [type(v) for v in orjson.loads(data).values()]
    else:
        assert got is None


def test_flat_decoder_refuses_what_it_does_not_take():
    from fastws.api._answers import decode_flat
    for data in [b'{"a":1.5}', b'{"a":[1]}', b'{"a":{}}', b'{"a":"\\n"}', b'{ "a":1}', b'{"a":1,}', b'{"a"}',
                 b'{"a":', b'{"a":tru}', '{"a":"\u00e9"}'.encode(), b'{"a":1234567890123456789}', b'{"a":1e5}',
                 b'{"a":01}', b'{"a":-}', b'[1]', b'', b'{', b'{"a":1}x']:
        assert decode_flat(data) is None, data
    assert decode_flat(b"{}") == {}
    assert decode_flat(b'{"a":true,"b":false,"c":null,"d":-0,"e":-12,"f":""}') == {
        "a": True, "b": False, "c": None, "d": 0, "e": -12, "f": ""}


def test_client_state_lives_in_the_c_session():
    """``ApiClient`` keeps the state the compiled paths read in its C session: one value seen
    from both sides, checked on the way in."""
    from decimal import Decimal

    from fastws.api.client import ApiClient
    from fastws.venues import SPOT_LIMITS, Venue
    venue = Venue("t", "spot", "ws://127.0.0.1:1", "ws://127.0.0.1:1/ws-api/v3", "http://127.0.0.1:1", SPOT_LIMITS)
    client = ApiClient(venue, timeout=4.0, recv_window=3000)
    c = client._c
    assert (c.timeout, c.recv_window, c.logged_on, c.requests, c.link) == (4.0, 3000, False, 0, None)
    client.timeout = 2.5
    client.recv_window = "1000.5"
    client.logged_on = True
    client.requests += 2
    assert (c.timeout, c.recv_window, c.logged_on, c.requests) == (2.5, Decimal("1000.5"), True, 2)
    assert (client.timeout, client.recv_window, client.logged_on, client.requests) == (2.5, Decimal("1000.5"), True, 2)
    with pytest.raises(InvalidUsage):
        client.timeout = 0
    with pytest.raises(InvalidUsage):
        client.recv_window = 70_000
    assert c.proto is client.protocol and c.core is client.protocol.limits.core and c.clock is client.clock
    assert client._deadlines is c.deadlines


async def test_an_answer_to_a_request_already_settled_is_accounted_and_dropped():
    """A timeout or a cancellation may settle a request's future before its answer is read:
    the answer is still accounted (nothing left in flight, its windows counted) and resolving
    raises nothing, by the scanner (a check) and by the decoder (a plain request) alike."""
    import asyncio

    import orjson

    from fastws.api._answers import resolve
    from fastws.api.protocol import ApiProtocol

    loop = asyncio.get_running_loop()
    proto = ApiProtocol("spot")
    entry = {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000, "count": 4}
    for settle in ("cancel", "fail"):
        req = proto.request("ping")
        fut = loop.create_future()
        if settle == "cancel":
            fut.cancel()
        else:
            fut.set_exception(asyncio.TimeoutError())
            fut.exception()                   # retrieved: no "never retrieved" warning
        waiters = {req.id: fut}
        frame = orjson.dumps({"id": req.id, "status": 200, "result": {}, "rateLimits": [entry]})
        assert resolve(proto, waiters, frame)
        assert not waiters and proto.in_flight == ()
        assert proto.limits._windows[("REQUEST_WEIGHT", "MINUTE", 1)].count == 4


def test_request_ids_are_one_counter_for_the_protocol_and_the_compiled_paths():
    """``ApiProtocol.next_id`` reads and sets the C counter the compiled paths take ids from."""
    from fastws.api._answers import RequestIds
    from fastws.api.protocol import ApiProtocol

    proto = ApiProtocol("spot", first_id=41)
    assert isinstance(proto.ids, RequestIds) and proto.next_id == 41
    assert proto.request("ping").id == 41 and proto.ids.take() == 42
    assert proto.request("time").id == 43 and proto.next_id == 44
    proto.next_id = 1000
    assert proto.ids.next_id == 1000 and proto.request("ping").id == 1000
