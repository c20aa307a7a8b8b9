"""Client adapters of the peers benchmark (``bench/bench_peers.py``), one module per client.

Each adapter module defines ``NAME``, ``PACKAGE``, ``POINTED``, ``KINDS``, ``available()``
and ``run(ctx, kind)`` (the contract: ``harness.Ctx``). :data:`ADAPTERS` lists them in the
table's order: fastws and the plain transports, the third-party clients, then any other
adapter module found in this folder.
"""
from __future__ import annotations

import os

OWN = ("fastws_client", "picows_noop", "picows_orjson", "aiohttp_orjson", "websockets_orjson")
PEERS = ("python_binance", "binance_sdk_spot", "unicorn", "unicorn_picows", "unicorn_ldc",
         "cryptofeed_client", "ccxt_pro")
_NOT_ADAPTERS = {"harness", "report", "try_adapter"}


def _others() -> tuple[str, ...]:
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(f[:-3] for f in os.listdir(here)
                   if f.endswith(".py") and not f.startswith("_"))
    return tuple(n for n in names if n not in _NOT_ADAPTERS and n not in OWN + PEERS)


ADAPTERS: tuple[str, ...] = OWN + PEERS + _others()
