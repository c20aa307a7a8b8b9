"""User data delivery: spot WS API subscriptions and USDⓈ-M listenKeys (SPEC §8).

Spot: events go to every ``(connection, subscriptionId)`` subscribed for the account, as
``{"subscriptionId": N, "event": {...}}``. USDⓈ-M: ``userDataStream.start`` (WS API) or
``POST /fapi/v1/listenKey`` gives a key valid :attr:`UserData.listen_key_ttl_ms` (60 min by
default) after its creation or last keepalive; an expired key sends ``listenKeyExpired``.

USDⓈ-M user data connections (:class:`UserConn`), every form the 2026 change notice documents
(SPEC §4.1, §8.4):

- ``/private/ws?listenKey=<key>&events=<e1>/<e2>`` (the query form the docs now give; raw
  events; ``events`` optional), several keys as ``listenKey=<k1>/<k2>`` or repeated;
- ``/private/ws/<key>`` (the path form, still served);
- ``/private/stream?listenKey=<key>&events=...`` and ``/private/stream?streams=<key>`` (the
  combined envelope, ``{"stream": <key>, "data": ...}``);
- ``/private/ws`` then ``{"method": "SUBSCRIBE", "params": ["<key>"]}`` (and UNSUBSCRIBE).

With ``events`` only those event types (``e``) are delivered; ``listenKeyExpired`` always is
(the simulator's choice: the docs do not say).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional

import orjson

from fastws.sim.accounts import Account, random_key
from fastws.sim.conns import StreamConn
from fastws.sim.wsapi import ApiError

if TYPE_CHECKING:
    from fastws.sim.exchange import Exchange

__all__ = ["UserData", "UserConn"]

log = logging.getLogger("fastws.sim.userdata")


class UserData:
    """Routes account events to their subscribers."""

    def __init__(self, ex: "Exchange", listen_key_ttl_ms: int = 3_600_000) -> None:
        self.ex = ex
        self.spot: dict[int, list[tuple[Any, int]]] = {}       # account uid -> (conn, sid)
        self.keys: dict[str, list] = {}                        # listenKey -> [account, expiry]
        self.by_account: dict[int, str] = {}
        self.streams: dict[str, list[Any]] = {}                # listenKey -> stream conns
        self.listen_key_ttl_ms = listen_key_ttl_ms

    # -- spot --------------------------------------------------------------------------------
    def add_spot(self, acct: Account, conn: Any, sid: int) -> None:
        self.spot.setdefault(acct.uid, []).append((conn, sid))

    def remove_spot(self, acct: Account, conn: Any, sid: int) -> None:
        subs = self.spot.get(acct.uid)
        if subs and (conn, sid) in subs:
            subs.remove((conn, sid))

    def drop_conn(self, conn: Any) -> None:
        for subs in self.spot.values():
            subs[:] = [(c, s) for c, s in subs if c is not conn]
        for conns in self.streams.values():
            if conn in conns:
                conns.remove(conn)

    # -- USDⓈ-M listenKey --------------------------------------------------------------------
    def start_listen_key(self, acct: Account) -> str:
        """Create (or, if the account has one, extend and return) the account's listenKey."""
        self.expire_due()
        key = self.by_account.get(acct.uid)
        if key is None:
            key = random_key(64)
            self.by_account[acct.uid] = key
            self.keys[key] = [acct, 0]
        self._extend(key)
        return key

    def _extend(self, key: str) -> None:
        exp = self.ex.now_ms() + self.listen_key_ttl_ms
        self.keys[key][1] = exp
        self.ex._hub.call_at(exp, self._expire_and_flush)     # listenKeyExpired on time

    def _expire_and_flush(self) -> None:
        self.expire_due()

    def ping_listen_key(self, acct: Account, key: Optional[str] = None) -> str:
        self.expire_due()
        k = self.by_account.get(acct.uid)
        if k is None or (key is not None and key != k):
            raise ApiError(400, -1125, "This listenKey does not exist.")
        self._extend(k)
        return k

    def stop_listen_key(self, acct: Account, key: Optional[str] = None) -> None:
        self.expire_due()
        k = self.by_account.get(acct.uid)
        if k is None or (key is not None and key != k):
            raise ApiError(400, -1125, "This listenKey does not exist.")
        self._drop_key(k, expired=False)

    def _drop_key(self, k: str, expired: bool) -> None:
        acct, _ = self.keys.pop(k)
        self.by_account.pop(acct.uid, None)
        conns = self.streams.pop(k, [])
        if expired:
            ev = orjson.dumps({"e": "listenKeyExpired", "E": self.ex.now_ms(), "listenKey": k})
            for c in conns:
                c.send_user(k, ev)
                c.flush()

    def expire_due(self) -> None:
        now = self.ex.now_ms()
        for k, (_a, exp) in list(self.keys.items()):
            if exp <= now:
                log.info("= listenKey of %s expired", _a.name)
                self._drop_key(k, expired=True)

    def valid_key(self, key: str) -> bool:
        self.expire_due()
        return key in self.keys

    def attach_stream(self, key: str, conn: Any) -> None:
        conns = self.streams.setdefault(key, [])
        if conn not in conns:
            conns.append(conn)

    def detach_stream(self, key: str, conn: Any) -> None:
        conns = self.streams.get(key)
        if conns and conn in conns:
            conns.remove(conn)

    # -- delivery ----------------------------------------------------------------------------
    def publish(self, acct: Account, event: dict) -> None:
        if self.ex.market == "spot":
            subs = self.spot.get(acct.uid)
            if not subs:
                return
            raw = orjson.dumps(event)
            for conn, sid in subs:
                conn.send_event_raw(sid, raw)
        else:
            k = self.by_account.get(acct.uid)
            if k is None:
                return
            raw = orjson.dumps(event)
            for c in self.streams.get(k, ()):
                c.send_user(k, raw)


class UserConn(StreamConn):
    """A USDⓈ-M ``/private`` connection: user data of the listenKeys given in the URL or
    subscribed since (see the module docstring), besides nothing else (the route carries no
    market data)."""

    def __init__(self, ex: "Exchange", path: str, keys: list[str], combined: bool,
                 events: Optional[set[str]]) -> None:
        super().__init__(ex, path, [], combined, "private")
        self.keys: list[str] = list(dict.fromkeys(keys))
        self.events = events
        self.user_key = self.keys[0] if self.keys else None

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        for k in self.keys:
            self.ex.userdata.attach_stream(k, self)
        # the keys count as this connection's subscriptions (LIST_SUBSCRIPTIONS shows them)
        self.state.subscriptions.extend(k for k in self.keys if k not in self.state.subscriptions)

    def on_ws_disconnected(self, transport: Any) -> None:
        super().on_ws_disconnected(transport)
        self.ex.userdata.drop_conn(self)

    def deliverable(self, name: str) -> bool:
        return False                      # no market data on /private

    def on_text(self, data: bytes) -> None:
        before = list(self.state.subscriptions)
        super().on_text(data)             # SUBSCRIBE / UNSUBSCRIBE / LIST... answered as usual
        ud = self.ex.userdata
        after = self.state.subscriptions
        for name in after:
            if name not in before and name not in self.keys and ud.valid_key(name):
                self.keys.append(name)
                ud.attach_stream(name, self)
        for name in before:
            if name not in after and name in self.keys:
                self.keys.remove(name)
                ud.detach_stream(name, self)
        self.user_key = self.keys[0] if self.keys else None

    def send_user(self, key: str, raw: bytes) -> None:
        if self.events is not None:
            try:
                kind = orjson.loads(raw).get("e")
            except (orjson.JSONDecodeError, AttributeError):
                kind = None
            if kind != "listenKeyExpired" and kind not in self.events:
                return
        super().send_user(key, raw)
