"""The parser refills its last DepthUpdate and that event's level arrays in place when nothing
else holds them; anything a caller holds (an event, an array, a view of one) is never written."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import orjson

from fastws.events import DepthUpdate
from fastws.parser import Parser


def _frame(u: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": u, "u": u, "b": bids, "a": asks}})


def _levels(n: int, base: float) -> list[list[str]]:
    return [[f"{base + i:.2f}", f"{i + 1}.5"] for i in range(n)]


def _expect(ev: DepthUpdate, nb: int, na: int, base: float) -> None:
    want_b = np.array([[float(p), float(q)] for p, q in _levels(nb, base)]).reshape(nb, 2)
    want_a = np.array([[float(p), float(q)] for p, q in _levels(na, base + 100)]).reshape(na, 2)
    assert ev.bids.shape == (nb, 2) and ev.asks.shape == (na, 2)
    assert np.array_equal(ev.bids, want_b) and np.array_equal(ev.asks, want_a)
    for arr in (ev.bids, ev.asks):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.flags.owndata
        assert arr.flags.f_contiguous == (arr.shape[0] <= 1)


def test_arrays_are_refilled_only_when_nobody_holds_them() -> None:
    p = Parser("spot")
    sizes = [(3, 2), (1, 0), (0, 1), (5, 5), (2, 7), (1, 1), (4, 3), (3, 3)]
    reused = 0
    last = None
    for k, (nb, na) in enumerate(sizes):
        ev = p.parse(_frame(100 + k, _levels(nb, 10.0 + k), _levels(na, 110.0 + k)))
        _expect(ev, nb, na, 10.0 + k)
        reused += last is not None and last() is ev.bids
        last = weakref.ref(ev.bids)
        del ev
    # no more rows than before: the same array object, refilled (that is the point)
    assert reused >= 4

    ev = p.parse(_frame(200, _levels(4, 50.0), _levels(4, 150.0)))
    kept_bids = ev.bids                                   # a caller keeps one array
    view = ev.asks[:, 0]                                  # and a view of the other
    snap_b, snap_v = kept_bids.copy(), view.copy()
    del ev
    for k in range(5):
        ev2 = p.parse(_frame(300 + k, _levels(2, 60.0 + k), _levels(3, 160.0 + k)))
        _expect(ev2, 2, 3, 60.0 + k)
        assert ev2.bids is not kept_bids and ev2.asks.base is None
        del ev2
    assert np.array_equal(kept_bids, snap_b) and np.array_equal(view, snap_v)

    held = [p.parse(_frame(400 + k, _levels(2, 70.0 + k), _levels(2, 170.0 + k))) for k in range(4)]
    for k, ev3 in enumerate(held):                        # events a caller holds stay intact
        _expect(ev3, 2, 2, 70.0 + k)


def test_an_array_reshaped_in_place_is_not_reused() -> None:
    p = Parser("spot")
    ev = p.parse(_frame(1, _levels(4, 10.0), _levels(4, 110.0)))
    b = ev.bids
    b.shape = (8,)                                        # a caller re-shapes it, then lets go
    del b, ev
    gc.collect()
    ev = p.parse(_frame(2, _levels(2, 20.0), _levels(2, 120.0)))
    _expect(ev, 2, 2, 20.0)


def test_whitespace_runs_of_every_length_and_kind() -> None:
    """Runs of whitespace (skipped 32 and 8 bytes at a time) around every token and after
    the document parse like the compact frame; anything else after it is still an error."""
    import pytest

    from fastws.exceptions import ParseError

    p = Parser("spot")
    compact = _frame(7, _levels(3, 10.0), _levels(2, 110.0))
    want = p.parse(compact)
    want_b, want_a = want.bids.copy(), want.asks.copy()
    del want
    indented = orjson.dumps(orjson.loads(compact), option=orjson.OPT_INDENT_2)
    fills = [b" " * n for n in (0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 1000)]
    fills += [b" " * 40 + b"\n" + b" " * 40, b"\t\r\n " * 20, b" " * 35 + b"\t"]
    for fill in fills:
        for payload in (compact + fill, fill + indented + fill,
                        indented.replace(b"\n", b"\n" + fill)):
            ev = p.parse(payload)
            assert ev.final_update_id == 7 and ev.symbol == "BTCUSDT"
            assert np.array_equal(ev.bids, want_b) and np.array_equal(ev.asks, want_a)
            del ev
        with pytest.raises(ParseError, match="trailing data"):
            p.parse(compact + fill + b"x" + fill)
