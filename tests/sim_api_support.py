"""Helpers for the WS API client tests against the simulator: an account with a key of each
type, the signer for it, and a record of every WS API request the simulator received (closed
connections included)."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from fastws.api.signing import Ed25519Signer, HmacSigner, RsaSigner
from fastws.sim import Exchange, SymbolSpec
from fastws.sim.conns import ApiConn


def trader(ex: Exchange, key_type: str = "HMAC", **balances: str) -> tuple[Any, Any, Any]:
    """(account, its ApiKey, a fastws signer for it)."""
    acct = ex.add_account(balances=balances or {"USDT": "1000000", "BTC": "100"}, keys=[key_type])
    k = acct.keys[0]
    signer = {"HMAC": lambda: HmacSigner(k.secret), "ED25519": lambda: Ed25519Signer(k.private_pem),
              "RSA": lambda: RsaSigner(k.private_pem)}[key_type]()
    return acct, k, signer


class Requests(list):  # type: ignore[type-arg]
    """(connection id, method, params) of every WS API request received while recording;
    ``answers``: every answer sent, decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[dict[str, Any]] = []

    def statuses(self) -> list[int]:
        return [a.get("status", 0) for a in self.answers]

    def methods(self) -> list[str]:
        return [m for _, m, _ in self]

    def params(self, method: str) -> list[dict[str, Any]]:
        return [p for _, m, p in self if m == method]


_active: dict[int, Requests] = {}
_real_on_text = ApiConn.on_text
_real_answer = ApiConn._answer


def _on_text(self: ApiConn, data: bytes) -> None:
    log = _active.get(id(self.ex))
    if log is not None:
        try:
            req = orjson.loads(data)
            log.append((self.id, req.get("method"), req.get("params") or {}))
        except (orjson.JSONDecodeError, AttributeError):
            log.append((self.id, None, {}))
    _real_on_text(self, data)


def _answer(self: ApiConn, resp: bytes) -> None:
    log = _active.get(id(self.ex))
    if log is not None:
        log.answers.append(orjson.loads(resp))
    _real_answer(self, resp)


@contextlib.contextmanager
def recording(ex: Exchange) -> Iterator[Requests]:
    """Record the WS API requests ``ex`` receives inside the block."""
    log = Requests()
    if not _active:
        ApiConn.on_text = _on_text  # type: ignore[method-assign]
        ApiConn._answer = _answer  # type: ignore[method-assign]
    _active[id(ex)] = log
    try:
        yield log
    finally:
        del _active[id(ex)]
        if not _active:
            ApiConn.on_text = _real_on_text  # type: ignore[method-assign]
            ApiConn._answer = _real_answer  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def recorded(ex: Exchange) -> AsyncIterator[tuple[Exchange, Requests]]:
    """Run ``ex`` and record its WS API requests: ``async with recorded(Exchange(...)) as
    (ex, sent)``."""
    async with ex:
        with recording(ex) as log:
            yield ex, log


def old_grid(market: str = "spot", symbol: str = "BTCUSDT") -> SymbolSpec:
    """A symbol on a round grid: price 100, tick 0.01, step 0.00001, min notional 5 (LOT_SIZE
    maxQty 9000 is Binance's BTCUSDT default), so the formatting and filter tests read simply."""
    return SymbolSpec(symbol, symbol[:-4], symbol[-4:], "0.01", "0.00001", "100", "5")
