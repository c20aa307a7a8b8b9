"""The operators' diagnostic scripts run green against the embedded simulator.

Each script runs as a user would run it (a subprocess, no stdin, not a tty) and must end with
its house-format summary ``N passed, 0 failed`` and exit status 0.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.utils import REPO_ROOT, UNIT

SCRIPTS = sorted((REPO_ROOT / "diagnostic_scripts").glob("*_diagnostics.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_diagnostic_script_passes_against_the_simulator(script):
    res = subprocess.run(
        [sys.executable, str(script)], cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=240 * UNIT,
    )
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    assert lines, res.stderr
    summary = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
    assert summary, f"no summary line:\n{res.stdout}\n{res.stderr}"
    assert int(summary.group(1)) > 0 and summary.group(2) == "0", res.stdout
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout
