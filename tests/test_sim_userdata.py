"""Simulator: user data stream, spot subscriptions and USDⓈ-M listenKeys (SPEC §8)."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import websockets

from fastws.sim import Exchange, ManualClock
from tests.sim_trading_support import Client, kinds, types_of
from tests.utils import UNIT

T0 = 1_700_000_000_000
SYM = "BTCUSDT"


def sample(samples_dir, name):
    return json.loads((samples_dir / name).read_text())


def _ex(**kw) -> Exchange:
    kw.setdefault("clock", ManualClock(T0))
    kw.setdefault("rest", False)
    return Exchange([SYM], **kw)


def check_shape(ev: dict, want: dict, optional: set = frozenset()) -> None:
    """Every key of the event is in the sample (or a documented conditional key) with the
    sample's JSON type; every sample key is present unless conditional."""
    wt = types_of(want)
    for k, t in types_of(ev).items():
        if k in wt and wt[k] != "NoneType" and t != "NoneType":
            assert t == wt[k], (k, t, wt[k])
        else:
            assert k in wt or k in optional, k
    assert set(wt) - set(ev) <= optional


ER_CONDITIONAL = {"v", "W", "eR", "A", "B", "u", "U", "Cs", "pl", "pL", "pY", "j", "J"}


async def test_spot_events_after_fills(samples_dir):
    async with _ex() as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "1"}, keys=["RSA"])
        c = await Client.connect(ex, acct.keys[0])
        r = await c.call("userDataStream.subscribe.signature")
        assert r["result"] == {"subscriptionId": 0}
        r = await c.call("userDataStream.subscribe.signature")
        assert r["status"] == 400 and r["error"] == {
            "code": -2035, "msg": "User Data Stream subscription already active."}
        r = await c.call("session.subscriptions", signed=False)
        assert r["result"] == [{"subscriptionId": 0}]
        bids, asks = ex.book(SYM, 3)
        qty = Decimal(asks[0][1]) + Decimal("0.001")
        r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "LIMIT",
                                         "timeInForce": "GTC", "price": asks[1][0],
                                         "quantity": str(qty)})
        res = r["result"]
        await c.settle()
        ers = kinds(c.events, "executionReport")
        assert [e["x"] for e in ers][0] == "NEW"
        trades = [e for e in ers if e["x"] == "TRADE"]
        assert [e["t"] for e in trades] == [f["tradeId"] for f in res["fills"]]
        assert trades[-1]["z"] == res["executedQty"] and trades[-1]["X"] == res["status"]
        assert all(e["subscriptionId"] == 0 for e in c.events)
        want = sample(samples_dir, "spot_uds_executionReport.json")["event"]
        for e in ers:
            check_shape(e, want, ER_CONDITIONAL)
            assert e["i"] == res["orderId"] and e["c"] == res["clientOrderId"]
        pos = kinds(c.events, "outboundAccountPosition")
        assert pos and types_of(pos[-1]) == types_of(
            sample(samples_dir, "spot_uds_outboundAccountPosition.json")["event"])
        last = {b["a"]: b for b in pos[-1]["B"]}
        assert Decimal(last["BTC"]["f"]) == acct.balance("BTC")[0]
        assert Decimal(last["USDT"]["l"]) == acct.balance("USDT")[1]
        c.events.clear()
        ex.deposit(acct, "BTC", "0.5")
        ev = await c.wait_event(lambda m: m["event"]["e"] == "balanceUpdate")
        check_shape(ev["event"], sample(samples_dir, "spot_uds_balanceUpdate.json")["event"])
        assert ev["event"]["d"] == "0.50000000"
        await c.settle()
        c.events.clear()
        ex.external_lock(acct, "BTC", "0.25")
        ev = await c.wait_event(lambda m: m["event"]["e"] == "externalLockUpdate")
        check_shape(ev["event"], sample(samples_dir,
                                        "spot_uds_externalLockUpdate.json")["event"])
        assert ev["event"]["d"] == "0.25000000" and acct.balance("BTC")[1] == Decimal("0.25")
        ev = await c.wait_event(lambda m: m["event"]["e"] == "outboundAccountPosition")
        assert ev["event"]["B"] == [{"a": "BTC", "f": f"{acct.balance('BTC')[0]:.8f}",
                                     "l": "0.25000000"}]
        ex.external_lock(acct, "BTC", "-0.25")
        r = await c.call("userDataStream.unsubscribe", {"subscriptionId": 0}, signed=False)
        assert r["result"] == {}
        ev = await c.wait_event(lambda m: m["event"]["e"] == "eventStreamTerminated")
        assert ev == {"subscriptionId": 0, "event": {"e": "eventStreamTerminated",
                                                     "E": ex.now_ms()}}
        r = await c.call("userDataStream.unsubscribe", {"subscriptionId": 0}, signed=False)
        assert r["error"]["code"] == -2036
        await c.close()


async def test_logon_subscription_and_logout(samples_dir):
    async with _ex() as ex:
        a1 = ex.add_account(balances={"USDT": "1000"}, keys=["ED25519"])
        a2 = ex.add_account(balances={"USDT": "2000"}, keys=["HMAC"])
        c = await Client.connect(ex, a1.keys[0])
        r = await c.call("userDataStream.subscribe", signed=False)
        assert r["status"] == 401 and r["error"]["code"] == -2015
        await c.call("session.logon")
        r = await c.call("userDataStream.subscribe", signed=False)
        assert r["result"] == {"subscriptionId": 0}
        r = await c.call("userDataStream.subscribe.signature", key=a2.keys[0])
        assert r["result"] == {"subscriptionId": 1}
        r = await c.call("session.status", signed=False)
        assert r["result"]["userDataStream"] is True
        ex.deposit(a2, "USDT", "5")
        ev = await c.wait_event(lambda m: m["event"]["e"] == "balanceUpdate")
        assert ev["subscriptionId"] == 1
        ex.deposit(a1, "USDT", "7")
        ev = await c.wait_event(lambda m: m["event"]["e"] == "balanceUpdate")
        assert ev["subscriptionId"] == 0 and ev["event"]["d"] == "7.00000000"
        # logout ends only the logon subscription
        r = await c.call("session.logout", signed=False)
        ev = await c.wait_event(lambda m: m["event"]["e"] == "eventStreamTerminated")
        assert ev["subscriptionId"] == 0
        r = await c.call("session.subscriptions", signed=False)
        assert r["result"] == [{"subscriptionId": 1}]
        await c.close()


async def test_list_status_for_oco(samples_dir):
    async with _ex() as ex:
        acct = ex.add_account(balances={"USDT": "100000", "BTC": "1"}, keys=["HMAC"])
        c = await Client.connect(ex, acct.keys[0])
        await c.call("userDataStream.subscribe.signature")
        m = ex.market_of(SYM)
        lp = Decimal(m.px(m.last_price))
        r = await c.call("orderList.place.oco", {
            "symbol": SYM, "side": "BUY", "quantity": "0.01", "aboveType": "STOP_LOSS",
            "aboveStopPrice": str(lp + 300), "belowType": "LIMIT_MAKER",
            "belowPrice": str(lp - 300)})
        assert r["status"] == 200, r
        await c.settle()
        ls = kinds(c.events, "listStatus")
        want = sample(samples_dir, "spot_uds_listStatus.json")["event"]
        assert ls and types_of(ls[0]) == types_of(want)
        assert ls[0]["l"] == "EXEC_STARTED" and len(ls[0]["O"]) == 2
        # the price runs up through the stop: the stop leg trades, the limit leg expires
        oid_stop = r["result"]["orders"][0]["orderId"]
        o = ex.engine.orders[oid_stop]
        for _ in range(600):
            if not o.open:
                break
            m.last_price = max(m.last_price, o.stop)       # push the last price to the stop
            await ex.advance(50)
        assert o.status == "FILLED"
        await c.settle()
        ls = kinds(c.events, "listStatus")
        assert ls[-1]["l"] == "ALL_DONE" and ls[-1]["L"] == "ALL_DONE"
        other = ex.engine.orders[r["result"]["orders"][1]["orderId"]]
        assert other.status == "EXPIRED"
        assert acct.balance("USDT")[1] == 0
        spent = sum(Decimal(e["Y"]) for e in kinds(c.events, "executionReport")
                    if e["x"] == "TRADE")
        assert spent > 0 and acct.balance("USDT")[0] == Decimal("100000") - spent
        assert acct.balance("BTC")[0] == Decimal("1.01")
        await c.close()


async def test_usdm_listen_key_flow(samples_dir):
    async with _ex(market="usdm", listen_key_ttl=5.0, rest=True) as ex:
        acct = ex.add_account(balances={"USDT": "10000"}, keys=["HMAC"])
        key = acct.keys[0]
        c = await Client.connect(ex, key)
        r = await c.call("userDataStream.start", {"apiKey": key.api_key}, signed=False)
        lk = r["result"]["listenKey"]
        assert set(r["result"]) == set(sample(samples_dir,
                                              "usdm_wsapi_userDataStream_start_response.json")
                                       ["result"])
        r = await c.call("userDataStream.start", {"apiKey": key.api_key}, signed=False)
        assert r["result"]["listenKey"] == lk                     # same key, extended
        async with websockets.connect(ex.venue.stream_url + f"/private/ws/{lk}") as st:
            await asyncio.sleep(0.05 * UNIT)
            r = await c.call("order.place", {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                             "quantity": "0.010"})
            assert r["status"] == 200
            got = []
            while not got or got[-1]["e"] != "ACCOUNT_UPDATE":
                got.append(json.loads(await asyncio.wait_for(st.recv(), 2 * UNIT)))
            otu = [g for g in got if g["e"] == "ORDER_TRADE_UPDATE"]
            au = [g for g in got if g["e"] == "ACCOUNT_UPDATE"]
            want = sample(samples_dir, "usdm_uds_ORDER_TRADE_UPDATE.json")
            trailing_only = {"AP", "cr"}             # activation price, callback rate
            assert otu and set(otu[-1]["o"]) == set(want["o"]) - trailing_only
            assert types_of(otu[-1]["o"]).items() <= types_of(want["o"]).items()
            assert otu[-1]["o"]["X"] == "FILLED"
            want = sample(samples_dir, "usdm_uds_ACCOUNT_UPDATE.json")
            assert au and set(au[0]["a"]) == set(want["a"])
            assert set(au[0]["a"]["P"][0]) == set(want["a"]["P"][0])
            assert au[0]["a"]["P"][0]["pa"] == "0.01"
            # ping keeps it alive; without pings it expires and the stream says so
            await ex.advance(4000)
            r = await c.call("userDataStream.ping", {"apiKey": key.api_key}, signed=False)
            assert r["result"]["listenKey"] == lk
            await ex.advance(4000)
            r = await c.call("time", signed=False)
            assert ex.userdata.valid_key(lk)
            await ex.advance(1500)
            assert not ex.userdata.valid_key(lk)
            msg = json.loads(await asyncio.wait_for(st.recv(), 2 * UNIT))
            assert msg["e"] == "listenKeyExpired" and msg["listenKey"] == lk
        r = await c.call("userDataStream.ping", {"apiKey": key.api_key}, signed=False)
        assert r["error"] == {"code": -1125, "msg": "This listenKey does not exist."}
        # REST, with the X-MBX-APIKEY header
        import aiohttp
        async with aiohttp.ClientSession(headers={"X-MBX-APIKEY": key.api_key}) as s:
            url = ex.venue.rest_url + "/fapi/v1/listenKey"
            async with s.post(url) as resp:
                lk2 = (await resp.json())["listenKey"]
            async with s.put(url) as resp:
                assert (await resp.json()) == {"listenKey": lk2}
            async with s.delete(url) as resp:
                assert (await resp.json()) == {}
            async with s.put(url) as resp:
                assert resp.status == 400 and (await resp.json())["code"] == -1125
        r = await c.call("userDataStream.stop", {"apiKey": key.api_key}, signed=False)
        assert r["error"]["code"] == -1125
        await c.close()
