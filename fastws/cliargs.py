"""argparse pieces shared by every ``fastws`` command, the simulator's included.

A bad option is answered in one line (not the whole usage) with exit status 2, and numeric
options are checked where they are parsed, so ``--seconds -1`` or ``--port 99999`` never reach
the code as a traceback. This module imports nothing of fastws, so the simulator can use it and
stay an independent oracle.
"""
from __future__ import annotations

import argparse
from typing import Callable, NoReturn, TypeVar

__all__ = ["ArgumentParser", "number", "positive", "non_negative", "positive_int",
           "non_negative_int", "port"]

N = TypeVar("N", int, float)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with a bad option answered in one line (not the whole usage) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def number(text: str, kind: Callable[[str], N], what: str, ok: Callable[[N], bool]) -> N:
    """Parse ``text`` with ``kind`` (int or float) and check it with ``ok``.

    Raises ``argparse.ArgumentTypeError`` (shown by argparse as one line) when ``text`` is not a
    number of that kind, is NaN or infinite, or ``ok`` refuses it; ``what`` says what was wanted.
    """
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
    if v != v or v in (float("inf"), float("-inf")) or not ok(v):
        raise argparse.ArgumentTypeError(f"{text!r}: must be {what}")
    return v


def positive(text: str) -> float:
    """argparse type: a finite number > 0."""
    return number(text, float, "a number > 0", lambda v: v > 0)


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return number(text, float, "a number >= 0", lambda v: v >= 0)


def positive_int(text: str) -> int:
    """argparse type: a whole number > 0."""
    return number(text, int, "a whole number > 0", lambda v: v > 0)


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return number(text, int, "a whole number >= 0", lambda v: v >= 0)


def port(text: str) -> int:
    """argparse type: a TCP port, 0 (any free port) to 65535."""
    return number(text, int, "a port number from 0 (any free port) to 65535",
                  lambda v: 0 <= v <= 65535)
