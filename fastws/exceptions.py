"""The exceptions fastws raises, all in one place.

Tree::

    FastWSError                         root of everything fastws raises on purpose
    ├── ParseError (also ValueError)    a frame that is not a valid Binance payload
    ├── SequenceGap                     depth update ids do not continue the book
    ├── CrossedBook                     an update left best bid >= best ask
    ├── ConnectError                    a connection that retrying cannot make (bad certificate, 4xx)
    ├── ConnectionClosed                the WebSocket closed
    │   ├── ConnectionClosedOK          ... with a normal close code
    │   └── ConnectionClosedError       ... abruptly, or with an error code
    ├── InvalidUsage                    local misuse: too many streams, closed client, bad args
    └── ApiError(code, msg, status)     an error body from Binance (WS API / REST)
        ├── RateLimitError              429: over a rate limit (carries retry_after)
        ├── IPBannedError               418: IP auto-banned (never retry before it lifts)
        ├── AuthError                   -1022 / -2014 / -2015 / 401: keys, signatures, permissions
        └── OutcomeUnknownError         5xx / -1006 / -1007: the request may have executed

OS-level failures (``OSError``, ``TimeoutError``) are left as builtins. Local misuse is told
apart from remote misbehaviour: ``InvalidUsage`` is always the caller's doing.
"""
from __future__ import annotations

__all__ = [
    "FastWSError",
    "ParseError",
    "SequenceGap",
    "CrossedBook",
    "ConnectError",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidUsage",
    "FilterError",
    "ApiError",
    "RateLimitError",
    "IPBannedError",
    "AuthError",
    "OutcomeUnknownError",
    "SubscriptionError",
]

_EXCERPT = 80


class FastWSError(Exception):
    """Root of every exception fastws raises on purpose."""


def _excerpt(payload: object, offset: int) -> str:
    """A short printable window of ``payload`` around ``offset``."""
    if payload is None:
        return ""
    if isinstance(payload, str):
        text = payload
    else:
        try:
            text = bytes(payload).decode("utf-8", "replace")  # type: ignore[call-overload]
        except Exception:  # pragma: no cover - exotic buffer
            return "<unprintable>"
    if offset < 0:
        offset = 0
    start = max(0, offset - _EXCERPT // 2)
    end = min(len(text), start + _EXCERPT)
    snippet = text[start:end]
    prefix = "..." if start > 0 else ""
    suffix = "..." if end < len(text) else ""
    return f"{prefix}{snippet!r}{suffix}"


class ParseError(FastWSError, ValueError):
    """A frame that is not a valid Binance payload.

    Attributes
    ----------
    reason : str
        What is wrong ("expected ',' or '}'", "missing required field 'u'", ...).
    offset : int
        Byte offset in the payload where the problem was seen (-1 if not positional).
    path : str
        JSON path of the value being decoded, like ``$.data.b[3][0]``.
    payload : bytes | str | None
        The whole offending payload (the message only shows a short excerpt).
    """

    def __init__(
        self, reason: str, offset: int = -1, path: str = "$", payload: object = None
    ) -> None:
        self.reason = reason
        self.offset = offset
        self.path = path
        if payload is not None and not isinstance(payload, (bytes, str)):
            payload = bytes(payload)  # type: ignore[call-overload]
        self.payload = payload
        where = f" at {path}" if path else ""
        if offset >= 0:
            where += f" (offset {offset})"
        excerpt = _excerpt(payload, offset)
        super().__init__(f"{reason}{where}" + (f": {excerpt}" if excerpt else ""))


class SequenceGap(FastWSError):
    """Depth update ids do not continue the book: updates were missed.

    The book that raised it is marked stale and needs a new snapshot.
    """

    def __init__(self, symbol: str, expected: int, got: int, message: str = "") -> None:
        self.symbol = symbol
        self.expected = expected
        self.got = got
        super().__init__(
            message or f"{symbol}: update id gap, expected {expected}, got {got}"
        )


class CrossedBook(FastWSError):
    """An update left the book crossed (best bid >= best ask)."""

    def __init__(self, symbol: str, best_bid: float, best_ask: float) -> None:
        self.symbol = symbol
        self.best_bid = best_bid
        self.best_ask = best_ask
        super().__init__(f"{symbol}: crossed book, best bid {best_bid!r} >= best ask {best_ask!r}")


class ConnectError(FastWSError):
    """A connection could not be made and retrying cannot help (bad certificate, 4xx, ban).

    ``__cause__`` holds the original error (``ssl.SSLCertVerificationError``,
    ``picows.WSHandshakeError``...).
    """


class ConnectionClosed(FastWSError):
    """The WebSocket connection closed."""

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed (code={code}, reason={reason!r})")


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed with a normal close code (1000/1001)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abruptly or with an error close code."""


class InvalidUsage(FastWSError):
    """Local misuse: the caller asked for something fastws cannot do as asked."""


class FilterError(InvalidUsage):
    """An order would break a symbol filter (checked locally, before anything is sent).

    Attributes
    ----------
    symbol : str
    filter : str
        The Binance filter name (``PRICE_FILTER``, ``LOT_SIZE``, ``NOTIONAL``...).
    """

    def __init__(self, symbol: str, filter_: str, message: str) -> None:
        self.symbol = symbol
        self.filter = filter_
        super().__init__(f"{symbol}: {filter_}: {message}")


class ApiError(FastWSError):
    """An error body from Binance: ``{"code": <int>, "msg": "<text>"}``.

    ``status`` is the HTTP-like status of the WS API envelope (400, 401, 403, 409, 418,
    429, 5xx) or of the REST response; ``data`` the optional ``error.data`` object.
    """

    def __init__(
        self, code: int, msg: str, status: int | None = None, data: object = None
    ) -> None:
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data
        super().__init__(f"[{code}] {msg}" + (f" (status {status})" if status else ""))

    @property
    def should_retry(self) -> bool:
        """Whether retrying the same request blindly is safe. False for the base class."""
        return False


class RateLimitError(ApiError):
    """429: over a rate limit. ``retry_after`` is the epoch ms to wait for, if given."""

    def __init__(
        self,
        code: int,
        msg: str,
        status: int | None = 429,
        data: object = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code, msg, status, data)
        if retry_after is None and isinstance(data, dict):
            retry_after = data.get("retryAfter")
        self.retry_after = retry_after

    @property
    def should_retry(self) -> bool:
        return True


class IPBannedError(RateLimitError):
    """418: the IP is banned until ``retry_after`` (epoch ms). Never retry before."""

    @property
    def should_retry(self) -> bool:
        return False


class AuthError(ApiError):
    """Keys, signatures, permissions or a revoked session (-1022, -2014, -2015, 401)."""


class OutcomeUnknownError(ApiError):
    """5xx, -1006 or -1007: the request may or may not have executed.

    Query the order (by client order id) before any retry.
    """


class SubscriptionError(FastWSError):
    """The venue refused a ``SUBSCRIBE`` / ``UNSUBSCRIBE`` (or never confirmed it).

    Attributes
    ----------
    streams : tuple of str
        The streams concerned (no longer wanted: the stream goes on without them).
    code : int or None
        The control error code (SPEC §2.3), if the venue sent one.
    msg : str
        The venue's text, or what was observed.
    """

    def __init__(self, streams: "tuple[str, ...] | list[str]", code: "int | None", msg: str,
                 method: str = "SUBSCRIBE") -> None:
        self.streams = tuple(streams)
        self.code = code
        self.msg = msg
        self.method = method
        shown = ", ".join(self.streams[:5]) + (" ..." if len(self.streams) > 5 else "")
        super().__init__(f"the venue refused {method} of {shown}"
                         + (f" (control error {code})" if code is not None else "") + f": {msg}")
