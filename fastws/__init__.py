"""fastws: the fastest trustworthy way for Python trading bots to talk to Binance over WebSockets.

Public names are re-exported here and listed in ``__all__`` by topic; ``tests/test_exports.py``
keeps the list honest.
"""
from __future__ import annotations

__version__ = "0.1.0"

# errors
from fastws.exceptions import (
    ApiError,
    AuthError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    CrossedBook,
    FastWSError,
    InvalidUsage,
    IPBannedError,
    OutcomeUnknownError,
    ParseError,
    RateLimitError,
    SequenceGap,
)

# events
from fastws.events import (
    AggTrade,
    AvgPrice,
    BlockTrade,
    BookTicker,
    ContinuousKline,
    ControlError,
    ControlResponse,
    DepthUpdate,
    Event,
    EventType,
    ForceOrder,
    Kline,
    MarkPrice,
    MiniTicker,
    PartialDepth,
    ReferencePrice,
    ServerShutdown,
    Ticker,
    Trade,
    WindowTicker,
)

__all__ = [
    "__version__",
    # errors
    "FastWSError",
    "ParseError",
    "SequenceGap",
    "CrossedBook",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidUsage",
    "ApiError",
    "RateLimitError",
    "IPBannedError",
    "AuthError",
    "OutcomeUnknownError",
    # events
    "Event",
    "EventType",
    "Trade",
    "AggTrade",
    "BlockTrade",
    "Kline",
    "ContinuousKline",
    "MiniTicker",
    "Ticker",
    "WindowTicker",
    "BookTicker",
    "AvgPrice",
    "ReferencePrice",
    "PartialDepth",
    "DepthUpdate",
    "ServerShutdown",
    "MarkPrice",
    "ForceOrder",
    "ControlResponse",
    "ControlError",
]
