"""Simulated accounts: API keys (HMAC, RSA, Ed25519), balances, permissions, and the server-side
check of signed WS API requests (SPEC §7.1, §7.2, §7.4).

The simulator verifies signatures with its own code (``hmac`` and ``cryptography``), never with
fastws's signing module, so it is an independent oracle for the client.

Payload rule (§7.2): every param except ``signature``, sorted by name, ``name=value`` joined by
``&``; values as sent: strings raw, numbers in their JSON text, booleans ``true``/``false``,
arrays and objects as compact JSON (``["A","B"]``; the docs give no rule for these, this is the
simulator's choice and fastws's client signs them the same way).

>>> key = ApiKey.generate("ED25519")            # doctest: +SKIP
>>> key.private_pem                             # for the test only, never stored by the server
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional, Union

__all__ = ["ApiKey", "Account", "signing_payload", "RawNumber", "KEY_TYPES",
           "DEFAULT_PERMISSIONS", "mask"]

KEY_TYPES = ("HMAC", "RSA", "ED25519")
DEFAULT_PERMISSIONS = frozenset({"TRADE", "USER_DATA", "USER_STREAM"})
_KEY_RE = re.compile(r"^[A-Za-z0-9]{64}$")
_ALNUM = string.ascii_letters + string.digits


class RawNumber(str):
    """A JSON number kept as the exact text it was sent as (``52000.00`` stays ``52000.00``)."""

    __slots__ = ()


def parse_request(data: Union[bytes, str]) -> Any:
    """JSON-decode a request keeping every number's exact text (for signature checks)."""
    return json.loads(data, parse_float=RawNumber, parse_int=RawNumber)


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):                       # strings and RawNumber: as sent
        return str.__str__(v)
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    return json.dumps(_plain(v), separators=(",", ":"), ensure_ascii=False)


def _plain(v: Any) -> Any:
    if isinstance(v, RawNumber):
        return json.loads(str.__str__(v))
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def signing_payload(params: Mapping[str, Any]) -> bytes:
    """The bytes a WS API request's signature covers (SPEC §7.2)."""
    return "&".join(f"{k}={_value_text(params[k])}" for k in sorted(params)
                    if k != "signature").encode("utf-8")


def mask(key: str) -> str:
    """``vmPU…Eh8A``: an API key shown without revealing it."""
    return f"{key[:4]}…{key[-4:]}" if len(key) > 8 else "…"


def random_key(n: int = 64) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


@dataclass(eq=False)
class ApiKey:
    """One API key of an account.

    Parameters
    ----------
    key_type : {"HMAC", "RSA", "ED25519"}
    api_key : str
        The public key id sent as ``apiKey`` (64 letters and digits on Binance).
    secret : str, optional
        HMAC only: the shared secret.
    public_key : str or bytes, optional
        RSA / Ed25519: the PEM public key (``-----BEGIN PUBLIC KEY-----``) or its base64 body.
    permissions : iterable of str
        Any of ``TRADE``, ``USER_DATA``, ``USER_STREAM`` (all by default).
    private_pem : str, optional
        Set only by :meth:`generate`, for the test that signs with it; the server never uses it.
    """

    key_type: str
    api_key: str
    secret: Optional[str] = field(default=None, repr=False)
    public_key: Union[str, bytes, None] = field(default=None, repr=False)
    permissions: frozenset = DEFAULT_PERMISSIONS
    private_pem: Optional[str] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.key_type = self.key_type.upper().replace("-", "")
        if self.key_type == "HMACSHA256":
            self.key_type = "HMAC"
        if self.key_type not in KEY_TYPES:
            raise ValueError(f"key_type must be one of {KEY_TYPES}")
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        self.permissions = frozenset(p.upper() for p in self.permissions)
        self._verifier: Any = None
        if self.key_type == "HMAC":
            if not self.secret:
                raise ValueError("an HMAC key needs its secret")
        else:
            if not self.public_key:
                raise ValueError(f"an {self.key_type} key needs its public key")
            self._verifier = _load_public(self.public_key, self.key_type)

    def __repr__(self) -> str:
        return f"ApiKey({self.key_type}, {mask(self.api_key)})"

    @classmethod
    def generate(cls, key_type: str = "ED25519", api_key: Optional[str] = None,
                 permissions: Iterable[str] = DEFAULT_PERMISSIONS) -> "ApiKey":
        """A fresh key of ``key_type``. For RSA and Ed25519 the private key is generated too
        and returned in :attr:`private_pem` (PKCS#8 PEM) for the test to sign with; for HMAC
        the secret is in :attr:`secret`."""
        kt = key_type.upper()
        api_key = api_key or random_key()
        if kt == "HMAC":
            return cls("HMAC", api_key, secret=random_key(), permissions=frozenset(permissions))
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
        priv: Any
        if kt == "RSA":
            priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif kt == "ED25519":
            priv = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"key_type must be one of {KEY_TYPES}")
        pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
        pub = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(kt, api_key, public_key=pub.decode(), permissions=frozenset(permissions),
                   private_pem=pem)

    def verify(self, payload: bytes, signature: str) -> bool:
        """Whether ``signature`` is this key's signature of ``payload``."""
        if not isinstance(signature, str) or not signature:
            return False
        if self.key_type == "HMAC":
            assert self.secret is not None
            want = hmac.new(self.secret.encode(), payload, hashlib.sha256).hexdigest()
            return hmac.compare_digest(want, signature.lower())      # hex in any case
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        from cryptography.exceptions import InvalidSignature
        try:
            if self.key_type == "RSA":
                from cryptography.hazmat.primitives import hashes
                from cryptography.hazmat.primitives.asymmetric import padding
                self._verifier.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
            else:
                self._verifier.verify(raw, payload)
        except (InvalidSignature, ValueError):
            return False
        return True


def _load_public(pub: Union[str, bytes], key_type: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    data = pub.encode() if isinstance(pub, str) else pub
    if b"-----BEGIN" not in data:
        data = b"-----BEGIN PUBLIC KEY-----\n" + data.strip() + b"\n-----END PUBLIC KEY-----\n"
    key = serialization.load_pem_public_key(data)
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    if key_type == "RSA" and not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    if key_type == "ED25519" and not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _dec(v: Any) -> Decimal:
    d = Decimal(str(v))
    if not d.is_finite():
        raise ValueError(f"not a finite amount: {v!r}")
    return d


class Account:
    """A simulated account: balances (``free``/``locked`` per asset), keys, commission rates.

    Parameters
    ----------
    name : str
        Label (tests, logs).
    balances : mapping, optional
        ``{"USDT": "10000", "BTC": "1"}``: free amounts per asset.
    keys : iterable of ApiKey, optional
    maker_commission, taker_commission : str or Decimal
        Rates (``"0.001"`` = 0.1 %); charged on the asset received. Default 0.
    can_trade : bool
        ``account.status`` ``canTrade``; False rejects orders with -2010.
    """

    _seq = 0

    def __init__(self, name: str = "", balances: Optional[Mapping[str, Any]] = None,
                 keys: Iterable[ApiKey] = (), maker_commission: Any = "0",
                 taker_commission: Any = "0", can_trade: bool = True) -> None:
        Account._seq += 1
        self.uid = 100000000 + Account._seq
        self.name = name or f"account{Account._seq}"
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        for a, v in (balances or {}).items():
            self.free[a.upper()] = _dec(v)
            self.locked[a.upper()] = Decimal(0)
        self.keys: list[ApiKey] = list(keys)
        self.maker = _dec(maker_commission)
        self.taker = _dec(taker_commission)
        self.can_trade = can_trade
        self.update_time = 0
        # USDⓈ-M: position amount and entry price per symbol, leverage
        self.positions: dict[str, list[Decimal]] = {}
        self.leverage: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<Account {self.name} keys={[mask(k.api_key) for k in self.keys]}>"

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """``(free, locked)`` of ``asset``."""
        a = asset.upper()
        return self.free.get(a, Decimal(0)), self.locked.get(a, Decimal(0))

    def _touch(self, asset: str) -> None:
        self.free.setdefault(asset, Decimal(0))
        self.locked.setdefault(asset, Decimal(0))

    def lock(self, asset: str, amount: Decimal) -> bool:
        self._touch(asset)
        if amount > self.free[asset]:
            return False
        self.free[asset] -= amount
        self.locked[asset] += amount
        return True

    def unlock(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        amount = min(amount, self.locked[asset])
        self.locked[asset] -= amount
        self.free[asset] += amount

    def add(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        self.free[asset] += amount

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self._touch(asset)
        self.locked[asset] -= amount
        if self.locked[asset] < 0:           # rounding of a market order's estimate
            self.free[asset] += self.locked[asset]
            self.locked[asset] = Decimal(0)
