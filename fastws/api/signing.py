"""Request signing for the Binance WebSocket API and REST (SPEC §7), with no I/O.

Three key types (SPEC §7.1):

- :class:`HmacSigner`: HMAC-SHA256, lowercase hex. Binance calls HMAC keys deprecated.
- :class:`RsaSigner`: RSASSA-PKCS1-v1_5 with SHA-256, standard base64.
- :class:`Ed25519Signer`: Ed25519, standard base64. The only key type ``session.logon`` takes.

Payloads:

- WS API (§7.2): :func:`ws_payload` takes every param except ``signature`` (``apiKey``
  included), sorts by name and joins ``name=value`` with ``&``, values as sent, no
  percent-encoding. :func:`sign_params` returns the params ready to send, with ``apiKey`` and
  ``signature``.
- REST (§7.3): :func:`rest_payload` percent-encodes the query string (and the body), in the
  order sent, not sorted; :func:`sign_rest_query` appends the percent-encoded signature.

How values are written (the text signed is exactly the text sent):

=====================  ==================================  ===================================
Python value           sent in the JSON request as         signed as
=====================  ==================================  ===================================
``str``                JSON string                         the string, raw UTF-8
``int`` (any integral)  JSON number                         decimal digits (``recvWindow=100``)
``decimal.Decimal``    JSON **string**, plain notation     same text (``price=52000.00``;
                                                           trailing zeros kept, no exponent)
``bool``               JSON ``true`` / ``false``           ``true`` / ``false`` (our choice:
                                                           the JSON literal as sent; the docs
                                                           give no rule)
``list``/``tuple`` of  JSON array                          compact JSON text, e.g.
``str``                                                    ``["BTCUSDT","ETHUSDT"]`` (our
                                                           choice; the docs give no rule)
``None``               left out                            left out
``float``              refused (:class:`InvalidUsage`)     a binary float has no one exact
                                                           decimal text; pass ``str`` or
                                                           ``Decimal``
=====================  ==================================  ===================================

Timing (§7.4): :func:`check_recv_window` validates ``recvWindow``; :class:`ClockOffset`
estimates the server's clock from ``time`` round trips so ``timestamp`` is not rejected with
``-1021`` on a skewed machine.

Secrets (private keys, HMAC secrets, key passwords) never appear in a ``repr``, ``str``, log
line or exception message, and errors raised while loading a bad key do not chain the
underlying library's exception. Use :func:`mask_key` to show an API key.

``cryptography`` is needed for RSA and Ed25519 keys only; it is imported when such a signer is
made.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import numbers
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable
from urllib.parse import quote

import orjson

from fastws.api._limits import ClockState, signing_parts
from fastws.api._hmac import ACCELERATED as HMAC_ACCELERATED
from fastws.api._hmac import HmacSha256

try:  # OpenSSL's HMAC (what hmac.new wraps in Python code when available)
    from _hashlib import hmac_new as _hmac_new
except ImportError:  # pragma: no cover - Python built without OpenSSL
    _hmac_new = None  # type: ignore[assignment]
from fastws.exceptions import InvalidUsage

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "CLOCK_RESYNC_MS",
    "DEFAULT_RECV_WINDOW",
    "MAX_RECV_WINDOW",
    "MAX_TIMESTAMP_AHEAD_MS",
    "Signer",
    "HmacSigner",
    "RsaSigner",
    "Ed25519Signer",
    "mask_key",
    "format_value",
    "ws_payload",
    "sign_params",
    "rest_payload",
    "sign_rest_query",
    "check_recv_window",
    "ClockOffset",
]

#: Default ``recvWindow`` in ms (SPEC §5.4, §7.4).
DEFAULT_RECV_WINDOW: Final = 5000
#: Largest ``recvWindow`` Binance accepts, in ms (SPEC §5.4, §7.4).
MAX_RECV_WINDOW: Final = 60000
#: A timestamp this many ms ahead of the server's clock is rejected with -1021 (SPEC §7.4).
MAX_TIMESTAMP_AHEAD_MS: Final = 1000

SIGNATURE: Final = "signature"
API_KEY: Final = "apiKey"


def mask_key(key: str | None, visible: int = 4) -> str:
    """Show an API key (or any credential) safely: ``'vmPU...Eh8A'``.

    Keys shorter than ``4 * visible`` characters are masked completely (``'****'``), so a short
    secret never shows most of itself.

    Parameters
    ----------
    key : str or None
        The key. None gives ``'<none>'``.
    visible : int
        Characters kept at each end.
    """
    if key is None:
        return "<none>"
    if visible <= 0 or len(key) < 4 * visible:
        return "****"
    return f"{key[:visible]}...{key[-visible:]}"


@runtime_checkable
class Signer(Protocol):
    """What :func:`sign_params` needs: a key type name and ``sign(payload) -> str``."""

    @property
    def key_type(self) -> str:
        """``"HMAC_SHA256"``, ``"RSA"`` or ``"ED25519"``."""
        ...

    def sign(self, payload: bytes) -> str:
        """Sign the UTF-8 payload bytes; return the signature text as sent."""
        ...


def _as_bytes(value: str | bytes | bytearray | memoryview, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise InvalidUsage(f"{what} must be str or bytes, got {type(value).__name__}")


class HmacSigner:
    """HMAC-SHA256 signer; the signature is lowercase hex (SPEC §7.1).

    Parameters
    ----------
    secret : str or bytes
        The API secret key. Kept privately; never shown in ``repr``.
    """

    __slots__ = ("_secret", "_keyed", "_fast")
    key_type = "HMAC_SHA256"  #: the key type name

    def __init__(self, secret: str | bytes) -> None:
        secret_bytes = _as_bytes(secret, "HMAC secret")
        if not secret_bytes:
            raise InvalidUsage("HMAC secret must not be empty")
        self._secret = secret_bytes
        # keyed once: each signature copies this state instead of re-deriving the key pads
        # (OpenSSL's HMAC object when there is one: its copy/update/hexdigest are all C)
        self._keyed: Any = (_hmac_new(secret_bytes, b"", "sha256") if _hmac_new is not None
                            else hmac.new(secret_bytes, None, hashlib.sha256))
        # with the x86 SHA extensions: fastws.api._hmac, keyed once in C (no allocation per
        # signature; the order fast path writes its hex straight into the frame)
        self._fast: HmacSha256 | None = HmacSha256(secret_bytes) if HMAC_ACCELERATED else None

    def __repr__(self) -> str:
        return "HmacSigner(secret=****)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("signers hold secrets and cannot be pickled")

    def sign(self, payload: bytes) -> str:
        """Return ``hex(HMAC-SHA256(secret, payload))``."""
        fast = self._fast
        if fast is not None:
            return fast.hexdigest(payload)
        mac = self._keyed.copy()
        mac.update(payload)
        hexdigest: str = mac.hexdigest()
        return hexdigest

    def keyed_state(self) -> Any:
        """The keyed HMAC state the order fast path signs with (``fastws.api._hmac.HmacSha256``
        or a keyed ``hmac`` object): secret-derived, never to be logged or shown."""
        return self._fast if self._fast is not None else self._keyed


def _load_private_key(pem: str | bytes, password: str | bytes | None, kind: str) -> Any:
    """Load a PEM private key without letting key material reach any message or traceback."""
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - cryptography is a declared dependency
        raise InvalidUsage(
            f"{kind} signing needs the 'cryptography' package (pip install cryptography)"
        ) from None
    data = _as_bytes(pem, f"{kind} private key")
    pw = None if password is None else _as_bytes(password, "key password")
    failure: str | None = None
    try:
        key = load_pem_private_key(data, password=pw)
    except TypeError:
        failure = "the key is encrypted and needs a password" if pw is None else (
            "a password was given but the key is not encrypted"
        )
    except Exception:
        # ValueError for bad data or a wrong password, UnsupportedAlgorithm, ... The original
        # exception is deliberately dropped (not chained): nothing of the key may leak.
        failure = "not a valid PEM private key, or the password is wrong"
    if failure is not None:
        raise InvalidUsage(f"could not load the {kind} private key: {failure}")
    return key


class RsaSigner:
    """RSA signer: RSASSA-PKCS1-v1_5 with SHA-256, standard base64 output (SPEC §7.1).

    Parameters
    ----------
    private_key_pem : str or bytes
        The private key in PEM (PKCS#8 ``BEGIN PRIVATE KEY`` or PKCS#1 ``BEGIN RSA PRIVATE
        KEY``), optionally encrypted.
    password : str or bytes, optional
        The key's password.

    Raises
    ------
    InvalidUsage
        If the key cannot be loaded or is not an RSA key. The message names the problem, never
        the key.
    """

    __slots__ = ("_key",)
    key_type = "RSA"  #: the key type name

    def __init__(self, private_key_pem: str | bytes, password: str | bytes | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

        key = _load_private_key(private_key_pem, password, "RSA")
        if not isinstance(key, RSAPrivateKey):
            raise InvalidUsage(f"expected an RSA private key, got a {type(key).__name__}")
        self._key: RSAPrivateKey = key

    def __repr__(self) -> str:
        return f"RsaSigner(key_size={self._key.key_size}, private_key=****)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("signers hold secrets and cannot be pickled")

    def sign(self, payload: bytes) -> str:
        """Return ``base64(RSA-PKCS1v15-SHA256(payload))``."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        sig = self._key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode("ascii")


class Ed25519Signer:
    """Ed25519 signer, standard base64 output (SPEC §7.1). Needed for ``session.logon``.

    Parameters
    ----------
    private_key_pem : str or bytes
        The private key in PEM (PKCS#8), optionally encrypted.
    password : str or bytes, optional
        The key's password.

    Raises
    ------
    InvalidUsage
        If the key cannot be loaded or is not an Ed25519 key. The message never shows the key.
    """

    __slots__ = ("_key",)
    key_type = "ED25519"  #: the key type name

    def __init__(self, private_key_pem: str | bytes, password: str | bytes | None = None) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = _load_private_key(private_key_pem, password, "Ed25519")
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidUsage(f"expected an Ed25519 private key, got a {type(key).__name__}")
        self._key: Ed25519PrivateKey = key

    def __repr__(self) -> str:
        return "Ed25519Signer(private_key=****)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("signers hold secrets and cannot be pickled")

    def public_key_pem(self) -> str:
        """The matching public key (SPKI PEM), the text to register with Binance."""
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, payload: bytes) -> str:
        """Return ``base64(Ed25519(payload))``."""
        return base64.b64encode(self._key.sign(payload)).decode("ascii")


# -- payloads --------------------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise InvalidUsage(f"cannot send a non-finite Decimal ({value})")
    # 'f' keeps trailing zeros ("52000.00") and never uses an exponent (Decimal("1E-7")).
    return format(value, "f")


def format_value(name: str, value: object) -> tuple[object, str]:
    """Normalise one param value: what goes in the JSON request, and the text that is signed.

    Parameters
    ----------
    name : str
        The param name (for the error message only).
    value : object
        ``str``, ``int``, ``bool``, ``Decimal``, or a list/tuple of ``str``.

    Returns
    -------
    (json_value, signed_text)
        ``json_value`` is what orjson writes into ``params``; ``signed_text`` is its text in
        the payload. See the module table.

    Raises
    ------
    InvalidUsage
        For floats, non-finite Decimals, and unsupported types.
    """
    if isinstance(value, str):
        return value, value
    if isinstance(value, bool):
        return value, "true" if value else "false"
    if isinstance(value, numbers.Integral):  # int, numpy integers
        as_int = int(value)
        return as_int, str(as_int)
    if isinstance(value, Decimal):
        text = _decimal_text(value)
        return text, text
    if isinstance(value, float):
        raise InvalidUsage(
            f"param {name!r}: floats have no exact decimal text; pass a str or decimal.Decimal"
        )
    if isinstance(value, (list, tuple)):
        items: list[object] = []
        for item in value:
            if isinstance(item, Decimal):
                items.append(_decimal_text(item))
            elif isinstance(item, (str, int)) and not isinstance(item, bool):
                items.append(item)
            else:
                raise InvalidUsage(
                    f"param {name!r}: list items must be str, int or Decimal, got {type(item).__name__}"
                )
        return items, orjson.dumps(items).decode("utf-8")
    raise InvalidUsage(f"param {name!r}: cannot send a {type(value).__name__}")


def _normalise(params: Mapping[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    sent: dict[str, object] = {}
    texts: dict[str, str] = {}
    for name, value in params.items():
        if type(name) is not str and not isinstance(name, str):
            raise InvalidUsage(f"param names must be str, got {type(name).__name__}")
        if value is None:
            continue
        # fast path for the common exact types (signing is on the order latency path);
        # everything else (bool, Decimal, lists, subclasses) goes through format_value
        tv = type(value)
        if tv is str:
            sent[name] = value
            texts[name] = value  # type: ignore[assignment]
            continue
        if tv is int:
            sent[name] = value
            texts[name] = str(value)
            continue
        json_value, text = format_value(name, value)
        sent[name] = json_value
        texts[name] = text
    return sent, texts


def ws_payload(params: Mapping[str, object]) -> str:
    """The WS API signature payload for ``params`` (SPEC §7.2).

    Every param except ``signature`` (``apiKey`` included), sorted by name, joined as
    ``name=value`` with ``&``; values as sent (see the module table); no percent-encoding.
    ``None`` values are left out, as they are not sent.

    Parameters
    ----------
    params : Mapping[str, object]
        The request params.

    Returns
    -------
    str
        The payload; sign ``payload.encode("utf-8")``.
    """
    _, texts = _normalise(params)
    texts.pop(SIGNATURE, None)
    return "&".join(f"{name}={texts[name]}" for name in sorted(texts))


def sign_params(
    params: Mapping[str, object],
    signer: Signer,
    api_key: str | None,
    *,
    timestamp: int | None = None,
    recv_window: int | Decimal | str | None = None,
) -> dict[str, object]:
    """Return ``params`` ready to send on the WS API: normalised, with ``apiKey`` and ``signature``.

    Parameters
    ----------
    params : Mapping[str, object]
        The request params, without ``signature`` (one given is replaced).
    signer : Signer
        The key to sign with.
    api_key : str or None
        Added as ``apiKey``. None leaves ``apiKey`` as the params have it (for example, none at
        all: ``userDataStream.subscribe.signature`` needs one, a request on a logged-on session
        needs neither ``apiKey`` nor ``signature`` and should not be signed at all).
    timestamp : int, optional
        Sets ``timestamp`` (ms or µs). Signed requests need one (SPEC §5.4): either here or in
        ``params``.
    recv_window : int, Decimal or str, optional
        Sets ``recvWindow`` after :func:`check_recv_window`.

    Returns
    -------
    dict
        A new dict (the input is not modified): values as they go into the JSON ``params``
        (Decimals as strings), ``apiKey`` and ``signature`` last.

    Raises
    ------
    InvalidUsage
        No timestamp, a bad recvWindow, or an unsupported value (see :func:`format_value`).
    """
    merged: dict[str, object] = dict(params)
    merged.pop(SIGNATURE, None)
    if timestamp is not None:
        merged["timestamp"] = timestamp
    if recv_window is not None:
        merged["recvWindow"] = check_recv_window(recv_window)
    elif "recvWindow" in merged and merged["recvWindow"] is not None:
        merged["recvWindow"] = check_recv_window(merged["recvWindow"])  # type: ignore[arg-type]
    ts = merged.get("timestamp")
    if ts.__class__ is not int and (not isinstance(ts, int) or isinstance(ts, bool)) or ts <= 0:
        raise InvalidUsage("signed requests need a positive integer 'timestamp' (ms or µs)")
    if api_key is not None:
        if not api_key:
            raise InvalidUsage("api_key must not be empty")
        merged.pop(API_KEY, None)
        merged[API_KEY] = api_key
    sent, payload = signing_parts(merged, format_value)  # _normalise + the §7.2 join, in C
    sent[SIGNATURE] = signer.sign(payload)
    return sent


def rest_payload(
    query: Mapping[str, object] | Iterable[tuple[str, object]], body: str = ""
) -> str:
    """The REST signature payload (SPEC §7.3): percent-encoded query, then the body.

    The params are kept **in the order given** (not sorted), each name and value
    percent-encoded as UTF-8 (RFC 3986 unreserved characters kept). The body, if any, follows
    with no separator.

    Parameters
    ----------
    query : Mapping or iterable of (name, value)
        The query params; values formatted as in :func:`format_value`, None left out.
    body : str
        The already-encoded request body (``application/x-www-form-urlencoded``).

    Returns
    -------
    str
        The payload; it is also the query string to send.
    """
    items = query.items() if isinstance(query, Mapping) else query
    parts = []
    for name, value in items:
        if value is None:
            continue
        _, text = format_value(name, value)
        parts.append(f"{quote(name, safe='')}={quote(text, safe='')}")
    return "&".join(parts) + body


def sign_rest_query(
    query: Mapping[str, object] | Iterable[tuple[str, object]], signer: Signer, body: str = ""
) -> str:
    """The signed REST query string: the percent-encoded query plus ``&signature=...``.

    The signature is percent-encoded again (``/`` → ``%2F``, ``+`` → ``%2B``, ``=`` → ``%3D``),
    SPEC §7.3. Send the API key in the ``X-MBX-APIKEY`` header.
    """
    query_text = rest_payload(query)
    signature = signer.sign((query_text + body).encode("utf-8"))
    sep = "&" if query_text else ""
    return f"{query_text}{sep}signature={quote(signature, safe='')}"


# -- timing ----------------------------------------------------------------------------------


def check_recv_window(value: int | Decimal | str) -> int | Decimal:
    """Validate a ``recvWindow`` (SPEC §5.4, §7.4): ms, > 0, <= 60000, at most 3 decimals.

    Returns
    -------
    int or Decimal
        An int when whole, else the Decimal (sent as a string with its exact digits).

    Raises
    ------
    InvalidUsage
        If out of range, not a number, a float, or with more than 3 decimals.
    """
    if value.__class__ is int and 0 < value <= MAX_RECV_WINDOW:
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidUsage("recvWindow must be an int, a Decimal or a decimal string, not a float")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value)
        except Exception:
            raise InvalidUsage(f"recvWindow {value!r} is not a number") from None
    else:
        raise InvalidUsage(f"recvWindow must be a number, got {type(value).__name__}")
    if not dec.is_finite() or dec <= 0 or dec > MAX_RECV_WINDOW:
        raise InvalidUsage(f"recvWindow must be > 0 and <= {MAX_RECV_WINDOW} ms, got {value}")
    if dec != dec.quantize(Decimal("0.001")):
        raise InvalidUsage(f"recvWindow takes at most 3 decimals, got {value}")
    if dec == dec.to_integral_value():
        return int(dec)
    return dec.quantize(Decimal("0.001")).normalize()


#: Re-estimate the clock offset when the newest sample is older than this (ms).
CLOCK_RESYNC_MS = 15 * 60_000


class ClockOffset:
    """Estimates the server clock from ``time`` round trips (SPEC §7.4), with no I/O.

    Feed it samples of ``(sent, server, received)``: the local wall clock in epoch ms just
    before sending a ``time`` request, the ``serverTime`` it returned, and the local clock when
    the answer arrived. A sample says the server clock read ``server`` somewhere in
    ``[sent, received]`` local time, so ``offset = server - (sent + received) / 2`` within
    ``± (received - sent) / 2``. The estimate uses the sample with the shortest round trip
    among the last ``keep`` (the least uncertain, as NTP does).

    :meth:`timestamp` gives the ``timestamp`` param to sign: the *lower* bound of the server's
    present time. Binance rejects a timestamp more than 1000 ms ahead of its clock but accepts
    one up to ``recvWindow`` behind, so erring early is the safe side.

    Parameters
    ----------
    keep : int
        Samples kept (default 8).
    """

    __slots__ = ("_samples", "keep", "state")

    def __init__(self, keep: int = 8) -> None:
        if keep < 1:
            raise InvalidUsage(f"ClockOffset keep must be >= 1, got {keep}")
        self.keep = keep
        self._samples: deque[tuple[float, float, float]] = deque(maxlen=keep)
        # the estimate is recomputed per sample, not per read: it is read on every request,
        # by the compiled paths too, from these typed fields
        self.state = ClockState()

    def __repr__(self) -> str:
        if not self._samples:
            return "ClockOffset(no samples)"
        return f"ClockOffset(offset_ms={self.offset_ms:.1f}, uncertainty_ms={self.uncertainty_ms:.1f})"

    def restart(self, samples: Iterable[tuple[float, float, float]]) -> None:
        """Replace every sample with ``samples`` ((sent, server, received) triples, taken after
        a clock step): the old ones describe a clock that is gone, and the lowest round trip of
        them would otherwise keep winning."""
        fresh = [(float(a), float(b), float(c)) for a, b, c in samples]
        if not fresh:
            return
        self._samples.clear()
        for a, b, c in fresh:
            self.add_sample(a, b, c)

    def add_sample(self, sent: float, server: float, received: float) -> None:
        """Add one round trip (all epoch ms).

        Raises
        ------
        InvalidUsage
            If ``received < sent`` (a caller's clock mix-up).
        """
        if received < sent:
            raise InvalidUsage(f"clock sample received ({received}) before it was sent ({sent})")
        self._samples.append((float(sent), float(server), float(received)))
        st = self.state
        st.newest = float(received)
        sent_, server_, received_ = self._best()
        st.offset = server_ - (sent_ + received_) / 2.0
        st.uncertainty = (received_ - sent_) / 2.0

    def _best(self) -> tuple[float, float, float]:
        if not self._samples:
            raise InvalidUsage("no clock samples yet: call add_sample() with a 'time' round trip")
        return min(self._samples, key=lambda s: s[2] - s[0])

    @property
    def samples(self) -> int:
        """How many samples are held."""
        return len(self._samples)

    @property
    def newest_ms(self) -> float | None:
        """Local time (epoch ms) of the newest sample's answer, or None: resample when old,
        since clocks drift."""
        newest = self.state.newest
        return newest if newest >= 0.0 else None

    @property
    def offset_ms(self) -> float:
        """Estimated ``server clock - local clock`` in ms (0.0 with no samples)."""
        return self.state.offset

    @property
    def uncertainty_ms(self) -> float:
        """Half the best round trip: the estimate is good to within this many ms."""
        return self.state.uncertainty

    def server_time(self, local_ms: float) -> int:
        """The best estimate of the server's clock when the local clock reads ``local_ms``."""
        return int(round(local_ms + self.state.offset))

    def timestamp(self, local_ms: float) -> int:
        """The ``timestamp`` to sign at local time ``local_ms``: never ahead of the server.

        With no samples this is ``local_ms`` itself (assume the clocks agree).
        """
        st = self.state
        return int(local_ms + st.offset - st.uncertainty)
