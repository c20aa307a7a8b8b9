"""The live view on a real terminal: the demo runs under a pseudo-terminal of a given size and
its output is played into a terminal emulator (pyte); the final screen must show each symbol's
header exactly once and nothing left over from earlier frames, log lines included.

On a pipe the view prints plain blocks (no escape codes).
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.utils import REPO_ROOT, UNIT

pyte = pytest.importorskip("pyte", reason="pyte (the test extra) draws the terminal")

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
HEADER = re.compile(r"^(BTCUSDT|ETHUSDT|SOLUSDT|BNBUSDT): (\$|waiting)")


def run_in_terminal(argv: list[str], cols: int, rows: int, *, interrupt_after: float | None = None,
                    timeout: float = 90.0) -> tuple[int, bytes]:
    """Run ``argv`` on a pseudo-terminal of ``cols`` x ``rows``; (exit status, every byte)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), TERM="xterm-256color",
               COLUMNS=str(cols), LINES=str(rows))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            cwd=REPO_ROOT, close_fds=True)
    os.close(slave)
    out = bytearray()
    t0 = time.monotonic()
    sent = False
    try:
        while True:
            if interrupt_after is not None and not sent and time.monotonic() - t0 > interrupt_after:
                proc.send_signal(2)
                sent = True
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                raise AssertionError("the command did not end:\n" + out.decode(errors="replace"))
    finally:
        os.close(master)
    return proc.wait(), bytes(out)


def screen_of(data: bytes, cols: int, rows: int) -> list[str]:
    screen = pyte.Screen(cols, rows)
    stream = pyte.ByteStream(screen)
    stream.feed(data.replace(b"\n", b"\r\n") if b"\r\n" not in data else data)
    return [line.rstrip() for line in screen.display]


def check_screen(lines: list[str]) -> None:
    text = "\n".join(lines)
    for sym in SYMBOLS:
        headers = [l for l in lines if HEADER.match(l) and l.startswith(sym)]
        assert len(headers) == 1, f"{sym}: {len(headers)} headers on screen:\n{text}"
    # every header line is whole: the seed's ticker format, nothing glued after it
    for l in lines:
        if HEADER.match(l) and "$" in l:
            assert re.fullmatch(r"[A-Z]+: \$\d+\.\d{4} \| Vol: \d+ \| 24h: [+-]\d+\.\d\d%", l), l
    # one status line of the view, and no half-erased leftovers of earlier frames
    assert sum(1 for l in lines if l.startswith("[") and "msg/s" in l) == 1, text


@pytest.mark.parametrize("cols,rows", [(80, 24), (200, 50)])
def test_demo_view_on_a_terminal(cols, rows):
    rc, data = run_in_terminal([sys.executable, "-m", "fastws", "demo", "--seconds", "6",
                                "--interval", "0.5"], cols, rows, timeout=90 * UNIT)
    lines = screen_of(data, cols, rows)
    assert rc == 0, "\n".join(lines)
    assert b"\x1b[" in data, "no terminal drawing: the view did not see a terminal"
    check_screen(lines)
    assert any(l.startswith("summary:") for l in lines), "\n".join(lines)


def test_verbose_view_taller_than_the_window_is_cropped_not_garbled():
    # 4 symbols x 6 lines + status: taller than 24 rows
    rc, data = run_in_terminal([sys.executable, "-m", "fastws", "demo", "--seconds", "4",
                                "--interval", "0.5", "--verbose", "--no-faults"], 80, 24,
                               timeout=90 * UNIT)
    lines = screen_of(data, 80, 24)
    assert rc == 0, "\n".join(lines)
    text = "\n".join(lines)
    for sym in SYMBOLS:
        assert sum(1 for l in lines if HEADER.match(l) and l.startswith(sym)) <= 1, text


def test_ctrl_c_prints_the_summary_and_exits_130():
    rc, data = run_in_terminal([sys.executable, "-m", "fastws", "demo", "--seconds", "60",
                                "--interval", "0.5"], 100, 30, interrupt_after=5 * UNIT,
                               timeout=60 * UNIT)
    lines = screen_of(data, 100, 30)
    assert rc == 130, "\n".join(lines)
    text = "\n".join(lines)
    assert "summary:" in text and "(interrupted)" in text.replace("\n", ""), text
    assert b"Traceback" not in data


def test_plain_lines_in_a_pipe():
    res = subprocess.run([sys.executable, "-m", "fastws", "demo", "--seconds", "3", "--no-faults"],
                         cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60 * UNIT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "\x1b[" not in res.stdout
    assert any(l.startswith("BTCUSDT: $") for l in res.stdout.splitlines())
    assert res.stdout.rstrip().splitlines()[-1].startswith("summary:")


def test_monitor_says_where_it_connected_and_summarises_on_ctrl_c():
    rc, data = run_in_terminal([sys.executable, "-m", "fastws", "monitor", "BTCUSDT", "ETHUSDT",
                                "--sim", "--interval", "0.5"], 100, 30, interrupt_after=5 * UNIT,
                               timeout=60 * UNIT)
    lines = screen_of(data, 100, 30)
    text = "\n".join(lines)
    assert rc == 130, text
    assert "fastws monitor: connected to sim-spot at ws://127.0.0.1:" in text
    assert "summary:" in text and "(interrupted)" in text.replace("\n", ""), text
    for sym in ("BTCUSDT", "ETHUSDT"):
        assert sum(1 for l in lines if HEADER.match(l) and l.startswith(sym)) == 1, text
    assert b"Traceback" not in data


def test_trade_view_on_a_terminal():
    rc, data = run_in_terminal([sys.executable, "-m", "fastws", "trade", "BTCUSDT", "ETHUSDT",
                                "--seconds", "12", "--order-every", "1", "--interval", "0.5"],
                               80, 24, timeout=90 * UNIT)
    lines = screen_of(data, 80, 24)
    text = "\n".join(lines)
    assert rc == 0, text
    for sym in ("BTCUSDT", "ETHUSDT"):
        assert sum(1 for l in lines if HEADER.match(l) and l.startswith(sym)) == 1, text
        assert sum(1 for l in lines if l.startswith(f"POSITION {sym}:")) == 1, text
    assert sum(1 for l in lines if l.startswith("PnL ")) == 1, text
    assert "summary:" in text and b"Traceback" not in data
    assert b"System initialized - Balance: $5000.00" in data
