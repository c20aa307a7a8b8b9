"""Stream names, routing, the subscription manager, the control pacer and the shard planner."""
from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws import streams as S
from fastws.events import EventType
from fastws.exceptions import InvalidUsage, ParseError
from fastws.streams import (
    MAX_STREAMS_PER_CONNECTION,
    ControlPacer,
    ShardPlanner,
    SubscriptionManager,
    parse_stream,
    usdm_route,
)

SETTINGS = settings(deadline=None, max_examples=60)


def load(samples_dir, name):
    return json.loads((samples_dir / name).read_text("utf-8"))


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, market, kind, symbol, update_ms, route",
    [
        ("btcusdt@trade", "spot", EventType.TRADE, "BTCUSDT", None, "market"),
        ("btcusdt@aggTrade", "spot", EventType.AGG_TRADE, "BTCUSDT", None, "market"),
        ("btcusdt@aggTrade", "usdm", EventType.AGG_TRADE, "BTCUSDT", 100, "market"),
        ("btcusdt@blockTrade", "spot", EventType.BLOCK_TRADE, "BTCUSDT", None, "market"),
        ("btcusdt@kline_1s", "spot", EventType.KLINE, "BTCUSDT", 1000, "market"),
        ("btcusdt@kline_1M", "spot", EventType.KLINE, "BTCUSDT", 2000, "market"),
        ("btcusdt@kline_1m@+08:00", "spot", EventType.KLINE, "BTCUSDT", 2000, "market"),
        ("btcusdt@kline_1m", "usdm", EventType.KLINE, "BTCUSDT", 250, "market"),
        ("btcusdt_perpetual@continuousKline_1s", "usdm", EventType.CONTINUOUS_KLINE, "BTCUSDT", 250, "market"),
        ("btcusdt@miniTicker", "spot", EventType.MINI_TICKER, "BTCUSDT", 1000, "market"),
        ("btcusdt@miniTicker", "usdm", EventType.MINI_TICKER, "BTCUSDT", 2000, "market"),
        ("btcusdt@ticker", "spot", EventType.TICKER, "BTCUSDT", 1000, "market"),
        ("btcusdt@ticker_4h", "spot", EventType.WINDOW_TICKER, "BTCUSDT", 1000, "market"),
        ("btcusdt@bookTicker", "spot", EventType.BOOK_TICKER, "BTCUSDT", None, "public"),
        ("btcusdt@bookTicker", "usdm", EventType.BOOK_TICKER, "BTCUSDT", None, "public"),
        ("btcusdt@avgPrice", "spot", EventType.AVG_PRICE, "BTCUSDT", 1000, "market"),
        ("btcusdt@referencePrice", "spot", EventType.REFERENCE_PRICE, "BTCUSDT", 1000, "market"),
        ("btcusdt@depth", "spot", EventType.DEPTH_UPDATE, "BTCUSDT", 1000, "public"),
        ("btcusdt@depth@100ms", "spot", EventType.DEPTH_UPDATE, "BTCUSDT", 100, "public"),
        ("btcusdt@depth20@100ms", "spot", EventType.PARTIAL_DEPTH, "BTCUSDT", 100, "public"),
        ("btcusdt@depth5", "usdm", EventType.DEPTH_UPDATE, "BTCUSDT", 250, "public"),
        ("btcusdt@depth@500ms", "usdm", EventType.DEPTH_UPDATE, "BTCUSDT", 500, "public"),
        ("btcusdt@markPrice", "usdm", EventType.MARK_PRICE, "BTCUSDT", 3000, "market"),
        ("btcusdt@markPrice@1s", "usdm", EventType.MARK_PRICE, "BTCUSDT", 1000, "market"),
        ("btcusdt@forceOrder", "usdm", EventType.FORCE_ORDER, "BTCUSDT", None, "market"),
        ("!miniTicker@arr", "spot", EventType.MINI_TICKER, None, 1000, "market"),
        ("!ticker_1h@arr", "spot", EventType.WINDOW_TICKER, None, 1000, "market"),
        ("!ticker@arr", "usdm", EventType.TICKER, None, 1000, "market"),
        ("!bookTicker", "usdm", EventType.BOOK_TICKER, None, 5000, "public"),
        ("!markPrice@arr@1s", "usdm", EventType.MARK_PRICE, None, 1000, "market"),
        ("!forceOrder@arr", "usdm", EventType.FORCE_ORDER, None, None, "market"),
        ("!contractInfo", "usdm", EventType.UNKNOWN, None, None, "market"),
    ],
)
def test_catalogue(name, market, kind, symbol, update_ms, route):
    info = parse_stream(name, market)
    assert (info.name, info.kind, info.symbol, info.update_ms, info.route) == (name, kind, symbol, update_ms, route)
    assert info.subscribable
    assert info.is_array == name.endswith("@arr") or "@arr@" in name
    assert usdm_route(name) == route


def test_symbol_is_lowercased_and_unicode_allowed():
    assert parse_stream("BTCUSDT@depth@100ms").name == "btcusdt@depth@100ms"
    info = parse_stream("１２３４５６@trade")
    assert info.symbol == "１２３４５６"
    assert parse_stream("btcusdt@kline_1M").interval == "1M"  # interval case kept: 1M is a month


@pytest.mark.parametrize(
    "name, market, why",
    [
        ("btcusdt@kline_7m", "spot", "interval"),
        ("btcusdt@kline_1s", "usdm", "interval"),
        ("btcusdt@kline_1m@+09:00", "spot", "suffix"),
        ("!ticker@arr", "spot", "retired"),
        ("!bookTicker", "spot", "removed"),
        ("btcusdt@markPrice", "spot", "usdm stream"),
        ("btcusdt@avgPrice", "usdm", "spot stream"),
        ("btcusdt@depth@250ms", "spot", "speed"),
        ("btcusdt@depth@500ms", "spot", "speed"),
        ("btcusdt@depth15", "spot", "levels"),
        ("btcusdt@depth@100ms@x", "spot", "speed"),
        ("btcusdt@ticker_2h", "spot", "window"),
        ("btcusdt@Trade", "spot", "unknown"),
        ("btcusdt@trade@1s", "spot", "suffix"),
        ("btcusdt", "spot", "expected"),
        ("@trade", "spot", "empty symbol"),
        ("btc/usdt@trade", "spot", "character"),
        ("btcusdt_weekly@continuousKline_1m", "usdm", "perpetual"),
        ("!nothing@arr", "spot", "unknown all-market"),
        ("", "spot", "non-empty"),
    ],
)
def test_invalid_names_say_why(name, market, why):
    with pytest.raises(InvalidUsage, match=why):
        parse_stream(name, market)


def test_server_shutdown_is_known_but_not_subscribable():
    info = parse_stream("!serverShutdown")
    assert info.kind == EventType.SERVER_SHUTDOWN and not info.subscribable
    with pytest.raises(InvalidUsage, match="server"):
        SubscriptionManager().subscribe("!serverShutdown")


def test_helpers():
    assert S.trade("BTCUSDT") == "btcusdt@trade"
    assert S.agg_trade("ETHUSDT") == "ethusdt@aggTrade"
    assert S.depth("BTCUSDT", speed="100ms") == "btcusdt@depth@100ms"
    assert S.depth("BTCUSDT", 10, "500ms", market="usdm") == "btcusdt@depth10@500ms"
    assert S.kline("BTCUSDT", "1h", utc8=True) == "btcusdt@kline_1h@+08:00"
    assert S.continuous_kline("BTCUSDT", "perpetual", "1m") == "btcusdt_perpetual@continuousKline_1m"
    assert S.ticker("BTCUSDT") == "btcusdt@ticker" and S.ticker("BTCUSDT", "1d") == "btcusdt@ticker_1d"
    assert S.book_ticker("X") == "x@bookTicker" and S.mini_ticker("X") == "x@miniTicker"
    assert S.avg_price("X") == "x@avgPrice" and S.reference_price("X") == "x@referencePrice"
    assert S.mark_price("X", every_second=True) == "x@markPrice@1s"
    assert S.force_order() == "!forceOrder@arr" and S.force_order("X") == "x@forceOrder"
    assert S.all_tickers("4h") == "!ticker_4h@arr" and S.all_tickers(market="usdm") == "!ticker@arr"
    assert S.all_mini_tickers() == "!miniTicker@arr" and S.all_book_tickers() == "!bookTicker"
    assert S.all_mark_prices() == "!markPrice@arr"
    with pytest.raises(InvalidUsage):
        S.depth("BTCUSDT", 7)
    with pytest.raises(InvalidUsage):
        S.trade("")
    with pytest.raises(InvalidUsage):
        S.all_tickers()  # retired on spot


def test_usdm_route_for_user_data_and_rpi():
    assert usdm_route("abcListenKey123") == "private"
    assert usdm_route("btcusdt@rpiDepth@500ms") == "public"


# -- subscription manager: frames from the samples -------------------------------------------


def test_subscribe_frame_matches_sample(samples_dir):
    subs = SubscriptionManager("spot")
    subs.subscribe(["btcusdt@aggTrade", "BTCUSDT@depth"])
    (req,) = subs.requests_to_send()
    assert orjson.loads(req.data) == load(samples_dir, "spot_control_subscribe_request.json")
    assert subs.projected() == {"btcusdt@aggTrade", "btcusdt@depth"}
    assert subs.confirmed == frozenset()
    out = subs.receive(json.dumps(load(samples_dir, "spot_control_subscribe_response.json")))
    assert out.ok and out.request is req
    assert subs.confirmed == {"btcusdt@aggTrade", "btcusdt@depth"} and subs.settled


def test_list_and_property_frames_match_samples(samples_dir):
    subs = SubscriptionManager("spot", first_id=3)
    assert orjson.loads(subs.list_subscriptions().data) == load(
        samples_dir, "spot_control_list_subscriptions_request.json"
    )
    subs = SubscriptionManager("spot", first_id=5)
    assert orjson.loads(subs.set_property("combined", True).data) == load(
        samples_dir, "spot_control_set_property_request.json"
    )
    subs = SubscriptionManager("spot", first_id=2)
    req = subs.get_property("combined")
    assert orjson.loads(req.data) == load(samples_dir, "spot_control_get_property_request.json")
    out = subs.receive(load(samples_dir, "spot_control_get_property_response.json"))
    assert out.ok and out.result is True and out.request is req


def test_unsubscribe_frame_matches_sample(samples_dir):
    sample = load(samples_dir, "spot_control_unsubscribe_request.json")
    subs = SubscriptionManager("spot", first_id=sample["id"] - 1)
    subs.subscribe(sample["params"])
    (sub,) = subs.requests_to_send()
    subs.receive_result(sub.id, None)
    subs.unsubscribe(sample["params"])
    (unsub,) = subs.requests_to_send()
    assert orjson.loads(unsub.data) == sample
    assert subs.receive(load(samples_dir, "spot_control_unsubscribe_response.json")).ok
    assert subs.confirmed == frozenset() and subs.settled


def _error_frames(samples_dir):
    for row in load(samples_dir, "spot_control_errors_table.json"):
        text = row["message"].replace('"id": %s', '"id": 1').replace("%s", "7")
        yield orjson.loads(text)


def test_every_documented_control_error_is_matched(samples_dir):
    """Code 0 carries the id and fails that request. The others carry none: they are never
    pinned on a request by guesswork (that used to UNSUBSCRIBE the user's stream); the next
    LIST_SUBSCRIPTIONS answer settles it."""
    frames = list(_error_frames(samples_dir))
    assert {f["code"] for f in frames} == {0, 1, 2, 3}
    for frame in frames:
        subs = SubscriptionManager("spot")
        subs.subscribe("btcusdt@trade")
        (first,) = subs.requests_to_send()
        second = subs.list_subscriptions()
        out = subs.receive(frame)
        assert not out.ok and out.error_code == frame["code"] and out.error_msg == frame["msg"]
        if "id" in frame:
            assert out.request is first and subs.in_flight == (second,)
            assert "btcusdt@trade" in subs.failed and "btcusdt@trade" not in subs.desired
        else:
            assert out.request is None and subs.in_flight == (first, second)
            assert "btcusdt@trade" in subs.desired and subs.failed == {}
            assert subs.stray_errors[-1][:2] == (frame["code"], frame["msg"])
            # the listing says the SUBSCRIBE did not take: it was refused
            listed = subs.receive({"result": [], "id": second.id})
            assert listed.unanswered == (first,)
            assert listed.refused == {"btcusdt@trade": (frame["code"], frame["msg"])}
            assert "btcusdt@trade" in subs.failed and "btcusdt@trade" not in subs.desired
        assert subs.requests_to_send() == []  # a rejected subscribe is not retried in a loop


def test_stray_error_then_the_real_answer_keeps_the_stream():
    """An id-less error arrives while a SUBSCRIBE is in flight, then the SUBSCRIBE's own
    answer: the stream stays wanted and confirmed, nothing is unsubscribed."""
    subs = SubscriptionManager("spot")
    subs.subscribe("btcusdt@trade")
    (sub,) = subs.requests_to_send()
    lst = subs.list_subscriptions()
    subs.receive({"code": 2, "msg": "Invalid request: stray"})
    subs.receive({"result": None, "id": sub.id})
    out = subs.receive({"result": ["btcusdt@trade"], "id": lst.id})
    assert out.listing is not None and out.listing.ok and out.refused == {}
    assert subs.desired == {"btcusdt@trade"} and subs.requests_to_send() == []


def test_garbled_listing_is_an_outcome_not_an_exception():
    subs = SubscriptionManager("spot")
    subs.subscribe("btcusdt@trade")
    for r in subs.requests_to_send():
        subs.receive_result(r.id, None)
    lst = subs.list_subscriptions()
    out = subs.receive({"result": {"not": "a list"}, "id": lst.id})
    assert not out.ok and "not a list" in (out.error_msg or "")
    assert subs.confirmed == {"btcusdt@trade"}


def test_error_with_id_matches_that_request():
    subs = SubscriptionManager("spot")
    a = subs.get_property("x")
    b = subs.get_property("combined")
    out = subs.receive({"code": 0, "msg": "Unknown property", "id": a.id})
    assert out.request is a and subs.in_flight == (b,)


def test_garbage_frames_raise_parse_error():
    subs = SubscriptionManager("spot")
    for bad in (b"{not json", {"foo": 1}, [1, 2], {"code": "x", "msg": "y"}, 42):
        with pytest.raises(ParseError):
            subs.receive(bad)
    assert subs.receive({"result": None, "id": 999}).request is None  # stray answer: ignored


def test_parser_events_are_accepted():
    class Resp:
        id = 1
        result = None

    class Err:
        code = 2
        msg = "Invalid request: too many parameters"
        id = None

    subs = SubscriptionManager("spot")
    subs.subscribe(["a@trade", "b@trade"])
    subs.requests_to_send()
    assert subs.receive(Resp()).ok
    subs.subscribe("c@trade")
    subs.requests_to_send()
    assert subs.receive(Err()).error_code == 2


def test_real_parser_control_events_are_accepted():
    parser = pytest.importorskip("fastws.parser")
    subs = SubscriptionManager("spot")
    subs.subscribe("btcusdt@trade")
    subs.requests_to_send()
    assert subs.receive(parser.parse(b'{"result":null,"id":1}')).ok
    subs.subscribe("ethusdt@trade")
    subs.requests_to_send()
    out = subs.receive(parser.parse(b'{"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}'))
    assert out.error_code == 3 and out.request is None     # no id: not attributed by guesswork
    listing = subs.list_subscriptions()
    out = subs.receive(parser.parse(b'{"result":["btcusdt@trade"],"id":%d}' % listing.id))
    assert out.listing.ok and subs.settled


# -- subscription manager: behaviour ---------------------------------------------------------


def test_limit_per_connection_is_invalid_usage():
    subs = SubscriptionManager("spot")
    names = [f"s{i}@trade" for i in range(MAX_STREAMS_PER_CONNECTION)]
    subs.subscribe(names)
    with pytest.raises(InvalidUsage, match="1024"):
        subs.subscribe("one@trade")
    assert len(subs.desired) == MAX_STREAMS_PER_CONNECTION
    reqs = subs.requests_to_send()
    assert [len(r.params) for r in reqs] == [200] * 5 + [24]
    assert len({r.id for r in reqs}) == 6
    assert sum((list(r.params) for r in reqs), []) == names  # order kept
    with pytest.raises(InvalidUsage):
        SubscriptionManager(max_streams=2000)


def test_bad_name_in_a_batch_changes_nothing():
    subs = SubscriptionManager("spot")
    with pytest.raises(InvalidUsage):
        subs.subscribe(["btcusdt@trade", "btcusdt@nope"])
    assert subs.desired == frozenset()


def test_usdm_routes_not_mixed():
    subs = SubscriptionManager("usdm")
    subs.subscribe("btcusdt@depth@100ms")
    with pytest.raises(InvalidUsage, match="/market"):
        subs.subscribe("btcusdt@aggTrade")
    subs.subscribe("!bookTicker")
    pinned = SubscriptionManager("usdm", route="market")
    with pytest.raises(InvalidUsage):
        pinned.subscribe("btcusdt@bookTicker")
    with pytest.raises(InvalidUsage):
        SubscriptionManager("spot", route="public")


def test_unsubscribe_while_subscribe_in_flight_and_back():
    subs = SubscriptionManager("spot")
    subs.subscribe("x@trade")
    (sub,) = subs.requests_to_send()
    subs.unsubscribe("x@trade")
    (unsub,) = subs.requests_to_send()
    assert unsub.method == "UNSUBSCRIBE" and unsub.params == ("x@trade",)
    subs.subscribe("x@trade")
    (again,) = subs.requests_to_send()
    assert again.method == "SUBSCRIBE"
    for r in (sub, unsub, again):
        subs.receive_result(r.id, None)
    assert subs.confirmed == {"x@trade"} and subs.settled


def test_abandon_puts_streams_back_to_do():
    subs = SubscriptionManager("spot")
    subs.subscribe("x@trade")
    (sub,) = subs.requests_to_send()
    assert subs.requests_to_send() == []
    assert subs.abandon(sub.id) is sub
    (retry,) = subs.requests_to_send()
    assert retry.params == ("x@trade",) and retry.id != sub.id
    assert subs.receive_result(sub.id, None).request is None  # the late answer is ignored


def test_reconnect_resubscribes_and_checks_listing(samples_dir):
    subs = SubscriptionManager("spot")
    subs.subscribe(["a@trade", "b@trade", "c@trade"])
    for r in subs.requests_to_send():
        subs.receive_result(r.id, None)
    subs.subscribe("d@trade")
    pending = subs.requests_to_send()
    dropped = subs.connection_reset(url_streams=["a@trade"])
    assert dropped == pending and subs.confirmed == {"a@trade"}
    plan = subs.resubscribe_plan()
    assert [r.method for r in plan] == ["SUBSCRIBE", "LIST_SUBSCRIPTIONS"]
    assert plan[0].params == ("b@trade", "c@trade", "d@trade")
    subs.receive_result(plan[0].id, None)
    # the server lost c@trade and holds a stray one: the listing says so, and the fix follows
    out = subs.receive({"result": ["a@trade", "b@trade", "d@trade", "zz@trade"], "id": plan[1].id})
    assert out.listing is not None and not out.listing.ok
    assert out.listing.missing == {"c@trade"} and out.listing.unexpected == {"zz@trade"}
    fix = subs.requests_to_send()
    assert [(r.method, r.params) for r in fix] == [("UNSUBSCRIBE", ("zz@trade",)), ("SUBSCRIBE", ("c@trade",))]
    for r in fix:
        subs.receive_result(r.id, None)
    assert subs.settled
    check = subs.check_listing(load(samples_dir, "spot_control_list_subscriptions_response.json")["result"])
    assert check.unexpected == {"btcusdt@aggTrade"}


@SETTINGS
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["sub", "unsub", "send", "answer", "reset", "list"]),
            st.lists(st.integers(0, 9), max_size=4),
        ),
        max_size=40,
    )
)
def test_manager_converges_to_desired_against_a_reference_server(ops):
    """Whatever the interleaving, once everything is sent and answered the server (a simple
    reference that applies requests in order) holds exactly the desired set."""
    subs = SubscriptionManager("spot", chunk=3)
    server: set[str] = set()
    wire: list = []  # sent, not yet answered (in order)

    def answer_all():
        while wire:
            req = wire.pop(0)
            if req.method == "SUBSCRIBE":
                server.update(req.params)
                subs.receive_result(req.id, None)
            elif req.method == "UNSUBSCRIBE":
                server.difference_update(req.params)
                subs.receive_result(req.id, None)
            elif req.method == "LIST_SUBSCRIPTIONS":
                subs.receive_result(req.id, sorted(server))

    for op, ids in ops:
        names = [f"s{i}@trade" for i in ids]
        if op == "sub":
            subs.subscribe(names)
        elif op == "unsub":
            subs.unsubscribe(names)
        elif op == "send":
            wire.extend(subs.requests_to_send())
        elif op == "answer" and wire:
            wire_copy = list(wire)
            wire.clear()
            wire.extend(wire_copy[1:])
            wire.insert(0, wire_copy[0])
            req = wire.pop(0)
            if req.method == "SUBSCRIBE":
                server.update(req.params)
            elif req.method == "UNSUBSCRIBE":
                server.difference_update(req.params)
            subs.receive_result(req.id, sorted(server) if req.method == "LIST_SUBSCRIPTIONS" else None)
        elif op == "reset":
            wire.clear()
            server = set(names)  # the new connection's URL streams
            subs.connection_reset(names)
            wire.extend(subs.resubscribe_plan())
        elif op == "list":
            wire.append(subs.list_subscriptions())
    for _ in range(3):
        wire.extend(subs.requests_to_send())
        answer_all()
    assert server == set(subs.desired) == set(subs.confirmed)
    assert subs.settled


# -- pacer -----------------------------------------------------------------------------------


def test_pacer_for_markets():
    spot = ControlPacer.for_market("spot")
    usdm = ControlPacer.for_market("usdm")
    assert (spot.limit, spot.capacity, spot.control_capacity) == (5, 4, 3)
    assert (usdm.limit, usdm.capacity, usdm.control_capacity) == (10, 9, 8)
    assert ControlPacer.for_ws_api().limit == 5
    with pytest.raises(InvalidUsage):
        ControlPacer(2, headroom=1, pong_reserve=1)


def test_pacer_keeps_a_slot_for_pongs():
    p = ControlPacer(5)
    for _ in range(3):
        assert p.delay(0.0) == 0.0
        p.record(0.0)
    assert p.delay(0.0) == pytest.approx(1.0)  # controls: 3 per second
    assert p.delay(0.0, pong=True) == 0.0  # the pong goes at once
    p.record(0.0)
    assert p.delay(0.5, pong=True) == pytest.approx(0.5)
    assert p.delay(1.0) == 0.0
    with pytest.raises(InvalidUsage):
        p.record(-1.0)


@SETTINGS
@given(
    market=st.sampled_from(["spot", "usdm"]),
    events=st.lists(st.tuples(st.floats(0.0, 0.7), st.booleans()), min_size=1, max_size=80),
)
def test_pacer_never_exceeds_budget_in_any_window(market, events):
    p = ControlPacer.for_market(market)
    now = 0.0
    sends = []
    for gap, pong in events:
        now += gap
        now += p.delay(now, pong=pong)
        p.record(now)
        sends.append(now)
    for t in sends:
        # any window (t - 1, t] ending at a send holds the maximum over all alignments
        assert sum(1 for u in sends if t - 1.0 < u <= t) <= p.capacity < p.limit


# -- sharding --------------------------------------------------------------------------------


def test_sharding_2000_streams_over_two_connections():
    plan = ShardPlanner("spot")
    names = [f"s{i}@depth@100ms" for i in range(2000)]
    changes = plan.update(names)
    assert [c.new for c in changes] == [True, True]
    assert [len(c.add) for c in changes] == [1024, 976]
    # removing some and adding others keeps every old stream in place
    before = {n: plan.shard_of(n) for n in names}
    changes = plan.update(names[100:] + [f"t{i}@trade" for i in range(100)])
    for n in names[100:]:
        assert plan.shard_of(n) == before[n]
    assert all(len(s) <= 1024 for _, s in plan)
    assert not any(c.new for c in changes)


def test_sharding_usdm_never_mixes_routes_and_closes_empty_shards():
    plan = ShardPlanner("usdm", max_per_connection=2)
    changes = plan.update(["a@depth", "a@aggTrade", "b@bookTicker", "b@markPrice"])
    routes = {plan.route_of(plan.shard_of(n)) for n in ("a@depth", "b@bookTicker")}
    assert routes == {"public"} and plan.shard_of("a@depth") == plan.shard_of("b@bookTicker")
    assert plan.route_of(plan.shard_of("a@aggTrade")) == "market"
    assert len(changes) == 2
    changes = plan.update(["a@depth", "b@bookTicker"])
    assert [(c.route, c.closed, c.remove) for c in changes] == [("market", True, ("a@aggTrade", "b@markPrice"))]
    with pytest.raises(InvalidUsage):
        plan.update(["a@bogus"])


@SETTINGS
@given(
    steps=st.lists(st.sets(st.integers(0, 60), max_size=45), min_size=1, max_size=8),
    market=st.sampled_from(["spot", "usdm"]),
)
def test_sharding_stable_and_within_limits(steps, market):
    kinds = ["depth", "aggTrade", "bookTicker", "kline_1m"] if market == "usdm" else ["trade", "depth"]
    plan = ShardPlanner(market, max_per_connection=7)
    previous: dict[str, int] = {}
    for ids in steps:
        names = [f"s{i}@{kinds[i % len(kinds)]}" for i in sorted(ids)]
        changes = plan.update(names)
        current = {n: plan.shard_of(n) for n in names}
        # every stream placed exactly once, every shard within the limit and of one route
        assert sorted(sum((sorted(s) for _, s in plan), [])) == sorted(names)
        for idx, members in plan:
            assert 0 < len(members) <= 7
            if market == "usdm":
                assert len({usdm_route(m) for m in members}) == 1
        # stability: a stream that stays keeps its shard
        for n, idx in current.items():
            if n in previous:
                assert previous[n] == idx
        # the changes describe exactly the difference
        added = {n for c in changes for n in c.add}
        removed = {n for c in changes for n in c.remove}
        assert added == set(current) - set(previous)
        assert removed == set(previous) - set(current)
        previous = current


def test_route_agrees_with_venues():
    """fastws.venues builds the URLs, fastws.streams shards by route: they must never disagree."""
    venues = pytest.importorskip("fastws.venues")
    names = [
        "btcusdt@depth", "btcusdt@depth5@100ms", "btcusdt@depth@500ms", "btcusdt@bookTicker",
        "!bookTicker", "btcusdt@aggTrade", "btcusdt@markPrice@1s", "!markPrice@arr",
        "btcusdt_perpetual@continuousKline_1m", "!miniTicker@arr", "!ticker@arr", "btcusdt@ticker",
        "btcusdt@miniTicker", "btcusdt@kline_1m", "!forceOrder@arr", "btcusdt@forceOrder",
        "btcusdt@rpiDepth@500ms", "someListenKey0123",
    ]
    assert {n: venues.usdm_route(n) for n in names} == {n: usdm_route(n) for n in names}


def test_pacer_delay_terminates_when_the_wait_is_tiny_next_to_now():
    """Regression: the wait was stepped by its own ulp, which takes billions of steps when the
    wait is tiny next to ``now`` and ``now + wait`` rounds below the window edge (hypothesis
    found such times in CI: the pacer hung the process). These are such times."""
    p = ControlPacer.for_market("spot")
    edge = 15.330255390650551
    for t in (edge, edge + 0.1, edge + 0.2):  # the control budget is full until edge expires
        p.record(t)
    now = 16.330255390650546                  # a few ulps before edge + 1 s
    wait = p.delay(now)
    assert wait > 0.0
    assert (now + wait) - 1.0 >= edge         # the edge has left the window at now + wait
    p.record(now + wait)
    assert p.sent_in_window(now + wait) <= p.capacity
