"""fastws: the fastest trustworthy way for Python trading bots to talk to Binance over WebSockets.

Public names are re-exported here and listed in ``__all__`` by topic; ``tests/test_exports.py``
keeps the list honest. Only the exceptions are imported eagerly: every other name is loaded
from its module on first use (PEP 562), so ``import fastws`` stays light, and importing one
part (``fastws.sim``, the independent simulator) never drags in the others.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
    FilterError,
    InvalidUsage,
    IPBannedError,
    OutcomeUnknownError,
    ParseError,
    RateLimitError,
    SequenceGap,
    SubscriptionError,
)

# Public name -> the module that defines it, grouped by topic (the order of ``__all__``).
_EXPORTS: dict[str, str] = {
    # events
    "AggTrade": "fastws.events",
    "AvgPrice": "fastws.events",
    "BlockTrade": "fastws.events",
    "BookTicker": "fastws.events",
    "ContinuousKline": "fastws.events",
    "ControlError": "fastws.events",
    "ControlResponse": "fastws.events",
    "DepthUpdate": "fastws.events",
    "Event": "fastws.events",
    "EventType": "fastws.events",
    "ForceOrder": "fastws.events",
    "Kline": "fastws.events",
    "MarkPrice": "fastws.events",
    "MiniTicker": "fastws.events",
    "PartialDepth": "fastws.events",
    "ReferencePrice": "fastws.events",
    "ServerShutdown": "fastws.events",
    "Ticker": "fastws.events",
    "Trade": "fastws.events",
    "WindowTicker": "fastws.events",
    # decode
    "Parser": "fastws.parser",
    "parse": "fastws.parser",
    # book
    "OrderBook": "fastws.book",
    "BookSync": "fastws.sync",
    "SyncAction": "fastws.sync",
    "SyncState": "fastws.sync",
    "SyncStats": "fastws.sync",
    # venues
    "BINANCE_SPOT": "fastws.venues",
    "BINANCE_SPOT_TESTNET": "fastws.venues",
    "BINANCE_USDM": "fastws.venues",
    "BINANCE_USDM_TESTNET": "fastws.venues",
    "Limits": "fastws.venues",
    "Venue": "fastws.venues",
    # live data
    "Router": "fastws.listener",
    "StreamListener": "fastws.listener",
    "MarketStream": "fastws.market_stream",
    "MarketStreamStats": "fastws.market_stream",
    "Overflow": "fastws.market_stream",
    # WebSocket API
    "ApiClient": "fastws.api.client",
    "BaseOperations": "fastws.api.base_operations",
    "SymbolFilters": "fastws.api.base_operations",
    "OrderStream": "fastws.api.order_stream",
    "Ed25519Signer": "fastws.api.signing",
    "HmacSigner": "fastws.api.signing",
    "RsaSigner": "fastws.api.signing",
    "mask_key": "fastws.api.signing",
    "UserStream": "fastws.api.user_stream",
    # user data events
    "AccountUpdate": "fastws.api.user_events",
    "Balance": "fastws.api.user_events",
    "BalanceUpdate": "fastws.api.user_events",
    "EventStreamTerminated": "fastws.api.user_events",
    "ExecutionReport": "fastws.api.user_events",
    "ExternalLockUpdate": "fastws.api.user_events",
    "FuturesBalance": "fastws.api.user_events",
    "FuturesPosition": "fastws.api.user_events",
    "ListenKeyExpired": "fastws.api.user_events",
    "ListOrder": "fastws.api.user_events",
    "ListStatus": "fastws.api.user_events",
    "OrderTradeUpdate": "fastws.api.user_events",
    "OutboundAccountPosition": "fastws.api.user_events",
    "UserEvent": "fastws.api.user_events",
    "decode_user_event": "fastws.api.user_events",
    # signals
    "RecordRing": "fastws.ring",
    "RingBuffer": "fastws.ring",
    "Assessment": "fastws.signals",
    "DetectorResult": "fastws.signals",
    "Momentum": "fastws.signals",
    "Signal": "fastws.signals",
    "SignalEngine": "fastws.signals",
    "VolumeSpike": "fastws.signals",
    "format_signal": "fastws.signals",
    "format_ticker": "fastws.signals",
}

# Subpackages loaded on first use: ``fastws.sim`` (the exchange simulator, a test tool) and
# ``fastws.testing`` (helpers for testing bots against it).
_LAZY_SUBMODULES = ("sim", "testing")

if TYPE_CHECKING:  # the same names, for type checkers and IDEs
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
    from fastws.parser import (
        Parser,
        parse,
    )
    # book
    from fastws.book import (
        OrderBook,
    )
    from fastws.sync import (
        BookSync,
        SyncAction,
        SyncState,
        SyncStats,
    )
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
    from fastws.listener import (
        Router,
        StreamListener,
    )
    from fastws.market_stream import (
        MarketStream,
        MarketStreamStats,
        Overflow,
    )
    # WebSocket API
    from fastws.api.client import (
        ApiClient,
    )
    from fastws.api.base_operations import (
        BaseOperations,
        SymbolFilters,
    )
    from fastws.api.order_stream import (
        OrderStream,
    )
    from fastws.api.signing import (
        Ed25519Signer,
        HmacSigner,
        RsaSigner,
        mask_key,
    )
    from fastws.api.user_stream import (
        UserStream,
    )
    # user data events
    from fastws.api.user_events import (
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
    from fastws.ring import (
        RecordRing,
        RingBuffer,
    )
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


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # resolved once; later lookups are plain attribute reads
        return value
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"fastws.{name}")
    raise AttributeError(f"module 'fastws' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "SubscriptionError",
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
    "Overflow",
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
