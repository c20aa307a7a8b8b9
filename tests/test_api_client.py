"""ApiClient: requests by id over picows, timeouts, events, reconnect + logon, clock skew, rate
limits (pacing, retryAfter, 418), secrets. Against the simulator (fastws.sim); the order-rate
tests use its faults order_window (a per-second ORDERS window) and hide_order_limits."""
from __future__ import annotations

import asyncio
from decimal import Decimal
import logging
import time
import traceback

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fastws.api.client import ApiClient
from fastws.api.protocol import RateLimits
from fastws.api.base_operations import BaseOperations
from fastws.exceptions import (
    ApiError,
    AuthError,
    ConnectionClosedError,
    InvalidUsage,
    IPBannedError,
    RateLimitError,
)
from fastws.api.order_stream import OrderStream
from fastws.api.signing import Ed25519Signer, HmacSigner
from fastws.sim import Exchange
from tests.sim_api_support import old_grid, recorded, recording, trader
from tests.utils import UNIT

#: the async tests here run on asyncio's loop and on uvloop (tests/conftest.py)
BOTH_LOOPS = True

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def ed25519_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


async def wait_until(pred, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout * UNIT
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_many_requests_in_flight_matched_by_id():
    async with Exchange(["BTCUSDT"]) as ex:
        async with ApiClient(ex.venue) as api:
            results = await asyncio.gather(*(api.request("time") for _ in range(100)),
                                           *(api.request("ping") for _ in range(100)))
            assert all(isinstance(r["serverTime"], int) for r in results[:100])
            assert results[100:] == [{}] * 100
            assert api.protocol.in_flight == ()
            assert api.requests >= 200


async def test_timeout_by_timer_then_late_answer_ignored():
    async with Exchange(["BTCUSDT"]) as ex:
        async with ApiClient(ex.venue, timeout=0.2 * UNIT) as api:
            ex.faults.delay_responses(0.4 * UNIT, count=1)
            with pytest.raises(asyncio.TimeoutError, match="ping"):
                await api.request("ping")
            assert api.protocol.in_flight == ()
            await asyncio.sleep(0.5 * UNIT)         # the late answer arrives and is ignored
            assert await api.request("ping") == {}


async def test_one_timer_serves_short_and_long_timeouts():
    async with Exchange(["BTCUSDT"]) as ex:
        async with ApiClient(ex.venue, timeout=3 * UNIT) as api:
            ex.faults.delay_responses(0.6 * UNIT)
            loop = asyncio.get_running_loop()
            slow = asyncio.ensure_future(api.request("ping"))            # 3 UNIT: answered
            await asyncio.sleep(0.05 * UNIT)
            t0 = loop.time()
            with pytest.raises(asyncio.TimeoutError, match="ping"):
                await api.request("ping", timeout=0.2 * UNIT)           # armed earlier
            assert loop.time() - t0 < 0.55 * UNIT
            with pytest.raises(asyncio.TimeoutError):
                await api.request("time", timeout=0.1 * UNIT)
            assert await slow == {}
            ex.faults.clear()
            await asyncio.sleep(0.7 * UNIT)          # the late answers come and are ignored
            assert api.protocol.in_flight == () and not api._deadlines.entries


async def test_error_bodies_become_api_errors():
    async with Exchange(["BTCUSDT"]) as ex:
        async with BaseOperations(ex.venue) as api:
            with pytest.raises(ApiError) as e:
                await api.request("exchangeInfo", {"symbol": "NOPE"})
            assert e.value.code == -1121 and e.value.status == 400


async def test_reconnect_fails_in_flight_then_recovers_and_logs_on_again():
    async with Exchange(["BTCUSDT"]) as ex:
        _, k, signer = trader(ex, "ED25519")
        async with ApiClient(ex.venue, api_key=k.api_key, signer=signer, timeout=2 * UNIT) as api:
            assert api.logon and api.logged_on
            st = await api.request("session.status")
            assert st["apiKey"] == k.api_key
            ex.faults.delay_responses(0.3 * UNIT, count=1, methods="ping")
            pending = asyncio.ensure_future(api.request("ping"))
            await asyncio.sleep(0.05 * UNIT)
            ex.faults.close(how="reset")
            with pytest.raises(ConnectionClosedError):
                await pending
            await wait_until(lambda: api.connections == 2 and api.logged_on, what="reconnect")
            st = await api.request("session.status")
            assert st["apiKey"] == k.api_key         # logon was done again by itself
            # a signed request on the logged-on session carries no signature (SPEC §5.5)
            with recording(ex) as sent:
                await api.request("account.status", {}, signed=True)
            params = sent.params("account.status")[-1]
            assert "signature" not in params and "timestamp" in params


def test_bad_construction_is_refused():
    from fastws.venues import BINANCE_SPOT_TESTNET as venue
    with pytest.raises(InvalidUsage, match="Ed25519"):
        ApiClient(venue, api_key=API_KEY, signer=HmacSigner(SECRET), logon=True)
    with pytest.raises(InvalidUsage, match="venue"):
        ApiClient("wss://example.com")  # type: ignore[arg-type]
    with pytest.raises(InvalidUsage, match="timeout"):
        ApiClient(venue, timeout=0)
    assert not ApiClient(venue, api_key=API_KEY, signer=HmacSigner(SECRET)).logon


async def test_server_shutdown_switches_connection_first():
    async with Exchange(["BTCUSDT"]) as ex:
        async with ApiClient(ex.venue) as api:
            assert await api.request("ping") == {}
            ex.faults.server_shutdown(close_after=5.0)      # the client must not wait for the cut
            await wait_until(lambda: api.connections == 2, what="the second connection")
            await wait_until(lambda: len(ex.api_connections) == 1, what="the old connection closed")
            for _ in range(5):
                assert await api.request("ping") == {}


@pytest.mark.parametrize("skew_ms", [-7000, 8000])
async def test_clock_skew_is_measured_and_signed_requests_pass(skew_ms):
    async with Exchange(["BTCUSDT"]) as ex:
        _, k, signer = trader(ex)
        ex.faults.step_clock(skew_ms)            # the exchange's clock is skew_ms off ours
        async with ApiClient(ex.venue, api_key=k.api_key, signer=signer) as api:
            assert abs(api.clock.offset_ms - skew_ms) < 200
            acct = await api.request("account.status", {}, signed=True)
            assert "balances" in acct
        # the same with the local clock taken as it is: rejected with -1021
        async with ApiClient(ex.venue, api_key=k.api_key, signer=signer, sync_clock=False) as api:
            with pytest.raises(ApiError) as e:
                await api.request("account.status", {}, signed=True)
            assert e.value.code == -1021


async def test_burst_of_200_orders_is_paced_and_never_draws_a_429():
    # an ORDERS window of 50 per second (faults.order_window), Binance's 10 s window wide open
    async with recorded(Exchange([old_grid()], order_limits=(10_000, 160_000))) as (ex, sent):
        ex.faults.order_window(50, seconds=1)
        _, k, signer = trader(ex)
        async with BaseOperations(ex.venue, key=k.api_key, signer=signer) as api:
            orders = OrderStream(api)
            t0 = time.monotonic()
            results = await asyncio.gather(*(
                orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90.00", response_type="ACK")
                for _ in range(200)))
            elapsed = time.monotonic() - t0
            assert len({r["orderId"] for r in results}) == 200
            assert 429 not in sent.statuses() and sent.methods().count("order.place") == 200
            assert sent.methods().count("exchangeInfo") == 1   # filters loaded once for the burst
            assert elapsed > 2.0                             # 200 orders at 50/s: paced
            assert api.remaining_orders is not None and api.remaining_orders <= 50
            assert api.remaining_weight is not None and 0 < api.remaining_weight <= 6000


async def _early_in_a_second(ex: Exchange) -> None:
    """Wait for the simulator's clock to start a second (a per-second window then holds the
    next few requests together)."""
    while ex.now_ms() % 1000 > 200:
        await asyncio.sleep(0.005)


async def test_429_retry_after_is_honoured_and_418_never_sent_into():
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        ex.faults.order_window(3, seconds=1)
        ex.faults.hide_order_limits()   # the client cannot see the limit coming: it draws one 429
        _, k, signer = trader(ex)
        # validate=False: no exchangeInfo, so the client assumes the default 50/10 s
        async with BaseOperations(ex.venue, key=k.api_key, signer=signer) as api:
            orders = OrderStream(api, validate=False)
            await _early_in_a_second(ex)
            for _ in range(3):
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            with pytest.raises(RateLimitError) as e:
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert e.value.retry_after is not None and e.value.should_retry
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")  # waits, then goes
            assert sent.statuses().count(429) == 1
            assert "exchangeInfo" not in sent.methods()
            # a ban (the next request is answered 418 and the connection dropped, SPEC §5.3):
            # nothing is sent while it lasts
            ex.weights.ban(60)
            with pytest.raises(IPBannedError):
                await api.ping()
            n, attempts = len(sent), ex.connection_attempts
            with pytest.raises(IPBannedError) as e:
                await api.ping()
            assert not e.value.should_retry
            assert len(sent) == n and ex.connection_attempts == attempts


async def test_pace_false_refuses_locally():
    # the answers leave the ORDERS windows out (faults.hide_order_limits): only the local
    # accounting knows them
    async with recorded(Exchange([old_grid()])) as (ex, sent):
        ex.faults.hide_order_limits()
        _, k, signer = trader(ex)
        limits = RateLimits("spot")
        limits.configure([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2}])
        async with BaseOperations(ex.venue, key=k.api_key, signer=signer, pace=False,
                                  limits=limits) as api:
            orders = OrderStream(api, validate=False)
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert all("ORDERS" not in str(a.get("rateLimits")) for a in sent.answers)
            n = sent.methods().count("order.place")
            with pytest.raises(RateLimitError, match="local rate-limit"):
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert sent.methods().count("order.place") == n


async def test_secrets_never_in_reprs_logs_or_errors(caplog):
    priv, pub = ed25519_pair()
    caplog.set_level(logging.DEBUG, logger="fastws")
    async with Exchange(["BTCUSDT"]) as ex:
        _, k, _signer = trader(ex)
        signer = HmacSigner(SECRET)                 # not the key's secret
        async with BaseOperations(ex.venue, key=k.api_key, signer=signer) as api:
            orders = OrderStream(api)
            px = str(int(Decimal(ex.book("BTCUSDT")[0][0][0]) * Decimal("0.9")))
            with recording(ex) as sent, pytest.raises(ApiError) as e:      # wrong secret: -1022
                await orders.place("BTCUSDT", "BUY", quantity="0.001", price=px)
            assert e.value.code == -1022
            sent_sig = sent.params("order.place")[-1]["signature"]
            texts = [repr(api), str(api), repr(api.client), repr(orders), repr(signer), str(e.value),
                     "".join(traceback.format_exception(e.value)), caplog.text,
                     repr(api.client.protocol), repr(Ed25519Signer(priv))]
            blob = "\n".join(texts)
            for secret in (SECRET, k.api_key, k.secret, sent_sig, priv.splitlines()[1]):
                assert secret not in blob
            assert f"{k.api_key[:4]}...{k.api_key[-4:]}" in repr(api.client)
    with pytest.raises(AuthError):
        raise AuthError(-2015, "x")


async def test_refused_logon_is_fatal_and_closes_the_connection():
    priv, _pub = ed25519_pair()                 # not the key the exchange knows
    async with Exchange(["BTCUSDT"]) as ex:
        _, k, _signer = trader(ex, "ED25519")
        api = ApiClient(ex.venue, api_key=k.api_key, signer=Ed25519Signer(priv))
        with pytest.raises(ApiError) as e:
            await api.connect()
        assert e.value.code == -1022
        await wait_until(lambda: not ex.api_connections, what="the connection closed")
        with pytest.raises(ApiError):
            await api.request("ping")           # no reconnect storm: the error stays
        assert ex.connection_attempts == 1
        await api.close()
