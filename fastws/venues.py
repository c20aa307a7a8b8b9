"""Where to connect: Binance venues (URLs, market kind, connection limits).

A :class:`Venue` names everything a client needs to reach one Binance market: the market-stream
base URL (with the USDⓈ-M ``/public``, ``/market`` and ``/private`` routes), the WebSocket API
URL, the REST URL for snapshots, the market kind (``"spot"`` or ``"usdm"``) and the venue's
connection limits. The built-in venues are :data:`BINANCE_SPOT`, :data:`BINANCE_SPOT_TESTNET`,
:data:`BINANCE_USDM` and :data:`BINANCE_USDM_TESTNET`; the simulator
(:class:`fastws.sim.Exchange`) hands out a venue pointing at loopback.

Every limit is a named constant with the SPEC section it comes from
(``shared/binance/SPEC.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Optional, Sequence
from urllib.parse import quote

__all__ = [
    "Limits",
    "Venue",
    "SPOT_LIMITS",
    "USDM_LIMITS",
    "BINANCE_SPOT",
    "BINANCE_SPOT_TESTNET",
    "BINANCE_USDM",
    "BINANCE_USDM_TESTNET",
    "usdm_route",
]

Market = Literal["spot", "usdm"]
Route = Literal["public", "market", "private"]

# --- spot streams and WS API (SPEC §2.2, §5.1, §5.3) --------------------------------------------
SPOT_PING_INTERVAL = 20.0
"""Seconds between server pings on spot streams and the spot WS API (SPEC §2.2, since 2025-02)."""
SPOT_PONG_TIMEOUT = 60.0
"""Seconds the spot server waits for a pong before disconnecting (SPEC §2.2)."""
SPOT_MAX_INCOMING_PER_SECOND = 5
"""Incoming messages per second per spot connection: pings, pongs and controls (SPEC §2.2)."""
SPOT_REQUEST_WEIGHT_PER_MINUTE = 6000
"""Spot ``REQUEST_WEIGHT`` per minute per IP, shared by REST and WS API (SPEC §5.3)."""
SPOT_WS_API_CONNECT_WEIGHT = 2
"""Request weight charged for each spot WS API connection (SPEC §5.1)."""

# --- USD-M streams and WS API (SPEC §4.2, §5.6) --------------------------------------------------
USDM_PING_INTERVAL = 180.0
"""Seconds between server pings on USDⓈ-M streams (SPEC §4.2)."""
USDM_PONG_TIMEOUT = 600.0
"""Seconds the USDⓈ-M server waits for a pong (SPEC §4.2)."""
USDM_MAX_INCOMING_PER_SECOND = 10
"""Incoming messages per second per USDⓈ-M stream connection (SPEC §4.2)."""
USDM_REQUEST_WEIGHT_PER_MINUTE = 2400
"""USDⓈ-M ``REQUEST_WEIGHT`` per minute, shared with REST (SPEC §5.6)."""
USDM_WS_API_CONNECT_WEIGHT = 5
"""Request weight charged for each USDⓈ-M WS API handshake (SPEC §5.6)."""

# --- common to both (SPEC §2.2, §4.2) -----------------------------------------------------------
MAX_STREAMS_PER_CONNECTION = 1024
"""Streams one connection may hold, spot and USDⓈ-M (SPEC §2.2, §4.2)."""
MAX_CONNECTION_ATTEMPTS = 300
"""Connection attempts allowed per IP in :data:`CONNECTION_ATTEMPTS_WINDOW` (SPEC §2.2)."""
CONNECTION_ATTEMPTS_WINDOW = 300.0
"""Seconds of the connection-attempt window: 5 minutes (SPEC §2.2)."""
CONNECTION_LIFETIME = 24 * 3600.0
"""Seconds a connection lives before the server drops it: 24 h (SPEC §2.2, §4.1)."""


@dataclass(frozen=True)
class Limits:
    """Connection and request limits of one venue.

    Attributes
    ----------
    ping_interval : float
        Seconds between server ping frames.
    pong_timeout : float
        Seconds without the matching pong after which the server disconnects.
    max_incoming_per_second : int
        Incoming messages (ping, pong, control) per second per connection; over it the server
        drops the connection.
    max_streams_per_connection : int
        Streams one connection may subscribe to.
    max_connection_attempts : int
        Connection attempts per IP in ``connection_attempts_window`` seconds.
    connection_attempts_window : float
        Length of that window in seconds.
    connection_lifetime : float
        Seconds after which the server closes any connection.
    request_weight_per_minute : int
        ``REQUEST_WEIGHT`` budget per minute (REST and WS API together).
    ws_api_connect_weight : int
        Weight charged for each WS API connection.
    unsolicited_pong_keeps_alive : bool
        Whether a pong that answers no ping counts as a sign of life (USDⓈ-M yes, spot no).
    """

    ping_interval: float
    pong_timeout: float
    max_incoming_per_second: int
    max_streams_per_connection: int = MAX_STREAMS_PER_CONNECTION
    max_connection_attempts: int = MAX_CONNECTION_ATTEMPTS
    connection_attempts_window: float = CONNECTION_ATTEMPTS_WINDOW
    connection_lifetime: float = CONNECTION_LIFETIME
    request_weight_per_minute: int = SPOT_REQUEST_WEIGHT_PER_MINUTE
    ws_api_connect_weight: int = SPOT_WS_API_CONNECT_WEIGHT
    unsolicited_pong_keeps_alive: bool = False

    def replace(self, **changes: object) -> "Limits":
        """Return a copy with some limits changed (e.g. short pings for a test)."""
        return replace(self, **changes)  # type: ignore[arg-type]


SPOT_LIMITS = Limits(
    ping_interval=SPOT_PING_INTERVAL,
    pong_timeout=SPOT_PONG_TIMEOUT,
    max_incoming_per_second=SPOT_MAX_INCOMING_PER_SECOND,
    request_weight_per_minute=SPOT_REQUEST_WEIGHT_PER_MINUTE,
    ws_api_connect_weight=SPOT_WS_API_CONNECT_WEIGHT,
    unsolicited_pong_keeps_alive=False,
)
"""Spot limits (SPEC §2.2, §5.1, §5.3)."""

USDM_LIMITS = Limits(
    ping_interval=USDM_PING_INTERVAL,
    pong_timeout=USDM_PONG_TIMEOUT,
    max_incoming_per_second=USDM_MAX_INCOMING_PER_SECOND,
    request_weight_per_minute=USDM_REQUEST_WEIGHT_PER_MINUTE,
    ws_api_connect_weight=USDM_WS_API_CONNECT_WEIGHT,
    unsolicited_pong_keeps_alive=True,
)
"""USDⓈ-M limits (SPEC §4.2, §5.6)."""


_PUBLIC_SUFFIXES = ("@bookticker",)


def usdm_route(stream: str) -> Route:
    """Return the USDⓈ-M route (``public``, ``market`` or ``private``) that serves ``stream``.

    SPEC §4.1: every ``@depth*`` stream and ``@bookTicker`` / ``!bookTicker`` live on
    ``/public``; user data (a listenKey) on ``/private``; everything else on ``/market``.

    Parameters
    ----------
    stream : str
        A stream name such as ``"btcusdt@depth@100ms"``.
    """
    name = stream.lower()
    if name == "!bookticker" or name.endswith(_PUBLIC_SUFFIXES):
        return "public"
    at = name.find("@")
    if at < 0:
        # Stream names always hold an '@' (or start with '!'): a bare token is a listenKey.
        return "market" if name.startswith("!") else "private"
    kind = name[at + 1:]
    if kind.startswith("depth") or kind.startswith("rpidepth"):
        return "public"
    return "market"


def _join_streams(streams: Sequence[str]) -> str:
    if isinstance(streams, str):
        streams = [streams]
    if not streams:
        raise ValueError("at least one stream name is needed")
    # "+" is percent-encoded: in a query string it could be read as a space
    return "/".join(quote(s, safe="@!_-.:") for s in streams)


@dataclass(frozen=True)
class Venue:
    """One Binance market reachable over WebSockets.

    Attributes
    ----------
    name : str
        Short label (``"binance-spot"``, ``"sim-spot"``...).
    market : {"spot", "usdm"}
        Which protocol dialect the venue speaks (SPEC §2 vs §4).
    stream_url : str
        Base URL of the market streams, without a path (``wss://stream.binance.com:9443``).
        On a venue with ``split_routes`` the route is appended (``/public``...).
    ws_api_url : str
        Full URL of the WebSocket API (``wss://ws-api.binance.com:443/ws-api/v3``).
    rest_url : str
        Base URL of the REST API, without ``/api`` or ``/fapi``.
    limits : Limits
        Connection and request limits.
    split_routes : bool
        True where USDⓈ-M streams are split into ``/public``, ``/market``, ``/private``
        (SPEC §4.1); False for spot and for the USDⓈ-M testnet's legacy paths.
    testnet : bool
        True for a test network.
    ca_file : str or None
        PEM file of the certificate authority to trust for this venue (the simulator's
        self-signed CA); None means the system trust store.
    """

    name: str
    market: Market
    stream_url: str
    ws_api_url: str
    rest_url: str
    limits: Limits
    split_routes: bool = False
    testnet: bool = False
    ca_file: Optional[str] = field(default=None, compare=False)

    # -- URL helpers -------------------------------------------------------------------------
    @property
    def is_secure(self) -> bool:
        """True when the stream URL uses TLS (``wss://``)."""
        return self.stream_url.startswith("wss://")

    @property
    def rest_depth_path(self) -> str:
        """Path of the REST depth snapshot (SPEC §3.3)."""
        return "/api/v3/depth" if self.market == "spot" else "/fapi/v1/depth"

    @property
    def rest_depth_url(self) -> str:
        """Full URL of the REST depth snapshot."""
        return self.rest_url + self.rest_depth_path

    def route(self, stream: str) -> Optional[Route]:
        """Route serving ``stream`` on this venue (None where streams are not split)."""
        if not self.split_routes:
            return None
        return usdm_route(stream)

    def stream_base(self, route: Optional[Route] = None) -> str:
        """Base URL for one route (``.../public``), or the plain base on unsplit venues."""
        if not self.split_routes or route is None:
            return self.stream_url
        return f"{self.stream_url}/{route}"

    def _route_of(self, streams: Sequence[str]) -> Optional[Route]:
        if not self.split_routes:
            return None
        routes = {usdm_route(s) for s in streams}
        if len(routes) != 1:
            raise ValueError(
                f"streams {list(streams)!r} live on different USD-M routes {sorted(routes)}; "
                "use one connection per route (SPEC §4.1)")
        return routes.pop()

    def raw_stream_url(self, streams: Sequence[str]) -> str:
        """URL of a raw-stream connection: ``<base>/ws/<s1>/<s2>``."""
        if isinstance(streams, str):
            streams = [streams]
        return f"{self.stream_base(self._route_of(streams))}/ws/{_join_streams(streams)}"

    def combined_stream_url(self, streams: Sequence[str]) -> str:
        """URL of a combined-stream connection: ``<base>/stream?streams=<s1>/<s2>``."""
        if isinstance(streams, str):
            streams = [streams]
        return f"{self.stream_base(self._route_of(streams))}/stream?streams={_join_streams(streams)}"

    def with_limits(self, **changes: object) -> "Venue":
        """Return a copy of this venue with some limits changed."""
        return replace(self, limits=self.limits.replace(**changes))


BINANCE_SPOT = Venue(
    name="binance-spot",
    market="spot",
    stream_url="wss://stream.binance.com:9443",
    ws_api_url="wss://ws-api.binance.com:443/ws-api/v3",
    rest_url="https://api.binance.com",
    limits=SPOT_LIMITS,
)
"""Binance spot mainnet (SPEC §1)."""

BINANCE_SPOT_TESTNET = Venue(
    name="binance-spot-testnet",
    market="spot",
    stream_url="wss://stream.testnet.binance.vision",
    ws_api_url="wss://ws-api.testnet.binance.vision/ws-api/v3",
    rest_url="https://testnet.binance.vision",
    limits=SPOT_LIMITS,
    testnet=True,
)
"""Binance spot testnet (SPEC §1)."""

BINANCE_USDM = Venue(
    name="binance-usdm",
    market="usdm",
    stream_url="wss://fstream.binance.com",
    ws_api_url="wss://ws-fapi.binance.com/ws-fapi/v1",
    rest_url="https://fapi.binance.com",
    limits=USDM_LIMITS,
    split_routes=True,
)
"""Binance USDⓈ-M futures mainnet, with the 2026 ``/public`` ``/market`` ``/private`` split
(SPEC §4.1)."""

BINANCE_USDM_TESTNET = Venue(
    name="binance-usdm-testnet",
    market="usdm",
    stream_url="wss://fstream.binancefuture.com",
    ws_api_url="wss://testnet.binancefuture.com/ws-fapi/v1",
    rest_url="https://demo-fapi.binance.com",
    limits=USDM_LIMITS,
    split_routes=False,
    testnet=True,
)
"""Binance USDⓈ-M testnet. Whether it has the route split is undocumented (SPEC §1); it keeps
the legacy ``/ws`` and ``/stream`` paths, as ccxt does."""
