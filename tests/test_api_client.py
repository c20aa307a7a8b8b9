"""ApiClient: requests by id over picows, timeouts, events, reconnect + logon, clock skew, rate
limits (pacing, retryAfter, 418), secrets. Against the fake WS API of tests/api_fake.py."""
from __future__ import annotations

import asyncio
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
from tests.api_fake import FakeExchange
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
    async with FakeExchange() as ex:
        async with ApiClient(ex.venue) as api:
            results = await asyncio.gather(*(api.request("time") for _ in range(100)),
                                           *(api.request("ping") for _ in range(100)))
            assert all(isinstance(r["serverTime"], int) for r in results[:100])
            assert results[100:] == [{}] * 100
            assert api.protocol.in_flight == ()
            assert api.requests >= 200


async def test_timeout_by_timer_then_late_answer_ignored():
    async with FakeExchange() as ex:
        async with ApiClient(ex.venue, timeout=0.2 * UNIT) as api:
            ex.delay_ms = int(400 * UNIT)
            with pytest.raises(asyncio.TimeoutError, match="ping"):
                await api.request("ping")
            assert api.protocol.in_flight == ()
            ex.delay_ms = 0
            await asyncio.sleep(0.5 * UNIT)         # the late answer arrives and is ignored
            assert await api.request("ping") == {}


async def test_one_timer_serves_short_and_long_timeouts():
    async with FakeExchange() as ex:
        async with ApiClient(ex.venue, timeout=3 * UNIT) as api:
            ex.delay_ms = int(600 * UNIT)
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
            assert api.protocol.in_flight == () and not api._deadlines.entries


async def test_error_bodies_become_api_errors():
    async with FakeExchange() as ex:
        async with BaseOperations(ex.venue) as api:
            with pytest.raises(ApiError) as e:
                await api.request("exchangeInfo", {"symbol": "NOPE"})
            assert e.value.code == -1121 and e.value.status == 400


async def test_reconnect_fails_in_flight_then_recovers_and_logs_on_again():
    priv, pub = ed25519_pair()
    async with FakeExchange(api_key=API_KEY, hmac_secret=None, ed25519_public_pem=pub) as ex:
        async with ApiClient(ex.venue, api_key=API_KEY, signer=Ed25519Signer(priv), timeout=2 * UNIT) as api:
            assert api.logon and api.logged_on
            st = await api.request("session.status")
            assert st["apiKey"] == API_KEY
            ex.delay_ms = int(300 * UNIT)
            pending = asyncio.ensure_future(api.request("ping"))
            await asyncio.sleep(0.05 * UNIT)
            await ex.drop_all()
            with pytest.raises(ConnectionClosedError):
                await pending
            ex.delay_ms = 0
            await wait_until(lambda: api.connections == 2 and api.logged_on, what="reconnect")
            st = await api.request("session.status")
            assert st["apiKey"] == API_KEY           # logon was done again by itself
            # a signed request on the logged-on session carries no signature (SPEC §5.5)
            await api.request("account.status", {}, signed=True)
            method, params = ex.params[-1]
            assert method == "account.status" and "signature" not in params and "timestamp" in params


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
    async with FakeExchange() as ex:
        async with ApiClient(ex.venue) as api:
            assert await api.request("ping") == {}
            await ex.server_shutdown()
            await wait_until(lambda: api.connections == 2, what="the second connection")
            await wait_until(lambda: len(ex.conns) == 1, what="the old connection closed")
            for _ in range(5):
                assert await api.request("ping") == {}


@pytest.mark.parametrize("skew_ms", [-7000, 8000])
async def test_clock_skew_is_measured_and_signed_requests_pass(skew_ms):
    async with FakeExchange(api_key=API_KEY, hmac_secret=SECRET, skew_ms=skew_ms) as ex:
        async with ApiClient(ex.venue, api_key=API_KEY, signer=HmacSigner(SECRET)) as api:
            assert abs(api.clock.offset_ms - skew_ms) < 200
            acct = await api.request("account.status", {}, signed=True)
            assert "balances" in acct
        # the same with the local clock taken as it is: rejected with -1021
        async with ApiClient(ex.venue, api_key=API_KEY, signer=HmacSigner(SECRET), sync_clock=False) as api:
            with pytest.raises(ApiError) as e:
                await api.request("account.status", {}, signed=True)
            assert e.value.code == -1021


async def test_burst_of_200_orders_is_paced_and_never_draws_a_429():
    async with FakeExchange(api_key=API_KEY, hmac_secret=SECRET, orders_per_second=50) as ex:
        async with BaseOperations(ex.venue, key=API_KEY, signer=HmacSigner(SECRET)) as api:
            orders = OrderStream(api)
            t0 = time.monotonic()
            results = await asyncio.gather(*(
                orders.place("BTCUSDT", "BUY", "LIMIT", quantity="0.1", price="90.00", response_type="ACK")
                for _ in range(200)))
            elapsed = time.monotonic() - t0
            assert len({r["orderId"] for r in results}) == 200
            assert ex.order_429s == 0
            assert ex.requests.count("exchangeInfo") == 1   # filters loaded once for the burst
            assert elapsed > 2.0                             # 200 orders at 50/s: paced
            assert api.remaining_orders is not None and api.remaining_orders <= 50
            assert api.remaining_weight is not None and 0 < api.remaining_weight <= 6000


async def test_429_retry_after_is_honoured_and_418_never_sent_into():
    async with FakeExchange(api_key=API_KEY, hmac_secret=SECRET, orders_per_second=3) as ex:
        ex.report_order_limits = False   # the client cannot see the limit coming: it draws one 429
        # validate=False: no exchangeInfo, so the client assumes the default 50/10 s
        async with BaseOperations(ex.venue, key=API_KEY, signer=HmacSigner(SECRET)) as api:
            orders = OrderStream(api, validate=False)
            for _ in range(3):
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            with pytest.raises(RateLimitError) as e:
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert e.value.retry_after is not None and e.value.should_retry
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")  # waits, then goes
            assert ex.order_429s == 1
            # a ban: nothing is sent while it lasts
            ex.banned_until = ex.now() + 60_000
            with pytest.raises(IPBannedError):
                await api.ping()
            sent = len(ex.requests)
            with pytest.raises(IPBannedError) as e:
                await api.ping()
            assert not e.value.should_retry
            assert len(ex.requests) == sent


async def test_pace_false_refuses_locally():
    async with FakeExchange(api_key=API_KEY, hmac_secret=SECRET) as ex:
        ex.report_order_limits = False
        limits = RateLimits("spot")
        limits.configure([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 2}])
        async with BaseOperations(ex.venue, key=API_KEY, signer=HmacSigner(SECRET), pace=False,
                                  limits=limits) as api:
            orders = OrderStream(api, validate=False)
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            n = ex.requests.count("order.place")
            with pytest.raises(RateLimitError, match="local rate-limit"):
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert ex.requests.count("order.place") == n


async def test_secrets_never_in_reprs_logs_or_errors(caplog):
    priv, pub = ed25519_pair()
    caplog.set_level(logging.DEBUG, logger="fastws")
    async with FakeExchange(api_key=API_KEY, hmac_secret="another-secret-entirely-0123456789abcdef") as ex:
        signer = HmacSigner(SECRET)
        async with BaseOperations(ex.venue, key=API_KEY, signer=signer) as api:
            orders = OrderStream(api)
            with pytest.raises(ApiError) as e:      # wrong secret: -1022
                await orders.place("BTCUSDT", "BUY", quantity="0.1", price="90.00")
            assert e.value.code == -1022
            sent_sig = ex.params[-1][1]["signature"]
            texts = [repr(api), str(api), repr(api.client), repr(orders), repr(signer), str(e.value),
                     "".join(traceback.format_exception(e.value)), caplog.text,
                     repr(api.client.protocol), repr(Ed25519Signer(priv))]
            blob = "\n".join(texts)
            for secret in (SECRET, API_KEY, sent_sig, priv.splitlines()[1]):
                assert secret not in blob
            assert "vmPU...Eh8A" in repr(api.client)
    with pytest.raises(AuthError):
        raise AuthError(-2015, "x")


async def test_refused_logon_is_fatal_and_closes_the_connection():
    priv, pub = ed25519_pair()
    _, other_pub = ed25519_pair()
    async with FakeExchange(api_key=API_KEY, hmac_secret=None, ed25519_public_pem=other_pub) as ex:
        api = ApiClient(ex.venue, api_key=API_KEY, signer=Ed25519Signer(priv))
        with pytest.raises(ApiError) as e:
            await api.connect()
        assert e.value.code == -1022
        await wait_until(lambda: not ex.conns, what="the connection closed")
        with pytest.raises(ApiError):
            await api.request("ping")           # no reconnect storm: the error stays
        assert ex.connects == 1
        await api.close()
