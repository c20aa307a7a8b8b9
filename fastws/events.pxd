# cython: language_level=3
"""C-level declarations of the typed market events (cimport these from parser, book...).

Field types: ``int64_t`` for ids, counts and times (-1 where the payload has none), ``double``
for prices and quantities (NaN where absent or ``null``), ``object`` for text and arrays.
"""
from libc.stdint cimport int64_t


cpdef enum EventType:
    UNKNOWN = 0
    TRADE = 1
    AGG_TRADE = 2
    BLOCK_TRADE = 3
    KLINE = 4
    CONTINUOUS_KLINE = 5
    MINI_TICKER = 6
    TICKER = 7
    WINDOW_TICKER = 8
    BOOK_TICKER = 9
    AVG_PRICE = 10
    REFERENCE_PRICE = 11
    PARTIAL_DEPTH = 12
    DEPTH_UPDATE = 13
    SERVER_SHUTDOWN = 14
    MARK_PRICE = 15
    FORCE_ORDER = 16
    CONTROL_RESPONSE = 17
    CONTROL_ERROR = 18


cdef class Event:
    cdef readonly object stream       # combined-stream name, or None on a raw stream
    cdef readonly object symbol       # str (uppercase as sent), or None where the payload has none
    cdef readonly int64_t event_time  # "E"; -1 where the payload has none
    cdef readonly object raw          # the payload the event came from (see Event.decimal)
    cdef readonly EventType type


cdef class Trade(Event):
    cdef readonly int64_t trade_id
    cdef readonly double price
    cdef readonly double quantity
    cdef readonly int64_t trade_time
    cdef readonly bint is_buyer_maker


cdef class AggTrade(Event):
    cdef readonly int64_t agg_trade_id
    cdef readonly double price
    cdef readonly double quantity
    cdef readonly int64_t first_trade_id
    cdef readonly int64_t last_trade_id
    cdef readonly int64_t trade_time
    cdef readonly bint is_buyer_maker


cdef class BlockTrade(Event):
    cdef readonly int64_t block_trade_id
    cdef readonly double price
    cdef readonly double quantity
    cdef readonly int64_t trade_time
    cdef readonly bint is_buyer_maker


cdef class Kline(Event):
    cdef readonly int64_t start_time
    cdef readonly int64_t close_time
    cdef readonly object interval
    cdef readonly int64_t first_trade_id
    cdef readonly int64_t last_trade_id
    cdef readonly double open
    cdef readonly double close
    cdef readonly double high
    cdef readonly double low
    cdef readonly double volume
    cdef readonly int64_t trade_count
    cdef readonly bint is_closed
    cdef readonly double quote_volume
    cdef readonly double taker_buy_base_volume
    cdef readonly double taker_buy_quote_volume


cdef class ContinuousKline(Kline):
    cdef readonly object pair
    cdef readonly object contract_type


cdef class MiniTicker(Event):
    cdef readonly double close
    cdef readonly double open
    cdef readonly double high
    cdef readonly double low
    cdef readonly double volume
    cdef readonly double quote_volume


cdef class Ticker(Event):
    cdef readonly double price_change
    cdef readonly double price_change_percent
    cdef readonly double weighted_avg_price
    cdef readonly double prev_close_price
    cdef readonly double last_price
    cdef readonly double last_quantity
    cdef readonly double best_bid_price
    cdef readonly double best_bid_quantity
    cdef readonly double best_ask_price
    cdef readonly double best_ask_quantity
    cdef readonly double open
    cdef readonly double high
    cdef readonly double low
    cdef readonly double volume
    cdef readonly double quote_volume
    cdef readonly int64_t open_time
    cdef readonly int64_t close_time
    cdef readonly int64_t first_trade_id
    cdef readonly int64_t last_trade_id
    cdef readonly int64_t trade_count


cdef class WindowTicker(Event):
    cdef readonly object window
    cdef readonly double price_change
    cdef readonly double price_change_percent
    cdef readonly double open
    cdef readonly double high
    cdef readonly double low
    cdef readonly double last_price
    cdef readonly double weighted_avg_price
    cdef readonly double volume
    cdef readonly double quote_volume
    cdef readonly int64_t open_time
    cdef readonly int64_t close_time
    cdef readonly int64_t first_trade_id
    cdef readonly int64_t last_trade_id
    cdef readonly int64_t trade_count


cdef class BookTicker(Event):
    cdef readonly int64_t update_id
    cdef readonly double best_bid_price
    cdef readonly double best_bid_quantity
    cdef readonly double best_ask_price
    cdef readonly double best_ask_quantity
    cdef readonly int64_t transaction_time


cdef class AvgPrice(Event):
    cdef readonly object interval
    cdef readonly double price
    cdef readonly int64_t last_trade_time


cdef class ReferencePrice(Event):
    cdef readonly double price
    cdef readonly int64_t engine_time


cdef class PartialDepth(Event):
    cdef readonly int64_t last_update_id
    cdef readonly object bids
    cdef readonly object asks
    cdef readonly int64_t transaction_time   # "T" of the USD-M REST snapshot; -1 where absent


cdef class DepthUpdate(Event):
    cdef readonly int64_t first_update_id
    cdef readonly int64_t final_update_id
    cdef readonly int64_t prev_final_update_id
    cdef readonly int64_t transaction_time
    cdef readonly object bids
    cdef readonly object asks


cdef class ServerShutdown(Event):
    pass


cdef class MarkPrice(Event):
    cdef readonly double mark_price
    cdef readonly double index_price
    cdef readonly double estimated_settle_price
    cdef readonly double funding_rate
    cdef readonly int64_t next_funding_time


cdef class ForceOrder(Event):
    cdef readonly object side
    cdef readonly object order_type
    cdef readonly object time_in_force
    cdef readonly double orig_quantity
    cdef readonly double price
    cdef readonly double avg_price
    cdef readonly object order_status
    cdef readonly double last_filled_quantity
    cdef readonly double filled_quantity
    cdef readonly int64_t trade_time


cdef class ControlResponse:
    cdef readonly object id
    cdef readonly object result


cdef class ControlError:
    cdef readonly int64_t code
    cdef readonly object msg
    cdef readonly object id
