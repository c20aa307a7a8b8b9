"""Client adapters of the peers benchmark (``bench/bench_peers.py``), one module per client.

Each adapter module defines ``NAME``, ``PACKAGE``, ``POINTED``, ``KINDS``, ``available()``
and ``run(ctx, kind)`` (the contract: see ``harness.Ctx`` and the docstring of
``fastws_client``). :data:`ADAPTERS` lists them: fastws and the plain transports first (their
order is the table's), then every other adapter module found in this folder.
"""
from __future__ import annotations

import os

OWN = ("fastws_client", "picows_noop", "picows_orjson", "aiohttp_orjson", "websockets_orjson")
_NOT_ADAPTERS = {"__init__", "harness", "report", "try_adapter"}


def _others() -> tuple[str, ...]:
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(f[:-3] for f in os.listdir(here)
                   if f.endswith(".py") and not f.startswith("_"))
    return tuple(n for n in names if n not in _NOT_ADAPTERS and n not in OWN)


ADAPTERS: tuple[str, ...] = OWN + _others()
