"""Simulator: API keys of each type, signature and timing checks, session logon (SPEC §5.5, §7)."""
from __future__ import annotations

import json

import pytest

from fastws.sim import Exchange, ManualClock
from fastws.sim.accounts import Account, ApiKey, parse_request, signing_payload
from tests.sim_trading_support import Client, sign, types_of

T0 = 1_700_000_000_000


def _ex(**kw) -> Exchange:
    return Exchange(["BTCUSDT"], clock=ManualClock(T0), rest=False, **kw)


def test_sim_reproduces_every_verified_hmac_vector(samples_dir):
    vec = json.loads((samples_dir / "signing_test_vectors.json").read_text())["hmac_sha256"]
    key = ApiKey("HMAC", vec["apiKey"], secret=vec["secretKey"])
    n = 0
    for v in vec["wsapi_vectors_verified"]:
        # rebuild the params from the payload; numbers stay numbers as a client sends them
        params = {}
        for item in v["payload"].split("&"):
            k, _, val = item.partition("=")
            params[k] = val
        raw = parse_request(json.dumps({"params": params}))["params"]
        assert signing_payload(raw).decode() == v["payload"]
        assert key.verify(v["payload"].encode(), v["signature"])
        assert key.verify(v["payload"].encode(), v["signature"].upper())   # hex, any case
        assert not key.verify(v["payload"].encode() + b"x", v["signature"])
        n += 1
    assert n >= 6


def test_sim_verifies_the_published_ed25519_vectors(samples_dir):
    vec = json.loads((samples_dir / "signing_test_vectors.json").read_text())["ed25519"]
    text = json.dumps(vec)
    pub = "MCowBQYDK2VwAyEAGUIKv9dSpWXBViXp2m6vAIb8QMFJYBgyFEQsFJlqgA0="
    assert pub in text
    key = ApiKey("ED25519", "4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO",
                 public_key=pub)
    checked = 0
    for item in _walk(vec):
        if isinstance(item, dict) and "payload" in item and "signature" in item and \
                item.get("status") in ("verified", "derived") and "apiKey=" in item["payload"]:
            assert key.verify(item["payload"].encode(), item["signature"])
            checked += 1
    assert checked >= 1


def _walk(x):
    if isinstance(x, dict):
        yield x
        for v in x.values():
            yield from _walk(v)
    elif isinstance(x, list):
        for v in x:
            yield from _walk(v)


def test_payload_values_as_sent():
    raw = parse_request('{"params":{"b":true,"a":["A","B"],"price":52000.00,"q":"0.1",'
                        '"ts":1645423376532,"signature":"x"}}')["params"]
    assert signing_payload(raw) == b'a=["A","B"]&b=true&price=52000.00&q=0.1&ts=1645423376532'


def test_keys_are_masked_and_checked():
    k = ApiKey.generate("HMAC")
    assert k.secret not in repr(k) and k.api_key not in repr(k)
    with pytest.raises(ValueError):
        ApiKey("HMAC", "abc")
    with pytest.raises(ValueError):
        ApiKey("RSA", "abc", public_key=ApiKey.generate("ED25519").public_key)
    a = Account(balances={"usdt": "5"})
    assert a.balance("USDT") == (5, 0)


@pytest.mark.parametrize("kt", ["HMAC", "RSA", "ED25519"])
async def test_each_key_type_signs(kt):
    async with _ex() as ex:
        acct = ex.add_account(balances={"USDT": "100"}, keys=[kt])
        c = await Client.connect(ex, acct.keys[0])
        r = await c.call("account.status")
        assert r["status"] == 200 and r["result"]["uid"] == acct.uid
        await c.close()


async def test_auth_errors():
    async with _ex() as ex:
        acct = ex.add_account(balances={"USDT": "100"}, keys=["HMAC", "ED25519"])
        h, e = acct.keys
        ro = ex.add_key(acct, ApiKey.generate("HMAC", permissions=["USER_DATA"]))
        c = await Client.connect(ex, h)
        bad = sign(h, {"timestamp": ex.now_ms()})
        bad["signature"] = "0" * 64
        r = await c.call("account.status", bad, signed=False)
        assert r["status"] == 400 and r["error"] == {
            "code": -1022, "msg": "Signature for this request is not valid."}
        wrong = sign(e, {"timestamp": ex.now_ms()})
        wrong["signature"] = wrong["signature"][::-1]
        r = await c.call("account.status", wrong, signed=False)
        assert r["error"]["code"] == -1022
        r = await c.call("account.status", {"timestamp": ex.now_ms(), "apiKey": "x" * 64,
                                            "signature": "00"}, signed=False)
        assert r["error"]["code"] == -2015
        r = await c.call("account.status", {"timestamp": ex.now_ms(), "apiKey": "bad key!",
                                            "signature": "00"}, signed=False)
        assert r["error"]["code"] == -2014
        r = await c.call("account.status", {"timestamp": ex.now_ms()}, signed=False)
        assert r["error"]["code"] == -1102 and "'apiKey'" in r["error"]["msg"]
        r = await c.call("account.status", {"timestamp": ex.now_ms(), "apiKey": h.api_key},
                         signed=False)
        assert r["error"]["code"] == -1102 and "'signature'" in r["error"]["msg"]
        r = await c.call("account.status", sign(h, {}), signed=False)
        assert r["error"]["code"] == -1102 and "'timestamp'" in r["error"]["msg"]
        # timing (SPEC §7.4)
        r = await c.call("account.status", ts=ex.now_ms() - 5001)
        assert r["error"] == {"code": -1021, "msg": "Timestamp for this request is outside of "
                                                    "the recvWindow."}
        r = await c.call("account.status", {"recvWindow": 10000}, ts=ex.now_ms() - 5001)
        assert r["status"] == 200
        r = await c.call("account.status", {"recvWindow": 6000.5}, ts=ex.now_ms() - 6000)
        assert r["status"] == 200
        r = await c.call("account.status", ts=ex.now_ms() + 1000)
        assert r["error"]["code"] == -1021 and "ahead" in r["error"]["msg"]
        r = await c.call("account.status", ts=(ex.now_ms() + 999) * 1000)     # microseconds
        assert r["status"] == 200
        r = await c.call("account.status", {"recvWindow": 60001})
        assert r["error"]["code"] == -1131
        # permissions: a read-only key cannot trade
        r = await c.call("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                         "quantity": "0.001"}, key=ro)
        assert r["status"] == 401 and r["error"]["code"] == -2015
        # a revoked key
        ex.revoke_key(h.api_key)
        r = await c.call("account.status")
        assert r["error"]["code"] == -2015
        for m in (r, bad):
            assert h.secret not in json.dumps(m)
        await c.close()


async def test_session_logon_status_logout(samples_dir):
    def shape(name):
        return types_of(json.loads((samples_dir / name).read_text())["result"])
    async with _ex() as ex:
        acct = ex.add_account(balances={"USDT": "100"}, keys=["ED25519", "HMAC", "RSA"])
        e, h, rsa = acct.keys
        c = await Client.connect(ex)
        r = await c.call("session.status", signed=False)
        assert r["result"]["apiKey"] is None and r["result"]["authorizedSince"] is None
        assert set(r["result"]) == set(shape("wsapi_session_status_response.json"))
        r = await c.call("account.status", {"timestamp": ex.now_ms()}, key=None)
        assert r["error"]["code"] == -1102                         # not logged on
        for k in (h, rsa):
            r = await c.call("session.logon", key=k)
            assert r["status"] == 400 and r["error"]["code"] in (-4056, -4057)
        r = await c.call("session.logon", key=e)
        assert r["status"] == 200
        assert types_of(r["result"]) == shape("wsapi_session_logon_response.json") | {
            "returnRateLimits": "bool"}
        assert r["result"]["apiKey"] == e.api_key and r["result"]["userDataStream"] is False
        # logged on: timestamp only
        r = await c.call("account.status", key=None)
        assert r["status"] == 200
        r = await c.call("account.status", {}, key=None, signed=False)
        assert r["error"]["code"] == -1102 and "timestamp" in r["error"]["msg"]
        # a request may still act as another key with its own signature
        r = await c.call("account.status", key=h)
        assert r["status"] == 200
        r = await c.call("session.logout", signed=False)
        assert r["result"]["apiKey"] is None
        assert set(r["result"]) == set(shape("wsapi_session_logout_response.json"))
        r = await c.call("account.status", key=None)
        assert r["error"]["code"] == -1102
        await c.close()


async def test_usdm_logon_has_no_user_data_flag(samples_dir):
    async with Exchange(["BTCUSDT"], market="usdm", clock=ManualClock(T0), rest=False) as ex:
        acct = ex.add_account(balances={"USDT": "1000"}, keys=["ED25519"])
        c = await Client.connect(ex, acct.keys[0])
        r = await c.call("session.logon")
        want = json.loads((samples_dir / "usdm_wsapi_session_logon_response.json").read_text())
        assert set(r["result"]) == set(want["result"])
        await c.close()


def test_cli_account_from_key_files(tmp_path):
    from fastws.sim.cli import _account, build_parser
    ed = ApiKey.generate("ED25519")
    (tmp_path / "ed.pem").write_text(ed.public_key)
    (tmp_path / "secret").write_text("s3cr3t\n")
    args = build_parser().parse_args([
        "--hmac-key", "A" * 64 + ":" + str(tmp_path / "secret"),
        "--ed25519-key", ed.api_key + ":" + str(tmp_path / "ed.pem"),
        "--balance", "usdt=100", "--balance", "BTC=1", "--api-delay", "0.1",
        "--outcome-unknown-every", "5"])
    acct = _account(args)
    assert [k.key_type for k in acct.keys] == ["HMAC", "ED25519"]
    assert acct.keys[0].secret == "s3cr3t" and acct.balance("USDT")[0] == 100
    assert "s3cr3t" not in repr(acct)
    with pytest.raises(ValueError):
        _account(build_parser().parse_args(["--balance", "BTC=1"]))
    assert _account(build_parser().parse_args([])) is None
