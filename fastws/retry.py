"""Reconnect policies: pure, injectable, and free of I/O.

The connection layer sleeps and dials; everything it has to *decide* lives here, as plain
objects fed with timestamps and exceptions (STYLE habit 2, like websockets' ``backoff()`` and
``process_exception()``):

- :func:`backoff` yields reconnect delays: a jittered first delay (so a fleet of clients that
  lost the same server does not come back in one burst), then an exponential series capped at
  ``max_delay``, each jittered downwards.
- :func:`is_retryable` tells a transient failure (socket reset, timeout, 5xx handshake, server
  close) from a fatal one (certificate that does not verify, 4xx handshake, IP ban, local
  misuse). :func:`retry_after_hint` extracts a server-imposed wait where one exists.
- :class:`ConnectionBudget` keeps connection attempts under Binance's limit of 300 per 5 minutes
  per IP (SPEC §2.2, §5.1) and honours bans.
- :class:`CutoverSchedule` says when to open the replacement connection before the 24-hour cut
  (SPEC §2.2), with a margin and a random spread so many connections do not cut over together.
- :class:`ReconnectPolicy` combines a backoff generator with a budget: the one object a
  connection asks "how long until my next attempt?".
- :func:`stream_failure` reads a failed market-stream connection attempt as a
  :class:`FailureAdvice`: what it was (rate-limited, banned, forbidden, server error...),
  whether to retry (always, except a certificate that does not verify or local misuse) and the
  least wait the server asked for (``Retry-After``, a ban's end). A market stream never gives
  up on an HTTP answer: 429 and 418 wait what the server said, 403 backs off long.

All times are seconds (floats) on a clock chosen by the caller, normally ``time.monotonic()``;
only :func:`retry_after_hint` speaks epoch milliseconds because Binance does.
"""
from __future__ import annotations

import asyncio
import math
import random
import re
import ssl
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

try:  # picows is a core dependency; only its exception classes are used here
    from picows import WSError as _WSError
    from picows import WSHandshakeError as _WSHandshakeError
    from picows import WSInvalidURL as _WSInvalidURL
    from picows import WSProtocolError as _WSProtocolError
except ImportError:  # pragma: no cover
    _WSError = _WSHandshakeError = _WSInvalidURL = _WSProtocolError = None  # type: ignore[assignment,misc]

from fastws.exceptions import (
    ApiError,
    ConnectError,
    ConnectionClosed,
    FastWSError,
    InvalidUsage,
    IPBannedError,
    RateLimitError,
)

__all__ = [
    "tls_advice",
    "connect_error",
    "CONNECTION_ATTEMPT_LIMIT",
    "CONNECTION_ATTEMPT_WINDOW",
    "CONNECTION_LIFETIME",
    "backoff",
    "is_retryable",
    "retry_after_hint",
    "ConnectionBudget",
    "CutoverSchedule",
    "ReconnectPolicy",
    "FailureAdvice",
    "stream_failure",
    "ban_end_ms",
    "FORBIDDEN_WAIT",
    "CLIENT_ERROR_WAIT",
    "BAN_WAIT",
    "MAX_PENALTY_WAIT",
]

#: Seconds to wait at least after an upgrade answered 403 (a WAF or geo block: retrying at
#: once only prolongs it); doubled for each 403 in a row up to :data:`MAX_PENALTY_WAIT`.
FORBIDDEN_WAIT: Final = 60.0
#: Seconds to wait at least after another 4xx answer (400, 404: a bad URL cannot heal by
#: itself, but a proxy or a rolled-out change may; the stream keeps trying, slowly).
CLIENT_ERROR_WAIT: Final = 30.0
#: Seconds to wait after a 418 that says neither ``Retry-After`` nor when the ban ends (Binance
#: bans start at 2 minutes, SPEC §5.3).
BAN_WAIT: Final = 120.0
#: Longest escalated wait (403 / other 4xx in a row), in seconds.
MAX_PENALTY_WAIT: Final = 600.0

#: Connection attempts allowed per window and per IP (SPEC §2.2 "300 connections per attempt
#: every 5 minutes per IP"; exchangeInfo ``CONNECTIONS``/``MINUTE``/5/300; same on the WS API, §5.1).
CONNECTION_ATTEMPT_LIMIT: Final = 300
#: The window of :data:`CONNECTION_ATTEMPT_LIMIT`, in seconds (SPEC §2.2: 5 minutes).
CONNECTION_ATTEMPT_WINDOW: Final = 300.0
#: A connection's lifetime before the server cuts it, in seconds (SPEC §2.2, §4.1, §5.1: 24 h).
CONNECTION_LIFETIME: Final = 24 * 3600.0

Random = Callable[[], float]
"""A source of uniform floats in ``[0, 1)``, like :func:`random.random` (injectable in tests)."""


def backoff(
    initial: float = 1.0,
    factor: float = 1.618,
    max_delay: float = 30.0,
    jitter: float = 0.25,
    *,
    min_delay: float | None = None,
    rand: Random = random.random,
) -> Iterator[float]:
    """Yield reconnect delays in seconds, forever.

    The first delay is drawn uniformly from ``[0, initial)``: right after a disconnect that hit
    many clients at once, they spread out instead of reconnecting in one burst. Later delays
    grow geometrically from ``min_delay`` (default ``initial``) by ``factor`` up to
    ``max_delay``; each one is then jittered *downwards* by up to ``jitter`` of itself (drawn
    from ``[d * (1 - jitter), d]``), so the bound ``max_delay`` holds exactly.

    Parameters
    ----------
    initial : float
        Upper bound of the first, fully random delay. Must be >= 0.
    factor : float
        Growth factor between consecutive un-jittered delays. Must be >= 1.
    max_delay : float
        Cap of every delay. Must be >= ``initial`` and >= ``min_delay``.
    jitter : float
        Fraction in ``[0, 1]`` by which each later delay may be shortened at random.
    min_delay : float, optional
        The second delay before jitter (defaults to ``initial``; a floor of a few ms is used
        when ``initial`` is 0 so the series still grows).
    rand : callable
        Source of uniform floats in ``[0, 1)``; inject a deterministic one in tests.

    Yields
    ------
    float
        Seconds to wait before the next attempt. Every value lies in ``[0, max_delay]``.

    Raises
    ------
    InvalidUsage
        If the parameters are out of range (raised on the first ``next()``).

    Notes
    -----
    The generator never ends; a caller that reconnected successfully should drop it and start a
    new one (see :class:`ReconnectPolicy`).
    """
    if initial < 0 or max_delay < 0:
        raise InvalidUsage(f"backoff delays must be >= 0 (initial={initial}, max_delay={max_delay})")
    if factor < 1:
        raise InvalidUsage(f"backoff factor must be >= 1, got {factor}")
    if not 0 <= jitter <= 1:
        raise InvalidUsage(f"backoff jitter must be within [0, 1], got {jitter}")
    base = initial if min_delay is None else min_delay
    if base < 0:
        raise InvalidUsage(f"backoff min_delay must be >= 0, got {base}")
    if initial > max_delay or base > max_delay:
        raise InvalidUsage(
            f"backoff max_delay ({max_delay}) must be >= initial ({initial}) and min_delay ({base})"
        )
    if base == 0:
        base = min(0.005, max_delay)
    yield min(rand() * initial, max_delay)
    delay = base
    while True:
        yield min(delay, max_delay) * (1.0 - jitter * rand())
        if delay < max_delay:
            delay *= factor


def _handshake_status(exc: BaseException) -> int | None:
    """The HTTP status of a failed WebSocket upgrade, if ``exc`` carries one (duck-typed).

    picows' ``WSHandshakeError`` has ``response.status``; websockets' ``InvalidStatus`` has
    ``response.status_code``; aiohttp's ``WSServerHandshakeError`` has ``status``.
    """
    response = getattr(exc, "response", None)
    for holder in (response, exc):
        if holder is None:
            continue
        for name in ("status", "status_code"):
            value = getattr(holder, name, None)
            if isinstance(value, int) and 100 <= value <= 599:
                return int(value)
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether reconnecting after ``exc`` makes sense.

    Retryable (transient, remote or network): :class:`~fastws.exceptions.ConnectionClosed`
    (including a clean close, which is how the 24 h cut arrives), ``OSError`` (refused, reset,
    unreachable, DNS failure), ``TimeoutError`` (and ``asyncio.TimeoutError``), ``EOFError``,
    a WebSocket handshake answered with 5xx or 429 or with a malformed response, a picows
    ``WSProtocolError`` (the peer broke the framing), and an
    :class:`~fastws.exceptions.ApiError` whose ``should_retry`` is true (a 429 rate limit:
    wait, then retry; see :func:`retry_after_hint`).

    Fatal (retrying cannot help and may make things worse): a TLS certificate that does not
    verify (never silently downgraded), any other 4xx handshake answer (403 WAF block, 404
    wrong path, 418 ban), a bad URL, :class:`~fastws.exceptions.IPBannedError`, any other
    :class:`~fastws.exceptions.ApiError`, :class:`~fastws.exceptions.InvalidUsage` and other
    fastws errors, and every other exception (programming errors are not masked by retries;
    ``asyncio.CancelledError`` is never retried).

    Parameters
    ----------
    exc : BaseException
        The exception a connection attempt or a live connection ended with.

    Returns
    -------
    bool
        True if the caller should back off and try again.
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, ssl.SSLError):
        # A TLS failure other than verification (handshake reset mid-way, EOF): transient.
        return True
    if isinstance(exc, IPBannedError):
        return False
    if isinstance(exc, ApiError):
        return exc.should_retry
    if isinstance(exc, ConnectionClosed):
        return True
    if isinstance(exc, FastWSError):
        return False
    status = _handshake_status(exc)
    if status is not None:
        return status >= 500 or status == 429
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, EOFError)):
        return True
    if _WSError is not None:
        if isinstance(exc, _WSInvalidURL):
            return False
        if isinstance(exc, (_WSProtocolError, _WSHandshakeError)):
            return True
    return False


def retry_after_hint(exc: BaseException, now_ms: int) -> float | None:
    """Seconds the server asked us to wait after ``exc``, or None if it did not say.

    Reads :attr:`RateLimitError.retry_after <fastws.exceptions.RateLimitError>` (epoch ms; also
    set on :class:`~fastws.exceptions.IPBannedError`) and a handshake response's
    ``Retry-After`` header (seconds, SPEC §5.3).

    Parameters
    ----------
    exc : BaseException
        The failure.
    now_ms : int
        The current wall-clock time in epoch milliseconds (server-corrected if you have it).

    Returns
    -------
    float or None
        Seconds (>= 0) to wait, or None.
    """
    if isinstance(exc, RateLimitError) and isinstance(exc.retry_after, int):
        return max(0.0, (exc.retry_after - now_ms) / 1000.0)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            value = headers.get("Retry-After")
        except Exception:
            value = None
        if value is not None:
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


_BAN_RE = re.compile(rb"banned until (\d{12,14})")


def ban_end_ms(exc: BaseException) -> int | None:
    """The epoch ms a 418 answer says the ban ends (``"IP banned until 1700000000000"`` in
    its body, or ``retryAfter`` of an :class:`~fastws.exceptions.IPBannedError`), or None."""
    if isinstance(exc, RateLimitError) and isinstance(exc.retry_after, int):
        return exc.retry_after
    body = getattr(exc, "raw_body", None)
    if body is None:
        response = getattr(exc, "response", None)
        body = getattr(response, "body", None)
    if isinstance(body, str):
        body = body.encode()
    if isinstance(body, (bytes, bytearray)):
        m = _BAN_RE.search(bytes(body))
        if m:
            return int(m.group(1))
    return None


@dataclass(frozen=True)
class FailureAdvice:
    """What a failed connection attempt means for the next one (see :func:`stream_failure`).

    Attributes
    ----------
    kind : str
        ``"rate-limited"`` (429), ``"banned"`` (418), ``"forbidden"`` (403),
        ``"client-error"`` (other 4xx), ``"server-error"`` (5xx), ``"network"`` (refused,
        reset, timeout, TLS handshake cut, protocol error), ``"tls"`` (certificate does not
        verify), ``"misuse"`` (a local error) or ``"unexpected"``.
    retry : bool
        False only for ``"tls"`` and ``"misuse"``: retrying cannot help.
    min_wait : float
        Seconds the next attempt must wait at least (``Retry-After``, a ban's end, the long
        wait of a 403); 0.0 when the ordinary backoff applies.
    status : int or None
        The HTTP status of the upgrade answer, if any.
    reason : str
        One line for the log and ``stats()``.
    """

    kind: str
    retry: bool
    min_wait: float = 0.0
    status: int | None = None
    reason: str = ""


def stream_failure(exc: BaseException, now_ms: int) -> FailureAdvice:
    """Classify a failed market-stream connection attempt (pure; ``now_ms`` epoch ms).

    Unlike :func:`is_retryable` (the WS API's rule), no HTTP status is fatal here: a market
    stream keeps trying, as slowly as the server demands. Only a certificate that does not
    verify and local misuse (:class:`~fastws.exceptions.InvalidUsage`) are fatal.
    """
    name = type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FailureAdvice("tls", False, reason=f"certificate does not verify: {getattr(exc, 'verify_message', None) or exc}")
    if isinstance(exc, InvalidUsage):
        return FailureAdvice("misuse", False, reason=f"{name}: {exc}")
    status = _handshake_status(exc)
    hint = retry_after_hint(exc, now_ms)
    if status == 429:
        wait = hint if hint is not None else 0.0
        return FailureAdvice("rate-limited", True, wait, status,
                             f"HTTP 429 too many requests (Retry-After {hint if hint is not None else '-'} s)")
    if status == 418 or isinstance(exc, IPBannedError):
        end = ban_end_ms(exc)
        waits = [w for w in (hint, None if end is None else (end - now_ms) / 1000.0) if w is not None]
        wait = max(waits) if waits else BAN_WAIT
        return FailureAdvice("banned", True, max(wait, 0.0), status or 418,
                             f"HTTP 418 IP banned ({'until ' + str(end) if end else 'no end given'}; "
                             f"waiting {max(wait, 0.0):.0f} s)")
    if status == 403:
        return FailureAdvice("forbidden", True, max(FORBIDDEN_WAIT, hint or 0.0), status,
                             "HTTP 403 forbidden (a WAF or region block; backing off long)")
    if status is not None and 400 <= status < 500:
        return FailureAdvice("client-error", True, max(CLIENT_ERROR_WAIT, hint or 0.0), status,
                             f"HTTP {status} on the upgrade")
    if status is not None:
        return FailureAdvice("server-error", True, hint or 0.0, status, f"HTTP {status} on the upgrade")
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, EOFError, ConnectionClosed)):
        return FailureAdvice("network", True, reason=f"{name}: {exc}" if str(exc) else name)
    if _WSError is not None and isinstance(exc, _WSError):
        return FailureAdvice("network", True, reason=f"{name}: {exc}")
    return FailureAdvice("unexpected", True, 1.0, reason=f"{name}: {exc}")


class ConnectionBudget:
    """Keeps connection attempts under a limit per sliding window, and honours bans.

    Binance allows 300 connection attempts per 5 minutes per IP (SPEC §2.2). The budget is
    checked over a *sliding* window, which is stricter than any calendar-aligned one: if no
    300-second span holds more than ``limit`` attempts, no aligned window does either. Share one
    budget between every connection of the process that dials the same IP.

    Contract: call :meth:`delay` before an attempt and wait that long; call :meth:`record` when
    the attempt is made (successful or not). Timestamps must not go backwards.

    Parameters
    ----------
    limit : int
        Attempts allowed per window (default :data:`CONNECTION_ATTEMPT_LIMIT`). Lower it to leave
        room for other processes on the same IP.
    window : float
        Window length in seconds (default :data:`CONNECTION_ATTEMPT_WINDOW`).
    """

    __slots__ = ("limit", "window", "_attempts", "_blocked_until", "_last")

    def __init__(
        self, limit: int = CONNECTION_ATTEMPT_LIMIT, window: float = CONNECTION_ATTEMPT_WINDOW
    ) -> None:
        if limit < 1:
            raise InvalidUsage(f"connection budget limit must be >= 1, got {limit}")
        if window <= 0:
            raise InvalidUsage(f"connection budget window must be > 0, got {window}")
        self.limit = limit
        self.window = window
        self._attempts: deque[float] = deque()
        self._blocked_until = float("-inf")
        self._last = float("-inf")

    def __repr__(self) -> str:
        return f"ConnectionBudget(limit={self.limit}, window={self.window}, recent={len(self._attempts)})"

    def _expire(self, now: float) -> None:
        attempts = self._attempts
        while attempts and attempts[0] <= now - self.window:
            attempts.popleft()

    def used(self, now: float) -> int:
        """Attempts recorded in the window ending at ``now``."""
        self._expire(now)
        return len(self._attempts)

    def delay(self, now: float) -> float:
        """Seconds to wait from ``now`` before the next attempt stays within the budget.

        0.0 means "go now". A ban set with :meth:`block_until` is honoured too.
        """
        self._expire(now)
        wait = 0.0
        if len(self._attempts) >= self.limit:
            # The attempt that must leave the window before one more fits.
            oldest = self._attempts[len(self._attempts) - self.limit]
            wait = oldest + self.window - now
            # Float rounding must not let ``now + wait`` land a hair inside the window. Step by
            # one unit in the last place of the sum (stepping ``wait`` by its own ulp, when it
            # is ~0 and ``now`` is large, would take billions of steps).
            step = math.ulp(max(abs(now), abs(oldest) + self.window))
            while (now + wait) - self.window < oldest:
                wait += step
        return max(wait, self._blocked_until - now, 0.0)

    def record(self, now: float) -> None:
        """Record an attempt made at ``now``.

        Raises
        ------
        InvalidUsage
            If ``now`` is earlier than the last recorded attempt (clock misuse).
        """
        if now < self._last:
            raise InvalidUsage(f"connection attempts must be recorded in time order ({now} < {self._last})")
        self._last = now
        self._expire(now)
        self._attempts.append(now)

    def block_until(self, until: float) -> None:
        """Refuse every attempt before ``until`` (e.g. while an IP ban lasts). Never shortens."""
        self._blocked_until = max(self._blocked_until, until)


class CutoverSchedule:
    """When to open the replacement connection before the server's 24-hour cut.

    A connection opened at ``connected_at`` is cut by the server at ``connected_at + lifetime``
    (SPEC §2.2). The replacement is opened ``margin`` seconds earlier, minus a random share of
    ``spread``, so that many connections opened together do not all cut over in the same
    second (the pacing of their SUBSCRIBE messages and the 300-per-5-minutes budget would
    suffer). Each call to :meth:`cutover_at` draws a new offset; call it once per connection
    and keep the answer.

    Parameters
    ----------
    lifetime : float
        Seconds the server keeps a connection (default :data:`CONNECTION_LIFETIME`). Tests use a
        short one.
    margin : float
        Minimum seconds between the cut-over and the server's cut: room to connect, subscribe,
        see the first message and switch (default 10 minutes).
    spread : float
        Width in seconds of the random extra lead (default 20 minutes).
    rand : callable
        Uniform ``[0, 1)`` source, injectable.
    """

    __slots__ = ("lifetime", "margin", "spread", "_rand")

    def __init__(
        self,
        lifetime: float = CONNECTION_LIFETIME,
        margin: float = 600.0,
        spread: float = 1200.0,
        *,
        rand: Random = random.random,
    ) -> None:
        if lifetime <= 0 or margin < 0 or spread < 0:
            raise InvalidUsage("cut-over lifetime must be > 0, margin and spread >= 0")
        if margin + spread >= lifetime:
            raise InvalidUsage(
                f"cut-over margin + spread ({margin + spread}) must be shorter than the lifetime ({lifetime})"
            )
        self.lifetime = lifetime
        self.margin = margin
        self.spread = spread
        self._rand = rand

    def __repr__(self) -> str:
        return f"CutoverSchedule(lifetime={self.lifetime}, margin={self.margin}, spread={self.spread})"

    def deadline(self, connected_at: float) -> float:
        """When the server will cut a connection opened at ``connected_at``."""
        return connected_at + self.lifetime

    def cutover_at(self, connected_at: float) -> float:
        """When to open the replacement of a connection opened at ``connected_at``.

        The answer lies in ``[deadline - margin - spread, deadline - margin]``.
        """
        return self.deadline(connected_at) - self.margin - self._rand() * self.spread

    def delay(self, connected_at: float, now: float) -> float:
        """Seconds from ``now`` until the cut-over (0.0 if it is due). Draws a new offset."""
        return max(0.0, self.cutover_at(connected_at) - now)


class ReconnectPolicy:
    """Backoff and budget together: how long until the next connection attempt.

    Contract for the connection layer::

        policy = ReconnectPolicy(budget=shared_budget)
        while True:
            await asyncio.sleep(policy.next_delay(time.monotonic()))
            policy.attempted(time.monotonic())
            try:
                await connect()
            except Exception as exc:
                if not is_retryable(exc):
                    raise
                continue
            ...  # when the new connection delivers its first message:
            policy.succeeded()

    Parameters
    ----------
    budget : ConnectionBudget, optional
        The (usually process-wide) attempt budget; a private one if omitted.
    backoff_factory : callable, optional
        Returns a fresh delay iterator; defaults to :func:`backoff` with its defaults.
    """

    __slots__ = ("budget", "_factory", "_delays", "failures", "_not_before", "_penalties",
                 "last_advice")

    def __init__(
        self,
        budget: ConnectionBudget | None = None,
        backoff_factory: Callable[[], Iterator[float]] | None = None,
    ) -> None:
        self.budget = budget if budget is not None else ConnectionBudget()
        self._factory: Callable[[], Iterator[float]] = backoff_factory or backoff
        self._delays = self._factory()
        #: consecutive attempts since the last success
        self.failures = 0
        self._not_before = float("-inf")
        self._penalties = 0
        #: the :class:`FailureAdvice` of the last failed attempt (None after a success)
        self.last_advice: FailureAdvice | None = None

    def __repr__(self) -> str:
        return f"ReconnectPolicy(failures={self.failures}, budget={self.budget!r})"

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next attempt: the largest of backoff, budget and what
        the last failure demands (:meth:`failed`)."""
        return max(next(self._delays), self.budget.delay(now), self._not_before - now)

    def failed(self, advice: FailureAdvice, now: float) -> float:
        """Record a failed attempt's :class:`FailureAdvice` at ``now``; returns the least wait
        it imposes. A 429/418 wait is what the server said (a ban also blocks the shared
        budget: it is per IP); a 403 or other 4xx wait doubles for each one in a row (up to
        :data:`MAX_PENALTY_WAIT`)."""
        self.last_advice = advice
        wait = advice.min_wait
        if advice.kind in ("forbidden", "client-error"):
            wait = min(wait * (2.0 ** self._penalties), max(MAX_PENALTY_WAIT, advice.min_wait))
            self._penalties += 1
        if advice.kind in ("rate-limited", "banned") and wait > 0:
            self.budget.block_until(now + wait)
        self._not_before = max(self._not_before, now + wait)
        return wait

    def attempted(self, now: float) -> None:
        """Record an attempt made at ``now``."""
        self.budget.record(now)
        self.failures += 1

    def succeeded(self) -> None:
        """The connection works again (it delivered data for a while): restart the backoff
        series and forget escalated waits."""
        self._delays = self._factory()
        self.failures = 0
        self._penalties = 0
        self.last_advice = None


# OpenSSL verify codes (X509_V_ERR_*) and the advice that fits each
_TLS_ADVICE = {
    9: "the certificate is not valid yet: check this machine's clock",
    10: "the certificate has expired (or this machine's clock is wrong): the server must renew it",
    18: "the server sent a self-signed certificate: trust it with ca_file= (the simulator's is "
        "Exchange.ca_file)",
    19: "the chain ends in a CA this machine does not trust: pass that CA with ca_file= (the "
        "simulator's is Exchange.ca_file)",
    20: "the issuer is not in the trust store: pass its CA with ca_file= (the simulator's is "
        "Exchange.ca_file), or install the system CA bundle",
    21: "the chain is incomplete: the server does not send its intermediate certificate",
    23: "the certificate was revoked",
    62: "the certificate is for another host name: check the URL (a proxy or a wrong DNS "
        "answer?); trusting another CA does not help",
}


def tls_advice(exc: ssl.SSLCertVerificationError) -> str:
    """What to do about a certificate that does not verify, for its OpenSSL verify code."""
    code = getattr(exc, "verify_code", None)
    advice = _TLS_ADVICE.get(code) if isinstance(code, int) else None
    if advice is None:
        msg = str(getattr(exc, "verify_message", "") or exc).lower()
        if "hostname" in msg or "ip address mismatch" in msg:
            advice = _TLS_ADVICE[62]
        elif "expired" in msg:
            advice = _TLS_ADVICE[10]
        else:
            advice = "trust the server's CA with ca_file= if it is private"
    return advice


def connect_error(url: str, exc: BaseException) -> ConnectError:
    """The :class:`ConnectError` for a connection failure retrying cannot fix (for a
    certificate that does not verify: what to do about it, see :func:`tls_advice`)."""
    host = urlsplit(url).netloc
    if isinstance(exc, ssl.SSLCertVerificationError):
        msg = (f"TLS certificate of {host} does not verify ({getattr(exc, 'verify_message', None) or exc}): "
               f"{tls_advice(exc)}. Verification is never turned off.")
    else:
        msg = f"cannot connect to {host}: {type(exc).__name__}: {exc} (not retryable)"
    err = ConnectError(msg)
    err.__cause__ = exc
    return err
