"""picows + ``orjson.loads`` of every frame, a callback with the dict (no book); uvloop."""
from __future__ import annotations

from typing import Any

from bench.peers import _transport as T
from bench.peers._common import missing

NAME = "picows+orjson"
PACKAGE = "picows"
POINTED = "ws_connect(ctx.ws_base + '/stream?streams=...'): no patch"
KINDS = frozenset({"tickers"})


def available() -> str | None:
    return missing("orjson", "picows")


async def _main(ctx: Any) -> None:
    import orjson
    from picows import WSListener, WSMsgType, ws_connect
    tick = ctx.tick
    loads = orjson.loads
    TEXT = WSMsgType.TEXT

    def callback(msg: Any) -> None:
        tick(msg["data"]["u"])

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == TEXT:
                callback(loads(frame.get_payload_as_bytes()))

    tr, _ = await ws_connect(L, T.url(ctx), enable_auto_pong=True)
    await T.wait_stop(ctx)
    tr.disconnect()


def run(ctx: Any, kind: str) -> None:
    T.run_uvloop(_main(ctx))
