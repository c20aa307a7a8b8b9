"""Static checks run as part of the tests: mypy --strict on the package (the .pyi stubs stand
for the compiled modules), and plain mypy on the simulator."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.utils import REPO_ROOT

mypy = pytest.importorskip("mypy", reason="mypy is in the test extra")


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )


def test_package_is_mypy_strict_clean():
    res = _mypy()  # config in pyproject.toml: strict, files = fastws
    assert res.returncode == 0, res.stdout + res.stderr


def test_simulator_is_mypy_clean():
    res = _mypy("--follow-imports=silent", "--config-file", "/dev/null", "fastws/sim")
    assert res.returncode == 0, res.stdout + res.stderr
