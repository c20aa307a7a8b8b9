"""Client side for the simulator's trading tests: a ``websockets`` WS API client that signs
with its own code (hmac / cryptography), independent of both fastws.signing and the sim."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
from typing import Any, Optional

import websockets

from tests.utils import UNIT


def payload(params: dict) -> bytes:
    """SPEC §7.2: sorted, name=value, '&'; bools true/false, arrays compact JSON."""
    def text(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, dict)):
            return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        return str(v)
    return "&".join(f"{k}={text(params[k])}" for k in sorted(params)
                    if k != "signature").encode()


def sign(key: Any, params: dict) -> dict:
    """``params`` plus apiKey and signature, signed with the test's copy of the key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    p = dict(params, apiKey=key.api_key)
    if key.key_type == "HMAC":
        p["signature"] = hmac.new(key.secret.encode(), payload(p), hashlib.sha256).hexdigest()
        return p
    priv = serialization.load_pem_private_key(key.private_pem.encode(), None)
    if key.key_type == "RSA":
        sig = priv.sign(payload(p), padding.PKCS1v15(), hashes.SHA256())  # type: ignore
    else:
        sig = priv.sign(payload(p))  # type: ignore
    p["signature"] = base64.b64encode(sig).decode()
    return p


class Client:
    """One WS API connection: ``await c.call(method, params, key=...)``; events collected."""

    def __init__(self, ws: Any, ex: Any, key: Any = None) -> None:
        self.ws, self.ex, self.key = ws, ex, key
        self.events: list[dict] = []
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, ex: Any, key: Any = None) -> "Client":
        ws = await websockets.connect(ex.venue.ws_api_url, max_size=None)
        return cls(ws, ex, key)

    async def close(self) -> None:
        await self.ws.close()

    async def send(self, method: str, params: Optional[dict] = None, key: Any = "default",
                   signed: bool = True, ts: Optional[int] = None) -> int:
        p = dict(params or {})
        if key == "default":
            key = self.key
        if signed:
            p.setdefault("timestamp", self.ex.now_ms() if ts is None else ts)
            if key is not None:
                p = sign(key, p)
        rid = next(self._ids)
        await self.ws.send(json.dumps({"id": rid, "method": method, "params": p}))
        return rid

    async def recv(self, timeout: float = 3.0) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout * UNIT))

    async def answer(self, rid: int, timeout: float = 3.0) -> dict:
        while True:
            msg = await self.recv(timeout)
            if "status" in msg and msg.get("id") == rid:
                return msg
            self.events.append(msg)

    async def call(self, method: str, params: Optional[dict] = None, key: Any = "default",
                   signed: bool = True, ts: Optional[int] = None) -> dict:
        return await self.answer(await self.send(method, params, key, signed, ts))

    async def wait_event(self, pred: Any, timeout: float = 3.0) -> dict:
        for i, ev in enumerate(self.events):
            if pred(ev):
                return self.events.pop(i)
        while True:
            msg = await self.recv(timeout)
            if "event" in msg and pred(msg):
                return msg
            self.events.append(msg)

    async def settle(self) -> None:
        """Receive everything sent before a ping's answer."""
        await self.call("ping", signed=False)


def kinds(events: list, kind: str) -> list[dict]:
    return [e["event"] for e in events if e.get("event", {}).get("e") == kind]


def types_of(d: dict) -> dict:
    return {k: type(v).__name__ for k, v in d.items()}
