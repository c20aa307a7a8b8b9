"""fastws.events: keyword constructors, readonly fields, reprs, to_dict and decimal()."""
from __future__ import annotations

import math

import numpy as np
import pytest

import fastws.events as E
from fastws.events import (
    AggTrade, AvgPrice, BlockTrade, BookTicker, ContinuousKline, ControlError,
    ControlResponse, DepthUpdate, Event, EventType, ForceOrder, Kline, MarkPrice, MiniTicker,
    PartialDepth, ReferencePrice, ServerShutdown, Ticker, Trade, WindowTicker,
)

BUILT = [
    (Trade("BTCUSDT", 1, 2.5, 0.1, 3, True, event_time=4), EventType.TRADE),
    (AggTrade("BTCUSDT", 1, 2.5, 0.1, 5, 6, 3, False), EventType.AGG_TRADE),
    (BlockTrade("BNBBTC", 582, 0.052, 5838.0, 3, True), EventType.BLOCK_TRADE),
    (Kline("BTCUSDT", 0, 59999, "1m", 1.0, 2.0, 3.0, 0.5, 10.0, is_closed=True), EventType.KLINE),
    (ContinuousKline("BTCUSDT", "PERPETUAL", 0, 1, "1m", 1.0, 2.0, 3.0, 0.5, 10.0),
     EventType.CONTINUOUS_KLINE),
    (MiniTicker("A", 1.0, 2.0, 3.0, 0.5, 10.0, 18.0), EventType.MINI_TICKER),
    (Ticker("A", last_price=3.0, trade_count=7), EventType.TICKER),
    (WindowTicker("A", "1h", last_price=3.0), EventType.WINDOW_TICKER),
    (BookTicker("A", 9, 1.0, 2.0, 1.5, 3.0), EventType.BOOK_TICKER),
    (AvgPrice("A", "5m", 1.5, 3), EventType.AVG_PRICE),
    (ReferencePrice("A", math.nan, 3), EventType.REFERENCE_PRICE),
    (PartialDepth(5, [[1.0, 2.0]], [], symbol="A"), EventType.PARTIAL_DEPTH),
    (DepthUpdate("A", 1, 2, [[1.0, 2.0]], [[3.0, 4.0]], 0, 5, 6), EventType.DEPTH_UPDATE),
    (ServerShutdown(event_time=9), EventType.SERVER_SHUTDOWN),
    (MarkPrice("A", 1.0, funding_rate=0.0001), EventType.MARK_PRICE),
    (ForceOrder("A", "SELL", "LIMIT", "IOC", 1.0, 2.0, 2.0, "FILLED", 1.0, 1.0, 5),
     EventType.FORCE_ORDER),
]


@pytest.mark.parametrize("ev,kind", BUILT, ids=lambda x: type(x).__name__)
def test_constructors_set_type_and_fields(ev, kind):
    assert ev.type == kind and isinstance(ev.type, EventType)
    d = ev.to_dict()
    assert d["type"] == kind
    for name in type(ev)._FIELDS:
        assert name in d
    text = repr(ev)
    assert text.startswith(type(ev).__name__ + "(")


@pytest.mark.parametrize("ev,kind", BUILT, ids=lambda x: type(x).__name__)
def test_fields_are_readonly(ev, kind):
    with pytest.raises(AttributeError):
        ev.symbol = "X"
    with pytest.raises(AttributeError):
        ev.event_time = 1


def test_event_base_is_abstract():
    with pytest.raises(TypeError):
        Event()


def test_depth_constructor_signature_and_arrays():
    ev = DepthUpdate("BTCUSDT", 10, 12, [[1, 2], [3, 4]], np.empty((0, 2)),
                     prev_final_update_id=9, event_time=1, transaction_time=2, stream="s")
    assert ev.bids.dtype == np.float64 and ev.bids.flags.c_contiguous
    assert ev.asks.shape == (0, 2)
    assert (ev.prev_final_update_id, ev.event_time, ev.transaction_time, ev.stream) == (9, 1, 2, "s")
    with pytest.raises(ValueError):
        DepthUpdate("X", 1, 2, [[1, 2, 3]], [])
    pd = PartialDepth(7, [[1, 2]], [[3, 4]], "BTCUSDT", "btcusdt@depth5")
    assert (pd.last_update_id, pd.symbol, pd.stream, pd.transaction_time) == (7, "BTCUSDT", "btcusdt@depth5", -1)


def test_repr_truncates_long_level_arrays():
    levels = [[float(i), 1.0] for i in range(500)]
    text = repr(DepthUpdate("X", 1, 2, levels, []))
    assert "500 levels" in text and "497 more" in text and "499.0" not in text
    assert len(text) < 400


def test_control_results():
    assert ControlResponse(1, None) == ControlResponse(1, None)
    assert ControlResponse(1, None) != ControlResponse(2, None)
    assert repr(ControlError(2, "bad")) == "ControlError(code=2, msg='bad', id=None)"
    with pytest.raises(TypeError):
        hash(ControlResponse(1, None))


def test_decimal_needs_raw():
    ev = Trade("A", 1, 1.0, 1.0, 1, True)
    with pytest.raises(ValueError, match="raw"):
        ev.decimal("price")
    with pytest.raises(AttributeError):
        ev.decimal("nope")
    raw = b'{"e":"trade","E":1,"s":"A","t":1,"p":"1.000","q":"2.50","T":1,"m":true}'
    ev = Trade("A", 1, 1.0, 2.5, 1, True, event_time=1, raw=raw)
    assert ev.decimal("price") == "1.000" and ev.decimal("quantity") == "2.50"


def test_every_float_field_has_a_decimal_key():
    """The name -> Binance key table covers every float attribute of every event."""
    for name in E.__all__:
        cls = getattr(E, name)
        if not isinstance(cls, type) or not issubclass(cls, Event) or cls is Event:
            continue
        ev = next((e for e, _ in BUILT if type(e) is cls), None)
        assert ev is not None, name
        floats = {f for f in cls._FIELDS if isinstance(getattr(ev, f), float)}
        arrays = {f for f in cls._FIELDS if isinstance(getattr(ev, f), np.ndarray)}
        assert floats | arrays == set(cls._DECIMALS), name
