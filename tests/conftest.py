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
