"""Signing (SPEC §7): every vector of samples/signing_test_vectors.json, the wsapi_sign_* sample
requests, payload rules, REST encoding, recvWindow, the clock-offset estimator, and secrets that
never leak."""
from __future__ import annotations

import base64
import json
import logging
import pickle
import random
import traceback
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from fastws.exceptions import InvalidUsage
from fastws.api.signing import (
    DEFAULT_RECV_WINDOW,
    MAX_RECV_WINDOW,
    ClockOffset,
    Ed25519Signer,
    HmacSigner,
    RsaSigner,
    Signer,
    check_recv_window,
    format_value,
    mask_key,
    rest_payload,
    sign_params,
    sign_rest_query,
    ws_payload,
)

SETTINGS = settings(deadline=None, max_examples=50)


@pytest.fixture(scope="module")
def vectors(samples_dir):
    return json.loads((samples_dir / "signing_test_vectors.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def rsa_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def load_sample(samples_dir, name):
    return json.loads((samples_dir / name).read_text("utf-8"))


def params_from_payload(payload: str) -> dict[str, object]:
    """Invert a WS API payload into params, integers as ints (they are JSON numbers when sent)."""
    params: dict[str, object] = {}
    for part in payload.split("&"):
        name, _, value = part.partition("=")
        if value.isdigit() and not (len(value) > 1 and value.startswith("0")) and value.isascii():
            params[name] = int(value)
        else:
            params[name] = value
    return params


def shuffled(params: dict[str, object], seed: int = 1) -> dict[str, object]:
    items = list(params.items())
    random.Random(seed).shuffle(items)
    return dict(items)


# -- every vector in signing_test_vectors.json -----------------------------------------------


def test_hmac_wsapi_vectors_all_reproduced(vectors):
    h = vectors["hmac_sha256"]
    signer = HmacSigner(h["secretKey"])
    ws = h["wsapi_vectors_verified"] + [h["historical_wsapi_vector_verified"]]
    assert len(ws) == 18  # 17 at HEAD + the pre-2025-12-17 one (SPEC §7.5)
    for vec in ws:
        assert vec["status"] == "verified"
        assert signer.sign(vec["payload"].encode()) == vec["signature"], vec["source"]
        # the payload is rebuilt from unordered params, and sign_params gives the same signature
        params = shuffled(params_from_payload(vec["payload"]))
        assert ws_payload(params) == vec["payload"], vec["source"]
        api_key = params.pop("apiKey")
        assert api_key == h["apiKey"]
        signed = sign_params(params, signer, h["apiKey"])
        assert signed["signature"] == vec["signature"], vec["source"]


def test_hmac_rest_vectors_reproduced(vectors):
    h = vectors["hmac_sha256"]
    signer = HmacSigner(h["secretKey"])
    assert len(h["rest_vectors_verified"]) == 2
    for vec in h["rest_vectors_verified"]:
        assert signer.sign(vec["payload"].encode()) == vec["signature"]
    # R1 and R2 rebuilt from params in the order sent (not sorted), R2 percent-encoded
    for symbol, vec in zip(("LTCBTC", "１２３４５６"), h["rest_vectors_verified"]):
        query = [
            ("symbol", symbol), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
            ("quantity", 1), ("price", Decimal("0.1")), ("recvWindow", 5000),
            ("timestamp", 1499827319559),
        ]
        assert rest_payload(query) == vec["payload"]
        assert sign_rest_query(query, signer) == f"{vec['payload']}&signature={vec['signature']}"


def test_ed25519_fix_vector(vectors):
    e = vectors["ed25519"]
    signer = Ed25519Signer(e["private_key_pem"])
    fix = e["fix_logon_vector_verified"]
    payload = "\x01".join(fix["payload_fields_joined_by_SOH_0x01"]).encode()
    assert signer.sign(payload) == fix["signature"]
    assert signer.public_key_pem() == e["public_key_pem"]


def test_ed25519_derived_vectors(vectors):
    e = vectors["ed25519"]
    signer = Ed25519Signer(e["private_key_pem"])
    derived = e["wsapi_vectors_derived_with_published_key"]
    assert len(derived) == 4
    for vec in derived:
        assert signer.sign(vec["payload"].encode()) == vec["signature"], vec["description"]
        params = shuffled(params_from_payload(vec["payload"]), seed=3)
        api_key = params.pop("apiKey")
        assert sign_params(params, signer, api_key)["signature"] == vec["signature"]


def test_unverifiable_doc_vectors_payloads_and_shapes(vectors):
    """The private keys were never published: check what can be checked, the payload text our
    params produce and the signature's shape (64 bytes Ed25519, 256 bytes RSA-2048)."""
    e = vectors["ed25519"]["wsapi_doc_vectors_unverifiable"]
    r = vectors["rsa_pkcs1v15_sha256"]
    checked = 0
    for vec, size in [(v, 64) for v in e] + [(v, 256) for v in r["wsapi_doc_vectors_unverifiable"]]:
        assert vec["status"].startswith("unverifiable")
        if "payload" not in vec:  # the malformed REST "Ed25519" entry: nothing to check
            assert "do not use" in vec["status"]
            continue
        assert ws_payload(shuffled(params_from_payload(vec["payload"]))) == vec["payload"]
        assert len(base64.b64decode(vec["signature"], validate=True)) == size
        checked += 1
    for vec in r["rest_doc_vectors_unverifiable"]:
        query = [tuple(p.split("=", 1)) for p in vec["payload"].split("&")]
        # values already percent-encoded in the doc: decode, then our encoder must give it back
        from urllib.parse import unquote

        assert rest_payload([(k, unquote(v)) for k, v in query]) == vec["payload"]
        assert len(base64.b64decode(vec["signature"], validate=True)) == 256
        checked += 1
    assert checked == 7


# -- the wsapi_sign_* sample requests --------------------------------------------------------


def _unsigned(samples_dir, name):
    req = load_sample(samples_dir, name)
    params = dict(req["params"])
    assert params.pop("signature") == "------ FILL ME ------"
    api_key = params.pop("apiKey")
    return params, api_key


def test_hmac_sample_requests(samples_dir, vectors):
    signer = HmacSigner(vectors["hmac_sha256"]["secretKey"])
    params, api_key = _unsigned(samples_dir, "wsapi_sign_hmac_order_place_ascii_unsigned.json")
    signed = sign_params(params, signer, api_key)
    expected = load_sample(samples_dir, "wsapi_sign_hmac_order_place_ascii_signed.json")["params"]
    assert signed == expected  # same params, same values and JSON types, same signature
    # unicode: the signed sample is the authority (the unsigned one has a doc inconsistency)
    signed_uni = load_sample(samples_dir, "wsapi_sign_hmac_order_place_unicode_signed.json")["params"]
    params = {k: v for k, v in signed_uni.items() if k not in ("signature", "apiKey")}
    assert sign_params(params, signer, signed_uni["apiKey"]) == signed_uni
    unsigned_uni, _ = _unsigned(samples_dir, "wsapi_sign_hmac_order_place_unicode_unsigned.json")
    assert unsigned_uni["quantity"] == "0.01000000" != signed_uni["quantity"]  # documented quirk


def test_ed25519_sample_requests_match_derived_vectors(samples_dir, vectors):
    e = vectors["ed25519"]
    signer = Ed25519Signer(e["private_key_pem"])
    derived = {
        "ASCII": e["wsapi_vectors_derived_with_published_key"][0],
        "non-ASCII": e["wsapi_vectors_derived_with_published_key"][1],
    }
    assert "ASCII" in derived["ASCII"]["description"]
    assert "non-ASCII" in derived["non-ASCII"]["description"]
    params, api_key = _unsigned(samples_dir, "wsapi_sign_ed25519_order_place_ascii_unsigned.json")
    signed = sign_params(params, signer, api_key)
    assert signed["signature"] == derived["ASCII"]["signature"]
    params, api_key = _unsigned(samples_dir, "wsapi_sign_ed25519_order_place_unicode_unsigned.json")
    params["quantity"] = "1.00000000"  # the doc payload's quantity (the sample JSON says 0.01)
    signed = sign_params(params, signer, api_key)
    assert signed["signature"] == derived["non-ASCII"]["signature"]
    # the doc's own signed JSON (unknown key): our payload equals the doc's payload string
    doc = e["wsapi_doc_vectors_unverifiable"][0]
    signed_doc = load_sample(samples_dir, "wsapi_sign_ed25519_order_place_ascii_signed.json")["params"]
    assert "newOrderRespType" in signed_doc  # the documented inconsistency
    params = {k: v for k, v in signed_doc.items() if k not in ("signature", "newOrderRespType")}
    assert ws_payload(params) == doc["payload"]


def test_rsa_sample_requests(samples_dir, vectors, rsa_pem):
    signer = RsaSigner(rsa_pem)
    public = serialization.load_pem_private_key(rsa_pem.encode(), None).public_key()
    docs = vectors["rsa_pkcs1v15_sha256"]["wsapi_doc_vectors_unverifiable"]
    for name, doc in zip(
        ("wsapi_sign_rsa_order_place_ascii_unsigned.json", "wsapi_sign_rsa_order_place_unicode_unsigned.json"),
        docs,
    ):
        params, api_key = _unsigned(samples_dir, name)
        if "１２３４５６" in str(params):
            params["quantity"] = "1.00000000"  # doc payload vs sample JSON (documented quirk)
        signed = sign_params(params, signer, api_key)
        payload = ws_payload(signed)
        assert payload == doc["payload"]
        sig = base64.b64decode(signed["signature"], validate=True)
        assert len(signed["signature"]) == len(doc["signature"]) == 344
        public.verify(sig, payload.encode(), padding.PKCS1v15(), hashes.SHA256())
        assert sign_params(params, signer, api_key) == signed  # PKCS#1 v1.5 is deterministic


# -- payload rules ---------------------------------------------------------------------------


def test_payload_value_formatting_and_choices():
    assert format_value("p", "0.10000000") == ("0.10000000", "0.10000000")
    assert format_value("p", Decimal("52000.00")) == ("52000.00", "52000.00")
    assert format_value("p", Decimal("1E-7")) == ("0.0000001", "0.0000001")
    assert format_value("t", 1645423376532) == (1645423376532, "1645423376532")
    np = pytest.importorskip("numpy")
    assert format_value("t", np.int64(7)) == (7, "7")
    assert format_value("b", True) == (True, "true")
    assert format_value("b", False) == (False, "false")
    assert format_value("s", ["BTCUSDT", "ETHUSDT"]) == (["BTCUSDT", "ETHUSDT"], '["BTCUSDT","ETHUSDT"]')
    for bad in (0.1, float("nan"), Decimal("NaN"), object(), {"a": 1}, [1.5], [True]):
        with pytest.raises(InvalidUsage):
            format_value("x", bad)


def test_ws_payload_drops_signature_and_none_and_sorts():
    assert ws_payload({"b": 1, "signature": "zzz", "a": "x", "c": None}) == "a=x&b=1"


def test_sign_params_contract():
    signer = HmacSigner("s3cr3t")
    src = {"symbol": "BTCUSDT", "price": Decimal("1.50"), "newClientOrderId": None}
    out = sign_params(src, signer, "KEY", timestamp=1700000000000, recv_window=Decimal("6000.346"))
    assert src == {"symbol": "BTCUSDT", "price": Decimal("1.50"), "newClientOrderId": None}  # untouched
    assert list(out)[-2:] == ["apiKey", "signature"]
    assert out["price"] == "1.50" and out["recvWindow"] == "6000.346"
    assert "newClientOrderId" not in out
    payload = "apiKey=KEY&price=1.50&recvWindow=6000.346&symbol=BTCUSDT&timestamp=1700000000000"
    assert out["signature"] == signer.sign(payload.encode())
    with pytest.raises(InvalidUsage, match="timestamp"):
        sign_params({"symbol": "X"}, signer, "KEY")
    with pytest.raises(InvalidUsage):
        sign_params({"timestamp": 1}, signer, "")
    with pytest.raises(InvalidUsage):
        sign_params({"timestamp": 1, "recvWindow": 70000}, signer, "KEY")
    # an old signature is replaced, not signed over
    again = sign_params({**out, "signature": "old"}, signer, None)
    assert again["signature"] == out["signature"]


def test_signers_satisfy_protocol(rsa_pem, vectors):
    for s in (HmacSigner("x"), RsaSigner(rsa_pem), Ed25519Signer(vectors["ed25519"]["private_key_pem"])):
        assert isinstance(s, Signer)
    assert HmacSigner("x").key_type == "HMAC_SHA256"
    assert RsaSigner(rsa_pem).key_type == "RSA"


@SETTINGS
@given(
    params=st.dictionaries(
        st.text(st.characters(categories=["Ll", "Lu"]), min_size=1, max_size=8),
        st.one_of(st.text(max_size=10), st.integers(0, 2**62), st.booleans(),
                  st.decimals(allow_nan=False, allow_infinity=False, places=4)),
        max_size=8,
    ),
    seed=st.integers(0, 1000),
)
def test_payload_is_order_independent_and_matches_reference(params, seed):
    params.pop("signature", None)
    ref = "&".join(
        f"{k}={format_value(k, params[k])[1]}" for k in sorted(params)
    )
    assert ws_payload(shuffled(params, seed)) == ws_payload(params) == ref


# -- keys, masking, secrets ------------------------------------------------------------------


def test_mask_key():
    key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
    assert mask_key(key) == "vmPU...Eh8A"
    assert mask_key("short") == "****"
    assert mask_key(None) == "<none>"


def test_secrets_never_in_repr_str_or_logs(vectors, rsa_pem, caplog):
    secret = vectors["hmac_sha256"]["secretKey"]
    ed_pem = vectors["ed25519"]["private_key_pem"]
    ed_body = ed_pem.splitlines()[1]
    rsa_body = rsa_pem.splitlines()[1]
    signers = [HmacSigner(secret), Ed25519Signer(ed_pem), RsaSigner(rsa_pem)]
    log = logging.getLogger("fastws.test")
    with caplog.at_level(logging.DEBUG, logger="fastws.test"):
        for s in signers:
            log.debug("signer %r %s", s, s)
    text = "".join(repr(s) + str(s) for s in signers) + caplog.text
    for s in (secret, ed_body, rsa_body, secret[:12], ed_body[10:30]):
        assert s not in text
    assert "****" in text
    for s in signers:
        with pytest.raises(TypeError):
            pickle.dumps(s)


# Built at run time so that no source line shown in a traceback contains it.
_MARK = "TOPSECRET" + "KEYMATERIAL"


@pytest.mark.parametrize("case", ["ed25519-garbage-pem", "rsa-garbage-pem", "not-pem", "password-for-plain-key"])
def test_bad_key_errors_do_not_leak(case, vectors):
    garbage_pem = f"-----BEGIN PRIVATE KEY-----\n{_MARK}xyz0123456789==\n-----END PRIVATE KEY-----\n"
    published = vectors["ed25519"]["private_key_pem"]
    cls, material, password = {
        "ed25519-garbage-pem": (Ed25519Signer, garbage_pem, None),
        "rsa-garbage-pem": (RsaSigner, garbage_pem, None),
        "not-pem": (Ed25519Signer, f"{_MARK} not even PEM", None),
        "password-for-plain-key": (Ed25519Signer, published, f"{_MARK}-password"),
    }[case]
    with pytest.raises(InvalidUsage) as info:
        cls(material, password)
    exc = info.value
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    assert _MARK not in rendered
    assert _MARK not in str(exc) + repr(exc)
    assert published.splitlines()[1] not in rendered
    # the library's own exception is not chained (it could quote the input)
    assert exc.__cause__ is None and exc.__context__ is None


def test_encrypted_keys_and_wrong_types(vectors, rsa_pem):
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"hunter2-password"),
    )
    signer = Ed25519Signer(pem, password="hunter2-password")
    assert base64.b64decode(signer.sign(b"x")) == key.sign(b"x")
    with pytest.raises(InvalidUsage, match="needs a password") as info:
        Ed25519Signer(pem)
    with pytest.raises(InvalidUsage) as info:
        Ed25519Signer(pem, password="wrong-hunter3")
    assert "hunter" not in str(info.value)
    with pytest.raises(InvalidUsage, match="expected an Ed25519"):
        Ed25519Signer(rsa_pem)
    with pytest.raises(InvalidUsage, match="expected an RSA"):
        RsaSigner(vectors["ed25519"]["private_key_pem"])
    with pytest.raises(InvalidUsage):
        HmacSigner("")
    with pytest.raises(InvalidUsage):
        HmacSigner(12345)  # type: ignore[arg-type]


# -- timing ----------------------------------------------------------------------------------


def test_recv_window_rules():
    assert DEFAULT_RECV_WINDOW == 5000 and MAX_RECV_WINDOW == 60000
    assert check_recv_window(5000) == 5000
    assert check_recv_window("6000.346") == Decimal("6000.346")
    assert check_recv_window(Decimal("6000.3460")) == Decimal("6000.346")
    assert check_recv_window(Decimal("100.000")) == 100
    for bad in (0, -1, 60001, "6000.3461", "abc", 5000.0, True, None, Decimal("Infinity")):
        with pytest.raises(InvalidUsage):
            check_recv_window(bad)  # type: ignore[arg-type]


def test_clock_offset_prefers_shortest_round_trip():
    clock = ClockOffset()
    assert clock.timestamp(1000.0) == 1000 and clock.offset_ms == 0.0
    clock.add_sample(sent=1000, server=3100, received=1200)  # offset 2000 +- 100
    clock.add_sample(sent=2000, server=4015, received=2010)  # offset 2010 +- 5 (best)
    clock.add_sample(sent=3000, server=4900, received=3400)  # offset 1700 +- 200
    assert clock.offset_ms == pytest.approx(2010.0)
    assert clock.uncertainty_ms == pytest.approx(5.0)
    assert clock.server_time(10_000) == 12_010
    assert clock.timestamp(10_000) == 12_005  # the lower bound: never ahead of the server
    assert clock.newest_ms == 3400 and ClockOffset().newest_ms is None
    with pytest.raises(InvalidUsage):
        clock.add_sample(sent=10, server=0, received=5)


def test_clock_offset_keeps_recent_samples_only():
    clock = ClockOffset(keep=2)
    clock.add_sample(0, 1000, 2)  # very good, but will age out
    clock.add_sample(10, 60, 30)
    clock.add_sample(40, 90, 60)
    assert clock.samples == 2
    assert clock.offset_ms == pytest.approx(40.0)


@SETTINGS
@given(
    true_offset=st.integers(-10**7, 10**7),
    trips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 500), st.floats(0, 1)),
                   min_size=1, max_size=10),
)
def test_clock_timestamp_is_never_ahead_of_server(true_offset, trips):
    """Whatever the network delays, the signed timestamp is never ahead of the true server
    clock, and lags it by at most one best round trip."""
    clock = ClockOffset()
    for start, rtt, split in trips:
        # the server reads its clock somewhere inside the round trip
        server = start + rtt * split + true_offset
        clock.add_sample(start, server, start + rtt)
    now = 2 * 10**6
    ts = clock.timestamp(now)
    true_server = now + true_offset
    assert ts <= true_server + 1
    assert true_server - ts <= 2 * clock.uncertainty_ms + 2
