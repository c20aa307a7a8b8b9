"""One way to open a nats-py connection for the bus (feed handlers and consumers alike)."""
from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["connect_nats", "shown_url"]


def shown_url(url: str) -> str:
    """``url`` (one NATS URL or several, comma-separated) as logs, reprs and errors may show
    it: a user, password or token in it is replaced by ``***``."""
    def one(u: str) -> str:
        scheme, sep, rest = u.strip().rpartition("://")
        head, at, host = rest.rpartition("@")
        if not at:
            return u.strip()
        return f"{scheme}{sep}***@{host}"
    return ",".join(one(u) for u in url.split(","))


async def connect_nats(nats: Any, url: str, timeout: float, **options: Any) -> Any:
    """``nats.connect`` that reconnects forever once connected, but gives up on the first
    connection after ``timeout`` seconds with a clear ``ConnectionError`` (nats-py alone,
    told to reconnect forever, retries a server that is not there forever)."""
    servers = url.split(",") if "," in url else url
    try:
        return await asyncio.wait_for(
            nats.connect(servers, connect_timeout=min(timeout, 5.0), max_reconnect_attempts=-1,
                         reconnect_time_wait=0.25, **options), timeout)
    except asyncio.TimeoutError:
        raise ConnectionError(f"no NATS server reachable at {shown_url(url)} within {timeout:g} s "
                              "(start one, or use fastws serve --embedded-nats)") from None
