"""Bad input to the CLI gets one clear line on stderr and a non-zero exit, never a traceback.

Every case runs the command as a user would (``python -m fastws ...``, no stdin, not a tty).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.utils import REPO_ROOT, UNIT


def fastws(*args, cwd=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "fastws", *args], cwd=cwd or REPO_ROOT,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * UNIT)


def one_line(res, *needles, rc=None):
    assert "Traceback" not in res.stderr, res.stderr
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    assert res.returncode != 0 if rc is None else res.returncode == rc, (res.returncode, res.stderr)
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture
def truncated_gz(tmp_path, recorded_dir):
    """A real capture cut short, as an interrupted download leaves it."""
    path = tmp_path / "capture.gz"
    data = (recorded_dir / "hftbacktest_spot_btcusdt_20240808_part1.gz").read_bytes()
    path.write_bytes(data[:30_000])
    return path


def test_truncated_gzip_to_replay(truncated_gz):
    one_line(fastws("replay", str(truncated_gz)), "capture.gz", "truncated or corrupt gzip", rc=2)


def test_truncated_gzip_to_sim_replay(truncated_gz):
    one_line(fastws("sim", "--port", "0", "--replay", str(truncated_gz)), "capture.gz",
             "truncated or corrupt gzip", rc=2)


@pytest.mark.parametrize("args,needle", [
    (["sim", "--port", "99999"], "port number from 0"),
    (["sim", "--port", "-1"], "port number from 0"),
    (["sim", "--rest-port", "70000"], "port number from 0"),
    (["sim", "--rate", "0"], "--rate: '0': must be a number > 0"),
    (["sim", "--rate", "-3"], "must be a number > 0"),
    (["sim", "--rate", "nan"], "must be a number > 0"),
    (["sim", "--gap-every", "-1"], "--gap-every"),
    (["sim", "--seconds", "-2"], "--seconds"),
    (["sim", "--symbols", "BTC-USDT"], "did you mean BTCUSDT"),
    (["sim", "--symbols", "BTCXYZ"], "no known quote asset"),
    (["sim", "--cert", "missing.pem", "--key", "missing.key"], "missing.pem"),
    (["sim", "--hmac-key", "KEY:/no/such/secret"], "/no/such/secret"),
    (["sim", "--hmac-key", "KEYONLY"], "APIKEY:FILE"),
    (["sim", "--balance", "USDT=lots", "--paper"], "USDT=lots"),
    (["demo", "--seconds", "-1"], "--seconds"),
    (["demo", "--interval", "0"], "--interval"),
    (["demo", "--symbols", "btc/usdt"], "not a Binance symbol"),
    (["monitor", "BTCUSDT", "--seconds", "-5"], "--seconds"),
    (["monitor", "BTCUSDT", "--url", "localhost:8765"], "not a simulator address"),
    (["monitor", "BTCUSDT", "--ca-file", "missing-ca.pem", "--seconds", "1"], "missing-ca.pem"),
    (["trade", "--seconds", "-1"], "--seconds"),
    (["trade", "--max-orders-per-minute", "0"], "--max-orders-per-minute"),
    (["trade", "--venue", "binance-spot"], "--i-understand-real-money"),
    (["replay", "no-such-capture.gz"], "no-such-capture.gz: no such file"),
    (["replay", "x.gz", "--tick-size", "BTCUSDT"], "SYMBOL=TICK"),
    (["bench", "--budget", "-1"], "--budget"),
    (["bench", "--kinds", "nosuch"], "unknown kind"),
    (["nosuchcommand"], "unknown command"),
])
def test_bad_arguments(args, needle):
    res = fastws(*args)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.returncode, res.stderr)
    first = [l for l in res.stderr.splitlines() if l.strip()][0]
    assert needle in first, first
    if args[0] != "nosuchcommand":
        one_line(res)


def test_sim_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        one_line(fastws("sim", "--port", str(port), "--rest-port", "0"), f"port {port}", "in use")


def test_monitor_offline_says_what_and_where():
    with socket.socket() as s:                     # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = one_line(fastws("monitor", "BTCUSDT", "--url", f"ws://127.0.0.1:{port}", "--timeout", "2"),
                    f"could not connect", f"ws://127.0.0.1:{port}", "ConnectionRefused", rc=1)
    assert not line.rstrip().endswith("TimeoutError:")


def test_replay_into_a_closed_pipe_is_quiet(recorded_dir):
    capture = recorded_dir / "cryptofeed_spot_4symbols_20211012_ws.txt.gz"
    cmd = (f"{sys.executable} -m fastws replay {capture} {recorded_dir / 'cryptofeed_spot_4symbols_20211012_http.txt.gz'}"
           " | head -n 1")
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=REPO_ROOT,
                         env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True,
                         text=True, timeout=60 * UNIT)
    assert res.stdout.startswith("replayed "), res.stdout
    assert res.stderr == "", res.stderr
    assert res.returncode == 0


def test_replay_with_no_book_synced_is_not_ok(recorded_dir):
    res = fastws("replay", str(recorded_dir / "hftbacktest_spot_btcusdt_20230405_nosnapshot.gz"))
    assert res.returncode == 1, res.stdout
    assert res.stdout.rstrip().splitlines()[-1].startswith("NOT OK: no book ever synced"), res.stdout
