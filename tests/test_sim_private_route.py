"""The simulator's USDⓈ-M ``/private`` route: every form of the 2026 change notice (SPEC §4.1,
§8.4) delivers the account's user data, with a ``websockets`` client independent of fastws."""
from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from fastws.sim import Exchange, ManualClock
from tests.sim_trading_support import Client
from tests.utils import UNIT

SYM = "BTCUSDT"


def _ex(**kw) -> Exchange:
    return Exchange([SYM], clock=ManualClock(1_700_000_000_000), **kw)


@pytest.mark.parametrize("form", ["query", "query-events", "path", "stream-query", "stream-streams",
                                  "subscribe"])
async def test_usdm_private_route_serves_every_documented_form(form):
    """The 2026 change notice's forms of the /private route (SPEC §4.1, §8.4): each one
    delivers the account's events (before, SUBSCRIBE was acknowledged, then silent, and the
    query form got nothing)."""
    async with _ex(market="usdm") as ex:
        acct = ex.add_account(balances={"USDT": "10000"}, keys=["HMAC"])
        key = acct.keys[0]
        c = await Client.connect(ex, key)
        lk = (await c.call("userDataStream.start", {"apiKey": key.api_key}, signed=False))["result"]["listenKey"]
        base = ex.venue.stream_url + "/private"
        url = {"query": f"{base}/ws?listenKey={lk}",
               "query-events": f"{base}/ws?listenKey={lk}&events=ORDER_TRADE_UPDATE",
               "path": f"{base}/ws/{lk}",
               "stream-query": f"{base}/stream?listenKey={lk}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE",
               "stream-streams": f"{base}/stream?streams={lk}",
               "subscribe": f"{base}/ws"}[form]
        async with websockets.connect(url) as st:
            if form == "subscribe":
                await st.send(json.dumps({"method": "SUBSCRIBE", "params": [lk], "id": 7}))
                assert json.loads(await asyncio.wait_for(st.recv(), 2 * UNIT)) == {"result": None, "id": 7}
            await asyncio.sleep(0.05 * UNIT)
            r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                             "quantity": "0.010"})
            assert r["status"] == 200
            got = []
            want_last = "ORDER_TRADE_UPDATE" if form == "query-events" else "ACCOUNT_UPDATE"
            while not got or got[-1]["e"] != want_last:
                msg = json.loads(await asyncio.wait_for(st.recv(), 2 * UNIT))
                if form.startswith("stream"):
                    assert msg["stream"] == lk
                    msg = msg["data"]
                got.append(msg)
            kinds_seen = {g["e"] for g in got}
            assert "ORDER_TRADE_UPDATE" in kinds_seen
            if form == "query-events":
                assert kinds_seen == {"ORDER_TRADE_UPDATE"}   # the events filter holds
                # and ACCOUNT_UPDATE never comes
                ping = await c.call("time", signed=False)
                assert ping["status"] == 200
        await c.close()


async def test_usdm_private_route_refuses_an_unknown_listen_key():
    async with _ex(market="usdm") as ex:
        with pytest.raises(Exception) as e:
            async with websockets.connect(ex.venue.stream_url + "/private/ws?listenKey=" + "x" * 64):
                pass
        assert "400" in str(e.value)
