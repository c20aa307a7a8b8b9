"""Parse benchmark (pytest-benchmark): one Binance frame -> usable numbers, per event kind.

What is measured: the time to turn one WebSocket message into the numbers a bot uses, for
each event kind (bookTicker, trade, aggTrade, kline, 24hrTicker, depthUpdate with 10, 50 and
200 levels), by four decoders side by side in the same run:

- ``fastws``:  ``fastws.Parser(market).parse(payload)``: typed event, float64 fields and
  numpy (n, 2) level arrays;
- ``orjson`` and ``json``: ``loads`` + ``float()`` of every decimal string the event
  carries and ``np.array(levels, dtype=float64)``;
- ``msgspec``: a typed ``msgspec.json.Decoder`` of ``Struct`` classes with ``float`` fields
  (``strict=False`` converts the decimal strings) + ``np.array`` of the level tuples.

Data: real lines of the recorded captures when ``shared/binance/recorded`` is present
(``FASTWS_SHARED_DIR`` or ``../shared``): bookTicker, trade and depthUpdate with exactly 10,
50 and 200 levels from the 2024-08-08 spot BTCUSDT hftbacktest capture, aggTrade and kline
from the cryptofeed USD-M capture. 24hrTicker has no real capture and always uses the
synthetic frame of ``fastws.quickbench`` (same keys and number formats as the docs); the
other kinds fall back to those synthetic frames when the data is absent.

Run::

    pytest bench/bench_parse.py --benchmark-group-by=param:kind --benchmark-columns=min,median,ops

Compare ``min`` within a group (same kind): ratios are the stable figure on a shared machine.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import orjson
import pytest

from fastws.quickbench import KINDS, decoders, payload

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FASTWS_SHARED_DIR", REPO.parent / "shared"))
RECORDED = SHARED / "binance" / "recorded"
SPOT_FILE = "hftbacktest_spot_btcusdt_20240808_part1.gz"
USDM_FILE = "cryptofeed_usdm_4symbols_20210722_ws.txt.gz"


def _lines(name: str):
    with gzip.open(RECORDED / name, "rb") as fh:
        for i, line in enumerate(fh):
            line = line.rstrip(b"\n")
            if name.startswith("cryptofeed"):
                if i == 0 or not line:
                    continue
                yield line.split(b": ", 1)[1]
            else:
                yield line.split(b" ", 1)[1]


def _real_payload(kind: str) -> tuple[bytes, str] | None:
    """The first capture line of ``kind`` (exact level count for depth), or None."""
    if not RECORDED.is_dir():
        return None
    if kind in ("aggTrade", "kline"):
        tag = b'"e":"aggTrade"' if kind == "aggTrade" else b'"e":"kline"'
        return next(((p, "usdm") for p in _lines(USDM_FILE) if tag in p), None)
    if kind == "bookTicker":
        return next(((p, "spot") for p in _lines(SPOT_FILE) if b"@bookTicker" in p[:40]), None)
    if kind == "trade":
        return next(((p, "spot") for p in _lines(SPOT_FILE) if b"@trade" in p[:40]), None)
    if kind.startswith("depthUpdate"):
        want = int(kind[len("depthUpdate"):])
        for p in _lines(SPOT_FILE):
            if b'"depthUpdate"' in p[:80]:
                d = orjson.loads(p)["data"]
                if len(d["b"]) + len(d["a"]) == want:
                    return p, "spot"
    return None


_CACHE: dict[str, tuple[bytes, str, str]] = {}


def frame(kind: str) -> tuple[bytes, str, str]:
    """(payload, market, source) for ``kind``."""
    if kind not in _CACHE:
        real = _real_payload(kind)
        if real is not None:
            _CACHE[kind] = (real[0], real[1], "capture")
        else:
            data, market = payload(kind)
            _CACHE[kind] = (data, market, "synthetic")
    return _CACHE[kind]


LIBS = ("fastws", "orjson", "msgspec", "json")


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("kind", KINDS)
def test_parse(benchmark, kind, lib):
    data, market, source = frame(kind)
    fns = decoders(kind, market)
    if lib not in fns:
        pytest.skip(f"{lib} is not installed")
    fn = fns[lib]
    fn(data)  # warm caches, and fail early if the decoder cannot read this frame
    benchmark.extra_info.update(bytes=len(data), source=source, market=market)
    benchmark(fn, data)
