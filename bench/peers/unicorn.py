"""unicorn-binance-websocket-api (UBWA), its default ``websockets`` backend: one
``create_stream(channels=["bookTicker"], markets=[...])`` with a ``process_stream_data``
callback and ``output="dict"``, as its docs show. The manager runs its own event loop in its
own threads; ``run()`` only waits for the stop. UBWA has no local book: depth is
unicorn-binance-local-depth-cache's job (bench/peers/unicorn_ldc.py).

Seen here: the stream starts 0-5 s late. ``create_stream`` queues the SUBSCRIBE, and the socket
thread, building the URL, waits for a socket it has not opened yet (``send_with_stream``'s
5 s timeout) when its loop is registered first: a race inside the library, not the server."""
from __future__ import annotations

import threading
from typing import Any, Optional

from ._common import describe, missing

NAME = "unicorn"
PACKAGE = "unicorn-binance-websocket-api"
BACKEND = "websockets"
POINTED = ("no patch: BinanceWebSocketApiManager(exchange='binance.com', "
           "websocket_base_uri=ws_base + '/', warn_on_update=False (no release check over the "
           "network), output_default='dict', websocket_library='websockets'); its own asyncio loop "
           "in its own threads")
KINDS = frozenset({"tickers"})


def available() -> Optional[str]:
    return missing("unicorn_binance_websocket_api")


def manager(ctx: Any, backend: str = BACKEND, **kw: Any) -> Any:
    """A UBWA manager pointed at the local server, its stream signals reported as errors."""
    from unicorn_binance_websocket_api import BinanceWebSocketApiManager

    def signals(signal_type: Any = None, stream_id: Any = None, data_record: Any = None,
                error_msg: Any = None) -> None:
        if signal_type in ("DISCONNECT", "STREAM_UNREPAIRABLE") and not ctx.stop.is_set():
            ctx.error(f"unicorn stream {signal_type}: {error_msg or data_record}")

    return BinanceWebSocketApiManager(
        exchange="binance.com", websocket_base_uri=ctx.ws_base + "/", warn_on_update=False,
        output_default="dict", websocket_library=backend, process_stream_signals=signals, **kw)


def run(ctx: Any, kind: str, backend: str = BACKEND) -> None:
    tick = ctx.tick

    def on_data(data: Any, stream_buffer_name: Any = False) -> None:
        # dicts: the payload of /stream?streams= ({"stream", "data"}), or a SUBSCRIBE answer
        d = data.get("data")
        if d is not None and "u" in d:     # not the venue's events ({"e": "serverShutdown"})
            tick(int(d["u"]))

    ubwa = manager(ctx, backend)
    try:
        ubwa.create_stream(channels=["bookTicker"], markets=[s.lower() for s in ctx.symbols],
                           process_stream_data=on_data)
        while not ctx.stop.wait(0.1):
            if ubwa.is_manager_stopping():
                ctx.error("unicorn manager stopped by itself")
                break
    except Exception as exc:
        ctx.error(f"unicorn died: {describe(exc)}")
    finally:
        stop(ubwa)


def stop(ubwa: Any) -> None:
    """Stop a manager without waiting on it longer than the contract allows."""
    t = threading.Thread(target=ubwa.stop_manager, daemon=True)
    t.start()
    t.join(1.5)
