"""``fastws sim``: run the simulator as a standalone server until Ctrl-C.

Examples
--------
``fastws sim`` (spot, BTCUSDT and ETHUSDT, ws://127.0.0.1:8765, REST on 8766)
``fastws sim --market usdm --symbols BTCUSDT,SOLUSDT --tls``
``fastws sim --replay recorded/hftbacktest_spot_btcusdt_20240808_part1.gz --replay-speed 0``
``fastws sim --drop-depth-every 10 --disconnect-every 60 --disconnect-how reset``
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import sys
from typing import Any, Optional

from fastws.sim.accounts import Account, ApiKey
from fastws.sim.exchange import Exchange
from fastws.sim.tls import TLSFiles
from fastws.venues import SPOT_LIMITS, USDM_LIMITS

__all__ = ["main", "build_parser"]

log = logging.getLogger("fastws.sim.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastws sim",
        description="Local Binance-compatible exchange simulator (market streams, WS API, "
                    "REST snapshots) with fault injection. Runs until Ctrl-C.")
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    g.add_argument("--port", type=int, default=8765, help="WebSocket port (default 8765; 0 = a free port)")
    g.add_argument("--rest-port", type=int, default=None,
                   help="REST port (default: --port + 1; 0 = free port)")
    g.add_argument("--market", choices=["spot", "usdm"], default=None,
                   help="protocol dialect (default spot, or the capture's when replaying)")
    g.add_argument("--symbols", default="BTCUSDT,ETHUSDT",
                   help="comma-separated symbols (default BTCUSDT,ETHUSDT)")
    g.add_argument("--seed", type=int, default=1, help="seed of the synthetic market")
    g.add_argument("--rate", type=float, default=50.0,
                   help="engine steps per second per symbol (default 50)")
    g.add_argument("--tls", action="store_true",
                   help="serve wss:// and https:// with a generated self-signed certificate")
    g.add_argument("--cert", help="PEM certificate chain to serve instead (with --key)")
    g.add_argument("--key", help="PEM private key for --cert")
    g.add_argument("--ca", help="CA file to advertise with --cert (default: --cert)")
    g.add_argument("--replay", nargs="+", metavar="FILE",
                   help="replay recorded capture file(s) of one session instead of "
                        "the synthetic market")
    g.add_argument("--replay-speed", type=float, default=1.0,
                   help="1 = recorded pace, k = k times faster, 0 = as fast as possible")
    g.add_argument("--replay-loop", type=int, nargs="?", const=0, default=1, metavar="N",
                   help="play the capture N times in all (no N: forever)")
    g.add_argument("-v", "--verbose", action="count", default=0)

    lim = p.add_argument_group("connection rules (defaults: the venue's, SPEC §2.2/§4.2)")
    lim.add_argument("--ping-interval", type=float, help="seconds between server pings")
    lim.add_argument("--pong-timeout", type=float, help="seconds to wait for a pong")
    lim.add_argument("--max-messages", type=int, help="incoming messages per second")
    lim.add_argument("--max-streams", type=int, help="streams per connection")
    lim.add_argument("--max-attempts", type=int, help="connection attempts per 5 minutes")
    lim.add_argument("--lifetime", type=float, help="connection lifetime in seconds")

    f = p.add_argument_group("faults (every N seconds, on every symbol / connection)")
    f.add_argument("--drop-depth-every", type=float, metavar="S",
                   help="drop one depth event per symbol")
    f.add_argument("--duplicate-depth-every", type=float, metavar="S")
    f.add_argument("--reorder-depth-every", type=float, metavar="S")
    f.add_argument("--gap-every", type=float, metavar="S", help="open a gap in update ids")
    f.add_argument("--stall-every", type=float, metavar="S", help="stall every connection")
    f.add_argument("--stall-for", type=float, default=5.0, metavar="S",
                   help="length of each stall (default 5)")
    f.add_argument("--disconnect-every", type=float, metavar="S",
                   help="close every connection")
    f.add_argument("--disconnect-how", choices=["clean", "reset", "midframe"], default="clean")
    f.add_argument("--shutdown-every", type=float, metavar="S",
                   help="send serverShutdown then close every connection")
    f.add_argument("--bad-frame-every", type=float, metavar="S",
                   help="send a malformed / truncated / binary frame (in turn)")
    f.add_argument("--stale-snapshots", type=int, default=0, metavar="N",
                   help="answer the first N snapshot requests per symbol with a stale book")
    f.add_argument("--refuse-for", type=float, default=0.0, metavar="S",
                   help="refuse connections (HTTP 503) for S seconds after start")
    f.add_argument("--slow", type=float, default=0.0, metavar="S",
                   help="delay every data write of every connection by S seconds")
    f.add_argument("--api-delay", type=float, default=0.0, metavar="S",
                   help="answer every WS API request S seconds late")
    f.add_argument("--outcome-unknown-every", type=float, metavar="S",
                   help="every S seconds, execute the next trading request but answer "
                        "503/-1007 (outcome unknown)")
    f.add_argument("--drop-after-accept-every", type=float, metavar="S",
                   help="every S seconds, execute the next trading request and drop its "
                        "connection before answering")

    a = p.add_argument_group("trading accounts (one account holding every key given)")
    a.add_argument("--hmac-key", action="append", default=[], metavar="APIKEY:SECRET_FILE",
                   help="an HMAC key; the secret is read from SECRET_FILE (never a flag, so "
                        "it stays out of process lists)")
    a.add_argument("--ed25519-key", action="append", default=[], metavar="APIKEY:PUBLIC_PEM",
                   help="an Ed25519 key with its public key PEM file")
    a.add_argument("--rsa-key", action="append", default=[], metavar="APIKEY:PUBLIC_PEM",
                   help="an RSA key with its public key PEM file")
    a.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance of the account (repeat per asset)")
    a.add_argument("--commission", default="0", metavar="RATE",
                   help="maker and taker commission rate (e.g. 0.001)")
    a.add_argument("--listen-key-ttl", type=float, default=3600.0, metavar="S",
                   help="USD-M listenKey lifetime without keepalive (default 3600)")
    return p


def _account(args: argparse.Namespace) -> Optional[Account]:
    """The account described by --*-key and --balance (None if no key was given)."""
    keys = []
    for kind, items in (("HMAC", args.hmac_key), ("ED25519", args.ed25519_key),
                        ("RSA", args.rsa_key)):
        for item in items:
            api_key, sep, path = item.partition(":")
            if not sep or not api_key or not path:
                raise ValueError(f"--{kind.lower()}-key wants APIKEY:FILE")
            with open(path, encoding="utf-8") as fh:
                material = fh.read().strip()
            if kind == "HMAC":
                keys.append(ApiKey("HMAC", api_key, secret=material))
            else:
                keys.append(ApiKey(kind, api_key, public_key=material))
    balances = {}
    for item in args.balance:
        asset, sep, amount = item.partition("=")
        if not sep:
            raise ValueError("--balance wants ASSET=AMOUNT")
        balances[asset.upper()] = amount
    if not keys:
        if balances:
            raise ValueError("--balance needs a key (--hmac-key, --ed25519-key or --rsa-key)")
        return None
    return Account("cli", balances=balances, keys=keys, maker_commission=args.commission,
                   taker_commission=args.commission)


def _limits(args: argparse.Namespace, market: str):  # type: ignore[no-untyped-def]
    base = SPOT_LIMITS if market == "spot" else USDM_LIMITS
    changes = {k: v for k, v in {
        "ping_interval": args.ping_interval, "pong_timeout": args.pong_timeout,
        "max_incoming_per_second": args.max_messages,
        "max_streams_per_connection": args.max_streams,
        "max_connection_attempts": args.max_attempts,
        "connection_lifetime": args.lifetime}.items() if v is not None}
    return base.replace(**changes) if changes else None


async def _every(seconds: float, action, name: str) -> None:  # type: ignore[no-untyped-def]
    while True:
        await asyncio.sleep(seconds)
        try:
            action()
            log.info("= fault: %s", name)
        except Exception as exc:                         # a fault must never stop the server
            log.warning("fault %s failed: %s", name, exc)


def _fault_tasks(ex: Exchange, args: argparse.Namespace) -> list[asyncio.Task[None]]:
    f = ex.faults
    syms = ex.symbols
    kinds = ["malformed", "truncated", "binary"]
    jobs = []

    def each_symbol(fn):  # type: ignore[no-untyped-def]
        return lambda: [fn(s) for s in syms]

    if args.drop_depth_every:
        jobs.append((args.drop_depth_every, each_symbol(f.drop_next_depth), "drop depth"))
    if args.duplicate_depth_every:
        jobs.append((args.duplicate_depth_every, each_symbol(f.duplicate_next_depth),
                     "duplicate depth"))
    if args.reorder_depth_every:
        jobs.append((args.reorder_depth_every, each_symbol(f.reorder_next_depth),
                     "reorder depth"))
    if args.gap_every:
        jobs.append((args.gap_every, each_symbol(lambda s: f.gap(s, random.randint(10, 1000))),
                     "update id gap"))
    if args.stall_every:
        jobs.append((args.stall_every, lambda: f.stall(args.stall_for), "stall"))
    if args.disconnect_every:
        jobs.append((args.disconnect_every, lambda: f.close(how=args.disconnect_how),
                     f"close ({args.disconnect_how})"))
    if args.shutdown_every:
        jobs.append((args.shutdown_every, lambda: f.server_shutdown(), "serverShutdown"))
    if args.bad_frame_every:
        def bad_frame() -> None:
            kind = kinds.pop(0)
            kinds.append(kind)                  # malformed, truncated, binary, in turn
            f.send_bad_frame(kind)
        jobs.append((args.bad_frame_every, bad_frame, "bad frame"))
    if args.slow:
        jobs.append((0.5, lambda: f.slow(args.slow), "slow connections"))
    if args.outcome_unknown_every:
        jobs.append((args.outcome_unknown_every, lambda: f.outcome_unknown(),
                     "next trading answer: -1007 outcome unknown"))
    if args.drop_after_accept_every:
        jobs.append((args.drop_after_accept_every, lambda: f.drop_after_accept(),
                     "next trading request: connection dropped after it"))
    return [asyncio.create_task(_every(s, a, n)) for s, a, n in jobs]


async def _run(args: argparse.Namespace) -> int:
    symbols = [s.strip().upper() for s in args.symbols.replace(" ", ",").split(",") if s.strip()]
    tls_files: Optional[TLSFiles] = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            print("fastws sim: --cert and --key go together", file=sys.stderr)
            return 2
        tls_files = TLSFiles(args.ca or args.cert, args.cert, args.key)
    market = args.market or "spot"
    rest_port = args.rest_port if args.rest_port is not None else (
        args.port + 1 if args.port else 0)
    ex = Exchange(symbols, market=args.market, host=args.host, port=args.port,
                  rest_port=rest_port, seed=args.seed, rate=args.rate,
                  limits=_limits(args, market), tls=args.tls, tls_files=tls_files,
                  replay=args.replay, replay_speed=args.replay_speed,
                  listen_key_ttl=args.listen_key_ttl,
                  replay_loop=True if args.replay_loop == 0 else args.replay_loop)
    acct = _account(args)
    if acct is not None:
        ex.add_account(acct)
    if args.api_delay:
        ex.faults.delay_responses(args.api_delay)
    if args.stale_snapshots:
        for s in ex.symbols:
            ex.faults.stale_snapshot(s, args.stale_snapshots)
    await ex.start()
    if args.refuse_for:
        ex.faults.refuse_connections(args.refuse_for)
    v = ex.venue
    print(f"fastws simulator ({ex.market}) {', '.join(ex.symbols)}")
    if v.split_routes:
        print(f"  streams   {v.stream_url}/public|market|private/ws/<stream>  and  /stream?streams=")
    else:
        print(f"  streams   {v.stream_url}/ws/<stream>  and  {v.stream_url}/stream?streams=")
    print(f"  ws-api    {v.ws_api_url}")
    print(f"  rest      {v.rest_url}{'/api/v3' if ex.market == 'spot' else '/fapi/v1'}/depth")
    print(f"  firehose  {v.stream_url}/firehose/{ex.symbols[0].lower()}@bookTicker")
    if ex.ca_file:
        print(f"  ca-file   {ex.ca_file}")
    if acct is not None:
        print(f"  account   {acct!r} balances "
              f"{', '.join(f'{a}={v}' for a, v in sorted(acct.free.items())) or 'none'}")
    print("Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):      # pragma: no cover (Windows)
            pass
    tasks = _fault_tasks(ex, args)
    try:
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        print("\nstopping: serverShutdown sent to every client", flush=True)
        await ex.close()
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of ``fastws sim``."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    runner: Any
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:                                   # pragma: no cover
        runner = asyncio.run
    try:
        return runner(_run(args))
    except OSError as exc:
        print(f"fastws sim: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"fastws sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
