"""Shared pytest fixtures: where the shared Binance data lives, and skipping without it."""
from __future__ import annotations

import pytest

from tests.utils import RECORDED_DIR, SAMPLES_DIR


@pytest.fixture(scope="session")
def samples_dir():
    if not SAMPLES_DIR.is_dir():
        pytest.skip(f"Binance sample payloads not found at {SAMPLES_DIR} (set FASTWS_SHARED_DIR)")
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def recorded_dir():
    if not RECORDED_DIR.is_dir():
        pytest.skip(f"recorded Binance captures not found at {RECORDED_DIR} (set FASTWS_SHARED_DIR)")
    return RECORDED_DIR



def pytest_asyncio_loop_factories(config, item):
    """Async tests of a module that sets ``BOTH_LOOPS = True`` run on asyncio's default loop
    and on uvloop (fastws's loop in production); the others on asyncio's loop only."""
    import asyncio
    factories = {"asyncio": asyncio.new_event_loop}
    module = getattr(item, "module", None)
    if getattr(module, "BOTH_LOOPS", False):
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
            return factories
        factories["uvloop"] = uvloop.new_event_loop
    return factories


def _costly_tests():
    from pathlib import Path
    path = Path(__file__).with_name("costly_tests.txt")
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return {l.strip() for l in lines if l.strip() and not l.startswith("#")}


def pytest_collection_modifyitems(config, items):
    """Mark the developers' quick loop (``pytest -m quick``, about a minute): every test that is
    not ``slow`` and not listed in ``tests/costly_tests.txt`` (by node id or by module)."""
    import pytest
    costly = _costly_tests()
    for item in items:
        nodeid = item.nodeid
        module = nodeid.split("::")[0]
        base = nodeid.split("[")[0]
        if item.get_closest_marker("slow") or nodeid in costly or module in costly or base in costly:
            continue
        item.add_marker(pytest.mark.quick)
