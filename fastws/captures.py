"""Reading recorded Binance captures (plain or gzipped), as a stream of raw records.

Formats (see ``shared/binance/recorded/README.md``):

* **hftbacktest**: ``<local_ts> <raw message>`` per line; ``local_ts`` is an integer in ns
  (19 digits), µs (16) or ms (13). Messages are combined-stream envelopes, plus the REST depth
  snapshot ``{"lastUpdateId":...}`` (no envelope) in time order among them.
* **cryptofeed ws**: a first line ``<connect url> <-> <unix_seconds>``, then
  ``<unix_seconds_float>: <raw message>`` per line.
* **cryptofeed http**: ``<url> -> <unix_seconds_float>: <raw JSON response>`` per line (REST
  depth snapshots; the symbol is in the URL's query).

Several files of one session (``part1`` + ``part2``, or a ``_ws`` file and its ``_http``
snapshots) are merged by timestamp into one stream: :func:`read_capture`. Only the standard
library is used, so any tool (replay, the simulator, benchmarks) can reuse this module.
"""
from __future__ import annotations

import enum
import gzip
import heapq
import os
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator, Sequence, Union, cast
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CaptureFormat",
    "CaptureRecord",
    "RecordKind",
    "detect_format",
    "iter_file",
    "open_capture",
    "read_capture",
    "market_from_url",
]

PathLike = Union[str, "os.PathLike[str]"]


class CaptureFormat(enum.Enum):
    """Line format of one capture file."""

    HFTBACKTEST = "hftbacktest"          # "<ts> <message>"
    CRYPTOFEED_WS = "cryptofeed-ws"      # "<url> <-> <ts>" header, then "<ts>: <message>"
    CRYPTOFEED_HTTP = "cryptofeed-http"  # "<url> -> <ts>: <response>"


class RecordKind(enum.Enum):
    """What a record holds."""

    MESSAGE = "message"    # a WebSocket message, exactly as received
    SNAPSHOT = "snapshot"  # a REST depth snapshot {"lastUpdateId", "bids", "asks"[, "E", "T"]}
    CONNECT = "connect"    # a connection opened (cryptofeed header; payload empty)


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    """One record of a capture.

    Attributes
    ----------
    timestamp_ns : int
        Local receive time in ns since the epoch (converted from the file's unit).
    kind : RecordKind
    payload : bytes
        The raw message or REST body, byte for byte (no trailing newline).
    symbol : str | None
        For snapshots from an http log, the ``symbol`` of the request URL (upper case);
        None otherwise (hftbacktest snapshots name no symbol).
    url : str | None
        The request or connect URL where the format records one.
    source : str
        ``"<file name>:<line number>"``, for error messages.
    """

    timestamp_ns: int
    kind: RecordKind
    payload: bytes
    symbol: str | None = None
    url: str | None = None
    source: str = ""


def open_capture(path: PathLike) -> BinaryIO:
    """Open a capture file for binary reading, gunzipping it when it starts with the gzip magic."""
    with open(path, "rb") as probe:
        head = probe.read(2)
    if head == b"\x1f\x8b":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return open(path, "rb")


def _first_line(path: PathLike) -> bytes:
    with open_capture(path) as f:
        for line in f:
            if line.strip():
                return line
    return b""


def detect_format(path: PathLike) -> CaptureFormat:
    """The :class:`CaptureFormat` of a file, from its first non-blank line.

    Raises ``ValueError`` for an empty or unrecognised file.
    """
    line = _first_line(path).strip()
    if not line:
        raise ValueError(f"{os.fspath(path)}: empty capture file")
    if line.startswith((b"ws://", b"wss://")) and b" <-> " in line:
        return CaptureFormat.CRYPTOFEED_WS
    if line.startswith((b"http://", b"https://")) and b" -> " in line:
        return CaptureFormat.CRYPTOFEED_HTTP
    ts, sep, rest = line.partition(b" ")
    if sep and ts.isdigit() and rest.lstrip()[:1] in (b"{", b"["):
        return CaptureFormat.HFTBACKTEST
    head, sep, rest = line.partition(b": ")
    if sep and _is_number(head) and rest.lstrip()[:1] in (b"{", b"["):
        return CaptureFormat.CRYPTOFEED_WS  # a ws log without its connect header
    raise ValueError(f"{os.fspath(path)}: unrecognised capture format (first line {line[:60]!r})")


def _is_number(text: bytes) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _int_ts_to_ns(ts: bytes) -> int:
    """Integer timestamp of unknown unit -> ns, by its number of digits."""
    v = int(ts)
    n = len(ts.lstrip(b"-"))
    if n >= 18:
        return v             # ns
    if n >= 15:
        return v * 1_000     # µs
    if n >= 12:
        return v * 1_000_000  # ms
    return v * 1_000_000_000  # s


def _float_ts_to_ns(ts: bytes) -> int:
    """Decimal seconds (``1633998512.0633569``) -> integer ns, without float rounding."""
    whole, _, frac = ts.strip().partition(b".")
    frac = (frac + b"000000000")[:9]
    return int(whole) * 1_000_000_000 + int(frac or b"0")


def _is_snapshot(payload: bytes) -> bool:
    head = payload[:32].lstrip()
    return head.startswith(b"{") and b'"lastUpdateId"' in head and not head.startswith(b'{"stream"')


def market_from_url(url: str | None) -> str | None:
    """``"spot"``/``"usdm"`` from a Binance stream or REST URL, None if it says neither."""
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    if host.startswith(("fstream", "fapi")):
        return "usdm"
    if host.startswith(("stream.binance", "api.binance", "api1.", "api2.", "api3.", "api4.")) \
            or host.startswith(("data-stream", "data-api", "testnet.binance", "stream.testnet")):
        return "spot"
    return None


def _symbol_from_url(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query).get("symbol")
    return values[0].upper() if values else None


def iter_file(path: PathLike, fmt: CaptureFormat | None = None) -> Iterator[CaptureRecord]:
    """The records of one capture file, in file order.

    Blank lines are skipped. A malformed line raises ``ValueError`` naming the file and line.
    """
    fmt = fmt or detect_format(path)
    name = os.path.basename(os.fspath(path))
    with open_capture(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            src = f"{name}:{lineno}"
            try:
                yield _parse_line(fmt, line, src)
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{src}: malformed {fmt.value} line ({exc}): {line[:80]!r}") from None


def _parse_line(fmt: CaptureFormat, line: bytes, src: str) -> CaptureRecord:
    if fmt is CaptureFormat.HFTBACKTEST:
        ts, sep, payload = line.partition(b" ")
        if not sep:
            raise ValueError("no space after the timestamp")
        kind = RecordKind.SNAPSHOT if _is_snapshot(payload) else RecordKind.MESSAGE
        return CaptureRecord(_int_ts_to_ns(ts), kind, payload, source=src)
    if fmt is CaptureFormat.CRYPTOFEED_WS:
        if line.startswith((b"ws://", b"wss://")):
            url, sep, ts = line.partition(b" <-> ")
            if not sep:
                raise ValueError("connect line without ' <-> '")
            return CaptureRecord(_float_ts_to_ns(ts), RecordKind.CONNECT, b"",
                                 url=url.decode(), source=src)
        ts, sep, payload = line.partition(b": ")
        if not sep:
            raise ValueError("no ': ' after the timestamp")
        kind = RecordKind.SNAPSHOT if _is_snapshot(payload) else RecordKind.MESSAGE
        return CaptureRecord(_float_ts_to_ns(ts), kind, payload, source=src)
    # CRYPTOFEED_HTTP
    url, sep, rest = line.partition(b" -> ")
    if not sep:
        raise ValueError("no ' -> ' after the URL")
    ts, sep, payload = rest.partition(b": ")
    if not sep:
        raise ValueError("no ': ' after the timestamp")
    u = url.decode()
    kind = RecordKind.SNAPSHOT if _is_snapshot(payload) else RecordKind.MESSAGE
    return CaptureRecord(_float_ts_to_ns(ts), kind, payload, symbol=_symbol_from_url(u), url=u,
                         source=src)


def read_capture(paths: PathLike | Sequence[PathLike]) -> Iterator[CaptureRecord]:
    """All records of the files of one session, merged by timestamp.

    Each file is read lazily (nothing is loaded whole). Records with equal timestamps keep
    the order of ``paths``, so ``part1, part2`` or ``ws, http`` may be given in any order
    that matches the session, and a file split at midnight continues seamlessly.
    """
    files: Sequence[PathLike] = [paths] if isinstance(paths, (str, os.PathLike)) else paths
    if not files:
        raise ValueError("no capture files given")
    iters: list[Iterable[CaptureRecord]] = [iter_file(p) for p in files]
    if len(iters) == 1:
        return iter(iters[0])
    return heapq.merge(*iters, key=lambda r: r.timestamp_ns)
