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
    ConnectError,
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

# decode
from fastws.parser import Parser, parse

# book
from fastws.book import OrderBook
from fastws.sync import BookSync, SyncAction, SyncState, SyncStats

# venues
from fastws.venues import (
    BINANCE_SPOT,
    BINANCE_SPOT_TESTNET,
    BINANCE_USDM,
    BINANCE_USDM_TESTNET,
    Limits,
    Venue,
)

# live data
from fastws.listener import Router, StreamListener
from fastws.market_stream import MarketStream, MarketStreamStats

# WebSocket API
from fastws.api_client import ApiClient
from fastws.base_operations import BaseOperations, FilterError, SymbolFilters
from fastws.order_stream import OrderStream
from fastws.signing import Ed25519Signer, HmacSigner, RsaSigner, mask_key
from fastws.user_stream import UserStream

# user data events
from fastws.uds_events import (
    AccountUpdate,
    Balance,
    BalanceUpdate,
    EventStreamTerminated,
    ExecutionReport,
    ExternalLockUpdate,
    FuturesBalance,
    FuturesPosition,
    ListenKeyExpired,
    ListOrder,
    ListStatus,
    OrderTradeUpdate,
    OutboundAccountPosition,
    UserEvent,
    decode_user_event,
)

# signals
from fastws.ring import RecordRing, RingBuffer
from fastws.signals import (
    Assessment,
    DetectorResult,
    Momentum,
    Signal,
    SignalEngine,
    VolumeSpike,
    format_signal,
    format_ticker,
)

# Subpackages loaded on first use, so ``import fastws`` stays light: ``fastws.sim`` (the exchange
# simulator, a test tool) and ``fastws.testing`` (helpers for testing bots against it).
_LAZY_SUBMODULES = ("sim", "testing")


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"fastws.{name}")
    raise AttributeError(f"module 'fastws' has no attribute {name!r}")


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
    "ConnectError",
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
    # decode
    "Parser",
    "parse",
    # book
    "OrderBook",
    "BookSync",
    "SyncAction",
    "SyncState",
    "SyncStats",
    # venues
    "Venue",
    "Limits",
    "BINANCE_SPOT",
    "BINANCE_SPOT_TESTNET",
    "BINANCE_USDM",
    "BINANCE_USDM_TESTNET",
    # live data
    "MarketStream",
    "MarketStreamStats",
    "StreamListener",
    "Router",
    # WebSocket API
    "ApiClient",
    "BaseOperations",
    "SymbolFilters",
    "FilterError",
    "OrderStream",
    "UserStream",
    "HmacSigner",
    "RsaSigner",
    "Ed25519Signer",
    "mask_key",
    # user data events
    "UserEvent",
    "ExecutionReport",
    "OutboundAccountPosition",
    "Balance",
    "BalanceUpdate",
    "ListStatus",
    "ListOrder",
    "ExternalLockUpdate",
    "EventStreamTerminated",
    "ListenKeyExpired",
    "OrderTradeUpdate",
    "AccountUpdate",
    "FuturesBalance",
    "FuturesPosition",
    "decode_user_event",
    # signals
    "RingBuffer",
    "RecordRing",
    "SignalEngine",
    "Signal",
    "Momentum",
    "VolumeSpike",
    "Assessment",
    "DetectorResult",
    "format_signal",
    "format_ticker",
]
