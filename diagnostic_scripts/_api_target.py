"""Where the WS API diagnostics connect: an embedded simulator (default), a running
``fastws sim`` (``--url``) or a Binance venue (``--venue``).

On the embedded simulator an account is made with a key of ``--key-type`` (Ed25519 by default:
the session logs on) and balances to trade with. Elsewhere the key comes from the environment,
never from the command line, and is only ever shown masked (``fastws sim --paper`` writes these
lines to a file for its paper account):

* ``FASTWS_API_KEY``: the API key;
* ``FASTWS_API_SECRET``: an HMAC secret, or
* ``FASTWS_PRIVATE_KEY_FILE``: a PEM private key (Ed25519 or RSA), with
  ``FASTWS_PRIVATE_KEY_PASSWORD`` if it is encrypted.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

from _house import Check, CheckFailed, add_target_arguments, main_loop

from fastws import BaseOperations, Ed25519Signer, HmacSigner, RsaSigner, mask_key
from fastws.live import venue_for_url
from fastws.trade import ENV_KEY, ENV_PEM, ENV_PW, ENV_SECRET, signer_from_env

__all__ = ["Target", "add_arguments", "where", "run_checks", "ENV_KEY", "ENV_SECRET", "ENV_PEM", "ENV_PW"]


def add_arguments(ap: argparse.ArgumentParser) -> None:
    add_target_arguments(ap)
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--key-type", choices=["ED25519", "HMAC", "RSA"], default="ED25519",
                    help="key made on the embedded simulator (default ED25519: the session logs on)")
    ap.epilog = (f"Keys for --venue / --url: ${ENV_KEY} with ${ENV_SECRET} (HMAC) or ${ENV_PEM} "
                 f"(Ed25519 / RSA PEM, ${ENV_PW} if encrypted); shown masked only.")


def where(args: argparse.Namespace) -> str:
    """The target in words, for the header ("embedded simulator" only for the embedded one)."""
    if getattr(args, "url", None):
        return f"running simulator at {args.url}"
    if args.venue:
        return f"venue {args.venue}"
    return "embedded simulator"


def run_checks(doc: str, checks: list[tuple[str, Check, str]], feature: str,
               argv: list[str] | None, *, orders: bool = False) -> int:
    """The ``main()`` of a WS API diagnostic: its options (``--allow-orders`` where its checks
    place orders), logging, then every check isolated, with the header and the summary."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    if orders:
        ap.add_argument("--allow-orders", action="store_true",
                        help="on a real venue, place (and cancel) a LIMIT order far from the market")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.CRITICAL,
                        format="  %(name)s: %(message)s")
    return main_loop(args, checks, lambda: Target(args), where(args), feature)


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
        """The embedded simulator (fault injection at hand)."""
        return self.args.venue is None and not getattr(self.args, "url", None)

    @property
    def signed(self) -> bool:
        return self.key is not None

    def need_order_permission(self) -> None:
        """Real orders only with ``--allow-orders``; a simulator (embedded or running) is paper."""
        if not self.sim and not getattr(self.args, "url", None) and \
                not getattr(self.args, "allow_orders", False):
            raise CheckFailed("real orders need --allow-orders")

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
            try:
                self.key, self.signer = signer_from_env()
            except ValueError as exc:
                raise SystemExit(str(exc)) from None
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for s in self._sessions:
            await s.close()
        if self.ex is not None:
            await self.ex.close()

    @property
    def venue(self) -> Any:
        from fastws.monitor import VENUES
        if self.sim:
            return self.ex.venue
        if getattr(self.args, "url", None):
            return venue_for_url(self.args.url, self.market, ca_file=self.args.ca_file)
        v = VENUES[self.args.venue]
        return dataclasses.replace(v, ca_file=self.args.ca_file) if self.args.ca_file else v

    def session(self, **kw: Any) -> BaseOperations:
        """A BaseOperations session (closed by the target), signed when a key is known."""
        s = BaseOperations(self.venue, key=self.key, signer=self.signer, **kw)
        self._sessions.append(s)
        return s

    def describe_key(self) -> str:
        return f"key {mask_key(self.key)} ({type(self.signer).__name__})" if self.key else "no key"
