"""Helpers for the NATS bus tests: the real nats-server (skipped with the reason when the
``bus`` extra is not installed), and a count of the depth snapshots the simulator served."""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Callable

import pytest
import pytest_asyncio

from tests.utils import UNIT


def bus_missing() -> str | None:
    """Why the bus tests cannot run here, or None."""
    try:
        import nats  # noqa: F401
    except ImportError:
        return "nats-py is not installed (pip install 'fastws[bus]')"
    from fastws.bus.server import NatsServerMissing, find_nats_server
    try:
        find_nats_server()
    except NatsServerMissing as exc:
        return str(exc)
    return None


#: Put ``pytestmark = needs_bus`` in a module that starts nats-server.
needs_bus = pytest.mark.skipif(bus_missing() is not None, reason=bus_missing() or "")


@pytest_asyncio.fixture
async def nats_server() -> AsyncIterator[Any]:
    """A fresh nats-server with JetStream on 127.0.0.1 (free port, temporary store)."""
    from fastws.bus import NatsServer
    async with NatsServer() as srv:
        yield srv


class SnapshotCounter:
    """Counts the depth snapshots the simulator serves (WS API and REST both end in
    ``Exchange._snapshot``): the bus must never make it serve more."""

    def __init__(self, ex: Any) -> None:
        self.count = 0
        orig: Callable[..., Any] = ex._snapshot

        def counted(*args: Any, **kw: Any) -> Any:
            self.count += 1
            return orig(*args, **kw)

        ex._snapshot = counted


async def wait_for(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout * UNIT
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
