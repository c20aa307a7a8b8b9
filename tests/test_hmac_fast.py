"""fastws.api._hmac: HMAC-SHA256 in C (SHA-NI and portable) against hashlib's."""
from __future__ import annotations

import hashlib
import hmac
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from fastws.api._hmac import ACCELERATED, HmacSha256
from fastws.api.signing import HmacSigner

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@settings(deadline=None, max_examples=300)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=600))
def test_hmac_sha256_matches_hashlib(key, msg):
    ref = hmac.new(key, msg, hashlib.sha256).hexdigest()
    for portable in (False, True):
        h = HmacSha256(key, portable=portable)
        assert h.hexdigest(msg) == ref
        assert h.digest(msg).hex() == ref
        assert h.accelerated == (ACCELERATED and not portable)


def test_hmac_sha256_block_edges_and_secrecy():
    key = b"k" * 64
    for n in range(0, 200):                       # every padding case around block edges
        msg = bytes(range(256))[:n]
        ref = hmac.new(key, msg, hashlib.sha256).hexdigest()
        assert HmacSha256(key).hexdigest(msg) == ref
        assert HmacSha256(key, portable=True).hexdigest(msg) == ref
    h = HmacSha256(SECRET.encode())
    assert SECRET not in repr(h) and "****" in repr(h)
    with pytest.raises(TypeError):
        pickle.dumps(h)
    assert HmacSha256(memoryview(b"abc")).hexdigest(bytearray(b"x")) == hmac.new(b"abc", b"x", "sha256").hexdigest()


def test_hmac_signer_uses_the_c_hmac_when_accelerated():
    signer = HmacSigner(SECRET)
    assert (signer._fast is not None) == ACCELERATED
    payload = b"symbol=BTCUSDT&timestamp=1"
    assert signer.sign(payload) == hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()
