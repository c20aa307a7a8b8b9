"""The operators' diagnostic scripts run green, in the seeds' format, against the embedded
simulator and against a running ``fastws sim`` (``--url``).

Each script runs as a user would run it (a subprocess, no stdin, not a tty, no PYTHONPATH: the
script puts the project root on the path itself).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.utils import REPO_ROOT, UNIT

DIR = REPO_ROOT / "diagnostic_scripts"
SEEDS = ["binance_websocket_diagnostic.py", "market_stream_diagnostic.py",
         "user_stream_diagnostic.py", "order_stream_diagnostic.py", "stream_stability_diagnostic.py"]
SCRIPTS = sorted(DIR.glob("*_diagnostic.py"))
SHORT = {"stream_stability_diagnostic.py": ["--seconds", "4", "--every", "1"]}


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FASTWS_API")}
    env.update(extra)
    return env


def run(script, *args, env=None, timeout=240):
    return subprocess.run([sys.executable, str(DIR / script), *SHORT.get(script, []), *args],
                          cwd="/", env=env or _env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * UNIT)


def check_format(out: str, script: str) -> None:
    lines = [l for l in out.splitlines() if l.strip()]
    assert re.fullmatch(r"=== Binance [A-Z][A-Za-z ]+ WebSocket Diagnostic ===", lines[0]), lines[0]
    assert re.match(r"Date: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \| Python 3\.\d+\.\d+ \| Project root: ",
                    lines[1]), lines[1]
    assert str(REPO_ROOT) in lines[1]
    tests = [l for l in lines if l.startswith("Test: ")]
    results = [l for l in lines if re.match(r"(✓ Test passed|✗ Test failed|- Test skipped)", l)]
    assert tests and len(tests) == len(results), out
    assert "=== Summary ===" in lines


def test_the_seeds_names_are_there():
    assert sorted(p.name for p in SCRIPTS) == sorted(SEEDS)
    for p in SCRIPTS:
        doc = p.read_text(encoding="utf-8").split('"""')[1]
        assert "Usage:" in doc and p.name in doc, p.name


@pytest.mark.slow
@pytest.mark.parametrize("script", SEEDS)
def test_diagnostic_script_passes_against_the_simulator(script):
    res = run(script)
    check_format(res.stdout, script)
    lines = [l for l in res.stdout.splitlines() if l.strip()]
    summary = next(l for l in reversed(lines) if re.fullmatch(r"\d+ passed, \d+ failed", l))
    passed, failed = map(int, re.findall(r"\d+", summary))
    assert passed > 0 and failed == 0, res.stdout
    assert res.returncode == 0, res.stdout + res.stderr
    assert "✗" not in res.stdout and "Traceback" not in res.stderr
    if script == "stream_stability_diagnostic.py":
        assert lines[-1].startswith("Verdict: STABLE: every symbol kept updating"), lines[-1]
        assert re.search(r"^  BTCUSDT: \$\d+\.\d{4} \| Vol: \d+ \| 24h: [+-]\d+\.\d\d% \| \d+ msgs$",
                         res.stdout, re.M), res.stdout
        assert "1 reconnects (1 injected)" in lines[-1]


def test_a_failed_test_is_red_and_the_exit_status_says_so():
    # nothing listens on port 9: every test fails, each with its message; none stops the others
    res = run("market_stream_diagnostic.py", "--url", "ws://127.0.0.1:9", "--timeout", "3", timeout=120)
    check_format(res.stdout, "market_stream_diagnostic.py")
    assert res.returncode == 1
    assert res.stdout.count("✗ Test failed") == 4 and "5 skipped" in res.stdout, res.stdout
    assert res.stdout.rstrip().splitlines()[-1] == "0 passed, 4 failed"


def test_ctrl_c_closes_and_summarises():
    proc = subprocess.Popen([sys.executable, str(DIR / "stream_stability_diagnostic.py"), "--seconds", "60"],
                            cwd="/", env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4 * UNIT)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30 * UNIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    assert "- Test interrupted" in out and "interrupted: every connection closed" in out, out
    assert "Traceback" not in err


@pytest.mark.slow
def test_against_a_running_sim_with_its_paper_account():
    sim = subprocess.Popen([sys.executable, "-m", "fastws", "sim", "--paper", "--port", "0",
                            "--rest-port", "0", "--symbols", "BTCUSDT,ETHUSDT"],
                           cwd=REPO_ROOT, env=_env(PYTHONPATH=str(REPO_ROOT)), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = env_file = None
        for line in sim.stdout:
            if line.startswith("  streams"):
                url = line.split()[1].split("/ws/")[0]
            if line.startswith("  key file"):
                env_file = line.split()[2]
            if line.startswith("Ctrl-C"):
                break
        assert url and env_file, "no banner"
        assert oct(os.stat(env_file).st_mode & 0o777) == "0o600"
        keys = dict(l.split(" ", 1)[1].split("=", 1) for l in open(env_file).read().splitlines())
        env = _env(**keys)
        for script in ("order_stream_diagnostic.py", "binance_websocket_diagnostic.py"):
            res = run(script, "--url", url, env=env, timeout=120)
            check_format(res.stdout, script)
            assert res.returncode == 0 and "✗" not in res.stdout, res.stdout + res.stderr
            assert f"Target: running simulator at {url}" in res.stdout
        os.unlink(env_file)
    finally:
        sim.send_signal(signal.SIGINT)
        sim.wait(timeout=20 * UNIT)
