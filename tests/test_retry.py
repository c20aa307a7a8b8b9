"""Reconnect policies: backoff bounds, retryable errors, the attempt budget, the 24 h cut-over."""
from __future__ import annotations

import itertools
import random
import ssl
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.exceptions import (
    ApiError,
    AuthError,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidUsage,
    IPBannedError,
    OutcomeUnknownError,
    ParseError,
    RateLimitError,
)
from fastws.retry import (
    CONNECTION_ATTEMPT_LIMIT,
    CONNECTION_ATTEMPT_WINDOW,
    ConnectionBudget,
    CutoverSchedule,
    ReconnectPolicy,
    backoff,
    is_retryable,
    retry_after_hint,
)

SETTINGS = settings(deadline=None, max_examples=60)


def take(it, n):
    return list(itertools.islice(it, n))


# -- backoff ---------------------------------------------------------------------------------


def test_backoff_first_delay_is_random_fraction_of_initial():
    assert take(backoff(initial=2.0, rand=lambda: 0.25), 1) == [0.5]
    assert take(backoff(initial=2.0, rand=lambda: 0.0), 1) == [0.0]


def test_backoff_grows_geometrically_to_the_cap_without_jitter():
    delays = take(backoff(initial=1.0, factor=2.0, max_delay=10.0, jitter=0.0, rand=lambda: 0.5), 7)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_backoff_jitter_shortens_by_at_most_the_fraction():
    low = take(backoff(initial=1.0, factor=2.0, max_delay=8.0, jitter=0.25, rand=lambda: 0.999999), 6)
    assert low[1:] == pytest.approx([0.75, 1.5, 3.0, 6.0, 6.0], rel=1e-5)


def test_backoff_min_delay_and_zero_initial():
    delays = take(backoff(initial=0.0, min_delay=0.5, factor=3.0, max_delay=5.0, jitter=0.0), 5)
    assert delays == [0.0, 0.5, 1.5, 4.5, 5.0]
    # initial 0 and no min_delay still grows instead of yielding 0 forever
    zeros = take(backoff(initial=0.0, factor=2.0, max_delay=1.0, jitter=0.0), 12)
    assert zeros[-1] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"initial": 10.0, "max_delay": 5.0},
        {"min_delay": -1.0},
    ],
)
def test_backoff_rejects_bad_parameters(kwargs):
    with pytest.raises(InvalidUsage):
        next(backoff(**kwargs))


@SETTINGS
@given(
    initial=st.floats(0.0, 10.0),
    factor=st.floats(1.0, 4.0),
    extra=st.floats(0.0, 100.0),
    jitter=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_backoff_bounds_property(initial, factor, extra, jitter, seed):
    max_delay = initial + extra
    rng = random.Random(seed)
    delays = take(backoff(initial, factor, max_delay, jitter, rand=rng.random), 40)
    assert 0.0 <= delays[0] <= initial
    for d in delays:
        assert 0.0 <= d <= max_delay
    # the un-jittered envelope never shrinks: each delay is at least (1 - jitter) * previous cap
    # the later delays never drop below the jittered starting point
    base = initial if initial > 0 else min(0.005, max_delay)
    for d in delays[1:]:
        assert d >= (1.0 - jitter) * min(max_delay, base) * (1 - 1e-12)


# -- is_retryable ----------------------------------------------------------------------------


class _Handshake(Exception):
    """Looks like picows' WSHandshakeError: ``response.status`` and ``response.headers``."""

    def __init__(self, status, headers=None):
        super().__init__(f"handshake failed with {status}")
        self.response = SimpleNamespace(status=status, headers=headers or {})


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionClosedOK(1000, "24h"),
        ConnectionClosedError(1006, ""),
        ConnectionResetError(),
        ConnectionRefusedError(),
        TimeoutError(),
        EOFError(),
        OSError("network unreachable"),
        ssl.SSLError("EOF in violation of protocol"),
        _Handshake(503),
        _Handshake(429),
        RateLimitError(-1003, "Too much request weight used"),
    ],
)
def test_retryable(exc):
    assert is_retryable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ssl.SSLCertVerificationError("certificate verify failed"),
        _Handshake(403),
        _Handshake(404),
        _Handshake(418),
        IPBannedError(-1003, "IP banned", 418),
        AuthError(-2015, "Invalid API-key"),
        OutcomeUnknownError(-1007, "timeout"),
        ApiError(-1121, "Invalid symbol."),
        InvalidUsage("too many streams"),
        ParseError("bad"),
        ValueError("bug"),
        KeyError("bug"),
    ],
)
def test_not_retryable(exc):
    assert not is_retryable(exc)


def test_picows_errors():
    picows = pytest.importorskip("picows")
    assert is_retryable(picows.WSProtocolError(1002, "bad frame"))
    assert is_retryable(picows.WSInvalidMessageError("malformed upgrade response"))
    assert not is_retryable(picows.WSInvalidURL("ftp://x", "bad scheme"))
    import asyncio

    assert not is_retryable(asyncio.CancelledError())


def test_retry_after_hint():
    now = 1_700_000_000_000
    assert retry_after_hint(IPBannedError(-1003, "ban", 418, retry_after=now + 120_000), now) == 120.0
    assert retry_after_hint(RateLimitError(-1003, "x", 429, data={"retryAfter": now - 5}), now) == 0.0
    assert retry_after_hint(_Handshake(429, {"Retry-After": "7"}), now) == 7.0
    assert retry_after_hint(_Handshake(429, {"Retry-After": "soon"}), now) is None
    assert retry_after_hint(OSError(), now) is None


# -- ConnectionBudget ------------------------------------------------------------------------


def test_budget_defaults_are_the_spec_numbers():
    b = ConnectionBudget()
    assert (b.limit, b.window) == (CONNECTION_ATTEMPT_LIMIT, CONNECTION_ATTEMPT_WINDOW) == (300, 300.0)


def test_budget_waits_for_the_oldest_attempt_to_leave_the_window():
    b = ConnectionBudget(limit=3, window=10.0)
    for t in (0.0, 1.0, 2.0):
        assert b.delay(t) == 0.0
        b.record(t)
    assert b.delay(2.5) == pytest.approx(7.5)
    assert b.delay(10.0) == 0.0  # the attempt at 0.0 has left (0, 10]
    b.record(10.0)
    assert b.delay(10.0) == pytest.approx(1.0)
    assert b.used(10.0) == 3


def test_budget_ban_is_honoured_and_never_shortened():
    b = ConnectionBudget(limit=5, window=10.0)
    b.block_until(100.0)
    b.block_until(50.0)
    assert b.delay(40.0) == 60.0
    assert b.delay(100.0) == 0.0


def test_budget_rejects_time_going_backwards_and_bad_config():
    b = ConnectionBudget(limit=2, window=1.0)
    b.record(5.0)
    with pytest.raises(InvalidUsage):
        b.record(4.0)
    with pytest.raises(InvalidUsage):
        ConnectionBudget(limit=0)
    with pytest.raises(InvalidUsage):
        ConnectionBudget(window=0)


@SETTINGS
@given(
    limit=st.integers(1, 8),
    gaps=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=60),
)
def test_budget_never_exceeds_limit_in_any_window(limit, gaps):
    """A caller that always waits ``delay()`` never has more than ``limit`` attempts per window."""
    window = 5.0
    b = ConnectionBudget(limit=limit, window=window)
    now = 0.0
    times = []
    for gap in gaps:
        now += gap
        now += b.delay(now)
        b.record(now)
        times.append(now)
    for t in times:
        inside = [u for u in times if t - window < u <= t]
        assert len(inside) <= limit


# -- CutoverSchedule -------------------------------------------------------------------------


def test_cutover_within_margin_and_spread():
    s = CutoverSchedule(lifetime=86400.0, margin=600.0, spread=1200.0, rand=lambda: 0.5)
    assert s.deadline(1000.0) == 87400.0
    assert s.cutover_at(1000.0) == 87400.0 - 600.0 - 600.0
    assert s.delay(1000.0, 1000.0) == pytest.approx(86400.0 - 1200.0)
    assert s.delay(1000.0, 10**9) == 0.0


def test_cutover_spreads_many_connections():
    rng = random.Random(7)
    s = CutoverSchedule(lifetime=100.0, margin=10.0, spread=20.0, rand=rng.random)
    times = [s.cutover_at(0.0) for _ in range(50)]
    assert all(70.0 <= t <= 90.0 for t in times)
    assert max(times) - min(times) > 10.0  # not all at once


def test_cutover_rejects_impossible_schedule():
    with pytest.raises(InvalidUsage):
        CutoverSchedule(lifetime=10.0, margin=6.0, spread=5.0)


# -- ReconnectPolicy -------------------------------------------------------------------------


def test_policy_takes_larger_of_backoff_and_budget_and_resets():
    budget = ConnectionBudget(limit=2, window=100.0)
    policy = ReconnectPolicy(
        budget, lambda: backoff(initial=1.0, factor=2.0, max_delay=8.0, jitter=0.0, rand=lambda: 1.0)
    )
    assert policy.next_delay(0.0) == 1.0
    policy.attempted(0.0)
    assert policy.next_delay(1.0) == 1.0
    policy.attempted(1.0)
    assert policy.failures == 2
    assert policy.next_delay(3.0) == pytest.approx(97.0)  # budget exhausted until t=100
    policy.succeeded()
    assert policy.failures == 0
    assert policy.next_delay(200.0) == 1.0  # backoff restarted


def test_budget_delay_is_immediate_when_the_wait_is_a_rounding_error():
    """A wait that is ~0 after rounding (a large clock, an attempt exactly one window ago) must
    come back at once, just outside the window (it used to step by the ulp of ~0: a hang)."""
    b = ConnectionBudget(limit=1, window=5.0)
    b.record(0.1)
    now = 0.1 + 5.0 - 1e-17                    # one window later, less than a rounding error
    wait = b.delay(now)
    assert 0.0 <= wait < 1e-12 and (now + wait) - 5.0 >= 0.1
    b = ConnectionBudget(limit=2, window=3.0)
    for t in (1e6, 1e6 + 1.5):
        b.record(t)
    now = 1e6 + 3.0 - 2e-10
    assert (now + b.delay(now)) - 3.0 >= 1e6


# -- market-stream failures: never give up on an HTTP answer (issue 10, contract 3) ----------


def _handshake(status: int, headers: dict | None = None, body: bytes | None = None):
    import picows
    response = SimpleNamespace(status=status, headers=headers or {}, body=None)
    return picows.WSInvalidStatusError(f"status {status}", b"", body, response)


def test_stream_failure_no_http_status_is_fatal():
    from fastws.retry import stream_failure
    for status in (400, 403, 404, 418, 429, 500, 502, 503):
        advice = stream_failure(_handshake(status), 0)
        assert advice.retry and advice.status == status, advice
    cert = ssl.SSLCertVerificationError(1, "bad")
    assert not stream_failure(cert, 0).retry
    assert not stream_failure(InvalidUsage("x"), 0).retry
    assert stream_failure(ConnectionResetError(), 0).kind == "network"


def test_stream_failure_waits_what_the_server_says():
    from fastws.retry import BAN_WAIT, FORBIDDEN_WAIT, stream_failure
    assert stream_failure(_handshake(429, {"Retry-After": "10"}), 0).min_wait == 10.0
    assert stream_failure(_handshake(429), 0).min_wait == 0.0
    now = 1_700_000_000_000
    ban = stream_failure(_handshake(418, body=b'{"code":-1003,"msg":"IP banned until %d."}'
                                    % (now + 90_000)), now)
    assert ban.kind == "banned" and ban.min_wait == pytest.approx(90.0)
    # the larger of Retry-After and the ban's end
    both = stream_failure(_handshake(418, {"Retry-After": "120"},
                                     b"IP banned until %d" % (now + 90_000)), now)
    assert both.min_wait == pytest.approx(120.0)
    assert stream_failure(_handshake(418), now).min_wait == BAN_WAIT
    assert stream_failure(_handshake(403), now).min_wait == FORBIDDEN_WAIT
    assert stream_failure(IPBannedError(418, -1003, "banned", {"retryAfter": now + 5000}), now).min_wait == 5.0


def test_policy_failed_sets_a_floor_escalates_403_and_blocks_the_budget_on_bans():
    from fastws.retry import FailureAdvice
    budget = ConnectionBudget()
    policy = ReconnectPolicy(budget, lambda: iter(itertools.repeat(0.1)))
    assert policy.failed(FailureAdvice("rate-limited", True, 10.0, 429), 100.0) == 10.0
    assert policy.next_delay(100.0) == pytest.approx(10.0)
    assert budget.delay(100.0) == pytest.approx(10.0)     # a 429 is per IP: shared budget waits
    p2 = ReconnectPolicy(ConnectionBudget(), lambda: iter(itertools.repeat(0.1)))
    waits = [p2.failed(FailureAdvice("forbidden", True, 60.0, 403), 0.0) for _ in range(6)]
    assert waits == [60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    p2.succeeded()
    assert p2.failed(FailureAdvice("forbidden", True, 60.0, 403), 0.0) == 60.0


@SETTINGS
@given(retry_after=st.floats(0, 3600), backoff_delay=st.floats(0, 30), now=st.floats(0, 1e6))
def test_next_attempt_never_before_retry_after(retry_after, backoff_delay, now):
    """Whatever the backoff says, an attempt after a 429 never comes before its Retry-After."""
    from fastws.retry import stream_failure
    policy = ReconnectPolicy(ConnectionBudget(), lambda: iter(itertools.repeat(backoff_delay)))
    advice = stream_failure(_handshake(429, {"Retry-After": repr(retry_after)}), 0)
    policy.failed(advice, now)
    assert policy.next_delay(now) >= retry_after - 1e-9


@SETTINGS
@given(kinds=st.lists(st.sampled_from([429, 418, 403, 503, 0]), min_size=1, max_size=60))
def test_attempts_stay_under_the_budget_whatever_fails(kinds):
    """Dialling at the delays the policy gives, never more than 300 attempts in 5 minutes."""
    from fastws.retry import stream_failure
    budget = ConnectionBudget(limit=20, window=60.0)
    policy = ReconnectPolicy(budget, lambda: iter(itertools.repeat(0.0)))
    now = 0.0
    for k in kinds * 3:
        now += policy.next_delay(now)
        policy.attempted(now)
        exc = _handshake(k, {"Retry-After": "1"}) if k else ConnectionResetError()
        policy.failed(stream_failure(exc, int(now * 1000)), now)
        assert budget.used(now) <= 20
