"""BaseOperations round trips and SymbolFilters (formatting on the grid, checks)."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.api.base_operations import BaseOperations, FilterError, SymbolFilters, to_decimal
from fastws.exceptions import ApiError, InvalidUsage
from fastws.sim import Exchange, ManualClock
from tests.sim_api_support import old_grid, recorded

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True


async def test_every_public_method_round_trips():
    # a frozen clock: the simulator's market does not move, so each answer the client returns
    # can be checked against the simulator's own answer to the same parameters
    clock = ManualClock()
    async with recorded(Exchange([old_grid(), old_grid(symbol="ETHUSDT")], clock=clock)) as (ex, sent):
        await ex.advance(3000)                  # some trades on the tape
        md = ex._api.market_data

        def truth(method):
            params = sent.params(method)[-1]
            return md.ws_handler(method)(params)[1]

        async with BaseOperations(ex.venue) as api:
            assert await api.ping() is None
            t = await api.server_time()
            assert abs(t - ex.now_ms()) < 1000
            info = await api.exchange_info()
            assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
            f = api.filters("ETHUSDT")
            assert f is not None and f.tick_size == Decimal("0.01")
            assert (await api.depth("BTCUSDT", 5))["lastUpdateId"] == ex.update_id("BTCUSDT")
            trades = await api.recent_trades("BTCUSDT", limit=1)
            assert len(trades) == 1 and isinstance(trades[0]["price"], str) and trades == truth("trades.recent")
            agg = await api.aggregate_trades("BTCUSDT", start_time=1)
            assert agg and isinstance(agg[0]["a"], int) and agg == truth("trades.aggregate")
            rows = await api.klines("BTCUSDT", "1m", limit=1)
            assert len(rows[0]) == 12 and rows == truth("klines")
            ui = await api.klines("BTCUSDT", "1m", ui=True)
            assert len(ui[0]) == 12 and ui == truth("uiKlines")
            avg = await api.avg_price("BTCUSDT")
            assert isinstance(avg["price"], str) and avg == truth("avgPrice")
            assert (await api.ticker_24hr("BTCUSDT"))["symbol"] == "BTCUSDT"
            both = await api.ticker_24hr(symbols=["BTCUSDT", "ETHUSDT"])
            assert len(both) == 2 and both == truth("ticker.24hr")
            assert (await api.ticker("BTCUSDT", window_size="1h"))["symbol"] == "BTCUSDT"
            assert (await api.ticker_trading_day("BTCUSDT"))["symbol"] == "BTCUSDT"
            price = await api.ticker_price("BTCUSDT")
            assert isinstance(price["price"], str) and price == truth("ticker.price")
            book = await api.ticker_book("BTCUSDT")
            assert Decimal(book["askPrice"]) == Decimal(ex.book("BTCUSDT", 1)[1][0][0])
            assert book == truth("ticker.book")
            st_ = await api.session_status()
            assert st_["apiKey"] is None
            methods = sent.methods()
            for m in ("ping", "time", "exchangeInfo", "depth", "trades.recent", "trades.aggregate", "klines",
                      "uiKlines", "avgPrice", "ticker.24hr", "ticker", "ticker.tradingDay", "ticker.price",
                      "ticker.book", "session.status"):
                assert m in methods


async def test_bad_arguments_are_refused_locally():
    async with recorded(Exchange([old_grid(), old_grid(symbol="ETHUSDT")])) as (ex, sent):
        async with BaseOperations(ex.venue) as api:
            n = len(sent)
            with pytest.raises(InvalidUsage):
                await api.exchange_info("BTCUSDT", symbols=["ETHUSDT"])
            with pytest.raises(InvalidUsage):
                await api.ticker_price("BTCUSDT", symbols=["ETHUSDT"])
            with pytest.raises(InvalidUsage):
                await api.aggregate_trades("BTCUSDT", from_id=1, start_time=2)
            assert len(sent) == n
            with pytest.raises(ApiError) as e:
                await api.klines("BTCUSDT", "7x")
            assert e.value.code == -1120


async def test_symbol_filters_are_loaded_once():
    from fastws.sim import Exchange
    from tests.sim_api_support import recording
    async with Exchange(["BTCUSDT"]) as ex:
        async with BaseOperations(ex.venue) as api:
            with recording(ex) as sent:
                fs = await asyncio.gather(*(api.symbol_filters("BTCUSDT") for _ in range(20)))
            assert all(f is fs[0] for f in fs)
            assert sent.methods().count("exchangeInfo") == 1
            with pytest.raises(ApiError):
                await api.symbol_filters("NOPE")


def test_filters_from_the_documented_sample(samples_dir):
    info = json.loads((samples_dir / "wsapi_exchangeInfo_response.json").read_text())["result"]
    f = SymbolFilters.from_exchange_info(info["symbols"][0])
    assert f.symbol == "BNBBTC"
    assert f.tick_size == Decimal("0.00000100") and f.step_size == Decimal("0.00100000")
    assert f.format_price("0.0012") == "0.001200"
    assert f.format_qty(Decimal("1.5")) == "1.500"
    with pytest.raises(FilterError, match="PRICE_FILTER"):
        f.format_price("0.0000015")
    assert f.format_price("0.0000015", "down") == "0.000001"
    assert f.format_price("0.0000015", "up") == "0.000002"
    assert f.market_step_size == f.step_size   # no MARKET_LOT_SIZE: LOT_SIZE applies


FILTERS = SymbolFilters.from_exchange_info({
    "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
         "stepSize": "0.00000000"},
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
         "maxNotional": "9000000.00000000"}]})


def test_checks_name_the_filter():
    f = FILTERS
    f.check_price(Decimal("27000.10"))
    with pytest.raises(FilterError, match="maxPrice"):
        f.check_price(Decimal("2000000"))
    with pytest.raises(FilterError, match="LOT_SIZE.*stepSize"):
        f.check_qty(Decimal("0.000015"))
    with pytest.raises(FilterError, match="maxQty"):
        f.check_qty(Decimal("9001"))
    with pytest.raises(FilterError, match="NOTIONAL"):
        f.check_notional(Decimal("4.99"))
    # MARKET_LOT_SIZE with a 0 step falls back to LOT_SIZE's grid but keeps its own max
    assert f.market_step_size == Decimal("0.00001")
    with pytest.raises(FilterError, match="MARKET_LOT_SIZE"):
        f.check_qty(Decimal("101"), market=True)


def test_to_decimal_refuses_floats_and_junk():
    assert to_decimal("0.10000000") == Decimal("0.1") and str(to_decimal("0.10000000")) == "0.10000000"
    for bad in (0.1, "abc", "NaN", "Infinity", True, None, [1]):
        with pytest.raises(InvalidUsage):
            to_decimal(bad)


@settings(deadline=None, max_examples=200)
@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=0, max_value=98))
def test_price_text_is_exact_on_the_grid(cents, extra):
    """Any multiple of the tick formats to exactly two decimals and parses back to itself;
    anything between ticks is refused, or rounded down onto the grid."""
    price = Decimal(cents) / 100
    text = FILTERS.format_price(price)
    assert Decimal(text) == price and len(text.split(".")[1]) == 2
    off = price + Decimal(extra + 1) / 10000       # strictly between two ticks
    with pytest.raises(FilterError):
        FILTERS.format_price(off)
    assert Decimal(FILTERS.format_price(off, "down")) == price


def test_symbol_filters_hold_only_declared_fields():
    """The frozen dataclass gains no undeclared attributes: the derived integer grids (and the
    compiled order spec) live in its one ``init=False`` field, ``grids``."""
    from dataclasses import fields

    from fastws.api.base_operations import FilterGrids, SymbolFilters
    f = SymbolFilters.from_exchange_info({"symbol": "BTCUSDT", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.01", "minPrice": "0.01", "maxPrice": "1000000"},
        {"filterType": "LOT_SIZE", "stepSize": "0.00001", "minQty": "0.00001", "maxQty": "9000"},
        {"filterType": "NOTIONAL", "minNotional": "5", "maxNotional": "9000000"}]})
    assert set(vars(f)) == {x.name for x in fields(f)}
    assert isinstance(f.grids, FilterGrids) and f.grids.order_spec is not None
    assert f.grids.price.places == 2 and f.grids.notional == (5 * 10**7, 9_000_000 * 10**7)
    assert f == SymbolFilters.from_exchange_info(dict(f.raw))      # grids are not compared
