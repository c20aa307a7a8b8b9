"""The floor: a picows client whose Python ``on_ws_frame`` only counts (no parse, no id).

Not a usable client (it reads no field), so it has no latency figure; loop: uvloop.
"""
from __future__ import annotations

from typing import Any

from bench.peers import _transport as T
from bench.peers._common import missing

NAME = "picows-noop"
PACKAGE = "picows"
POINTED = "ws_connect(ctx.ws_base + '/stream?streams=...'): no patch"
KINDS = frozenset({"tickers"})
LATENCY = False                     # reads no field, so no send stamp


def available() -> str | None:
    return missing("picows")


async def _main(ctx: Any) -> None:
    from picows import WSListener, WSMsgType, ws_connect
    tick = ctx.tick
    TEXT = WSMsgType.TEXT

    class L(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == TEXT:
                tick(0)

    tr, _ = await ws_connect(L, T.url(ctx), enable_auto_pong=True)
    await T.wait_stop(ctx)
    tr.disconnect()


def run(ctx: Any, kind: str) -> None:
    T.run_uvloop(_main(ctx))
