"""The third-party client adapters of the peers benchmark (bench/peers/, contract in
bench/bench_peers.py's docs): each imports without its library and says why it cannot run;
the book Binance's docs describe (for the SDK, which has none) syncs and notices gaps; and,
``slow`` and skipped where the library is missing, each adapter runs its scenarios against the
simulator: messages arrive, and its own book ends on the simulator's best bid/ask at the
simulator's last update id."""
from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.utils import UNIT

ROOT = Path(__file__).resolve().parent.parent
MINE = ("python_binance", "python_binance_bigq", "binance_sdk_spot", "unicorn", "unicorn_picows",
        "unicorn_ldc", "cryptofeed_client", "ccxt_pro")
# the libraries each adapter needs (made unimportable to check the adapter still imports)
LIBS = {
    "python_binance": ("binance",),
    "python_binance_bigq": ("binance",),
    "binance_sdk_spot": ("binance_sdk_spot",),
    "unicorn": ("unicorn_binance_websocket_api",),
    "unicorn_picows": ("unicorn_binance_websocket_api",),
    "unicorn_ldc": ("unicorn_binance_local_depth_cache", "unicorn_binance_rest_api"),
    "cryptofeed_client": ("cryptofeed",),
    "ccxt_pro": ("ccxt",),
}


@pytest.fixture
def no_libs(monkeypatch):
    """Every peer library unimportable (``sys.modules[name] = None``), adapters re-imported."""
    for libs in LIBS.values():
        for lib in libs:
            for name in [n for n in sys.modules if n == lib or n.startswith(lib + ".")]:
                monkeypatch.delitem(sys.modules, name)
            monkeypatch.setitem(sys.modules, lib, None)
    for mod in MINE:
        monkeypatch.delitem(sys.modules, f"bench.peers.{mod}", raising=False)
    monkeypatch.syspath_prepend(str(ROOT))
    yield
    for mod in MINE:
        sys.modules.pop(f"bench.peers.{mod}", None)


@pytest.mark.parametrize("mod", MINE)
def test_adapter_imports_without_its_library_and_says_why_not(no_libs, mod):
    a = importlib.import_module(f"bench.peers.{mod}")
    why = a.available()
    assert isinstance(why, str) and "cannot import" in why
    assert any(lib in why for lib in LIBS[mod])
    assert isinstance(a.NAME, str) and a.NAME and isinstance(a.PACKAGE, str) and a.PACKAGE
    assert isinstance(a.POINTED, str) and len(a.POINTED) > 40
    assert a.KINDS and a.KINDS <= {"tickers", "depth"} and callable(a.run)


def test_adapters_are_listed_once_with_distinct_names():
    sys.path.insert(0, str(ROOT))
    try:
        peers = importlib.import_module("bench.peers")
        listed = peers.ADAPTERS
        assert set(MINE) <= set(listed) and len(listed) == len(set(listed))
        names = [importlib.import_module(f"bench.peers.{m}").NAME for m in MINE]
        assert len(names) == len(set(names))
    finally:
        sys.path.remove(str(ROOT))


def test_no_adapter_module_shadows_its_library():
    """Run as scripts, bench/peers is sys.path[0]: a module named like a library would be
    imported instead of it (binance_sdk_spot.py is, so the runner drops that folder)."""
    for mod in MINE:
        assert mod not in ("binance", "cryptofeed", "ccxt") and not mod.startswith("unicorn_b")
    src = (ROOT / "bench" / "peers" / "try_adapter.py").read_text()
    assert "sys.path[:] = [p for p in sys.path if" in src


# -- the documented local book (binance-sdk-spot has none of its own) ----------------------------
def _common():
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module("bench.peers._common")
    finally:
        sys.path.remove(str(ROOT))


def test_diff_book_buffers_until_the_snapshot_then_applies_in_order():
    c = _common()
    book = c.DiffBook()
    assert book.apply(95, 99, [["9", "1"]], []) and not book.synced
    assert book.apply(100, 104, [["10", "2"]], [["11", "1"]])
    assert book.apply(105, 106, [["10", "0"]], [["12", "3"]])
    book.snapshot(101, [["9.5", "4"], ["9", "1"]], [["11", "5"]])
    # the event ending at 99 is older than the snapshot, the one straddling 102 applies
    assert book.synced and book.last_update_id == 106
    assert book.bids == {9.5: 4.0, 9.0: 1.0} and book.asks == {11.0: 1.0, 12.0: 3.0}
    assert book.best() == (9.5, 11.0)


def test_diff_book_reports_a_gap_and_waits_for_a_new_snapshot():
    c = _common()
    book = c.DiffBook()
    book.snapshot(10, [["1", "1"]], [["2", "1"]])
    assert book.apply(11, 12, [], [["2", "0"]]) and book.best() == (1.0, None)
    assert not book.apply(14, 15, [["1.5", "1"]], [])          # 13 is missing
    assert not book.synced and book.bids == {1.0: 1.0}          # nothing applied past the gap
    book.snapshot(14, [["1.5", "2"]], [["3", "1"]])             # the buffered 14..15 applies
    assert book.last_update_id == 15 and book.best() == (1.5, 3.0)


def test_error_log_forwards_warnings_up_to_a_limit():
    c = _common()
    errors: list[str] = []
    ctx = SimpleNamespace(stop=threading.Event(), error=errors.append)
    log = logging.getLogger("test_bench_peerlibs.lib")
    h = c.ErrorLog(ctx, "lib", limit=2)
    log.addHandler(h)
    try:
        log.info("fine")
        for i in range(4):
            log.warning("book reset %d", i)
        ctx.stop.set()
        log.warning("while stopping")
    finally:
        log.removeHandler(h)
        h.close()
    assert errors == ["lib log WARNING: book reset 0", "lib log WARNING: book reset 1",
                      "lib log: 2 more records"]


def test_run_async_reports_a_crash_and_returns_on_stop():
    c = _common()
    errors: list[str] = []
    ctx = SimpleNamespace(stop=threading.Event(), error=errors.append)

    async def broken() -> None:
        raise RuntimeError("read loop died")
    threading.Timer(0.2, ctx.stop.set).start()
    c.run_async(ctx, broken, what="lib")
    assert len(errors) == 1 and errors[0].startswith("lib died: RuntimeError: read loop died")


# -- each adapter against the simulator ----------------------------------------------------------
CASES = [(m, k) for m in MINE for k in ("tickers", "depth")
         if not (m in ("unicorn", "unicorn_picows") and k == "depth")
         and not (m == "unicorn_ldc" and k == "tickers")]
# unicorn-ldc subscribes one market every 4 s (and takes one snapshot every 4 s), UBWA may
# start a stream 5 s late: on a loaded machine its second market can take 30 s to sync, so it
# gets one market here
SECONDS = {"unicorn": 9.0, "unicorn_picows": 9.0, "unicorn_ldc": 14.0}
SYMBOLS = {"unicorn_ldc": ("BTCUSDT",)}


@pytest.mark.slow
@pytest.mark.parametrize("mod,kind", CASES)
def test_adapter_against_the_simulator(mod, kind):
    for lib in LIBS[mod]:
        if importlib.util.find_spec(lib) is None:
            pytest.skip(f"{lib} is not installed (pip install 'fastws[bench]')")
    seconds = SECONDS.get(mod, 4.0) * UNIT
    symbols = SYMBOLS.get(mod, ("BTCUSDT", "ETHUSDT"))
    cmd = [sys.executable, str(ROOT / "bench" / "peers" / "try_adapter.py"), mod, kind,
           "--json", "--seconds", str(seconds), "--settle", str(20 * UNIT),
           "--symbols", ",".join(symbols)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 90 * UNIT,
                       env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if "unavailable" in out:
        pytest.skip(out["unavailable"])
    assert out["errors"] == [], (out, p.stderr[-3000:])
    if kind == "tickers":
        assert out["ticks"] > 20, out
    else:
        assert out["equal"], out["check"]
        assert all(out["books"].get(s, 0) > 0 for s in symbols), out


def _try(mod: str, kind: str, *args: str, seconds: float) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "peers" / "try_adapter.py"), mod, kind,
           "--json", "--seconds", str(seconds), *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120 * UNIT,
                       env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_python_binance_read_loop_dying_under_a_depth_flood_is_reported():
    """With its default queue (100), python-binance's read loop ends on a depth flood and its
    DepthCacheManager then spins on ReadLoopClosed for ever: the adapter must say so (and not
    spin), the benchmark reports it as what broke."""
    if importlib.util.find_spec("binance") is None:
        pytest.skip("python-binance is not installed")
    out = _try("python_binance", "depth", "--flood", "5000", "--settle", "2",
               "--symbols", "BTCUSDT,ETHUSDT", seconds=5 * UNIT)
    errors = " | ".join(out["errors"])
    assert "BinanceWebsocketQueueOverflow" in errors, out
    assert "read loop ended" in errors, out
    assert out["returned_after_stop_s"] is not None and out["returned_after_stop_s"] < 2.0
