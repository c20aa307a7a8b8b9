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
