"""``fastws serve STREAM...``: a feed handler publishing a venue's streams and books on NATS.

Runs :class:`fastws.bus.FeedHandler` until Ctrl-C (or ``--seconds``): every event of the
streams (the venue's bytes) and every synced book's state go to NATS JetStream, where any
number of ``fastws.bus.BusStream`` consumers, on this machine or others, get them. A STREAM is
a stream name (``btcusdt@depth@100ms``) or a bare symbol (``BTCUSDT``: its ticker, trade,
bookTicker and depth@100ms streams).

Where the data comes from: Binance spot by default, ``--venue NAME`` another venue, ``--sim``
an embedded simulator (as ``fastws demo`` runs). Where it goes: ``--nats URL`` a running
nats-server with JetStream, or ``--embedded-nats`` (the default when ``--nats`` is not given) a
nats-server started here on 127.0.0.1, whose URL is printed. Run a second ``fastws serve`` with
the same streams and ``--nats`` for high availability: consumers see each event once.

Try it on one machine::

    fastws serve BTCUSDT ETHUSDT --sim --embedded-nats --nats-port 4222
    fastws monitor BTCUSDT ETHUSDT --sim --bus nats://127.0.0.1:4222      # another terminal
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import sys
import time
from typing import Any, AsyncIterator

from fastws.cliargs import ArgumentParser, non_negative, port, positive
from fastws.live import liven, sleep_or_stop, stop_event, streams_for

__all__ = ["main", "build_parser", "expand_streams", "sim_venue_name"]


def expand_streams(items: list[str], market: str = "spot") -> list[str]:
    """Stream names, a bare symbol expanded to the live view's four streams (order kept,
    repeats dropped)."""
    out: list[str] = []
    for item in items:
        names = [item] if ("@" in item or item.startswith("!")) else streams_for(item, True, market)
        for n in names:
            if n not in out:
                out.append(n)
    return out


def sim_venue_name(market: str = "spot") -> str:
    """The venue name an embedded simulator publishes under (``sim-spot``, ``sim-usdm``)."""
    return f"sim-{market}"


@contextlib.asynccontextmanager
async def _nats_for(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.nats:
        yield args.nats
        return
    from fastws.bus.server import NatsServer
    async with NatsServer(port=args.nats_port, store_dir=args.store_dir) as srv:
        print(f"fastws serve: embedded nats-server (JetStream) at {srv.url}", flush=True)
        yield srv.url


async def _serve(args: argparse.Namespace) -> int:
    from fastws.bus.connect import shown_url
    from fastws.bus.feed import FeedHandler
    from fastws.monitor import VENUES
    market = args.market or "spot"
    if args.venue:
        market = VENUES[args.venue].market
    streams = expand_streams(args.streams, market)
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(_nats_for(args))
        if args.sim:
            from fastws.sim import Exchange
            from fastws.streams import parse_stream
            symbols = sorted({i.symbol for i in (parse_stream(s, market) for s in streams)  # type: ignore[arg-type]
                              if i.symbol})
            ex = await stack.enter_async_context(Exchange(symbols or ["BTCUSDT"], market=market))
            liven(ex)
            venue = ex.venue
            print(f"fastws serve: simulator ({market}) at {venue.stream_url}", flush=True)
        else:
            venue = VENUES[args.venue or "binance-spot"]
        fh = FeedHandler(streams, venue=venue, nats=url, prefix=args.prefix,
                         book_interval=args.book_interval, name=args.name,
                         connect_timeout=args.timeout)
        await fh.start()
        stack.push_async_callback(fh.close)
        print(f"fastws serve: {len(streams)} streams of {venue.name} -> {shown_url(url)} "
              f"(subjects {args.prefix}.live.{venue.name}.<SYMBOL>.<kind>, "
              f"books in KV {args.prefix.replace('.', '_')}_books)", flush=True)
        stop, signals = stop_event()
        t0 = time.monotonic()
        end = t0 + args.seconds if args.seconds else math.inf
        while time.monotonic() < end:
            if await sleep_or_stop(stop, min(args.interval, max(0.0, end - time.monotonic()))):
                break
            st = fh.stats()
            synced = sum(1 for b in fh.books.values() if b.is_synced)
            print(f"  {st.published} published, {st.dropped} dropped, {st.pending} pending, "
                  f"books synced {synced}/{len(fh.books)}, {st.snap_answers} snapshot answers, "
                  f"NATS {'up' if st.connected else 'DOWN'}", flush=True)
        st = fh.stats()
    elapsed = time.monotonic() - t0
    print(f"summary: {elapsed:.1f} s, {st.published} events published "
          f"({st.published / max(elapsed, 1e-9):.0f}/s), {st.dropped} dropped, "
          f"{st.book_puts} book states, {st.snap_answers} snapshot answers, "
          f"{st.nats_reconnects} NATS reconnects; venue: {st.market.summary()}"
          + (" (interrupted)" if signals else ""), flush=True)
    return 130 if signals else 0


def build_parser() -> ArgumentParser:
    doc = (__doc__ or "").replace("``", "").replace(":class:", "").replace("`", "")
    p = ArgumentParser(prog="fastws serve", description=doc.split("\n\n")[0],
                       epilog="\n\n".join(doc.split("\n\n")[1:]).replace("::", ":"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    from fastws.monitor import VENUES
    p.add_argument("streams", nargs="+", metavar="STREAM",
                   help="stream names (btcusdt@depth@100ms) or symbols (BTCUSDT)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--venue", choices=sorted(VENUES), help="a Binance venue (default binance-spot)")
    where.add_argument("--sim", action="store_true", help="an embedded simulator as the venue")
    p.add_argument("--market", choices=("spot", "usdm"), help="with --sim: the simulator's market")
    bus = p.add_mutually_exclusive_group()
    bus.add_argument("--nats", metavar="URL", help="a nats-server with JetStream (nats://host:4222)")
    bus.add_argument("--embedded-nats", action="store_true",
                     help="start nats-server here on 127.0.0.1 (the default without --nats)")
    p.add_argument("--nats-port", type=port, default=0,
                   help="port of the embedded nats-server (default: a free one)")
    p.add_argument("--store-dir", help="JetStream store of the embedded nats-server (default: temporary)")
    p.add_argument("--prefix", default="fastws", help="subject prefix (default fastws)")
    p.add_argument("--name", help="this feed handler's name (default host-pid)")
    p.add_argument("--book-interval", type=positive, default=1.0,
                   help="seconds between book-state puts in the KV (default 1)")
    p.add_argument("--seconds", type=non_negative, default=0.0, help="stop after this long (0: at Ctrl-C)")
    p.add_argument("--interval", type=positive, default=5.0, help="seconds between status lines")
    p.add_argument("--timeout", type=positive, default=15.0, help="seconds to wait for NATS and the venue")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.market and not args.sim:
        p.error("--market goes with --sim (a venue has its own market)")
    if args.nats and (args.nats_port or args.store_dir):
        p.error("--nats-port / --store-dir are options of the embedded nats-server")
    from fastws.bus.subjects import check_prefix
    from fastws.exceptions import InvalidUsage
    try:
        check_prefix(args.prefix)
        from fastws.streams import parse_stream
        for s in expand_streams(args.streams, args.market or "spot"):
            parse_stream(s, args.market or "spot")
    except (ValueError, InvalidUsage) as exc:
        p.error(str(exc))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from fastws.connection import run
    try:
        return run(_serve(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, not a traceback
        print(f"fastws serve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
