"""``fastws sim``: run the simulator as a standalone server until Ctrl-C.

Examples
--------
``fastws sim`` (spot, BTCUSDT and ETHUSDT, ws://127.0.0.1:8765, REST on 8766)
``fastws sim --market usdm --symbols BTCUSDT,SOLUSDT --tls``
``fastws sim --replay recorded/hftbacktest_spot_btcusdt_20240808_part1.gz --replay-speed 0``
``fastws sim --drop-depth-every 10 --disconnect-every 60 --disconnect-how reset``
``fastws sim --paper`` (a funded paper account with an HMAC key, written to a private file)
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import random
import re
import signal
import sys
import tempfile
import zlib
from typing import Any, Optional

from fastws.cliargs import ArgumentParser
from fastws.cliargs import non_negative as _not_negative
from fastws.cliargs import non_negative_int as _not_negative_int
from fastws.cliargs import port as _port
from fastws.cliargs import positive as _positive
from fastws.cliargs import positive_int as _positive_int
from fastws.sim.accounts import Account, ApiKey
from fastws.sim.exchange import Exchange
from fastws.sim.tls import TLSFiles
from fastws.venues import SPOT_LIMITS, USDM_LIMITS

__all__ = ["main", "build_parser"]

log = logging.getLogger("fastws.sim.cli")


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="fastws sim",
        description="Local Binance-compatible exchange simulator (market streams, WS API, "
                    "REST snapshots) with fault injection. Runs until Ctrl-C.")
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    g.add_argument("--port", type=_port, default=8765, help="WebSocket port (default 8765; 0 = a free port)")
    g.add_argument("--rest-port", type=_port, default=None,
                   help="REST port (default: --port + 1; 0 = free port)")
    g.add_argument("--market", choices=["spot", "usdm"], default=None,
                   help="protocol dialect (default spot, or the capture's when replaying)")
    g.add_argument("--symbols", default="BTCUSDT,ETHUSDT",
                   help="comma-separated symbols (default BTCUSDT,ETHUSDT)")
    g.add_argument("--seed", type=int, default=1, help="seed of the synthetic market")
    g.add_argument("--rate", type=_positive, default=50.0,
                   help="engine steps per second per symbol (default 50)")
    g.add_argument("--tls", action="store_true",
                   help="serve wss:// and https:// with a generated self-signed certificate")
    g.add_argument("--cert", help="PEM certificate chain to serve instead (with --key)")
    g.add_argument("--key", help="PEM private key for --cert")
    g.add_argument("--ca", help="CA file to advertise with --cert (default: --cert)")
    g.add_argument("--replay", nargs="+", metavar="FILE",
                   help="replay recorded capture file(s) of one session instead of "
                        "the synthetic market")
    g.add_argument("--replay-speed", type=_not_negative, default=1.0,
                   help="1 = recorded pace, k = k times faster, 0 = as fast as possible")
    g.add_argument("--replay-loop", type=_not_negative_int, nargs="?", const=0, default=1, metavar="N",
                   help="play the capture N times in all (no N: forever)")
    g.add_argument("--flat", action="store_true",
                   help="a market that stays where it starts (default: drift and volatility "
                        "regimes, volume bursts and a day of 24 h statistics behind the start)")
    g.add_argument("--seconds", type=_positive, default=None,
                   help="stop after this many seconds (default: run until Ctrl-C)")
    g.add_argument("-v", "--verbose", action="count", default=0)

    lim = p.add_argument_group(
        "connection rules (defaults: Binance's own: a ping every 20 s (spot) or 3 min (USD-M), "
        "5 (spot) or 10 (USD-M) incoming messages per second, 1024 streams per connection, "
        "300 connection attempts per 5 minutes, connections cut after 24 h)")
    lim.add_argument("--ping-interval", type=_positive, help="seconds between server pings")
    lim.add_argument("--pong-timeout", type=_positive, help="seconds to wait for a pong")
    lim.add_argument("--max-messages", type=_positive_int, help="incoming messages per second")
    lim.add_argument("--max-streams", type=_positive_int, help="streams per connection")
    lim.add_argument("--max-attempts", type=_positive_int, help="connection attempts per 5 minutes")
    lim.add_argument("--lifetime", type=_positive, help="connection lifetime in seconds")

    f = p.add_argument_group("faults (every N seconds, on every symbol / connection)")
    f.add_argument("--drop-depth-every", type=_positive, metavar="S",
                   help="drop one depth event per symbol")
    f.add_argument("--duplicate-depth-every", type=_positive, metavar="S")
    f.add_argument("--reorder-depth-every", type=_positive, metavar="S")
    f.add_argument("--gap-every", type=_positive, metavar="S", help="open a gap in update ids")
    f.add_argument("--stall-every", type=_positive, metavar="S", help="stall every connection")
    f.add_argument("--stall-for", type=_positive, default=5.0, metavar="S",
                   help="length of each stall (default 5)")
    f.add_argument("--disconnect-every", type=_positive, metavar="S",
                   help="close every connection")
    f.add_argument("--disconnect-how", choices=["clean", "reset", "midframe"], default="clean")
    f.add_argument("--shutdown-every", type=_positive, metavar="S",
                   help="send serverShutdown then close every connection")
    f.add_argument("--bad-frame-every", type=_positive, metavar="S",
                   help="send a malformed / truncated / binary frame (in turn)")
    f.add_argument("--stale-snapshots", type=_not_negative_int, default=0, metavar="N",
                   help="answer the first N snapshot requests per symbol with a stale book")
    f.add_argument("--refuse-for", type=_not_negative, default=0.0, metavar="S",
                   help="refuse connections (HTTP 503) for S seconds after start")
    f.add_argument("--slow", type=_not_negative, default=0.0, metavar="S",
                   help="delay every data write of every connection by S seconds")
    f.add_argument("--api-delay", type=_not_negative, default=0.0, metavar="S",
                   help="answer every WS API request S seconds late")
    f.add_argument("--outcome-unknown-every", type=_positive, metavar="S",
                   help="every S seconds, execute the next trading request but answer "
                        "503/-1007 (outcome unknown)")
    f.add_argument("--drop-after-accept-every", type=_positive, metavar="S",
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
    a.add_argument("--paper", action="store_true",
                   help="make a paper account (USDT 5000, BTC 0.05, ETH 1 unless --balance) with "
                        "a generated HMAC key, written to a private file the banner names")
    a.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance of the account (repeat per asset)")
    a.add_argument("--commission", default="0", metavar="RATE",
                   help="maker and taker commission rate (e.g. 0.001)")
    a.add_argument("--listen-key-ttl", type=_positive, default=3600.0, metavar="S",
                   help="USD-M listenKey lifetime without keepalive (default 3600)")
    return p


_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def parse_symbols(text: str) -> list[str]:
    """The ``--symbols`` list, checked: Binance writes symbols as letters and digits only."""
    from fastws.sim.market import _QUOTES
    out = []
    for raw in text.replace(" ", ",").split(","):
        sym = raw.strip().upper()
        if not sym:
            continue
        if not _SYMBOL.match(sym):
            hint = re.sub(r"[^A-Z0-9]", "", sym)
            raise ValueError(f"{raw.strip()!r} is not a Binance symbol: symbols are letters and "
                             f"digits only" + (f" (did you mean {hint}?)" if hint else ""))
        if not any(sym.endswith(q) and len(sym) > len(q) for q in _QUOTES):
            raise ValueError(f"{sym!r}: no known quote asset at its end ({', '.join(_QUOTES)})")
        if sym in out:
            continue
        out.append(sym)
    if not out:
        raise ValueError("--symbols is empty")
    return out


def _read_key_file(flag: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise ValueError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None


PAPER_BALANCES = {"USDT": "5000", "BTC": "0.05", "ETH": "1"}


def _account(args: argparse.Namespace) -> Optional[Account]:
    """The account described by --*-key and --balance (None if no key was given)."""
    keys = []
    for kind, items in (("HMAC", args.hmac_key), ("ED25519", args.ed25519_key),
                        ("RSA", args.rsa_key)):
        for item in items:
            api_key, sep, path = item.partition(":")
            if not sep or not api_key or not path:
                raise ValueError(f"--{kind.lower()}-key wants APIKEY:FILE")
            material = _read_key_file(f"--{kind.lower()}-key", path)
            if kind == "HMAC":
                keys.append(ApiKey("HMAC", api_key, secret=material))
            else:
                keys.append(ApiKey(kind, api_key, public_key=material))
    balances = {}
    for item in args.balance:
        asset, sep, amount = item.partition("=")
        if not sep:
            raise ValueError("--balance wants ASSET=AMOUNT")
        try:
            from decimal import Decimal, InvalidOperation
            if not Decimal(amount) >= 0:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise ValueError(f"--balance {item!r}: the amount must be a number >= 0") from None
        balances[asset.upper()] = amount
    if getattr(args, "paper", False):
        keys.append(ApiKey.generate("HMAC"))
        for asset, amount in PAPER_BALANCES.items():
            balances.setdefault(asset, amount)
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


def write_paper_env(acct: Account) -> str:
    """Write the paper account's key to a new private file (mode 600); return its path.

    The file holds shell lines (``FASTWS_API_KEY=...``, ``FASTWS_API_SECRET=...``) that the
    commands and diagnostics read from the environment. Its secret is never printed."""
    k = next(k for k in acct.keys if k.key_type == "HMAC")
    fd, path = tempfile.mkstemp(prefix="fastws-sim-paper-", suffix=".env")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"export FASTWS_API_KEY={k.api_key}\nexport FASTWS_API_SECRET={k.secret}\n")
    os.chmod(path, 0o600)
    return path


def banner_snippet(url: str, env_file: Optional[str], symbol: str,
                   ca_file: Optional[str] = None) -> list[str]:
    """The banner's ready-to-use lines for a client of this running simulator."""
    lines = ["Use it:"]
    ca = f" --ca-file {ca_file}" if ca_file else ""
    if env_file:
        lines.append(f"  . {env_file}          # FASTWS_API_KEY / FASTWS_API_SECRET of the paper account")
    lines += [f"  fastws monitor {symbol} --url {url}{ca}"]
    if env_file:
        lines += [f"  fastws trade {symbol} --url {url}{ca}",
                  f"  python diagnostic_scripts/order_stream_diagnostic.py --url {url}{ca}"]
    lines += ["  python:  from fastws.live import venue_for_url",
              f"           venue = venue_for_url({url!r}"
              + (f", ca_file={ca_file!r}" if ca_file else "")
              + ")   # then fastws.MarketStream([...], venue=venue)"]
    return lines


async def _run(args: argparse.Namespace) -> int:
    symbols = parse_symbols(args.symbols)
    tls_files: Optional[TLSFiles] = None
    if args.cert or args.key:
        if not (args.cert and args.key):
            print("fastws sim: --cert and --key go together", file=sys.stderr)
            return 2
        for flag, path in (("--cert", args.cert), ("--key", args.key), ("--ca", args.ca)):
            if path and not os.path.isfile(path):
                print(f"fastws sim: {flag} {path}: no such file", file=sys.stderr)
                return 2
        tls_files = TLSFiles(args.ca or args.cert, args.cert, args.key)
    for path in args.replay or ():
        if not os.path.isfile(path):
            print(f"fastws sim: --replay {path}: no such file", file=sys.stderr)
            return 2
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
    if not args.flat and ex.replay is None:
        for s in ex.symbols:
            ex.market_of(s).liven()
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
    from fastws.sim.market import _KNOWN
    for s in ex.symbols:
        if s not in _KNOWN and ex.replay is None:
            m = ex._markets[s].spec if hasattr(ex, "_markets") else None
            detail = f" (tick {m.tick_size}, step {m.step_size}, from {m.price})" if m else ""
            print(f"  note      {s} is not one of the simulator's known symbols: a generic "
                  f"synthetic market{detail}")
    env_file = None
    if acct is not None:
        print(f"  account   {acct!r} balances "
              f"{', '.join(f'{a}={v}' for a, v in sorted(acct.free.items())) or 'none'}")
        if args.paper:
            env_file = write_paper_env(acct)
            print(f"  key file  {env_file} (mode 600, removed at exit; the secret is not printed)")
    for line in banner_snippet(v.stream_url, env_file, ex.symbols[0], ex.ca_file):
        print(line)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):      # pragma: no cover (Windows)
            pass
    # only now: whoever reads this line may press Ctrl-C (or send SIGINT) at once
    print("Ctrl-C to stop.", flush=True)
    tasks = _fault_tasks(ex, args)
    if args.seconds:
        loop.call_later(args.seconds, stop.set)
    try:
        await stop.wait()
    finally:
        for t in tasks:
            t.cancel()
        print("\nstopping: serverShutdown sent to every client", flush=True)
        await ex.close()
        if env_file:                              # the key dies with the simulator
            try:
                os.unlink(env_file)
            except OSError:
                pass
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
    except KeyboardInterrupt:
        return 130
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        files = ", ".join(args.replay or ()) or "the capture"
        print(f"fastws sim: {files}: truncated or corrupt gzip capture ({exc})", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno in (98, 48, 10048):                  # EADDRINUSE on Linux, macOS, Windows
            print(f"fastws sim: port {args.port} on {args.host} is in use (another fastws sim?); "
                  f"pick another with --port, or --port 0 for any free port", file=sys.stderr)
        else:
            print(f"fastws sim: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"fastws sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
