"""Every code block of the README runs, so the README cannot drift from the code.

Python blocks are complete scripts: each runs in its own interpreter (against the embedded
simulator where it needs a venue) and must exit 0. Shell blocks: the commands that start with
``fastws`` or ``python`` run as written (they carry a short ``--seconds``); the quick start's
install lines cannot run here (minutes of compiling), so what they name is checked instead: the
extras exist in pyproject.toml and the commands they run are real.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from tests.utils import REPO_ROOT, UNIT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
BLOCKS = [(m.group(1), m.group(2), README.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(README)]
PYTHON = [(code, line) for lang, code, line in BLOCKS if lang == "python"]
SHELL = [(code, line) for lang, code, line in BLOCKS if lang in ("bash", "sh", "console")]
COMMANDS = [(cmd.strip(), line) for code, line in SHELL for cmd in code.splitlines()
            if cmd.strip().startswith(("fastws ", "python "))]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_the_readme_has_code_to_check():
    assert len(PYTHON) >= 5 and COMMANDS, "the README lost its examples"


@pytest.mark.parametrize("code,line", PYTHON, ids=[f"line{l}" for _, l in PYTHON])
def test_python_block_runs(code, line, tmp_path):
    script = tmp_path / f"readme_line{line}.py"
    script.write_text(code, encoding="utf-8")
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60 * UNIT)
    assert res.returncode == 0, f"README block at line {line} failed:\n{res.stdout}\n{res.stderr}"
    assert "Traceback" not in res.stderr, res.stderr


@pytest.mark.parametrize("cmd,line", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_shell_command_runs(cmd, line):
    argv = shlex.split(cmd)
    assert "--seconds" in argv, f"README line {line}: give {cmd!r} a short --seconds so it can run here"
    if argv[0] == "fastws":
        argv = [sys.executable, "-m", "fastws", *argv[1:]]
    else:
        argv = [sys.executable, *argv[1:]]
    res = subprocess.run(argv, cwd=REPO_ROOT, env=_env(), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120 * UNIT)
    assert res.returncode == 0, f"README line {line}: {cmd}\n{res.stdout}\n{res.stderr}"
    assert "Traceback" not in res.stderr, res.stderr


def test_quick_start_names_what_exists():
    quick = SHELL[0][0]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for extra in re.findall(r'-e "\.\[(\w+)\]"', quick):
        assert extra in project["optional-dependencies"], extra
    assert ".venv/bin/fastws demo" in quick and "fastws" in project["scripts"]
    # the plain install must run everything the README shows: the simulator's REST side and
    # MarketStream's snapshot fallback need aiohttp, the live view rich
    deps = " ".join(project["dependencies"])
    for need in ("aiohttp", "rich", "picows", "orjson", "numpy", "cryptography"):
        assert need in deps, f"{need} is not a core dependency"


def test_no_spec_references_in_readme():
    # SPEC.md is not in the repository: the README says what it means instead
    assert "SPEC §" not in README


OUTPUT = [(code, line) for lang, code, line in BLOCKS if lang == ""]


def test_sample_output_has_the_real_formats():
    """The README's sample output lines are in the formats the commands print."""
    patterns = {
        "SIGNAL:": r"SIGNAL: (BUY|SELL) \| \d\.\d{3} \| [A-Z][a-z]+( [a-z]+)?(, [A-Z][a-z]+( [a-z]+)?)*",
        "System initialized": r"System initialized - Balance: \$\d+\.\d\d",
        "ORDER ": r"ORDER [A-Z]+ (BUY|SELL) [\d.]+ @ [\d.]+ \(IOC, [^)]+\) -> (FILLED|EXPIRED|PARTIALLY_FILLED) .*",
        "FILL ": r"FILL [A-Z]+ (BUY|SELL) [\d.]+ @ [\d.]+ \| position [+-]?[\d.]+ \| PnL [+-]\d+\.\d\d \(realized total [+-]\d+\.\d\d\)",
        "POSITION ": r"POSITION [A-Z]+: [+-]?[\d.]+ @ [\d.]+ \| unrealized [+-]\d+\.\d\d \| realized [+-]\d+\.\d\d",
        "RISK refused": r"RISK refused [A-Z]+ (BUY|SELL) [\d.]+: [a-z_]+: .+",
    }
    seen = set()
    for code, line in OUTPUT:
        for text in code.splitlines():
            if re.match(r"^[A-Z]+USDT: \$", text):
                assert re.fullmatch(r"[A-Z]+: \$\d+\.\d{4} \| Vol: \d+ \| 24h: [+-]\d+\.\d\d%", text), text
                seen.add("ticker")
            for start, pattern in patterns.items():
                if text.startswith(start):
                    assert re.fullmatch(pattern, text), f"README line {line}: {text}"
                    seen.add(start)
    assert seen >= {"ticker", *patterns}, seen
