"""Reading request parameters the way Binance does, shared by the WS API and REST.

REST sends every value as text, the WS API as JSON; Binance reads both the same way: a boolean
is ``true``/``false`` (JSON or text, any case), a decimal matches
``^([0-9]{1,20})(\\.[0-9]{1,20})?$`` (so ``"1e-3"`` or ``"-1"`` are illegal characters, code
-1100), an integer ``^[0-9]{1,20}$`` (a leading minus is read, for the few signed ones).
"""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Optional

__all__ = ["boolean", "decimal", "integer", "DEC_RANGE", "INT_RANGE"]

DEC_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
INT_RANGE = "^[0-9]{1,20}$"
_DEC_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")


def _api_error(status: int, code: int, msg: str) -> Exception:
    from fastws.sim.wsapi import ApiError
    return ApiError(status, code, msg)


def boolean(params: dict, name: str, default: bool = False) -> bool:
    """``params[name]`` as a boolean: JSON ``true``/``false`` or the text ``"true"``/``"false"``
    (any case); anything else is -1130 (Binance's "not valid" answer)."""
    v = params.get(name)
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        t = str.__str__(v).lower()
        if t in ("true", "false"):
            return t == "true"
    raise _api_error(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def decimal(params: dict, name: str, required: bool = False) -> Optional[Decimal]:
    """``params[name]`` as a Decimal in Binance's plain notation, or -1100 illegal characters
    (exponents, signs, NaN, booleans); -1102 when ``required`` and absent."""
    v = params.get(name)
    if v is None or v == "":
        if required:
            raise _api_error(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                                         "empty/null, or malformed.")
        return None
    text = str.__str__(v) if isinstance(v, str) else (None if isinstance(v, bool) else
                                                       _num_text(v))
    if text is None or not _DEC_RE.match(text):
        raise _api_error(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                     f"range is '{DEC_RANGE}'.")
    return Decimal(text)


def _num_text(v: Any) -> Optional[str]:
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, Decimal):
        return str(v)
    return None


def integer(params: dict, name: str, default: Optional[int] = None,
            signed: bool = False) -> Optional[int]:
    """``params[name]`` as an int, or -1100 illegal characters."""
    v = params.get(name)
    if v is None or v == "":
        return default
    s = str.__str__(v) if isinstance(v, str) else (str(v) if isinstance(v, int) and
                                                   not isinstance(v, bool) else "x")
    body = s[1:] if signed and s.startswith("-") else s
    if not body.isdigit() or not body.isascii() or len(body) > 20:
        raise _api_error(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                     f"range is '{INT_RANGE}'.")
    return int(s)
