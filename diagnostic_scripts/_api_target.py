"""Where the WS API diagnostics connect: an embedded simulator (default) or a real venue.

On the simulator an account is made with a key of ``--key-type`` (Ed25519 by default: the
session logs on) and balances to trade with. On a real venue (``--venue``) the key comes from
the environment, never from the command line, and is only ever shown masked:

* ``FASTWS_API_KEY``: the API key;
* ``FASTWS_API_SECRET``: an HMAC secret, or
* ``FASTWS_PRIVATE_KEY_FILE``: a PEM private key (Ed25519 or RSA), with
  ``FASTWS_PRIVATE_KEY_PASSWORD`` if it is encrypted.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from fastws.base_operations import BaseOperations
from fastws.signing import Ed25519Signer, HmacSigner, RsaSigner, mask_key

ENV_KEY, ENV_SECRET, ENV_PEM, ENV_PW = ("FASTWS_API_KEY", "FASTWS_API_SECRET", "FASTWS_PRIVATE_KEY_FILE",
                                       "FASTWS_PRIVATE_KEY_PASSWORD")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    from fastws.monitor import VENUES
    ap.add_argument("--venue", choices=sorted(VENUES), help="a real venue instead of the simulator "
                    f"(keys from ${ENV_KEY} and ${ENV_SECRET} or ${ENV_PEM})")
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--key-type", choices=["ED25519", "HMAC", "RSA"], default="ED25519",
                    help="key made on the simulator (default ED25519: the session logs on)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per check")
    ap.add_argument("-v", "--verbose", action="store_true", help="show fastws log lines")


def signer_from_env() -> tuple[str | None, Any]:
    """(api_key, signer) from the environment; (None, None) when no key is set."""
    key = os.environ.get(ENV_KEY)
    if not key:
        return None, None
    secret = os.environ.get(ENV_SECRET)
    if secret:
        return key, HmacSigner(secret)
    path = os.environ.get(ENV_PEM)
    if not path:
        raise SystemExit(f"{ENV_KEY} is set but neither {ENV_SECRET} nor {ENV_PEM}")
    with open(path, "rb") as fh:
        pem = fh.read()
    pw = os.environ.get(ENV_PW)
    try:
        return key, Ed25519Signer(pem, pw)
    except Exception:
        return key, RsaSigner(pem, pw)


class Target:
    """One check's world: the simulator (with an account) or a real venue, and a session."""

    def __init__(self, args: argparse.Namespace, market: str = "spot") -> None:
        self.args = args
        self.symbol = args.symbol.upper()
        self.market = market
        self.ex: Any = None
        self.account: Any = None
        self.key: str | None = None
        self.signer: Any = None
        self._sessions: list[BaseOperations] = []

    @property
    def sim(self) -> bool:
        return self.args.venue is None

    @property
    def signed(self) -> bool:
        return self.key is not None

    async def __aenter__(self) -> "Target":
        if self.sim:
            from fastws.sim import Exchange
            self.ex = Exchange([self.symbol, "ETHUSDT"], market=self.market)
            await self.ex.start()
            self.account = self.ex.add_account(balances={"USDT": "1000000", "BTC": "10", "ETH": "100"},
                                               keys=[self.args.key_type])
            k = self.account.keys[0]
            self.key = k.api_key
            self.signer = (HmacSigner(k.secret) if k.key_type == "HMAC" else
                           RsaSigner(k.private_pem) if k.key_type == "RSA" else Ed25519Signer(k.private_pem))
        else:
            self.key, self.signer = signer_from_env()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for s in self._sessions:
            await s.close()
        if self.ex is not None:
            await self.ex.close()

    @property
    def venue(self) -> Any:
        from fastws.monitor import VENUES
        return self.ex.venue if self.sim else VENUES[self.args.venue]

    def session(self, **kw: Any) -> BaseOperations:
        """A BaseOperations session (closed by the target), signed when a key is known."""
        s = BaseOperations(self.venue, key=self.key, signer=self.signer, **kw)
        self._sessions.append(s)
        return s

    def describe_key(self) -> str:
        return f"key {mask_key(self.key)} ({type(self.signer).__name__})" if self.key else "no key"
