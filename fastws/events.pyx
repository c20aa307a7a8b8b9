# cython: language_level=3
"""Typed Binance market events (cdef classes with readonly, spelled-out fields).

Declarations live in ``events.pxd``; this file holds behaviour (constructors, reprs, helpers).
NOTE: the parser owner completes docstrings (Binance letter tables), reprs and ``decimal()``.
"""
cimport cython
import numpy as np
from libc.stdint cimport int64_t

cdef class Event:
    pass

cdef class Trade(Event):
    pass

cdef class AggTrade(Event):
    pass

cdef class BlockTrade(Event):
    pass

cdef class Kline(Event):
    pass

cdef class ContinuousKline(Kline):
    pass

cdef class MiniTicker(Event):
    pass

cdef class Ticker(Event):
    pass

cdef class WindowTicker(Event):
    pass

cdef class BookTicker(Event):
    pass

cdef class AvgPrice(Event):
    pass

cdef class ReferencePrice(Event):
    pass

cdef class PartialDepth(Event):
    def __init__(self, int64_t last_update_id, bids, asks, symbol=None, stream=None):
        self.type = EventType.PARTIAL_DEPTH
        self.symbol = symbol
        self.stream = stream
        self.event_time = -1
        self.last_update_id = last_update_id
        self.bids = np.ascontiguousarray(np.asarray(bids, dtype=np.float64).reshape(-1, 2))
        self.asks = np.ascontiguousarray(np.asarray(asks, dtype=np.float64).reshape(-1, 2))

cdef class DepthUpdate(Event):
    def __init__(self, symbol, int64_t first_update_id, int64_t final_update_id, bids, asks,
                 int64_t prev_final_update_id=-1, int64_t event_time=-1,
                 int64_t transaction_time=-1, stream=None):
        self.type = EventType.DEPTH_UPDATE
        self.symbol = symbol
        self.stream = stream
        self.event_time = event_time
        self.transaction_time = transaction_time
        self.first_update_id = first_update_id
        self.final_update_id = final_update_id
        self.prev_final_update_id = prev_final_update_id
        self.bids = np.ascontiguousarray(np.asarray(bids, dtype=np.float64).reshape(-1, 2))
        self.asks = np.ascontiguousarray(np.asarray(asks, dtype=np.float64).reshape(-1, 2))

cdef class ServerShutdown(Event):
    pass

cdef class MarkPrice(Event):
    pass

cdef class ForceOrder(Event):
    pass

cdef class ControlResponse:
    pass

cdef class ControlError:
    pass

