"""Stream-connection control messages (SPEC §2.3), as a pure function of bytes and state.

:func:`handle_control` takes the text of one incoming frame and the connection's
:class:`ControlState`, applies ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``SET_PROPERTY`` and returns
the exact response or error frame Binance sends, plus the streams added and removed.
No I/O here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

import orjson

__all__ = ["ControlState", "ControlResult", "handle_control", "METHODS"]

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")

_ERR_ID = "Invalid request: request ID must be an unsigned integer"
_ERR_PROP_NAME = "Invalid request: property name must be a string"
_ERR_TOO_MANY = "Invalid request: too many parameters"
_ERR_BOOL = "Invalid value type: expected Boolean"
# The docs say "alphanumeric, at most 36 characters"; Binance's own SDK sends UUIDs (with
# hyphens) as ids, so hyphens are accepted too. USD-M documents an unsigned integer, but the
# venue takes the UUID strings its official USD-M SDK sends, so string ids pass there too.
_ID_STR = re.compile(r"^[A-Za-z0-9-]{1,36}$")
_INT64 = (-(1 << 63), (1 << 63) - 1)


@dataclass
class ControlState:
    """What a control message can change on one stream connection."""

    subscriptions: list[str] = field(default_factory=list)
    combined: bool = False
    market: str = "spot"
    max_streams: int = 1024


@dataclass
class ControlResult:
    """Response bytes to send, and the subscription changes to apply."""

    response: bytes
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    error: bool = False


def _error(code: int, msg: str, id_: Any = ..., ) -> ControlResult:
    d: dict[str, Any] = {"code": code, "msg": msg}
    if id_ is not ...:
        d["id"] = id_
    return ControlResult(orjson.dumps(d), error=True)


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _valid_id(id_: Any, market: str) -> bool:
    if id_ is None:
        return market == "spot"
    if isinstance(id_, bool):
        return False
    if isinstance(id_, int):
        if market == "usdm":
            return 0 <= id_ < (1 << 64)
        return _INT64[0] <= id_ <= _INT64[1]
    if isinstance(id_, str):
        return bool(_ID_STR.match(id_))
    return False


def handle_control(data: bytes | str, state: ControlState) -> ControlResult:
    """Apply one control message to ``state`` and build Binance's answer.

    Parameters
    ----------
    data : bytes or str
        Text of the incoming frame.
    state : ControlState
        Connection state; changed in place on success.

    Returns
    -------
    ControlResult
        ``response`` is ``{"result": ..., "id": ...}`` on success or an error frame
        ``{"code": n, "msg": "..."}`` with the texts of SPEC §2.3.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    try:
        req = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return _error(3, f"Invalid JSON: expected value at line {line} column {col}")
    if not isinstance(req, dict):
        return _error(2, "Invalid request: invalid type: expected struct Request")
    if "method" not in req:
        line, col = _line_col(text, max(0, text.rstrip().rfind("}")))
        return _error(2, f"Invalid request: missing field `method` at line {line} column {col}")
    method = req["method"]
    if not isinstance(method, str) or method not in METHODS:
        pos = text.find('"method"')
        end = pos
        if pos >= 0:
            m = re.compile(r'"method"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}\s]+)').match(text, pos)
            end = m.end() if m else pos + 8
        line, col = _line_col(text, max(0, end - 1))
        shown = f"`{method}`" if isinstance(method, str) else orjson.dumps(method).decode()
        return _error(2, f"Invalid request: unknown variant {shown}, expected one of "
                         "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                         f"`GET_PROPERTY` at line {line} column {col}")
    if "id" not in req or not _valid_id(req["id"], state.market):
        return _error(2, _ERR_ID)
    id_ = req["id"]
    params = req.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        return _error(2, "Invalid request: invalid type: expected a sequence")

    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(p, str) for p in params):
            return _error(2, "Invalid request: invalid type: expected a string")
        if method == "SUBSCRIBE":
            added = []
            current = set(state.subscriptions)
            for p in params:
                if p not in current:
                    added.append(p)
                    current.add(p)
            if len(state.subscriptions) + len(added) > state.max_streams:
                # Binance does not document this answer; the simulator refuses the whole
                # request and keeps the connection.
                return _error(2, f"Invalid request: too many streams; the limit is "
                                 f"{state.max_streams} per connection")
            state.subscriptions.extend(added)
            return ControlResult(_ok(None, id_), added=added)
        removed = [p for p in dict.fromkeys(params) if p in state.subscriptions]
        if removed:
            drop = set(removed)
            state.subscriptions = [s for s in state.subscriptions if s not in drop]
        return ControlResult(_ok(None, id_), removed=removed)
    if method == "LIST_SUBSCRIPTIONS":
        if params:
            return _error(2, _ERR_TOO_MANY)
        return ControlResult(_ok(list(state.subscriptions), id_))
    if method == "SET_PROPERTY":
        if not params or not isinstance(params[0], str):
            return _error(2, _ERR_PROP_NAME)
        if len(params) > 2:
            return _error(2, _ERR_TOO_MANY)
        if params[0] != "combined":
            return _error(0, "Unknown property", id_)
        if len(params) < 2 or not isinstance(params[1], bool):
            return _error(1, _ERR_BOOL)
        state.combined = params[1]
        return ControlResult(_ok(None, id_))
    # GET_PROPERTY
    if not params or not isinstance(params[0], str):
        return _error(2, _ERR_PROP_NAME)
    if len(params) > 1:
        return _error(2, _ERR_TOO_MANY)
    if params[0] != "combined":
        return _error(0, "Unknown property", id_)
    return ControlResult(_ok(state.combined, id_))


def _ok(result: Optional[Any], id_: Any) -> bytes:
    return orjson.dumps({"result": result, "id": id_})
