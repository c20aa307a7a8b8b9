"""unicorn-binance-local-depth-cache (UBLDC): ``create_depth_cache(markets)`` and its public
``get_bids`` / ``get_asks(limit_count=1)``, defaults otherwise (it subscribes one market every
``init_interval`` = 4 s). The cache runs in the library's own threads and offers no per-update
callback: a reader thread polls it every millisecond, as its users do, and reports each new
``last_update_id`` it sees, so "updates" counts distinct book states read (at most one per
poll), a lower bound of what the cache applied."""
from __future__ import annotations

import threading
import time
from typing import Any, Optional

from ._common import describe, missing

NAME = "unicorn-ldc"
PACKAGE = "unicorn-binance-local-depth-cache"
POINTED = ("BinanceLocalDepthCacheManager(exchange='binance.com', warn_on_update=False, "
           "depth_cache_update_interval=100, ubra_manager=...): REST through a subclass of "
           "unicorn-binance-rest-api's BinanceRestApiManager whose class attribute API_URL is "
           "rest_base + '/api', built with exchange=None, tld='com' (the one path where its "
           "constructor keeps the class URL; it calls get_server_time() while constructing, so "
           "setting the attribute afterwards would send that first request to Binance); "
           "streams: ldc.get_ubwa_manager().websocket_base_uri = ws_base + '/' before "
           "create_depth_cache (UBLDC builds its websocket manager without the URL argument); "
           "its own loop and threads; a reader thread polls the cache every 1 ms")
KINDS = frozenset({"depth"})
POLL_S = 0.001


def available() -> Optional[str]:
    return missing("unicorn_binance_local_depth_cache", "unicorn_binance_rest_api")


def rest_manager(rest_base: str) -> Any:
    """A unicorn-binance-rest-api manager whose every request goes to ``rest_base``."""
    from unicorn_binance_rest_api import BinanceRestApiManager

    class LocalRest(BinanceRestApiManager):  # type: ignore[misc]
        API_URL = rest_base + "/api"

    return LocalRest(exchange=None, tld="com", warn_on_update=False, disable_colorama=True)


def run(ctx: Any, kind: str) -> None:
    from unicorn_binance_local_depth_cache import BinanceLocalDepthCacheManager
    ldc: Any = None
    try:
        ldc = BinanceLocalDepthCacheManager(
            exchange="binance.com", warn_on_update=False, depth_cache_update_interval=100,
            ubra_manager=rest_manager(ctx.rest_base), disable_colorama=True)
        ldc.get_ubwa_manager().websocket_base_uri = ctx.ws_base + "/"
        markets = [s.lower() for s in ctx.symbols]
        ldc.create_depthcache(markets=markets)
        _poll(ctx, ldc, markets)
    except Exception as exc:
        ctx.error(f"unicorn-ldc died: {describe(exc)}")
    finally:
        if ldc is not None:
            t = threading.Thread(target=ldc.stop_manager, daemon=True)
            t.start()
            t.join(1.5)


def _poll(ctx: Any, ldc: Any, markets: list[str]) -> None:
    from unicorn_binance_local_depth_cache.exceptions import DepthCacheOutOfSync
    book = ctx.book
    last: dict[str, Optional[int]] = {m: None for m in markets}
    caches = ldc.depth_caches
    symbols = {m: m.upper() for m in markets}
    while not ctx.stop.is_set():
        for m in markets:
            dc = caches.get(m)
            # the cache keeps its last applied update id here (no public getter)
            uid = dc.get("last_update_id") if dc is not None else None
            if uid is None or uid == last[m] or not dc.get("is_synchronized"):
                continue
            try:
                bids = ldc.get_bids(market=m, limit_count=1)
                asks = ldc.get_asks(market=m, limit_count=1)
            except DepthCacheOutOfSync:
                continue
            last[m] = uid
            book(symbols[m], int(uid), float(bids[0][0]) if bids else None,
                 float(asks[0][0]) if asks else None)
        time.sleep(POLL_S)
    never = [symbols[m] for m in markets if last[m] is None]
    if never:
        ctx.error(f"unicorn-ldc: never synchronized: {', '.join(never)}")
