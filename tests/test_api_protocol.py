"""The WS API protocol object: frames and ids, responses and events, errors, weights, rate limits."""
from __future__ import annotations

import json
import logging
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.api.protocol import (
    MIN_BAN_MS,
    SPOT_ORDERS_PER_10_SECONDS,
    ApiEvent,
    ApiProtocol,
    ApiResponse,
    RateLimits,
    error_from_body,
    order_count,
    request_weight,
)
from fastws.exceptions import (
    ApiError,
    AuthError,
    InvalidUsage,
    IPBannedError,
    OutcomeUnknownError,
    ParseError,
    RateLimitError,
)
from fastws.api.signing import HmacSigner

SETTINGS = settings(deadline=None, max_examples=40)
T0 = 1_700_000_000_000  # a minute boundary: 1_700_000_000_000 % 60_000 == 20_000
T0 = T0 - T0 % 60_000


def load(samples_dir, name):
    return json.loads((samples_dir / name).read_text("utf-8"))


def answer(sample: dict, req) -> dict:
    """A sample response re-addressed to our request id."""
    return {**sample, "id": req.id}


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


# -- frames and ids --------------------------------------------------------------------------


def test_request_frames_and_unique_ids(samples_dir):
    api = ApiProtocol(clock=Clock())
    ping = api.request("ping")
    sample = load(samples_dir, "wsapi_ping_request.json")
    assert orjson.loads(ping.data) == {**sample, "id": ping.id}  # no "params" when empty
    reqs = [api.request("depth", {"symbol": "BTCUSDT", "limit": 5}) for _ in range(100)]
    assert len({r.id for r in reqs} | {ping.id}) == 101
    assert len(api.in_flight) == 101
    frame = orjson.loads(api.request("order.test", {"price": Decimal("0.10"), "x": None, "symbol": "A"}).data)
    assert frame["params"] == {"price": "0.10", "symbol": "A"}
    with pytest.raises(InvalidUsage):
        api.request("")
    with pytest.raises(InvalidUsage):
        api.request("x", {"bad": object()})


def test_signed_request_hides_secrets_in_repr(samples_dir):
    vec = load(samples_dir, "signing_test_vectors.json")["hmac_sha256"]
    api = ApiProtocol(clock=Clock())
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00"}
    req = api.signed_request("order.place", params, HmacSigner(vec["secretKey"]), vec["apiKey"],
                             timestamp=1645423376532, recv_window=100)
    sent = orjson.loads(req.data)["params"]
    assert sent["signature"] == vec["wsapi_vectors_verified"][0]["signature"]
    assert vec["apiKey"] not in repr(req) and sent["signature"] not in repr(req)
    assert req.weight == 1 and req.orders == 1


def test_debug_logs_carry_no_secrets(samples_dir, caplog):
    vec = load(samples_dir, "signing_test_vectors.json")["hmac_sha256"]
    with caplog.at_level(logging.DEBUG, logger="fastws.api"):
        api = ApiProtocol(clock=Clock())  # caches isEnabledFor(DEBUG) at construction
        req = api.signed_request("account.status", {}, HmacSigner(vec["secretKey"]), vec["apiKey"],
                                 timestamp=1660801839480)
        api.receive({"id": req.id, "status": 400, "error": {"code": -2015, "msg": "Invalid API-key"}})
        api.receive({"id": None, "status": 401, "error": {"code": -2015, "msg": "revoked"}})
    assert "account.status" in caplog.text
    signature = orjson.loads(req.data)["params"]["signature"]
    for secret in (vec["apiKey"], vec["secretKey"], signature):
        assert secret not in caplog.text


# -- responses -------------------------------------------------------------------------------


def test_success_response_matched_and_limits_tracked(samples_dir):
    clock = Clock(T0 + 1000)
    api = ApiProtocol(clock=clock)
    req = api.request("order.place", {"symbol": "BTCUSDT"})
    other = api.request("ping")
    res = api.receive(orjson.dumps(answer(load(samples_dir, "wsapi_envelope_response_success.json"), req)))
    assert isinstance(res, ApiResponse) and res.ok and res.request is req
    assert res.unwrap()["orderId"] == 12510053279
    assert api.in_flight == (other,)
    windows = {(w.type, w.interval_num, w.interval): w for w in api.limits.windows(clock.t)}
    assert windows[("REQUEST_WEIGHT", 1, "MINUTE")].count == 321
    assert windows[("ORDERS", 10, "SECOND")].count == 12
    assert windows[("ORDERS", 1, "DAY")].count == 4043
    # calendar-aligned: the 10 s window holding T0 + 1000 ends at T0 + 10 s (+ the clock guard)
    assert windows[("ORDERS", 10, "SECOND")].reset_at == T0 + 10_000 + api.limits.edge_ms
    assert windows[("REQUEST_WEIGHT", 1, "MINUTE")].reset_at == T0 + 60_000 + api.limits.edge_ms
    # the ping still in flight is deducted from the room left
    assert api.limits.remaining("REQUEST_WEIGHT", clock.t) == 6000 - 321 - 1
    assert api.limits.remaining("ORDERS", clock.t) == 50 - 12


@pytest.mark.parametrize(
    "name, cls, code",
    [
        ("wsapi_envelope_response_error_-2010.json", ApiError, -2010),
        ("wsapi_error_418_ip_banned_-1003.json", IPBannedError, -1003),
        ("wsapi_order_cancelReplace_response_429_do_nothing_-1015.json", RateLimitError, -1015),
        ("wsapi_order_cancelReplace_response_409_cancel_failed.json", ApiError, -2021),
        ("usdm_wsapi_envelope_response_error_-1102.json", ApiError, -1102),
    ],
)
def test_error_samples_become_the_right_exception(samples_dir, name, cls, code):
    api = ApiProtocol(clock=Clock(T0 + 500))
    req = api.request("order.place", {"symbol": "BTCUSDT"})
    res = api.receive(answer(load(samples_dir, name), req))
    assert type(res.error) is cls and res.error.code == code and res.request is req
    assert not res.ok
    with pytest.raises(cls):
        res.unwrap()
    if cls is IPBannedError:
        assert res.error.retry_after == 1659146400000
    if code == -2021:
        assert res.error.data["newOrderResult"] == "SUCCESS"


def test_unsolicited_revoked_key(samples_dir):
    api = ApiProtocol(clock=Clock())
    res = api.receive(load(samples_dir, "wsapi_error_401_session_revoked_-2015.json"))
    assert res.id is None and res.request is None and isinstance(res.error, AuthError)
    res = api.receive(load(samples_dir, "usdm_wsapi_error_401_session_revoked_-2015.json"))
    assert isinstance(res.error, AuthError)


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, -1022, AuthError), (400, -2014, AuthError), (401, -1000, AuthError),
        (400, -1007, OutcomeUnknownError), (400, -1006, OutcomeUnknownError),
        (503, -1001, OutcomeUnknownError), (500, 0, OutcomeUnknownError),
        (429, -1003, RateLimitError), (418, -1003, IPBannedError), (403, -1000, ApiError),
        (400, -1013, ApiError),
    ],
)
def test_error_mapping(status, code, cls):
    assert type(error_from_body(status, code, "m")) is cls


def test_ban_time_read_from_message_when_no_data():
    err = error_from_body(418, -1003, "Way too much request weight used; IP banned until 1659146400000.")
    assert err.retry_after == 1659146400000


def test_events_routed_apart(samples_dir):
    api = ApiProtocol(clock=Clock())
    pending = api.request("ping")
    ev = api.receive(load(samples_dir, "wsapi_event_envelope_outboundAccountPosition.json"))
    assert isinstance(ev, ApiEvent) and ev.subscription_id == 0 and ev.kind == "outboundAccountPosition"
    assert not ev.is_server_shutdown
    ev = api.receive(orjson.dumps(load(samples_dir, "wsapi_event_serverShutdown.json")))
    assert ev.subscription_id is None and ev.is_server_shutdown
    for name in ("spot_uds_executionReport.json", "spot_uds_eventStreamTerminated.json"):
        assert isinstance(api.receive(load(samples_dir, name)), ApiEvent)
    assert api.in_flight == (pending,)  # events touch no request


def test_garbage_frames_raise_and_change_nothing():
    api = ApiProtocol(clock=Clock())
    req = api.request("ping")
    for bad in (b"{", b"[1]", b'{"foo": 1}', {"status": "200", "id": req.id},
                {"event": [1]}, {"event": {}, "subscriptionId": "x"}):
        with pytest.raises(ParseError):
            api.receive(bad)
    assert api.in_flight == (req,)
    # a response for an unknown id is returned, unmatched
    assert api.receive({"id": 424242, "status": 200, "result": {}}).request is None


def test_abandon_and_connection_lost():
    clock = Clock(T0 + 10)
    api = ApiProtocol(clock=clock)
    a = api.request("ping")
    clock.t += 5_000
    b = api.request("order.place", {"symbol": "X"})
    assert api.limits.in_flight_weight == 2
    assert api.overdue(4_000) == [a] and api.overdue(10_000) == []
    assert api.overdue(1_000, now_ms=clock.t + 2_000) == [a, b]
    assert api.abandon(a.id) is a and api.abandon(a.id) is None
    assert api.receive({"id": a.id, "status": 200, "result": {}}).request is None  # late answer
    assert api.connection_lost() == [b] and api.in_flight == ()
    assert api.limits.in_flight_weight == 0
    # their weight stays charged: the server may have counted them
    assert api.limits.remaining("REQUEST_WEIGHT", clock.t) == 6000 - 2


# -- weights ---------------------------------------------------------------------------------


def test_request_weights_table():
    assert request_weight("ping") == 1 and request_weight("v3/ping") == 1
    assert request_weight("exchangeInfo") == 20
    assert [request_weight("depth", {"limit": n}) for n in (None, 100, 101, 500, 1000, 5000)] == [5, 5, 25, 25, 50, 250]
    assert [request_weight("depth", {"limit": n}, "usdm") for n in (None, 5, 50, 100, 500, 1000)] == [10, 2, 2, 5, 10, 20]
    assert request_weight("ticker.24hr", {"symbol": "A"}) == 2
    assert request_weight("ticker.24hr", {"symbols": ["A"] * 21}) == 40
    assert request_weight("ticker.24hr", {"symbols": ["A"] * 101}) == 80
    assert request_weight("ticker.24hr") == 80
    assert request_weight("ticker", {"symbols": ["A"] * 3}) == 12
    assert request_weight("ticker", {"symbols": ["A"] * 60}) == 200
    assert request_weight("ticker.tradingDay", {"symbols": '["A","B"]'}) == 8
    assert request_weight("ticker.price") == 4 and request_weight("ticker.book", {"symbol": "A"}) == 2
    assert request_weight("openOrders.status") == 80 and request_weight("openOrders.status", {"symbol": "A"}) == 6
    assert request_weight("myTrades", {"orderId": 1}) == 5 and request_weight("myTrades") == 20
    assert request_weight("order.test", {"computeCommissionRates": True}) == 20
    assert request_weight("executionRules", {"symbols": ["A"] * 30}) == 40
    assert request_weight("account.rateLimits.orders") == 40
    assert request_weight("some.future.method") == 1
    assert order_count("order.place") == 1 and order_count("orderList.place.otoco") == 3
    assert order_count("order.cancel") == 0


# -- rate limits -----------------------------------------------------------------------------


def test_waits_for_window_reset_instead_of_sending_into_429():
    limits = RateLimits("spot", edge_ms=100)
    now = T0 + 2_000
    limits.update([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                    "limit": 50, "count": 50}], now)
    assert limits.delay_ms(1, 1, now) == T0 + 10_000 + 100 - now
    assert limits.delay_ms(1, 0, now) == 0  # non-order requests are not held back
    assert limits.delay_ms(1, 1, T0 + 10_100) == 0  # new window
    with pytest.raises(InvalidUsage):
        limits.delay_ms(7000, 0, now)


def test_retry_after_is_honoured(samples_dir):
    clock = Clock(T0 + 1000)
    api = ApiProtocol(clock=clock)
    req = api.request("order.place")
    api.receive({"id": req.id, "status": 429,
                 "error": {"code": -1003, "msg": "Too much request weight used",
                           "data": {"retryAfter": T0 + 30_000}}})
    assert api.delay_ms("ping") == 29_000
    clock.t = T0 + 30_000
    assert api.delay_ms("ping") == 0


def test_429_without_retry_after_waits_for_the_full_window(samples_dir):
    clock = Clock(T0 + 3_000)
    api = ApiProtocol(clock=clock)
    req = api.request("order.cancelReplace")
    api.receive(answer(load(samples_dir, "wsapi_order_cancelReplace_response_429_do_nothing_-1015.json"), req))
    assert api.delay_ms("ping") == T0 + 10_000 + api.limits.edge_ms - clock.t


def test_ban_is_never_sent_into(samples_dir):
    clock = Clock(1659142907531)
    api = ApiProtocol(clock=clock)
    req = api.request("ping")
    api.receive(answer(load(samples_dir, "wsapi_error_418_ip_banned_-1003.json"), req))
    assert api.limits.banned_until == 1659146400000
    with pytest.raises(IPBannedError) as info:
        api.delay_ms("ping")
    assert info.value.retry_after == 1659146400000
    clock.t = 1659146400000
    assert api.delay_ms("ping") == 0 and api.limits.banned_until is None
    # a 418 with no end at all is held for the shortest documented ban
    limits = RateLimits()
    limits.on_error(IPBannedError(-1003, "banned", 418), T0)
    with pytest.raises(IPBannedError):
        limits.delay_ms(1, 0, T0 + MIN_BAN_MS - 1)


def test_connect_weight_and_unknown_windows():
    limits = RateLimits("usdm")
    limits.add(5, T0)
    assert limits.remaining("REQUEST_WEIGHT", T0) == 2400 - 5
    limits.update([{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                    "limit": 3, "count": 3}, {"bogus": 1}, "x"], T0)
    start = (T0 + limits.edge_ms) - (T0 + limits.edge_ms) % 300_000
    assert limits.delay_ms(1, 0, T0 + 1) == start + 300_000 + limits.edge_ms - (T0 + 1)


@SETTINGS
@given(
    latencies=st.lists(st.integers(1, 400), min_size=200, max_size=200),
    gaps=st.lists(st.integers(0, 30), min_size=200, max_size=200),
    start=st.integers(0, 59_999),
    skew=st.integers(-250, 250),
)
def test_burst_of_200_orders_never_draws_a_429(latencies, gaps, start, skew):
    """A reference server with calendar windows (ORDERS 50/10 s, weight 6000/min) answers with
    rateLimits after a latency; its clock differs from ours by up to the guard (250 ms); the
    client waits delay_ms() before each order. No order is ever
    over the limit, and the client does not crawl (it uses most of the budget)."""
    now = T0 + start
    began = now
    api = ApiProtocol(clock=lambda: now)
    server_orders: dict[int, int] = {}
    server_weight: dict[int, int] = {}
    in_flight: list[tuple[int, object]] = []  # (arrival time, request)
    placed = 0
    rejected = 0

    def deliver(until):
        nonlocal rejected
        in_flight.sort(key=lambda x: x[0])
        while in_flight and in_flight[0][0] <= until:
            t, req = in_flight.pop(0)
            server_t = t + skew
            w10 = server_t - server_t % 10_000
            m1 = server_t - server_t % 60_000
            status = 200
            if server_orders.get(w10, 0) + 1 > SPOT_ORDERS_PER_10_SECONDS:
                status = 429
                rejected += 1
            else:
                server_orders[w10] = server_orders.get(w10, 0) + 1
            server_weight[m1] = server_weight.get(m1, 0) + 1
            body = {"id": req.id, "status": status, "rateLimits": [
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50,
                 "count": server_orders.get(w10, 0)},
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": 6000, "count": server_weight[m1]},
            ]}
            if status == 200:
                body["result"] = {}
            else:
                body["error"] = {"code": -1015, "msg": "Too many new orders"}
            api.receive(body, now_ms=t)

    for latency, gap in zip(latencies, gaps):
        now += gap
        deliver(now)
        while (wait := api.delay_ms("order.place", now_ms=now)) > 0:
            now += wait
            deliver(now)
        req = api.request("order.place", {"symbol": "BTCUSDT"}, now_ms=now)
        in_flight.append((now + latency, req))
        placed += 1
    deliver(now + 10**6)
    assert placed == 200
    assert rejected == 0
    # 200 orders at 50 per 10 s need 3 window resets; allow one extra for edge guards
    assert now - began <= 5 * 10_000 + 10 * 400
