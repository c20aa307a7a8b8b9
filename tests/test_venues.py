"""Venues: URLs, USD-M route split, limits as named constants (SPEC §1, §2.2, §4.1, §4.2)."""
from __future__ import annotations

import dataclasses

import pytest

from fastws import venues
from fastws.venues import (BINANCE_SPOT, BINANCE_SPOT_TESTNET, BINANCE_USDM,
                           BINANCE_USDM_TESTNET, usdm_route)


def test_builtin_urls():
    assert BINANCE_SPOT.raw_stream_url(["btcusdt@depth@100ms"]) == \
        "wss://stream.binance.com:9443/ws/btcusdt@depth@100ms"
    assert BINANCE_SPOT.combined_stream_url(["btcusdt@trade", "ethusdt@trade"]) == \
        "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade"
    assert BINANCE_SPOT.ws_api_url == "wss://ws-api.binance.com:443/ws-api/v3"
    assert BINANCE_SPOT.rest_depth_url == "https://api.binance.com/api/v3/depth"
    assert BINANCE_SPOT_TESTNET.ws_api_url == "wss://ws-api.testnet.binance.vision/ws-api/v3"
    assert BINANCE_SPOT_TESTNET.testnet and not BINANCE_SPOT.testnet
    assert BINANCE_USDM.combined_stream_url(["btcusdt@depth"]) == \
        "wss://fstream.binance.com/public/stream?streams=btcusdt@depth"
    assert BINANCE_USDM.raw_stream_url("btcusdt@markPrice@1s") == \
        "wss://fstream.binance.com/market/ws/btcusdt@markPrice@1s"
    assert BINANCE_USDM.ws_api_url == "wss://ws-fapi.binance.com/ws-fapi/v1"
    assert BINANCE_USDM.rest_depth_url == "https://fapi.binance.com/fapi/v1/depth"
    # the testnet keeps the legacy paths (SPEC §1)
    assert BINANCE_USDM_TESTNET.raw_stream_url(["btcusdt@depth"]) == \
        "wss://fstream.binancefuture.com/ws/btcusdt@depth"


@pytest.mark.parametrize("stream,route", [
    ("btcusdt@depth", "public"), ("btcusdt@depth@100ms", "public"),
    ("btcusdt@depth5@500ms", "public"), ("btcusdt@bookTicker", "public"),
    ("!bookTicker", "public"), ("btcusdt@aggTrade", "market"),
    ("btcusdt@markPrice@1s", "market"), ("!markPrice@arr", "market"),
    ("btcusdt@kline_1m", "market"), ("btcusdt_perpetual@continuousKline_1m", "market"),
    ("!forceOrder@arr", "market"), ("pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8",
                                    "private")])
def test_usdm_routes(stream, route):
    assert usdm_route(stream) == route
    assert BINANCE_USDM.route(stream) == route
    assert BINANCE_SPOT.route(stream) is None


def test_mixing_routes_on_one_connection_is_refused():
    with pytest.raises(ValueError, match="different USD-M routes"):
        BINANCE_USDM.combined_stream_url(["btcusdt@depth", "btcusdt@aggTrade"])
    with pytest.raises(ValueError):
        BINANCE_SPOT.raw_stream_url([])


def test_limits_are_the_documented_numbers():
    s, u = BINANCE_SPOT.limits, BINANCE_USDM.limits
    assert (s.ping_interval, s.pong_timeout, s.max_incoming_per_second) == (20.0, 60.0, 5)
    assert (u.ping_interval, u.pong_timeout, u.max_incoming_per_second) == (180.0, 600.0, 10)
    for lim in (s, u):
        assert lim.max_streams_per_connection == 1024
        assert (lim.max_connection_attempts, lim.connection_attempts_window) == (300, 300.0)
        assert lim.connection_lifetime == 24 * 3600
    assert (s.request_weight_per_minute, s.ws_api_connect_weight) == (6000, 2)
    assert (u.request_weight_per_minute, u.ws_api_connect_weight) == (2400, 5)
    assert u.unsolicited_pong_keeps_alive and not s.unsolicited_pong_keeps_alive


def test_venues_are_immutable_and_copyable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        BINANCE_SPOT.stream_url = "ws://x"  # type: ignore[misc]
    fast = BINANCE_SPOT.with_limits(ping_interval=1.0)
    assert fast.limits.ping_interval == 1.0 and BINANCE_SPOT.limits.ping_interval == 20.0
    assert fast.stream_url == BINANCE_SPOT.stream_url


def test_percent_encoding_of_odd_stream_names():
    url = BINANCE_SPOT.raw_stream_url(["btcusdt@kline_1m@+08:00"])
    assert url.endswith("/ws/btcusdt@kline_1m@%2B08:00")
    assert "%20" in BINANCE_SPOT.raw_stream_url(["a b@trade"])


def test_named_constants_exist():
    for name in ("SPOT_PING_INTERVAL", "USDM_PING_INTERVAL", "MAX_STREAMS_PER_CONNECTION",
                 "MAX_CONNECTION_ATTEMPTS", "CONNECTION_LIFETIME"):
        assert hasattr(venues, name)
