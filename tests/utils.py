"""Test helpers shared by every test module.

The Binance reference data (``shared/binance/samples`` and ``shared/binance/recorded``) sits
beside the repository in CI (``../shared``); elsewhere point ``FASTWS_SHARED_DIR`` at it. Tests
that need it skip with a clear reason when it is absent. Never copy that data into the repo.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("FASTWS_SHARED_DIR", REPO_ROOT.parent / "shared"))
SAMPLES_DIR = SHARED_DIR / "binance" / "samples"
RECORDED_DIR = SHARED_DIR / "binance" / "recorded"

# One scaled time unit for every timeout in async tests (slow CI machines raise it).
UNIT = float(os.environ.get("FASTWS_TEST_TIME_UNIT", "1.0"))
