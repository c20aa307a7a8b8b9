"""``fastws demo`` and ``fastws monitor --sim``: run to the end with no stdin and no tty."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys

from fastws.demo import run_demo
from fastws.monitor import LiveView, main as monitor_main, streams_for

from tests.utils import REPO_ROOT, UNIT

TICKER_LINE = re.compile(r"^[A-Z]+USDT: \$(\d+\.\d{4}|n/a) \| Vol: (\d+|n/a) \| 24h: ([+-]\d+\.\d\d%|n/a)$")
SIGNAL_LINE = re.compile(r"^SIGNAL: (BUY|SELL) \| \d\.\d{3} \| .+$")


async def test_demo_runs_with_faults_and_reports() -> None:
    """The user sees the seeds' ticker lines, bid/ask/spread/msg/s lines, a signal line per
    symbol, the two faults announced, and a summary with every book synced; exit status 0."""
    out = io.StringIO()
    code = await run_demo(5.0 * UNIT, ("BTCUSDT", "ETHUSDT"), interval=0.5, out=out, tty=False)
    text = out.getvalue()
    assert code == 0, text
    lines = text.splitlines()
    assert any(TICKER_LINE.match(ln) for ln in lines), text
    assert any(ln.startswith("  bid ") and "spread" in ln and "msg/s" in ln for ln in lines)
    assert any(ln.startswith("  signal: ") or SIGNAL_LINE.match(ln) for ln in lines)
    assert "-- fault: BTCUSDT update ids skip ahead" in text
    assert "-- fault: serverShutdown" in text
    summary = [ln for ln in lines if ln.startswith("summary: ")]
    assert len(summary) == 1 and "books synced 2/2" in summary[0]
    assert "0 reconnects" in summary[0] and "1 server shutdowns handled" in summary[0]
    assert "\x1b[" not in text          # no terminal control codes when not a tty


async def test_demo_usdm() -> None:
    """The same demo on the USD-M simulator: /public and /market connections, USD-M books."""
    out = io.StringIO()
    code = await run_demo(3.0 * UNIT, ("BTCUSDT",), interval=0.5, out=out, tty=False,
                          market="usdm", faults=False)
    assert code == 0, out.getvalue()
    assert "books synced 1/1" in out.getvalue()
    assert "2 connection(s)" in out.getvalue()


def test_demo_cli_no_stdin_no_tty() -> None:
    """`fastws demo --seconds 3` as CI runs it: stdin closed, stdout a pipe; exit 0."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run([sys.executable, "-m", "fastws", "demo", "--seconds", str(3 * UNIT),
                           "--symbols", "BTCUSDT", "--no-faults"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60 * UNIT, cwd=REPO_ROOT, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "summary: " in proc.stdout and "books synced 1/1" in proc.stdout


def test_monitor_sim_for_a_few_seconds(capsys) -> None:
    code = monitor_main(["BTCUSDT", "--sim", "--seconds", str(2.5 * UNIT), "--interval", "0.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert any(TICKER_LINE.match(ln) for ln in out.splitlines()), out
    assert "messages" in out.splitlines()[-1]


def test_monitor_rejects_bad_arguments(capsys) -> None:
    import pytest
    with pytest.raises(SystemExit):
        monitor_main(["BTCUSDT", "--venue", "nowhere"])
    assert "invalid choice" in capsys.readouterr().err


def test_streams_for_and_tty_redraw() -> None:
    assert streams_for("btcusdt") == ["btcusdt@ticker", "btcusdt@trade", "btcusdt@bookTicker",
                                      "btcusdt@depth@100ms"]
    assert streams_for("BTCUSDT", books=False, market="usdm") == [
        "btcusdt@ticker", "btcusdt@aggTrade", "btcusdt@bookTicker"]

    class FakeStream:
        books: dict = {}

        def on(self, *a):
            pass

        def stats(self):
            from fastws.market_stream import MarketStreamStats
            return MarketStreamStats()

    out = io.StringIO()
    view = LiveView(FakeStream(), ["BTCUSDT"], out=out, tty=True)
    view.render()
    view.render()
    assert "\x1b[" in out.getvalue() and "BTCUSDT: waiting for data" in out.getvalue()


def test_signal_line_in_the_seeds_format() -> None:
    """When a signal fires the view prints the seeds' line: ``SIGNAL: BUY | 0.xxx | reasons``."""
    import time

    class FakeStream:
        books: dict = {}

        def on(self, *a):
            pass

        def stats(self):
            from fastws.market_stream import MarketStreamStats
            return MarketStreamStats()

    view = LiveView(FakeStream(), ["BTCUSDT"], out=io.StringIO(), tty=False, short_windows=True)
    eng = view.engines["BTCUSDT"]
    t0 = int(time.time() * 1000) - 20_000
    for i in range(200):                       # a steady climb over 20 s
        eng.on_trade(t0 + i * 100, 100.0 + i * 0.02 + (i % 3) * 0.005, 1.0, is_buyer_maker=False)
    lines = view.lines()
    assert any(SIGNAL_LINE.match(ln) and "BUY" in ln for ln in lines), lines
    assert TICKER_LINE.match(lines[0]), lines[0]
    assert view.signals_fired == 1


async def test_default_demo_shows_signals_with_a_fixed_seed() -> None:
    """The simulated market is worth watching: drift and volatility regimes and volume bursts
    make the demo's signal line fire within its default symbols and a short run."""
    out = io.StringIO()
    code = await run_demo(15.0, interval=1.0, out=out, tty=False, seed=1)
    text = out.getvalue()
    assert code == 0, text
    assert re.search(r"^SIGNAL: (BUY|SELL) \| \d\.\d{3} \| ", text, re.M), text
    # the tickers are alive: a 24 h change and a volume, not the frozen +0.00% / Vol: 0
    last = {l.split(":")[0]: l for l in text.splitlines() if re.match(r"^[A-Z]+USDT: \$", l)}
    assert len(last) == 4
    for line in last.values():
        assert "| Vol: 0 |" not in line and "24h: +0.00%" not in line, line
