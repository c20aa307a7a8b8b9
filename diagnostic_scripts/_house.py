"""The house format shared by the diagnostic scripts: colours, checks, the runner, the summary.

A script lists its checks as ``(name, coroutine_function, needs)`` where ``needs`` is
``"any"``, ``"sim"`` (fault injection: skipped on a real venue) or ``"venue"`` (methods the
simulator does not serve: skipped on it), and calls :func:`main_loop`. Each check gets a fresh
target (its own connections) and its own timeout; a failing check never stops the others; the
last line is ``N passed, M failed``; Ctrl-C closes everything and exits with 130.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

try:
    from colorama import Fore, Style, just_fix_windows_console
    just_fix_windows_console()
    GREEN, RED, YELLOW, RESET = Fore.GREEN, Fore.RED, Fore.YELLOW, Style.RESET_ALL
    if not sys.stdout.isatty():          # plain words in logs and pipes
        GREEN = RED = YELLOW = RESET = ""
except ImportError:  # pragma: no cover
    GREEN = RED = YELLOW = RESET = ""

__all__ = ["GREEN", "RED", "YELLOW", "RESET", "CheckFailed", "expect", "wait_for", "run_checks", "main_loop"]


class CheckFailed(Exception):
    """A check's expectation did not hold (the message is the evidence)."""


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


async def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise CheckFailed(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


Check = Callable[[Any], Awaitable[str]]


async def run_checks(checks: list[tuple[str, Check, str]], make_target: Callable[[], Any],
                     on_venue: bool, timeout: float) -> tuple[int, int]:
    """Run each check with a fresh ``async with make_target()``; print PASS/FAIL/SKIP lines."""
    passed = failed = 0
    for name, check, needs in checks:
        if needs == "sim" and on_venue:
            print(f"{YELLOW}SKIP{RESET} {name} (needs the simulator's fault injection)", flush=True)
            continue
        if needs == "venue" and not on_venue:
            print(f"{YELLOW}SKIP{RESET} {name} (the simulator does not serve it)", flush=True)
            continue
        t0 = time.monotonic()
        try:
            async with make_target() as target:
                detail = await asyncio.wait_for(check(target), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed += 1
            if isinstance(exc, CheckFailed):
                why = str(exc)
            elif isinstance(exc, asyncio.TimeoutError) and not str(exc):
                why = f"timed out after {timeout:g} s"
            else:
                why = f"{type(exc).__name__}: {exc}"
            print(f"{RED}FAIL{RESET} {name} ({time.monotonic() - t0:.1f} s): {why}", flush=True)
        else:
            passed += 1
            print(f"{GREEN}PASS{RESET} {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
    return passed, failed


def main_loop(args: argparse.Namespace, checks: list[tuple[str, Check, str]],
              make_target: Callable[[], Any], on_venue: bool) -> int:
    """Run the checks on uvloop (if installed); print the summary; return the exit status."""
    from fastws.connection import run
    try:
        passed, failed = run(run_checks(checks, make_target, on_venue, args.timeout))
    except KeyboardInterrupt:
        print(f"\n{YELLOW}interrupted{RESET}: connections closed")
        return 130
    colour = GREEN if failed == 0 else RED
    print(f"{colour}{passed} passed, {failed} failed{RESET}")
    return 0 if failed == 0 else 1
