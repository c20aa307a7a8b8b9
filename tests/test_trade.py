"""``fastws trade`` on the simulator: signals become orders, fills come back through the user
stream, every risk limit refuses what would break it, the kill switch stops trading, nothing is
left open at exit, and a dropped connection is survived.

Signals are injected (``Trader.on_signal``) so each test decides what is traded; the market's
own signals are shown but not traded (``auto=False``), except in the end-to-end CLI test.
"""
from __future__ import annotations

import asyncio
import io
import os
import re
import subprocess
import sys
import time
from decimal import Decimal as D

import fastws
from fastws.risk import RiskLimits
from fastws.sim import Exchange
from fastws.trade import main as trade_main, run_trade

from tests.utils import REPO_ROOT, UNIT


def sig(side, symbol="BTCUSDT", score=0.9):
    return fastws.Signal(symbol, side, score, ("Injected",), int(time.time() * 1000))


async def until(pred, what, timeout=10.0):
    end = time.monotonic() + timeout * UNIT
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def session(hook, limits=RiskLimits(), symbols=("BTCUSDT",), **kw):
    """Run a trade session on a fresh simulator; (exit status, output, exchange, account)."""
    out = io.StringIO()
    async with Exchange(list(symbols), rate=80.0) as ex:
        acct = ex.add_account(balances={"USDT": "4988.99", "BTC": "1", "ETH": "10"}, keys=["ED25519"])
        k = acct.keys[0]

        async def h(trader, ms):
            await until(lambda: all(s in trader.prices for s in symbols), "prices")
            await hook(trader, ms, ex)
            await trader._settle()

        kw.setdefault("order_every", 0.0)
        code = await run_trade(list(symbols), ex.venue, k.api_key, fastws.Ed25519Signer(k.private_pem),
                               limits, interval=0.1, out=out, tty=False, auto=False, hook=h, **kw)
    return code, out.getvalue(), ex, acct, None


async def test_orders_are_placed_filled_and_booked():
    async def hook(trader, ms, ex):
        await trader.on_signal(sig("BUY"))
        await until(lambda: trader.stats.fills >= 1, "the fill")
        await trader.on_signal(sig("SELL"))
        await until(lambda: trader.stats.fills >= 2, "the second fill")

    code, text, ex, acct, _ = await session(hook)
    assert code == 0, text
    assert text.splitlines()[0] == "System initialized - Balance: $4988.99"
    orders = [l for l in text.splitlines() if l.startswith("ORDER ")]
    assert len(orders) == 2 and all("-> FILLED" in l for l in orders), text
    fills = [l for l in text.splitlines() if l.startswith("FILL BTCUSDT")]
    assert len(fills) >= 2 and "position +0.00" in fills[0], text
    assert re.search(r"^summary: .* 2 orders \(2 filled, 0 not filled, 0 rejected\)", text, re.M), text
    assert "open orders left 0" in text
    # the position is what the fills say (each order is ~100 USDT at its own price)
    buy, sell = (float(re.search(rf"^ORDER BTCUSDT {side} ([\d.]+) ", text, re.M).group(1))
                 for side in ("BUY", "SELL"))
    pos = float(re.search(r"positions BTCUSDT ([+-]?[\d.]+)", text).group(1))
    assert abs(pos - (buy - sell)) < 1e-12, (pos, buy, sell)


async def test_max_position_and_max_notional_refuse_and_say_which():
    async def hook(trader, ms, ex):
        await trader.on_signal(sig("BUY"))                   # ~100 USDT: 0.0016 BTC
        await until(lambda: trader.stats.fills >= 1, "the fill")
        line = await trader.on_signal(sig("BUY"))
        assert line.startswith("RISK refused BTCUSDT BUY") and "max_position" in line, line
        line = await trader.on_signal(sig("SELL"))           # reduces: allowed
        assert line.startswith("ORDER"), line

    code, text, *_ = await session(hook, RiskLimits(max_position=D("0.002")))
    assert code == 0 and "refused by limits: max_position 1" in text, text

    async def hook2(trader, ms, ex):
        line = await trader.on_signal(sig("BUY"))
        assert "max_notional" in line and "max 50" in line, line

    code, text, *_ = await session(hook2, RiskLimits(max_notional=D("50")))
    assert code == 0 and "0 orders" in text and "max_notional 1" in text, text


async def test_orders_per_minute():
    async def hook(trader, ms, ex):
        for side in ("BUY", "SELL"):
            assert (await trader.on_signal(sig(side))).startswith("ORDER")
        line = await trader.on_signal(sig("BUY"))
        assert "max_orders_per_minute" in line and "2 orders in the last minute" in line, line

    code, text, *_ = await session(hook, RiskLimits(max_orders_per_minute=2))
    assert code == 0 and "max_orders_per_minute 1" in text, text


async def test_cooldown_after_a_losing_trade():
    async def hook(trader, ms, ex):
        await trader.on_signal(sig("BUY"))
        await until(lambda: trader.stats.fills >= 1, "the buy")
        await trader.on_signal(sig("SELL"))                  # crosses the spread back: a loss
        await until(lambda: trader.stats.fills >= 2, "the sell")
        assert trader.risk.realized < 0
        line = await trader.on_signal(sig("BUY"))
        assert "cooldown" in line and "s left" in line, line

    code, text, *_ = await session(hook, RiskLimits(cooldown_s=60))
    assert code == 0 and "cooldown 1" in text, text


async def test_kill_switch_stops_trading_and_cancels():
    async def hook(trader, ms, ex):
        await trader.on_signal(sig("BUY"))
        await until(lambda: trader.stats.fills >= 1, "the fill")
        # the mark (mid) is below the price paid: a drawdown over 0.0001 right away
        await until(lambda: trader.risk.killed is not None, "the kill switch")
        await until(lambda: trader._kill_announced, "the announcement")
        assert await trader.on_signal(sig("BUY")) is None
        assert await trader.on_signal(sig("SELL", score=1.0)) is None

    code, text, *_ = await session(hook, RiskLimits(max_drawdown=D("0.0001")))
    assert code == 0, text
    assert re.search(r"^KILL SWITCH: drawdown .* over the max 0.0001: trading stopped$", text, re.M), text
    assert len([l for l in text.splitlines() if l.startswith("ORDER")]) == 1
    assert "kill switch on" in text


async def test_open_orders_are_cancelled_and_flatten_on_exit_closes_the_position():
    async def hook(trader, ms, ex):
        bid, _ = trader.prices["BTCUSDT"]
        f = trader.filters["BTCUSDT"]
        resting = await trader.orders.place("BTCUSDT", "BUY", "LIMIT", quantity=D("0.001"),
                                            price=f.round_price(bid * D("0.9"), "down"),
                                            time_in_force="GTC")
        assert resting["status"] == "NEW"
        await trader.on_signal(sig("BUY"))
        await until(lambda: trader.stats.fills >= 1, "the fill")

    code, text, ex, acct, _ = await session(hook, flatten_on_exit=True)
    assert code == 0, text
    assert re.search(r"^CANCEL BTCUSDT order \d+ \(BUY 0.00100000 @ ", text, re.M), text
    assert "flatten on exit" in text and "positions BTCUSDT 0" in text, text
    assert "1 orders cancelled at exit, open orders left 0" in text


async def test_a_dropped_connection_is_survived():
    async def hook(trader, ms, ex):
        await trader.on_signal(sig("BUY"))
        await until(lambda: trader.stats.fills >= 1, "the first fill")
        ex.faults.close(how="reset")                          # every connection, the WS API too
        await asyncio.sleep(0.5)
        line = None
        end = time.monotonic() + 15 * UNIT
        while time.monotonic() < end:                         # orders again once reconnected
            trader._last_order.clear()
            line = await trader.on_signal(sig("SELL"))
            if line and "-> FILLED" in line:
                break
            await asyncio.sleep(0.5)
        assert line and "-> FILLED" in line, line
        await until(lambda: trader.stats.fills >= 2, "the fill after the reconnect", 20)

    code, text, *_ = await session(hook)
    assert code == 0, text
    assert "open orders left 0" in text, text
    assert len([l for l in text.splitlines() if l.startswith("FILL BTCUSDT")]) >= 2, text


def rc(argv):
    try:
        return trade_main(argv)
    except SystemExit as exc:          # argparse's way out
        return exc.code


def test_real_money_needs_the_flag_and_keys_come_from_the_environment(capsys, monkeypatch):
    assert rc(["--venue", "binance-spot", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "real money" in err and "--i-understand-real-money" in err and "Traceback" not in err
    monkeypatch.delenv("FASTWS_API_KEY", raising=False)
    assert rc(["--venue", "binance-spot-testnet", "--seconds", "1"]) == 2
    assert "needs a key: set FASTWS_API_KEY" in capsys.readouterr().err
    assert rc(["BTC-USDT", "--seconds", "1"]) == 2
    assert "not a Binance symbol" in capsys.readouterr().err
    assert rc(["--max-position", "-1"]) == 2
    assert "must be a number > 0" in capsys.readouterr().err


def test_cli_trades_the_paper_account():
    res = subprocess.run([sys.executable, "-m", "fastws", "trade", "BTCUSDT", "ETHUSDT", "--seconds",
                          "12", "--order-every", "1"], cwd=REPO_ROOT,
                         env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=90 * UNIT)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[1] == "System initialized - Balance: $5000.00", res.stdout
    assert lines[-1].startswith("summary:") and "open orders left 0" in lines[-1]
    assert "Traceback" not in res.stderr
