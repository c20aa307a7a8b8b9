"""The house format shared by the diagnostic scripts: header, tests, results, summary.

A script lists its tests as ``(name, coroutine_function, needs)`` where ``needs`` is
``"any"``, ``"sim"`` (fault injection: skipped unless on the embedded simulator) or ``"venue"``
(methods the simulator does not serve: skipped on it), and calls :func:`main_loop`. The output::

    === Binance Market Stream WebSocket Diagnostic ===
    Date: 2026-12-03 14:00:00 UTC | Python 3.11.7 | Project root: /path/to/fastws
    Target: embedded simulator (ws://127.0.0.1:40121)

    Test: data flows and parses
    ✓ Test passed (1.1 s): 25 bookTickers, ...

    Test: gap: that book alone resyncs
    ✗ Test failed (10.0 s): timed out after 10 s waiting for the gap

    === Summary ===
    7 passed, 1 failed

Each test gets a fresh target (its own connections, closed when it ends) and its own timeout; a
failing test never stops the others. Ctrl-C or SIGTERM stops the running test (its connections
closed), prints the summary so far and exits with 130. The last line is always
``N passed, M failed`` (exit status 0 only when nothing failed).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import os
import platform
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

try:
    from colorama import Fore, Style, just_fix_windows_console
    just_fix_windows_console()
    GREEN, RED, YELLOW, CYAN, BOLD, RESET = (Fore.GREEN, Fore.RED, Fore.YELLOW, Fore.CYAN,
                                             Style.BRIGHT, Style.RESET_ALL)
    if not sys.stdout.isatty():          # plain words in logs and pipes
        GREEN = RED = YELLOW = CYAN = BOLD = RESET = ""
except ImportError:  # pragma: no cover
    GREEN = RED = YELLOW = CYAN = BOLD = RESET = ""

# a console that cannot print the check marks gets a replacement character, not a crash
try:
    sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
except (AttributeError, ValueError):  # pragma: no cover
    pass

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["GREEN", "RED", "YELLOW", "CYAN", "RESET", "PROJECT_ROOT", "CheckFailed", "expect",
           "wait_for", "header", "run_checks", "main_loop", "add_target_arguments"]


class CheckFailed(Exception):
    """A test's expectation did not hold (the message is the evidence)."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


async def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise CheckFailed(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


def add_target_arguments(ap: argparse.ArgumentParser) -> None:
    """``--venue`` / ``--url`` (mutually exclusive) and ``--timeout``, ``-v``."""
    from fastws.monitor import VENUES
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--venue", choices=sorted(VENUES), help="a Binance venue instead of the embedded simulator")
    g.add_argument("--url", help="a running fastws sim instead, e.g. ws://127.0.0.1:8765")
    ap.add_argument("--ca-file", help="CA bundle for wss:// (a --tls simulator's ca-file; default: "
                                      "the system store)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per test (default 30)")
    ap.add_argument("-v", "--verbose", action="store_true", help="show fastws log lines")


def header(feature: str) -> None:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"{BOLD}=== Binance {feature} WebSocket Diagnostic ==={RESET}")
    print(f"Date: {now} | Python {platform.python_version()} | Project root: {PROJECT_ROOT}",
          flush=True)


Check = Callable[[Any], Awaitable[str]]


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, CheckFailed):
        return str(exc)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
        return f"timed out after {timeout:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def run_checks(checks: list[tuple[str, Check, str]], make_target: Callable[[], Any],
                     where: str, timeout: float, results: dict[str, int]) -> None:
    """Run each test with a fresh ``async with make_target()``; print its result."""
    print(f"Target: {where}\n", flush=True)
    for name, check, needs in checks:
        print(f"{CYAN}Test: {name}{RESET}", flush=True)
        if needs == "sim" and where != "embedded simulator":
            print(f"{YELLOW}- Test skipped: needs the embedded simulator's fault injection{RESET}\n")
            results["skipped"] += 1
            continue
        if needs == "venue" and (where == "embedded simulator" or where.startswith("running simulator")):
            print(f"{YELLOW}- Test skipped: the simulator does not serve it{RESET}\n")
            results["skipped"] += 1
            continue
        t0 = time.monotonic()
        try:
            async with make_target() as target:
                detail = await asyncio.wait_for(check(target), timeout)
        except asyncio.CancelledError:
            print(f"{YELLOW}- Test interrupted ({time.monotonic() - t0:.1f} s): connections closed{RESET}\n")
            raise
        except Exception as exc:
            results["failed"] += 1
            print(f"{RED}✗ Test failed ({time.monotonic() - t0:.1f} s): {_why(exc, timeout)}{RESET}\n",
                  flush=True)
        else:
            results["passed"] += 1
            print(f"{GREEN}✓ Test passed ({time.monotonic() - t0:.1f} s): {detail}{RESET}\n", flush=True)


async def _main(checks: list[tuple[str, Check, str]], make_target: Callable[[], Any], where: str,
                timeout: float, results: dict[str, int]) -> bool:
    """Run the tests; a signal cancels the running one. True when interrupted."""
    task = asyncio.ensure_future(run_checks(checks, make_target, where, timeout, results))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, task.cancel)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            pass
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False


def main_loop(args: argparse.Namespace, checks: list[tuple[str, Check, str]],
              make_target: Callable[[], Any], where: str, feature: str) -> int:
    """Header, the tests (on uvloop if installed), the summary; the exit status."""
    from fastws.connection import run
    header(feature)
    results = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        interrupted = run(_main(checks, make_target, where, args.timeout, results))
    except KeyboardInterrupt:  # pragma: no cover - the handler above takes it first
        interrupted = True
    return summary(results, interrupted)


def summary(results: dict[str, int], interrupted: bool = False) -> int:
    passed, failed, skipped = results["passed"], results["failed"], results["skipped"]
    print(f"{BOLD}=== Summary ==={RESET}")
    if skipped:
        print(f"{YELLOW}{skipped} skipped{RESET}")
    if interrupted:
        print(f"{YELLOW}interrupted: every connection closed{RESET}")
    colour = GREEN if failed == 0 and not interrupted else RED
    print(f"{colour}{passed} passed, {failed} failed{RESET}", flush=True)
    if interrupted:
        return 130
    return 0 if failed == 0 else 1
